package taskrun

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// staticProfile is a profile whose provider hands out one fixed session.
func staticProfile(name, region, id, secret, token string) Profile {
	cr := credbroker.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Expires: time.Now().Add(time.Hour)}
	return Profile{Name: name, Creds: &credbroker.Resolved{
		Provider: credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil }),
		Region:   region, Partition: "aws",
	}}
}

func profileRunner(t *testing.T) (*Runner, *syncBuf, *syncBuf) {
	r, out, errb := runner()
	r.Environ = append(r.Environ, "AWS_REGION=eu-central-1", "AWS_DEFAULT_REGION=eu-central-1", "AWS_CONFIG_FILE=/home/ci/.aws/config")
	r.CredentialProcess = []string{testpeers.BuildCredbroker(t), "credential-process"}
	r.Environ = append(r.Environ, "TMPDIR="+t.TempDir())
	r.Logger = slog.New(slog.NewTextHandler(errb, nil))
	return r, out, errb
}

// The task finds its profiles in one config file whose credential_process
// lines, run as the Go SDK runs them (sh -c), give each profile's
// credentials; the inherited region and config are gone; every secret, the
// channel's token included, is masked; the private directory is removed.
func TestProfilesReachTheTaskAsOneConfigFile(t *testing.T) {
	r, out, errb := profileRunner(t)
	other := "ASIAOTHERKEYID00ABCD"
	script := `
set -e
echo "region=${AWS_REGION:-none} default=${AWS_DEFAULT_REGION:-none} load=$AWS_SDK_LOAD_CONFIG"
echo "config=$AWS_CONFIG_FILE"
echo "credentials file holds $(wc -c < "$AWS_SHARED_CREDENTIALS_FILE") bytes"
grep -E '^\[|^region' "$AWS_CONFIG_FILE"
grep '^credential_process' "$AWS_CONFIG_FILE" | sort -u | while read -r _ _ line; do
	sh -c "$line"; echo
done
echo "token $(cat "$(dirname "$AWS_CONFIG_FILE")/token")"
`
	code, err := r.Run(context.Background(), &Command{
		Argv: []string{"/bin/sh", "-c", script},
		Profiles: []Profile{
			staticProfile("reader", "eu-west-1", testKeyID, testSecret, testToken),
			staticProfile("writer", "us-east-1", other, "writer/secret/"+testSecret, "writer-token-"+testToken),
		},
		DefaultProfile: "writer",
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\nstdout %s\nstderr %s", code, err, out, errb)
	}
	got := out.String()
	for _, want := range []string{
		"region=none default=none load=1",
		"credentials file holds 0 bytes",
		"[default]\nregion = us-east-1\n[profile reader]\nregion = eu-west-1\n[profile writer]\nregion = us-east-1\n",
		`{"Version":1,"AccessKeyId":"****WXYZ","SecretAccessKey":"********","SessionToken":"********","Expiration":"`,
		`{"Version":1,"AccessKeyId":"****ABCD","SecretAccessKey":"********","SessionToken":"********","Expiration":"`,
		"token ********",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("task output lacks %q:\n%s", want, got)
		}
	}
	for _, secret := range []string{testSecret, testToken, testKeyID, other, "/home/ci/.aws/config"} {
		if strings.Contains(got+errb.String(), secret) {
			t.Errorf("output holds %q", secret)
		}
	}
	// Each profile's first credentials are noted in the log, masked.
	if !strings.Contains(errb.String(), "profile=reader credentials.access_key_id=****WXYZ") || !strings.Contains(errb.String(), "profile=writer credentials.access_key_id=****ABCD") {
		t.Errorf("the log does not note each profile's credentials:\n%s", errb)
	}
	config := ""
	for _, l := range strings.Split(got, "\n") {
		if v, ok := strings.CutPrefix(l, "config="); ok {
			config = v
		}
	}
	if tmp := lookupEnv(r.Environ, "TMPDIR"); config == "" || !strings.HasPrefix(config, tmp+"/credbroker-") || !strings.Contains(config, "/run-") {
		t.Fatalf("config file %q is not in a run directory under $TMPDIR %s", config, tmp)
	}
	if _, err := os.Stat(filepath.Dir(config)); !os.IsNotExist(err) {
		t.Fatalf("the private directory is still there: %v", err)
	}
}

// A profile whose credentials cannot be had stops the task before it
// starts, naming the profile, and leaves nothing behind.
// A profile's source may hold secrets besides the credentials (a web
// identity's ID token): the task's output masks them as well.
func TestProfileSourceSecretsMasked(t *testing.T) {
	r, out, errb := profileRunner(t)
	idToken := "eyJhbGciOiJSUzI1NiJ9.profile-id-token.c2lnbmF0dXJl"
	p := staticProfile("ci", "eu-west-1", testKeyID, testSecret, testToken)
	p.Creds.Secrets = func() []string { return []string{idToken} }
	code, err := r.Run(context.Background(), &Command{
		Argv:     []string{"/bin/sh", "-c", "echo token=" + idToken},
		Profiles: []Profile{p},
	})
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\nstdout %s\nstderr %s", code, err, out, errb)
	}
	if got := out.String(); !strings.Contains(got, "token=********") || strings.Contains(got+errb.String(), idToken) {
		t.Errorf("the profile's ID token is not masked:\n%s\n%s", got, errb)
	}
}

func TestProfileFailureStopsTheTaskFirst(t *testing.T) {
	r, out, errb := profileRunner(t)
	broken := Profile{Name: "prod", Creds: &credbroker.Resolved{Region: "us-east-1", Provider: credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeForbidden, "connector", "plan WEB-SITE may not use connector prod")
	})}}
	marker := filepath.Join(t.TempDir(), "ran")
	code, err := r.Run(context.Background(), &Command{
		Argv:     []string{"/bin/sh", "-c", "touch " + marker},
		Profiles: []Profile{staticProfile("ci", "us-east-1", testKeyID, testSecret, testToken), broken},
	})
	if code != ExitOwnFailure || err == nil || !strings.Contains(err.Error(), "profile prod: connector: plan WEB-SITE may not use connector prod") ||
		credbroker.ErrorCode(err) != credbroker.CodeForbidden {
		t.Fatalf("code %d, err %v\n%s%s", code, err, out, errb)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("the task ran")
	}
	if left, _ := filepath.Glob(filepath.Join(lookupEnv(r.Environ, "TMPDIR"), "credbroker-*", "run-*")); len(left) != 0 {
		t.Fatalf("left %v", left)
	}
}

// signalWriter is the task's stdout: it keeps everything and tells when a
// line it waits for has been written.
type signalWriter struct {
	syncBuf
	mu    sync.Mutex
	waits map[string]chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.syncBuf.Write(p)
	all := w.syncBuf.String()
	w.mu.Lock()
	for line, ch := range w.waits {
		if strings.Contains(all, line) {
			close(ch)
			delete(w.waits, line)
		}
	}
	w.mu.Unlock()
	return n, err
}

func (w *signalWriter) when(line string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		w.waits = map[string]chan struct{}{}
	}
	ch := make(chan struct{})
	w.waits[line] = ch
	return ch
}

// movingClock is a clock a test moves forward.
type movingClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *movingClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *movingClock) Add(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

const (
	readAlphaPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::alpha/*"]}]}`
	writeBetaPolicy = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::beta/*"]}]}`
)

// A two-profile task copies an object from bucket alpha under one profile
// and writes it to bucket beta under the other, while the first is refused
// writing; then, the injected clock moved into both sessions' refresh
// windows, the same copy works again with two new MinIO sessions, one per
// profile. The AWS CLI v2 reads the profiles; credbroker's own binary is
// their credential_process.
func TestTwoProfilesCopyAndBothRefresh(t *testing.T) {
	minio := testpeers.MinIO(t)
	minio.MakeBucket(t, "alpha")
	minio.MakeBucket(t, "beta")
	minio.PutObject(t, "alpha", "hello.txt", "hello from alpha")
	proxy, err := testpeers.StartCountingProxy(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	clk := &movingClock{}
	profile := func(name, policy string) Profile {
		src := credbroker.Source{Kind: credbroker.SourceStatic, Region: minio.Region, AccessKeyID: minio.RootUser, SecretAccessKey: minio.RootPassword,
			STSEndpoint: proxy.URL, Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/" + name, Duration: 15 * time.Minute, Policy: policy}}
		res, err := awscreds.Resolve(context.Background(), src, credbroker.Build{Plan: "OPS-COPY", Number: "7", Task: ProfileTask("copy", name)}, awscreds.Options{})
		if err != nil {
			t.Fatal(err)
		}
		res.Provider = credcache.New(res.Provider, credcache.Options{Now: clk.Now})
		return Profile{Name: name, Creds: res}
	}

	r, _, errb := profileRunner(t)
	r.Environ = testpeers.Env("AWS_EC2_METADATA_DISABLED=true")
	out := &signalWriter{}
	r.Stdout = out
	work := t.TempDir()
	script := `
set -e
round() {
	aws --endpoint-url "$EP" --profile reader s3 cp s3://alpha/hello.txt "$WORK/copy-$1.txt"
	aws --endpoint-url "$EP" --profile writer s3 cp "$WORK/copy-$1.txt" "s3://beta/copied-$1.txt"
	if aws --endpoint-url "$EP" s3 cp "$WORK/copy-$1.txt" "s3://beta/refused-$1.txt" 2>"$WORK/refused-$1.err"; then
		echo "round $1: reader write ALLOWED"
	else
		echo "round $1: reader write refused"
	fi
	echo "round $1 done"
}
round 1
read -r go
round 2
`
	// An *os.File, which the task gets as it is: exec copies from any
	// other reader in a goroutine that Wait would wait for.
	stdin, feed, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	defer feed.Close()
	round1 := out.when("round 1 done")
	done := make(chan error, 1)
	var code int
	go func() {
		var err error
		code, err = r.Run(context.Background(), &Command{
			Name: "copy", Argv: []string{"/bin/sh", "-c", script}, Stdin: stdin, Timeout: 5 * time.Minute,
			Env:      []string{"EP=" + minio.Endpoint, "WORK=" + work},
			Profiles: []Profile{profile("reader", readAlphaPolicy), profile("writer", writeBetaPolicy)}, DefaultProfile: "reader",
		})
		done <- err
	}()
	select {
	case <-round1:
	case err := <-done:
		t.Fatalf("the task ended before round 2: code %d, %v\n%s\n%s", code, err, out, errb)
	}
	if n := proxy.Calls("AssumeRole"); n != 2 {
		t.Fatalf("round 1 made %d AssumeRole calls, want one per profile", n)
	}
	// 15-minute sessions, 14.5 minutes later: both must refresh.
	clk.Add(14*time.Minute + 30*time.Second)
	if _, err := io.WriteString(feed, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s\n%s", code, err, out, errb)
	}
	if n := proxy.Calls("AssumeRole"); n != 4 {
		t.Fatalf("%d AssumeRole calls in all, want 4: each profile's session, then each one's refresh", n)
	}
	for _, round := range []string{"1", "2"} {
		if !strings.Contains(out.String(), "round "+round+": reader write refused") {
			t.Errorf("round %s: the reader profile could write:\n%s", round, out)
		}
		b, _ := os.ReadFile(filepath.Join(work, "refused-"+round+".err"))
		if !strings.Contains(string(b), "AccessDenied") {
			t.Errorf("round %s: the reader's write failed, but not as denied: %s", round, b)
		}
		if got := minio.AWS(t, "s3", "cp", "s3://beta/copied-"+round+".txt", "-"); got != "hello from alpha" {
			t.Errorf("round %s: beta holds %q", round, got)
		}
	}
	if ls := minio.AWS(t, "s3", "ls", "s3://beta/"); strings.Contains(ls, "refused") {
		t.Errorf("a refused write landed:\n%s", ls)
	}
	// Four sets of credentials, each noted once, with their key masked.
	if n := strings.Count(errb.String(), `msg="profile credentials" task=copy`); n != 4 {
		t.Errorf("%d new sets of credentials noted, want 4:\n%s", n, errb)
	}
	if strings.Contains(out.String()+errb.String(), minio.RootPassword) {
		t.Error("the output holds MinIO's root secret")
	}
}
