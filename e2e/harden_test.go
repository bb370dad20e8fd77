package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The tests of issue 11 (hardening) through the real binary and peers.

// TestHostileFieldsRefused: what an agent token could slip into a vend
// (control characters that forge rows of `credbroker audit`, a build
// identity tag of its choosing, a duration that wraps around, a plan key
// of hundreds of characters) is refused with a JSON 400; so are a plan
// pattern where a plan belongs, an unclean path and a header block over
// the documented limit. The audit table shows the refusals one line each.
func TestHostileFieldsRefused(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	c := &http.Client{Timeout: 30 * time.Second}
	vendURL := s.b.URL + "/v1/credentials"
	for name, req := range map[string]credbroker.VendRequest{
		"build":            {Build: "42\n9     2026-01-01T00:00:00Z  vend  tok_forged  OPS-DEPLOY#1  deploy  ****WXYZ  -  granted"},
		"job":              {Job: "job\x1b[2J\x1b]0;owned\x07"},
		"tags[0].key":      {Tags: []credbroker.Tag{{Key: "credbroker:job", Value: "OPS-DEPLOY-RELEASE"}}},
		"duration_seconds": {DurationSeconds: 1<<55 + 900},
		"plan":             {Plan: "OPS-" + strings.Repeat("D", 300)},
	} {
		req.Connector = "deploy"
		if req.Plan == "" {
			req.Plan = "OPS-DEPLOY"
		}
		body, _ := json.Marshal(req)
		e := s.call(c, "POST", vendURL, s.agent, body, nil)
		if e.status != http.StatusBadRequest || e.code(t) != credbroker.CodeInvalid || !strings.HasPrefix(e.message(), name+":") {
			t.Errorf("%s: %d %s, want a 400 naming %s", name, e.status, e.body, name)
		}
	}
	if e := s.call(c, "GET", s.b.URL+"/v1/agent/variables?plan=OPS-*", s.agent, nil, nil); e.status != http.StatusBadRequest || e.code(t) != credbroker.CodeInvalid {
		t.Errorf("agent variables of a plan pattern: %d %s", e.status, e.body)
	}
	nr := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, p := range []string{"//v1/tokens", "/v1/./tokens", "/v1/connectors/../tokens"} {
		req, _ := http.NewRequest("GET", s.b.direct+p, nil)
		req.Header.Set("Authorization", "Bearer "+s.admin)
		resp, err := nr.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.record("API GET "+p, data)
		if e := (exchange{resp.StatusCode, resp.Header, data}); e.status != http.StatusBadRequest || e.code(t) != credbroker.CodeInvalid || resp.Header.Get("Location") != "" {
			t.Errorf("unclean path %s: %d %s (Location %q)", p, e.status, data, resp.Header.Get("Location"))
		}
	}
	// 17 KiB of headers: over the documented 16 KiB, under what net/http
	// alone would let through.
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.b.direct, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /v1/tokens HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer %s\r\nX-Padding: %s\r\n\r\n", s.admin, strings.Repeat("p", 17<<10))
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a 17 KiB header block: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	w.record("API answer to 17 KiB of headers", data)
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(string(data), `"code":"invalid"`) {
		t.Errorf("a 17 KiB header block: %d %s, want a JSON 431", resp.StatusCode, data)
	}

	// The audit table: one line per record, nothing raw.
	r := s.b.admin(s.admin, "", "audit")
	w.expectOK(r, "audit")
	recs := s.b.admin(s.admin, "", "audit", "--output", "json")
	var list []credbroker.AuditRecord
	if err := json.Unmarshal([]byte(recs.stdout), &list); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != len(list)+1 {
		t.Fatalf("the audit table has %d lines for %d records:\n%s", len(lines), len(list), r.stdout)
	}
	for _, l := range lines {
		if !credbroker.SafeText(l) {
			t.Errorf("an audit table line holds a control character: %q", l)
		}
	}
	// The record holds the refused value escaped (a store may not keep
	// control characters, PostgreSQL no NUL nor bytes that are not
	// UTF-8); the table escapes that again, its backslash included.
	if !strings.Contains(r.stdout, `42\\n9`) {
		t.Errorf("the refused build is not shown escaped:\n%s", r.stdout)
	}
}

// TestPastedTokenRevoked: `credbroker token revoke "$(cat agent.token)"`
// revokes the token by its ID, and its secret goes nowhere: not into the
// URL, the broker's log or the CLI's output (the leak check searches them
// all). A token file others may read is refused.
func TestPastedTokenRevoked(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	doomed := s.token("doomed", "OPS-*")
	id, _, _ := strings.Cut(doomed, ".")
	if st, _, e := s.b.vend(doomed, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"}); st != 200 {
		t.Fatalf("vend before: %d %v", st, e)
	}
	r := s.b.admin(s.admin, "", "token", "revoke", doomed)
	w.expectOK(r, "token revoke with a whole token")
	if strings.TrimSpace(r.stdout) != "revoked token "+id {
		t.Fatalf("token revoke said %q", r.stdout)
	}
	st, _, e := s.b.vend(doomed, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "2"})
	if st != http.StatusUnauthorized || !strings.Contains(e["message"], "revoked") {
		t.Fatalf("vend after the revocation: %d %v", st, e)
	}

	open := w.write("input-open.token", s.agent+"\n")
	if err := os.Chmod(open, 0o644); err != nil {
		t.Fatal(err)
	}
	r = w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN_FILE="+open), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "chmod 600 "+open) {
		t.Fatalf("a token file of mode 0644: exit %d\n%s", r.code, r.stderr)
	}
}

// TestSecretConnectorNameHidden: a connector named through a secret
// variable that names none: exec and run fail with a clear line, and the
// value shows nowhere (CLI output, the broker's log, the audit, the
// database: the leak check).
func TestSecretConnectorNameHidden(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	pw := "Db-" + randHex(12) + "-Password"
	w.secret(pw)
	vars := w.write("input-plan.vars", "deployPassword="+pw+"\n")
	job := w.write("job.yaml", `version: 1
tasks:
  - name: deploy
    credentials: {source: connector, connector: "${bamboo.deployPassword}"}
    run: "true"
`)
	env := w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN="+s.agent)
	for name, args := range map[string][]string{
		"exec": {"--log-level", "debug", "exec", "--vars", vars, "--connector", "${deployPassword}", "--plan", "OPS-DEPLOY", "--", "true"},
		"run":  {"--log-level", "debug", "run", job, "--vars", vars, "--plan", "OPS-DEPLOY"},
	} {
		r := w.cbr(env, args...)
		if r.code != 125 || !strings.Contains(r.stderr, "no connector of that name is available to plan OPS-DEPLOY") {
			t.Errorf("%s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
}

// TestProfileCredentialsSweptAfterKill: `credbroker exec --delivery
// profile` killed with SIGKILL leaves its credentials file behind; the
// next run removes it before it starts.
func TestProfileCredentialsSweptAfterKill(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	where := filepath.Join(w.dir, "where")
	env := w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN="+s.agent)
	cmd := exec.Command(w.cb, "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "k9", "--delivery", "profile", "--",
		"/bin/sh", "-c", `printf '%s' "$AWS_SHARED_CREDENTIALS_FILE" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 300`, "x", where)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var out lockedBuf
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the task, still sleeping
		w.record("exec killed with SIGKILL (output)", []byte(out.String()))
	}()
	var credFile string
	for deadline := time.Now().Add(60 * time.Second); credFile == ""; time.Sleep(50 * time.Millisecond) {
		if b, err := os.ReadFile(where); err == nil {
			credFile = string(b)
		} else if time.Now().After(deadline) {
			t.Fatalf("the task never started:\n%s", out.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(credFile); err != nil {
		t.Fatalf("the credentials file %s is not there after kill -9 (%v): nothing left to sweep", credFile, err)
	}
	w.expectOK(w.cbr(env, "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true"), "the next exec")
	if _, err := os.Stat(filepath.Dir(credFile)); !os.IsNotExist(err) {
		t.Fatalf("the killed run's directory %s is still there after the next run: %v", filepath.Dir(credFile), err)
	}
}
