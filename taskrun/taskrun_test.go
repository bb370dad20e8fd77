package taskrun

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/vars"
)

const (
	testKeyID  = "ASIATESTKEYID0WXYZ"
	testSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYTESTSECRET"
	testToken  = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+testtoken=="
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func resolved() *credbroker.Resolved {
	cr := credbroker.Credentials{AccessKeyID: testKeyID, SecretAccessKey: testSecret, SessionToken: testToken, Expires: time.Now().Add(time.Hour)}
	return &credbroker.Resolved{
		Provider: credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil }),
		Region:   "eu-west-1", Partition: "aws",
	}
}

func runner() (*Runner, *syncBuf, *syncBuf) {
	out, errb := &syncBuf{}, &syncBuf{}
	return &Runner{Stdout: out, Stderr: errb, Environ: []string{"PATH=" + os.Getenv("PATH"), "AWS_PROFILE=leak", "CREDBROKER_TOKEN=tok_leak", "KEEP=1"}}, out, errb
}

// A task that prints every secret raw, base64 and URL-encoded, one byte per
// write, shows none of them.
func TestMaskingOneBytePerWrite(t *testing.T) {
	r, out, errb := runner()
	secretVar := "hunter2-variable-secret"
	var forms []string
	for _, s := range []string{testSecret, testToken, secretVar} {
		forms = append(forms, s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawURLEncoding.EncodeToString([]byte(s)), url.QueryEscape(s), url.PathEscape(s))
	}
	// Python-free byte-per-write printer: the shell's printf per character.
	script := `for s in "$@"; do i=0; while [ $i -lt ${#s} ]; do printf '%s' "$(printf '%s' "$s" | cut -c$((i+1)))"; i=$((i+1)); done; echo; printf '%s\n' "$s" >&2; done; echo "key $AWS_ACCESS_KEY_ID"`
	code, err := r.Run(context.Background(), &Command{
		Argv: append([]string{"/bin/bash", "-c", script, "x"}, forms...), Creds: resolved(), Delivery: DeliverEnv, Secrets: []string{secretVar},
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v, stderr %s", code, err, errb)
	}
	all := out.String() + errb.String()
	for _, f := range forms {
		if strings.Contains(all, f) {
			t.Errorf("output holds a secret form %q", f)
		}
	}
	if strings.Contains(all, testKeyID) || !strings.Contains(all, "key ****WXYZ") {
		t.Errorf("key ID not masked to ****WXYZ: %q", all)
	}
	if !strings.Contains(out.String(), "********") {
		t.Error("no replacement in output")
	}
}

func TestEnvDelivery(t *testing.T) {
	r, out, _ := runner()
	code, err := r.Run(context.Background(), &Command{
		Argv:  []string{"/bin/sh", "-c", `echo "id=${AWS_ACCESS_KEY_ID#ASIA} region=$AWS_REGION/$AWS_DEFAULT_REGION exp=${AWS_CREDENTIAL_EXPIRATION:+set} profile=${AWS_PROFILE:-none} tok=${CREDBROKER_TOKEN:-none} keep=$KEEP"`},
		Creds: resolved(), Delivery: DeliverEnv,
	})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	want := "id=TESTKEYID0WXYZ region=eu-west-1/eu-west-1 exp=set profile=none tok=none keep=1"
	if strings.TrimSpace(out.String()) != want {
		t.Fatalf("got %q\nwant %q", out.String(), want)
	}
}

func TestProfileDelivery(t *testing.T) {
	r, out, _ := runner()
	code, err := r.Run(context.Background(), &Command{
		Argv:  []string{"/bin/sh", "-c", `echo "$AWS_PROFILE"; stat -c %a "$AWS_SHARED_CREDENTIALS_FILE"; grep -c aws_secret_access_key "$AWS_SHARED_CREDENTIALS_FILE"; echo "$AWS_SHARED_CREDENTIALS_FILE" > "$1"`, "x", filepath.Join(t.TempDir(), "where")},
		Creds: resolved(), Delivery: DeliverProfile,
	})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	lines := strings.Fields(out.String())
	if len(lines) != 3 || lines[0] != "credbroker" || lines[1] != "600" || lines[2] != "1" {
		t.Fatalf("profile delivery: %q", out.String())
	}
}

func TestEndpointDelivery(t *testing.T) {
	r, out, _ := runner()
	code, err := r.Run(context.Background(), &Command{
		Argv:  []string{"/bin/sh", "-c", `echo "${AWS_ACCESS_KEY_ID:-none} ${AWS_CONTAINER_CREDENTIALS_FULL_URI%%:*}"; stat -c %a "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"`},
		Creds: resolved(), Delivery: DeliverEndpoint,
	})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	if got := strings.Fields(out.String()); len(got) != 3 || got[0] != "none" || got[1] != "http" || got[2] != "600" {
		t.Fatalf("endpoint delivery: %q", out.String())
	}
}

func TestExitCodes(t *testing.T) {
	r, _, _ := runner()
	ctx := context.Background()
	cases := []struct {
		argv []string
		code int
		err  bool
	}{
		{[]string{"/bin/sh", "-c", "exit 3"}, 3, false},
		{[]string{"/bin/sh", "-c", "kill -TERM $$"}, 128 + int(syscall.SIGTERM), false},
		{[]string{"no-such-command-credbroker"}, ExitNotFound, true},
		{[]string{"/etc/hostname"}, ExitCannotRun, true},
	}
	for _, c := range cases {
		code, err := r.Run(ctx, &Command{Argv: c.argv})
		if code != c.code || (err != nil) != c.err {
			t.Errorf("%v: code %d err %v", c.argv, code, err)
		}
	}
}

func TestTimeoutStopsTheGroup(t *testing.T) {
	r, _, _ := runner()
	r.GracePeriod = 500 * time.Millisecond
	start := time.Now()
	code, err := r.Run(context.Background(), &Command{Argv: []string{"/bin/sh", "-c", "sleep 30 & sleep 30; wait"}, Timeout: 300 * time.Millisecond, OwnGroup: true})
	if code != ExitTimeout || err == nil || !strings.Contains(err.Error(), "ran longer than") {
		t.Fatalf("code %d err %v", code, err)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatal("the timed-out task was not stopped")
	}
}

func TestSignalForwarded(t *testing.T) {
	r, out, _ := runner()
	r.Signals = []os.Signal{syscall.SIGUSR1}
	done := make(chan int)
	go func() {
		code, _ := r.Run(context.Background(), &Command{Argv: []string{"/bin/sh", "-c", `trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done`}})
		done <- code
	}()
	for !strings.Contains(out.String(), "ready") {
		time.Sleep(10 * time.Millisecond)
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case code := <-done:
		if code != 7 || !strings.Contains(out.String(), "got-usr1") {
			t.Fatalf("code %d out %q", code, out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("signal not forwarded")
	}
}

func job(t *testing.T, doc string) *jobfile.Job {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(p, []byte(doc), 0o600)
	j, err := jobfile.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func fakeResolve(got *[]credbroker.Source) Resolver {
	return func(ctx context.Context, src credbroker.Source, b credbroker.Build) (*credbroker.Resolved, error) {
		*got = append(*got, src)
		return resolved(), nil
	}
}

func TestJobRuntimeVariables(t *testing.T) {
	r, out, errb := runner()
	j := job(t, `
version: 1
tasks:
  - name: prepare
    run: |
      echo "awsSessionTokenPassword=runtime-session-token-value" >> "$CREDBROKER_VARIABLES"
      echo "bucket=alpha" >> "$CREDBROKER_VARIABLES"
  - name: use
    credentials:
      source: static
      region: us-east-1
      access_key_id: ${bamboo.keyId}
      secret_access_key: ${bamboo.awsSecretKeyPassword}
      session_token: ${bamboo.awsSessionTokenPassword}
    env:
      BUCKET: ${bucket}
    run: echo "bucket=$BUCKET home=${HOME:-x} tok=${bamboo.awsSessionTokenPassword}"
`)
	vs := vars.New()
	vs.Set(vars.Plan, "keyId", "AKIAJOBKEY", false)
	vs.Set(vars.Plan, "awsSecretKeyPassword", "plan-secret-value", false)
	var got []credbroker.Source
	code, err := r.RunJob(context.Background(), j, JobOptions{Vars: vs, Resolve: fakeResolve(&got), Env: func(string) (string, bool) { return "", false }})
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v\n%s", code, err, errb)
	}
	if len(got) != 1 || got[0].SessionToken != "runtime-session-token-value" || got[0].SecretAccessKey != "plan-secret-value" || got[0].AccessKeyID != "AKIAJOBKEY" {
		t.Fatalf("resolved source: %+v", got)
	}
	o := out.String()
	if !strings.Contains(o, "[use] bucket=alpha home=") || strings.Contains(o, "runtime-session-token-value") || !strings.Contains(o, "tok=********") {
		t.Fatalf("output: %q", o)
	}
}

func TestJobStopsAtFirstFailure(t *testing.T) {
	r, out, _ := runner()
	j := job(t, "version: 1\ntasks:\n - name: a\n   run: echo one\n - name: b\n   run: exit 4\n - name: c\n   run: echo three\n")
	code, err := r.RunJob(context.Background(), j, JobOptions{})
	if code != 4 || err == nil || !strings.Contains(err.Error(), "task b failed with exit code 4") {
		t.Fatalf("code %d err %v", code, err)
	}
	if strings.Contains(out.String(), "three") || !strings.Contains(out.String(), "[a] one") {
		t.Fatalf("output %q", out.String())
	}
}

func TestJobUndefinedVariable(t *testing.T) {
	r, _, _ := runner()
	j := job(t, "version: 1\ntasks:\n - name: a\n   credentials: {source: static, access_key_id: x, secret_access_key: '${bamboo.nope}'}\n   run: echo\n")
	var got []credbroker.Source
	code, err := r.RunJob(context.Background(), j, JobOptions{Resolve: fakeResolve(&got), Env: func(string) (string, bool) { return "", false }})
	if code != ExitOwnFailure || err == nil || !strings.Contains(err.Error(), `tasks[0].credentials.secret_access_key: undefined variable "nope"`) {
		t.Fatalf("code %d err %v", code, err)
	}
	if len(got) != 0 {
		t.Fatal("resolved credentials despite an undefined variable")
	}
}

func TestSetVariablesTask(t *testing.T) {
	r, out, errb := runner()
	j := job(t, `
version: 1
tasks:
  - name: creds
    credentials: {source: instance, region: eu-west-1}
    set_variables: {namespace: prod}
  - name: show
    run: echo "${bamboo.prod.accessKeyId} ${bamboo.prod.secretAccessKey} ${bamboo.prod.sessionToken} ${bamboo.prod.region} ${bamboo.prod.partition}"
`)
	var got []credbroker.Source
	vs := vars.New()
	code, err := r.RunJob(context.Background(), j, JobOptions{Vars: vs, Resolve: fakeResolve(&got), Env: func(string) (string, bool) { return "", false }})
	if err != nil || code != 0 {
		t.Fatal(code, err, errb)
	}
	o := out.String() + errb.String()
	if strings.Contains(o, testSecret) || strings.Contains(o, testToken) || strings.Contains(o, testKeyID) {
		t.Fatalf("output holds a credential: %q", o)
	}
	if !strings.Contains(o, "[show] ****WXYZ ******** ******** eu-west-1 aws") {
		t.Fatalf("output %q", o)
	}
	if v, _ := vs.Lookup("prod.sessionToken"); !v.Secret {
		t.Fatal("session token variable is not secret")
	}
}

func TestExpandScript(t *testing.T) {
	vs := vars.New()
	vs.Set(vars.Plan, "a", "1", false)
	for in, want := range map[string]string{
		"x ${bamboo.a} ${HOME} $${bamboo.a}": "x 1 ${HOME} ${bamboo.a}",
		"plain":                              "plain",
	} {
		got, err := expandScript(vs, "run", in)
		if err != nil || got != want {
			t.Errorf("%q: %q %v", in, got, err)
		}
	}
	if _, err := expandScript(vs, "run", "${bamboo.missing}"); err == nil {
		t.Error("undefined variable in a script passed")
	}
	if _, err := expandScript(vs, "run", "${bamboo.a"); err == nil {
		t.Error("unterminated reference passed")
	}
}

func TestPrefixWriter(t *testing.T) {
	var b bytes.Buffer
	p := newPrefixWriter(&b, "[t] ")
	for _, s := range []string{"a", "b\nc", "\n", "d"} {
		fmt.Fprint(p, s)
	}
	p.endLine()
	if b.String() != "[t] ab\n[t] c\n[t] d\n" {
		t.Fatalf("%q", b.String())
	}
}

// A secret runtime variable is masked in the rest of the task that wrote
// it, once the file holds its line.
func TestRuntimeSecretMaskedInSameTask(t *testing.T) {
	r, out, _ := runner()
	j := job(t, `
version: 1
tasks:
  - name: mint
    run: |
      echo "mintedTokenPassword=fresh-secret-value-123" >> "$CREDBROKER_VARIABLES"
      sleep 0.3
      echo "later: fresh-secret-value-123"
  - name: next
    run: echo "next ${bamboo.mintedTokenPassword}"
`)
	code, err := r.RunJob(context.Background(), j, JobOptions{})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	o := out.String()
	if strings.Contains(o, "fresh-secret-value-123") || !strings.Contains(o, "[mint] later: ********") || !strings.Contains(o, "[next] next ********") {
		t.Fatalf("output %q", o)
	}
}

// The secrets a source reports besides its credentials (the ID token it
// assumed the role with) are masked in the task's output, as known when
// each set of credentials is handed out: the endpoint's too.
func TestResolvedSecretsMasked(t *testing.T) {
	const idToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOmFjbWUvYXBwIn0.c2lnbmF0dXJlLW9mLXRoZS10ZXN0"
	for _, d := range []Delivery{DeliverEnv, DeliverEndpoint} {
		t.Run(string(d), func(t *testing.T) {
			r, out, errb := runner()
			res := resolved()
			var asked int
			var mu sync.Mutex
			res.Secrets = func() []string { mu.Lock(); defer mu.Unlock(); asked++; return []string{idToken} }
			script := `printf '%s\n' "$1"; printf '%s\n' "$1" >&2`
			if d == DeliverEndpoint {
				// Make the task fetch from the endpoint before printing.
				script = `curl -s -H "Authorization: $(cat "$AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")" "$AWS_CONTAINER_CREDENTIALS_FULL_URI" >/dev/null; ` + script
			}
			code, err := r.Run(context.Background(), &Command{Argv: []string{"/bin/sh", "-c", script, "x", idToken}, Creds: res, Delivery: d})
			if err != nil || code != 0 {
				t.Fatalf("code %d err %v, stderr %s", code, err, errb)
			}
			if all := out.String() + errb.String(); strings.Contains(all, idToken) || !strings.Contains(out.String(), "********") {
				t.Errorf("the ID token is not masked: %q", all)
			}
			mu.Lock()
			defer mu.Unlock()
			if asked == 0 {
				t.Error("Resolved.Secrets was never asked")
			}
		})
	}
}
