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

	mu      sync.Mutex
	outputs []named
	secrets []string
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
	w := &world{t: t, cb: testpeers.BuildCredbroker(t), aws: testpeers.AWSCLI(t), py: testpeers.Python(t), dir: t.TempDir()}
	w.minio = testpeers.MinIO(t)
	w.minio.MakeBucket(t, "alpha")
	w.minio.MakeBucket(t, "beta")
	w.minio.PutObject(t, "alpha", "hello.txt", helloTxt)
	w.minio.PutObject(t, "beta", "hello.txt", "hello from beta")
	w.secret(w.minio.RootPassword)
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

// secret registers values that must appear in no output of the test.
func (w *world) secret(vals ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range vals {
		if v != "" {
			w.secrets = append(w.secrets, v)
		}
	}
}

// record keeps output for the leak check.
func (w *world) record(what string, data []byte) {
	w.mu.Lock()
	w.outputs = append(w.outputs, named{what, append([]byte(nil), data...)})
	w.mu.Unlock()
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
	base := []string{"HOME=" + w.dir}
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Dir = w.dir
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
	w.record(filepath.Base(path)+" "+strings.Join(args, " ")+" (stdout)", out.Bytes())
	w.record(filepath.Base(path)+" "+strings.Join(args, " ")+" (stderr)", errb.Bytes())
	return result{out.String(), errb.String(), code}
}

// runShown runs a program whose stdout is meant to show a secret (a token
// shown once at creation): only its stderr joins the leak check.
func (w *world) runShown(env []string, path string, args ...string) result {
	w.t.Helper()
	w.mu.Lock()
	n := len(w.outputs)
	w.mu.Unlock()
	r := w.run(env, "", path, args...)
	w.mu.Lock()
	// Drop the stdout record run just added (the first of the two).
	w.outputs = append(w.outputs[:n], w.outputs[n+1:]...)
	w.mu.Unlock()
	return r
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
// files left in its directory, for every secret in every form.
func (w *world) checkLeaks() {
	w.mu.Lock()
	defer w.mu.Unlock()
	outs := w.outputs
	// Files left behind in the test directory, other than its inputs.
	filepath.WalkDir(w.dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		outs = append(outs, named{"file " + p, b})
		return nil
	})
	for _, s := range w.secrets {
		for _, f := range forms(s) {
			if len(f) < 8 {
				continue
			}
			for _, o := range outs {
				if allowedFile(o.what) {
					continue
				}
				if bytes.Contains(o.data, []byte(f)) {
					w.t.Errorf("leak: a secret (%d characters) appears in %s", len(s), o.what)
				}
			}
		}
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
