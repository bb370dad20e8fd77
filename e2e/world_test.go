package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker/internal/testpeers"
)

// world is one test's peers, the credbroker binary and the collected
// output of every process the test ran.
type world struct {
	t     *testing.T
	cb    string
	aws   string
	py    string
	dir   string
	minio *testpeers.MinIOServer
	imds  *testpeers.IMDSServer
	// issuer, in a world made by newIdentityWorld, is the OIDC issuer that
	// MinIO's AssumeRoleWithWebIdentity trusts.
	issuer *testpeers.Issuer
	// cwd, when set, is the working directory of the programs run (dir
	// otherwise).
	cwd string

	mu      sync.Mutex
	outputs []named
	secrets []string
	seen    map[string]bool // secrets registered
	admins  []string        // admin tokens made, for reading the audit
	sink    *suiteFile      // this test's outputs for the suite-wide check
	sinkSet bool
}

type named struct {
	what string
	data []byte
}

const (
	roleARN  = "arn:aws:iam::123456789012:role/reader"
	helloTxt = "hello from alpha"
)

// readAlpha is a session policy allowing reads of bucket alpha only.
const readAlpha = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::alpha/*"]}
  ]
}`

// newWorld starts MinIO with buckets alpha and beta and, with imds, the
// metadata mock (IMDSv2 only) serving MinIO's root credentials.
func newWorld(t *testing.T, imds bool) *world {
	t.Helper()
	return newWorldWith(t, imds, nil)
}

// newWorldWith is newWorld with MinIO started with extra settings.
func newWorldWith(t *testing.T, imds bool, minioEnv []string) *world {
	t.Helper()
	w := &world{t: t, cb: testpeers.BuildCredbroker(t), aws: testpeers.AWSCLI(t), py: testpeers.Python(t), dir: t.TempDir()}
	w.minio = testpeers.MinIOWith(t, minioEnv...)
	w.minio.MakeBucket(t, "alpha")
	w.minio.MakeBucket(t, "beta")
	w.minio.PutObject(t, "alpha", "hello.txt", helloTxt)
	w.minio.PutObject(t, "beta", "hello.txt", "hello from beta")
	w.secret(w.minio.RootPassword)
	// Every S3 and STS call of the test goes through a proxy that adds
	// the secrets of each STS session to the leak check.
	w.minio.Endpoint = harvestProxy(t, w, w.minio.Endpoint)
	if imds {
		w.imds = testpeers.IMDSMock(t, testpeers.IMDSOptions{
			AccessKeyID: w.minio.RootUser, SecretAccessKey: w.minio.RootPassword,
			Expiration: time.Now().Add(6 * time.Hour), V2Only: true,
		})
	}
	w.write("ro.json", readAlpha)
	t.Cleanup(w.checkLeaks)
	return w
}

// secret registers values that must appear in no output of the test, nor
// of any other test of the suite.
func (w *world) secret(vals ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.seen == nil {
		w.seen = map[string]bool{}
	}
	for _, v := range vals {
		if v != "" && !w.seen[v] {
			w.seen[v] = true
			w.secrets = append(w.secrets, v)
			suite.secret(w.t.Name(), v)
		}
	}
}

// record keeps output for the leak check, the test's and the suite's.
func (w *world) record(what string, data []byte) {
	w.mu.Lock()
	w.outputs = append(w.outputs, named{what, append([]byte(nil), data...)})
	if !w.sinkSet {
		w.sink, w.sinkSet = suite.fileFor(w.t), true
	}
	sink := w.sink
	w.mu.Unlock()
	suite.add(sink, what, data)
}

func (w *world) write(name, body string) string {
	p := filepath.Join(w.dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

// env is the environment of credbroker in these tests: clean, with the
// metadata mock as the instance's IMDS.
func (w *world) env(extra ...string) []string {
	// Temporary files land in the test's directory, so that what the
	// processes leave behind is searched too.
	tmp := filepath.Join(w.dir, "tmp")
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		w.t.Fatal(err)
	}
	base := []string{"HOME=" + w.dir, "TMPDIR=" + tmp}
	if w.imds != nil {
		base = append(base, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+w.imds.Endpoint)
	}
	return testpeers.Env(append(base, extra...)...)
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs a program, records its output, and returns it with the exit code.
func (w *world) run(env []string, stdin string, path string, args ...string) result {
	w.t.Helper()
	return w.runRecorded(env, stdin, true, path, args...)
}

// runRecorded is run; with recordStdout false only stderr joins the leak
// check.
func (w *world) runRecorded(env []string, stdin string, recordStdout bool, path string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Dir = w.dir
	if w.cwd != "" {
		cmd.Dir = w.cwd
	}
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		w.t.Fatalf("run %s: %v", filepath.Base(path), err)
	}
	if recordStdout {
		w.record(filepath.Base(path)+" "+strings.Join(args, " ")+" (stdout)", out.Bytes())
	}
	w.record(filepath.Base(path)+" "+strings.Join(args, " ")+" (stderr)", errb.Bytes())
	return result{out.String(), errb.String(), code}
}

// runShown runs a program whose stdout is meant to show a secret (a token
// shown once at creation): only its stderr joins the leak check.
func (w *world) runShown(env []string, path string, args ...string) result {
	w.t.Helper()
	return w.runRecorded(env, "", false, path, args...)
}

// cbr runs credbroker.
func (w *world) cbr(env []string, args ...string) result {
	w.t.Helper()
	return w.run(env, "", w.cb, args...)
}

// forms are the encodings of a secret the leak check looks for.
func forms(s string) []string {
	return []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.RawStdEncoding.EncodeToString([]byte(s)),
		base64.URLEncoding.EncodeToString([]byte(s)), url.QueryEscape(s), url.PathEscape(s)}
}

// checkLeaks searches everything the test's processes wrote, and the
// files left in its directory (databases and temporary files included),
// for every secret in every form. The files also join the suite-wide
// check.
func (w *world) checkLeaks() {
	var files []named
	filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		if allowedFile("file " + p) {
			return nil
		}
		b, _ := os.ReadFile(p)
		files = append(files, named{"file " + p, b})
		return nil
	})
	for _, f := range files {
		w.record(f.what, f.data)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	idx := newLeakIndex(w.secrets)
	for _, o := range w.outputs {
		if allowedFile(o.what) {
			continue
		}
		reported := map[int]bool{}
		idx.scan(o.data, 0, func(s int, _ int64) {
			if !reported[s] {
				reported[s] = true
				w.t.Errorf("leak: a secret (%d characters) appears in %s", len(w.secrets[s]), o.what)
			}
		})
	}
}

// allowedFile names the test's own inputs, which hold secrets on purpose.
func allowedFile(what string) bool {
	return strings.HasPrefix(what, "file ") && strings.Contains(what, "/input-")
}

func (w *world) expectOK(r result, what string) {
	w.t.Helper()
	if r.code != 0 {
		w.t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
}

func (w *world) expectDenied(r result, what string) {
	w.t.Helper()
	if r.code == 0 {
		w.t.Fatalf("%s: allowed, want denied\nstdout: %s", what, r.stdout)
	}
	if !strings.Contains(r.stderr, "403") && !strings.Contains(r.stderr, "AccessDenied") && !strings.Contains(r.stderr, "Forbidden") {
		w.t.Fatalf("%s: failed, but not with an access denial\nstderr: %s", what, r.stderr)
	}
}

func q(s string) string { return fmt.Sprintf("%q", s) }
