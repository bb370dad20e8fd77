package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/credbroker/credbroker/internal/jobtest"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/preflight"
)

// The secret values the check tests use; no output may hold them.
const (
	checkKeyID  = jobtest.KeyID
	checkSecret = jobtest.Secret
	checkToken  = jobtest.Token
)

var checkSecrets = []string{checkSecret, checkToken}

type checkOutcome struct {
	code           int
	stdout, stderr string
	findings       preflight.Findings
}

// check runs `credbroker check` in process with args (plus --output json)
// and env, and fails the test if any output holds a secret.
func check(t *testing.T, env []string, args ...string) checkOutcome {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	args = append([]string{"check", "--output", "json"}, args...)
	code := Main(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: append(base, env...)})
	o := checkOutcome{code: code, stdout: out.String(), stderr: errb.String()}
	for _, s := range checkSecrets {
		if strings.Contains(o.stdout+o.stderr, s) {
			t.Fatalf("a secret value is in the output:\n%s\n%s", o.stdout, o.stderr)
		}
	}
	if o.stdout != "" {
		if err := json.Unmarshal(out.Bytes(), &o.findings); err != nil {
			t.Fatalf("--output json is not a JSON array of findings: %v\n%s", err, o.stdout)
		}
	}
	return o
}

func (o checkOutcome) has(sev preflight.Severity, field, msg string) *preflight.Finding {
	return o.findings.Find(sev, field, msg)
}

func (o checkOutcome) count(sev preflight.Severity) int { return o.findings.Count(sev) }

func (o checkOutcome) dump() string {
	var b strings.Builder
	for _, f := range o.findings {
		b.WriteString(f.String())
		b.WriteByte('\n')
	}
	return b.String() + o.stderr
}

func TestCheckFlagsForm(t *testing.T) {
	o := check(t, nil, "--offline", "--region", "cn-north-1", "--role-arn", "arn:aws:iam::123456789012:role/x",
		"--access-key-id", checkKeyID, "--secret-access-key", "${s}", "--var", "s="+checkSecret, "--tag", "a=b#")
	if o.code != 1 || o.has("error", "--role-arn", `partition "aws" but region cn-north-1`) == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	o = check(t, nil, "--offline", "--region", "us-east-1", "--access-key-id", checkKeyID, "--secret-access-key", "${missing}")
	if o.code != 1 || o.has("error", "--secret-access-key", `undefined variable "missing"`) == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	o = check(t, nil, "--offline", "--region", "us-east-1", "--role-arn", "arn:aws:iam::123456789012:role/x", "--tag", "team="+strings.Repeat("v", 300),
		"--access-key-id", checkKeyID, "--secret-access-key", "${s}", "--var", "s="+checkSecret)
	if o.code != 1 || o.has("error", "--tag[0].value", "at most 256") == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	// Source flags next to a job file are refused.
	job := jobtest.Write(t, t.TempDir(), "job.yaml", "version: 1\ntasks:\n - name: a\n   run: x\n")
	o = check(t, nil, "--offline", job, "--region", "us-east-1")
	if o.code != 1 || !strings.Contains(o.stderr, "--region: not used with a job file") {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	o = check(t, nil, "--offline", "--output", "yaml")
	if o.code != 1 || !strings.Contains(o.stderr, `unknown format "yaml"`) {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
}

func TestCheckTextOutputOneLinePerFinding(t *testing.T) {
	dir := t.TempDir()
	job := jobtest.Write(t, dir, "job.yaml", "version: 1\ntasks:"+jobtest.StaticTask("cn-north-1", "      role: {arn: 'arn:aws:iam::123456789012:role/x', duration: 13h}\n"))
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"check", "--offline", job, "--var", "keyId=" + checkKeyID, "--var", "secretKeyPassword=" + checkSecret},
		IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: []string{"HOME=" + dir}})
	if code != 1 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	wantLine := `error   [t] credentials.role.arn: role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"; fix: use arn:aws-cn:iam::... or a region of "aws"`
	found := false
	for _, l := range lines {
		sev, _, _ := strings.Cut(l, " ")
		switch sev {
		case "ok", "info", "warning", "error":
		default:
			t.Errorf("line does not start with a severity: %q", l)
		}
		found = found || l == wantLine
	}
	if !found {
		t.Fatalf("no line %q in:\n%s", wantLine, out.String())
	}
	if strings.Contains(out.String()+errb.String(), checkSecret) {
		t.Fatal("a secret is in the output")
	}
}

func TestCheckOfflineMakesNoCall(t *testing.T) {
	dir := t.TempDir()
	ep, conns := testpeers.HangUp(t)
	job := jobtest.Write(t, dir, "job.yaml", `version: 1
plan: OPS-DEPLOY
tasks:
  - name: instance
    credentials: {source: instance, region: us-east-1, imds_endpoint: '`+ep+`', sts_endpoint: '`+ep+`', role: {arn: 'arn:aws:iam::123456789012:role/x'}}
    run: "true"
  - name: static
    credentials: {source: static, region: us-east-1, access_key_id: '${bamboo.keyId}', secret_access_key: '${bamboo.secretKeyPassword}', sts_endpoint: '`+ep+`'}
    run: "true"
  - name: connector
    credentials: {source: connector, connector: deploy, broker: '`+ep+`'}
    run: "true"
`)
	args := []string{job, "--var", "keyId=" + checkKeyID, "--var", "secretKeyPassword=" + checkSecret}
	o := check(t, []string{"CREDBROKER_TOKEN=" + checkToken, "CREDBROKER_BROKER=" + ep}, append([]string{"--offline"}, args...)...)
	if o.code != 0 {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	if n := conns.Load(); n != 0 {
		t.Fatalf("--offline made %d connections", n)
	}
	if o.has("info", "CREDBROKER_BROKER", "not fetched with --offline") == nil {
		t.Fatalf("no note that the broker's variables were not fetched:\n%s", o.dump())
	}
	// Online, the same job reaches out (and fails against a listener that
	// answers nothing): the count above can fail.
	o = check(t, []string{"CREDBROKER_TOKEN=" + checkToken, "CREDBROKER_BROKER=" + ep}, args...)
	if o.code != 1 || conns.Load() == 0 {
		t.Fatalf("online: exit %d, %d connections:\n%s", o.code, conns.Load(), o.dump())
	}
}

func TestCheckStoppedBroker(t *testing.T) {
	// Nothing listens once the listener is closed: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopped := "http://" + ln.Addr().String()
	ln.Close()
	job := jobtest.Write(t, t.TempDir(), "job.yaml", "version: 1\nplan: OPS-DEPLOY\ntasks:\n  - name: deploy\n    credentials: {source: connector, connector: deploy}\n    run: \"true\"\n")
	o := check(t, []string{"CREDBROKER_TOKEN=" + checkToken, "CREDBROKER_BROKER=" + stopped}, job)
	if o.code != 1 || o.count("error") != 1 {
		t.Fatalf("exit %d, %d errors, want one:\n%s", o.code, o.count("error"), o.dump())
	}
	var e preflight.Finding
	for _, f := range o.findings {
		if f.Severity == "error" {
			e = f
		}
	}
	if !strings.Contains(e.Message, "cannot reach the broker at "+stopped) || !strings.Contains(e.Message, "connection refused") || !strings.Contains(e.Fix, "credbroker serve") {
		t.Fatalf("the error does not name the broker and the fix: %+v", e)
	}
}

// The command around preflight: exit 1 exactly when a finding is an error
// (warnings included, 0 otherwise), and the count on stderr. The findings
// themselves are preflight's tests.
func TestCheckExitCodeAndSummary(t *testing.T) {
	dir := t.TempDir()
	const role = "      role:\n        arn: arn:aws:iam::123456789012:role/deploy\n"
	cases := []struct {
		name, tasks string
		code        int
		summary     string
	}{
		{"clean", jobtest.StaticTask("eu-west-1", role+"        duration: 30m\n"), 0, "credbroker: check: 0 error(s), 0 warning(s), 5 ok\n"},
		{"warning", jobtest.StaticTask("us-east-1", "      session_token: ${bamboo.tokenPassword}\n"+role+"        duration: 90m\n"), 0, "credbroker: check: 0 error(s), 1 warning(s), 4 ok\n"},
		{"error", jobtest.StaticTask("cn-north-1", role), 1, "credbroker: check: 1 error(s), 0 warning(s), 2 ok; fix the errors above, then check again\n"},
		{"not well formed", "\n - name: a\n   comand: [x]\n", 1, "credbroker: check: 2 error(s), 0 warning(s), 0 ok; fix the errors above, then check again\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := jobtest.Write(t, dir, "job.yaml", "version: 1\nplan: OPS-DEPLOY\ntasks:"+c.tasks)
			o := check(t, nil, "--offline", job, "--var", "keyId="+checkKeyID, "--var", "secretKeyPassword="+checkSecret, "--var", "tokenPassword="+checkSecret+"-tok")
			if o.code != c.code || o.stderr != c.summary || (o.code == 1) != (o.count("error") > 0) {
				t.Fatalf("exit %d, stderr %q; want exit %d, %q:\n%s", o.code, o.stderr, c.code, c.summary, o.dump())
			}
		})
	}
}
