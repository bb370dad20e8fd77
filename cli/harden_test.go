package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The tests of issue 11 (hardening) for the command line.

// fakeBroker answers the API with handler and records each request's
// method and escaped path.
type fakeBroker struct {
	*httptest.Server
	mu    sync.Mutex
	paths []string
}

func newFakeBroker(t *testing.T, handler http.HandlerFunc) *fakeBroker {
	fb := &fakeBroker{}
	fb.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fb.mu.Lock()
		fb.paths = append(fb.paths, r.Method+" "+r.URL.EscapedPath())
		fb.mu.Unlock()
		handler(w, r)
	}))
	t.Cleanup(fb.Close)
	return fb
}

func (fb *fakeBroker) requests() []string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	return append([]string(nil), fb.paths...)
}

func writeJSONAnswer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

const (
	agentToken = "tok_0123456789abcdef.Pq3xY8vR2mN7kL4jH6gF1dS9aZ0cX5bV2nM8qW4eRtY"
	tokSecret  = "Pq3xY8vR2mN7kL4jH6gF1dS9aZ0cX5bV2nM8qW4eRtY"
)

// TestTableEscapes (defect 4): whatever a record holds, `credbroker audit`
// prints one line per record and no raw control or direction character.
func TestTableEscapes(t *testing.T) {
	recs := []credbroker.AuditRecord{
		{Seq: 1, Time: time.Now(), Action: "vend", Plan: "OPS-A", Build: "42\n2   2026-01-01T00:00:00Z  vend  tok_forged  OPS-A#1  deploy  -  -  granted",
			Connector: "deploy\x1b[2J\x1b]0;pwned\x07", Outcome: "refused", ErrorCode: "invalid"},
		{Seq: 2, Time: time.Now(), Action: "vend", Plan: "OPS-B", Build: "7\u202e1", Connector: "tab\there", Outcome: "granted"},
	}
	fb := newFakeBroker(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, 200, map[string]any{"records": recs})
	})
	o := run(t, []string{"CREDBROKER_TOKEN=" + agentToken, "CREDBROKER_BROKER=" + fb.URL}, "audit")
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("the table has %d lines for 2 records:\n%s", len(lines), o.stdout)
	}
	for _, l := range lines {
		if !credbroker.SafeText(l) {
			t.Errorf("a table line holds a control or formatting character: %q", l)
		}
	}
	if !strings.Contains(o.stdout, `42\n2`) || !strings.Contains(o.stdout, `deploy\x1b[2J`) || !strings.Contains(o.stdout, `7\u202e1`) {
		t.Errorf("the escapes are not shown:\n%s", o.stdout)
	}
	if !strings.Contains(o.stdout, `tab\there`) {
		t.Errorf("a tab in a cell was not escaped:\n%s", o.stdout)
	}
}

// TestTokenRevokeWholeToken (defect 5): a whole token pasted to `token
// revoke` is revoked by its ID; its secret is neither sent (in the URL,
// which the broker logs) nor printed. Anything that is neither is refused
// without being repeated, and nothing is sent.
func TestTokenRevokeWholeToken(t *testing.T) {
	fb := newFakeBroker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete && r.URL.EscapedPath() == "/v1/tokens/tok_0123456789abcdef" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSONAnswer(w, 404, map[string]string{"code": "not_found", "message": "token: no token with ID " + r.URL.Path})
	})
	env := []string{"CREDBROKER_TOKEN=tok_aaaaaaaaaaaaaaaa.adminadminadminadminadminadminadminadminadm", "CREDBROKER_BROKER=" + fb.URL}
	o := run(t, env, "token", "revoke", agentToken)
	if o.code != 0 || strings.TrimSpace(o.stdout) != "revoked token tok_0123456789abcdef" {
		t.Fatalf("revoke with a whole token: exit %d\nstdout %q\nstderr %q", o.code, o.stdout, o.stderr)
	}
	for _, p := range fb.requests() {
		if strings.Contains(p, tokSecret) {
			t.Errorf("the token's secret was sent: %s", p)
		}
	}
	if strings.Contains(o.stdout+o.stderr, tokSecret) {
		t.Errorf("the token's secret was printed: %q %q", o.stdout, o.stderr)
	}
	before := len(fb.requests())
	for _, arg := range []string{"Zq8SECRETlooking-but-no-id-at-all-value", "tok_0123.Zq8SECRETlooking"} {
		o = run(t, env, "token", "revoke", arg)
		if o.code == 0 || strings.Contains(o.stdout+o.stderr, "Zq8SECRET") || !strings.Contains(o.stderr, "token list") {
			t.Errorf("revoke %q: exit %d\nstdout %q\nstderr %q; want a refusal that does not repeat it", arg, o.code, o.stdout, o.stderr)
		}
	}
	if n := len(fb.requests()); n != before {
		t.Errorf("%d requests sent for arguments that are not tokens", n-before)
	}
}

// TestTokenFileTooOpen: a token file that group or others may read is
// refused, as ssh refuses such a private key, with the fix; at mode 0600 it
// is used.
func TestTokenFileTooOpen(t *testing.T) {
	fb := newFakeBroker(t, func(w http.ResponseWriter, r *http.Request) {
		writeJSONAnswer(w, 200, map[string]any{"tokens": []any{}})
	})
	path := filepath.Join(t.TempDir(), "agent.token")
	if err := os.WriteFile(path, []byte(agentToken+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"--token-file":          {"token", "list", "--token-file", path},
		"CREDBROKER_TOKEN_FILE": {"token", "list"},
		"exec --token-file":     {"exec", "--connector", "deploy", "--token-file", path, "--", "true"},
	} {
		o := run(t, []string{"CREDBROKER_BROKER=" + fb.URL, "CREDBROKER_TOKEN_FILE=" + path}, args...)
		if o.code == 0 || !strings.Contains(o.stderr, "chmod 600 "+path) || !strings.Contains(o.stderr, "0644") {
			t.Errorf("%s: a token file of mode 0644: exit %d, stderr %q", name, o.code, o.stderr)
		}
		if strings.Contains(o.stderr, tokSecret) {
			t.Errorf("%s: the token was printed", name)
		}
	}
	if n := len(fb.requests()); n != 0 {
		t.Fatalf("%d requests made with a token from a file others may read", n)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if o := run(t, []string{"CREDBROKER_BROKER=" + fb.URL}, "token", "list", "--token-file", path); o.code != 0 {
		t.Fatalf("a token file of mode 0600: exit %d, %s", o.code, o.stderr)
	}
}

// TestErrorsMasked (defect 6): a connector named through a secret
// variable that the broker does not know: whatever the broker answers (an
// older broker repeats the name), exec and run print no secret in their
// errors and log lines.
func TestErrorsMasked(t *testing.T) {
	const pw = "Hunter2-Db-Password-Value"
	fb := newFakeBroker(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/agent/variables" {
			writeJSONAnswer(w, 200, map[string]any{"variables": []any{}})
			return
		}
		var req credbroker.VendRequest
		json.NewDecoder(r.Body).Decode(&req)
		writeJSONAnswer(w, 404, map[string]string{"code": "not_found", "message": `connector: no connector "` + req.Connector + `"`})
	})
	env := []string{"CREDBROKER_BROKER=" + fb.URL, "CREDBROKER_TOKEN=" + agentToken}
	vars := filepath.Join(t.TempDir(), "plan.vars")
	os.WriteFile(vars, []byte("deployPassword="+pw+"\n"), 0o600)
	jobFile := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(jobFile, []byte(`version: 1
variables:
  deployPassword: {value: "`+pw+`", secret: true}
tasks:
  - name: deploy
    credentials: {source: connector, connector: "${bamboo.deployPassword}"}
    run: "true"
`), 0o600)
	for name, args := range map[string][]string{
		"exec": {"--log-level", "debug", "exec", "--vars", vars, "--connector", "${deployPassword}", "--plan", "OPS-DEPLOY", "--", "true"},
		"run":  {"--log-level", "debug", "run", jobFile, "--plan", "OPS-DEPLOY"},
	} {
		o := run(t, env, args...)
		if o.code != 125 || !strings.Contains(o.stderr, "no connector") {
			t.Errorf("%s: exit %d, stderr %q", name, o.code, o.stderr)
		}
		if strings.Contains(o.stdout+o.stderr, pw) {
			t.Errorf("%s shows the secret variable's value:\n%s", name, o.stderr)
		}
		if !strings.Contains(o.stderr, "********") {
			t.Errorf("%s: the secret's place is not marked:\n%s", name, o.stderr)
		}
	}
}

// TestHiderLogWriter: the log of exec and run is masked line by line with
// the secrets known when each line is written.
func TestHiderLogWriter(t *testing.T) {
	var h hider
	var out bytes.Buffer
	w := h.writer(&out)
	w.Write([]byte("before: value-one-secret\n"))
	h.add("value-one-secret")
	w.Write([]byte("after: value-one-secret and more\n"))
	if got := out.String(); got != "before: value-one-secret\nafter: ******** and more\n" {
		t.Fatalf("log %q", got)
	}
}
