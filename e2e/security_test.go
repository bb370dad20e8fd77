package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The hostile-access tests: what a client that is not a well-behaved agent
// or administrator gets from `credbroker serve` and from the container
// credentials endpoint that `credbroker exec` runs for a task.

// secureSite is a broker started with extra serve flags, with a deploy
// connector on MinIO (reading bucket alpha only) for plans OPS-*, and an
// agent token for them.
type secureSite struct {
	w            *world
	b            *brokerProc
	admin, agent string
}

func newSecureSite(t *testing.T, serveFlags ...string) *secureSite {
	t.Helper()
	w := newWorld(t, false)
	s := &secureSite{w: w}
	dd := dataDir(w, "broker")
	s.b = w.startBroker(dd, serveFlags...)
	s.admin = w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(s.b.admin(s.admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", w.minio.Endpoint,
		"--default-duration", "15m", "--allow-plan", "OPS-*"), "connector create")
	s.agent = s.token("agent", "OPS-*")
	return s
}

// token makes an agent token for plans (or, for "admin", an admin token)
// through the admin CLI and registers it as a secret.
func (s *secureSite) token(name, plans string, extra ...string) string {
	s.w.t.Helper()
	args := []string{"token", "create", "--role", "agent", "--name", name, "--plans", plans}
	if plans == "admin" {
		args = []string{"token", "create", "--role", "admin", "--name", name}
	}
	r := s.b.adminShown(s.admin, append(args, extra...)...)
	s.w.expectOK(r, "token create "+name)
	tok := strings.TrimSpace(r.stdout)
	s.w.secret(tok)
	return tok
}

// exchange is one raw HTTP exchange with the broker.
type exchange struct {
	status int
	header http.Header
	body   []byte
}

// code returns the error code of a JSON error answer, failing the test
// when the answer is not exactly {"code","message"}.
func (e exchange) code(t *testing.T) credbroker.Code {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(e.body, &m); err != nil || len(m) != 2 || m["code"] == "" || m["message"] == "" {
		t.Fatalf("status %d: answer %q is not a JSON {code, message}", e.status, e.body)
	}
	return credbroker.Code(m["code"])
}

func (e exchange) message() string {
	var m map[string]string
	json.Unmarshal(e.body, &m)
	return m["message"]
}

// from returns an HTTP client whose connections come from the local
// address ip: 127.0.0.2 and 127.0.0.3 are distinct clients to a broker on
// 127.0.0.1, so that per-address limits can be tested on one host.
func from(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
}

// call sends one request and records the answer for the leak check unless
// it is a granted vend, whose keys it registers as secrets instead.
func (s *secureSite) call(c *http.Client, method, url, tok string, body []byte, hdr http.Header) exchange {
	s.w.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		s.w.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		s.w.t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && strings.HasSuffix(req.URL.Path, "/v1/credentials") {
		var res credbroker.VendResult
		json.Unmarshal(data, &res)
		s.w.secret(res.SecretAccessKey, res.SessionToken)
	} else {
		s.w.record("API "+method+" "+req.URL.Path, data)
	}
	return exchange{resp.StatusCode, resp.Header, data}
}

func vendBody(plan, build string) []byte {
	b, _ := json.Marshal(credbroker.VendRequest{Connector: "deploy", Plan: plan, Build: build})
	return b
}

// TestRequestLimits: bodies and header blocks over the configured limits
// are refused before any work, with 413 (a JSON error) and 431.
func TestRequestLimits(t *testing.T) {
	s := newSecureSite(t, "--max-body-bytes", "2048", "--max-header-bytes", "4096")
	c := &http.Client{Timeout: 30 * time.Second}

	small := vendBody("OPS-DEPLOY", "1")
	if e := s.call(c, "POST", s.b.direct+"/v1/credentials", s.agent, small, nil); e.status != 200 {
		t.Fatalf("a normal vend: %d %s", e.status, e.body)
	}
	// A body over the limit, padded inside a JSON string so that only
	// its size is wrong.
	big := []byte(`{"connector":"deploy","plan":"OPS-DEPLOY","build":"` + strings.Repeat("9", 4096) + `"}`)
	e := s.call(c, "POST", s.b.direct+"/v1/credentials", s.agent, big, nil)
	if e.status != http.StatusRequestEntityTooLarge || e.code(t) != credbroker.CodeInvalid || !strings.Contains(e.message(), "2048") {
		t.Errorf("a body of %d bytes: %d %s", len(big), e.status, e.body)
	}
	// The same on an admin route, with a body of a megabyte: the broker
	// stops reading at the limit, answers and closes the connection. (A
	// raw connection, so that the answer is read even while the body is
	// still being written.)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.b.direct, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/connectors HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		s.admin, 1<<20)
	go func() {
		conn.Write([]byte(`{"name":"`))
		chunk := bytes.Repeat([]byte("a"), 1024)
		for range 1024 {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("a body of a megabyte: no answer: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s.w.record("API answer to a megabyte body", data)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !resp.Close {
		t.Errorf("a body of a megabyte: %d (close %v) %s", resp.StatusCode, resp.Close, data)
	}

	// A header block over the limit is refused by the server itself.
	e = s.call(c, "GET", s.b.direct+"/v1/tokens", s.admin, nil, http.Header{"X-Padding": {strings.Repeat("p", 16<<10)}})
	if e.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a header block of 16 KiB: %d %s", e.status, e.body)
	}
	// A token longer than any token is refused without a lookup.
	e = s.call(c, "GET", s.b.direct+"/v1/tokens", strings.Repeat("t", 2000), nil, nil)
	if e.status != http.StatusUnauthorized || e.code(t) != credbroker.CodeUnauthorized {
		t.Errorf("a 2,000-character token: %d %s", e.status, e.body)
	}
	// The broker still serves.
	if e := s.call(c, "POST", s.b.direct+"/v1/credentials", s.agent, small, nil); e.status != 200 {
		t.Fatalf("a normal vend afterwards: %d %s", e.status, e.body)
	}
}

// trickle writes data to conn one byte every gap until it is written, the
// connection fails, or stop is closed.
func trickle(conn net.Conn, data []byte, gap time.Duration, stop <-chan struct{}) {
	for _, b := range data {
		select {
		case <-stop:
			return
		case <-time.After(gap):
		}
		if _, err := conn.Write([]byte{b}); err != nil {
			return
		}
	}
}

// cutOff reads conn until the server closes it and returns what it sent;
// it fails the test if the server keeps the connection open past bound.
func cutOff(t *testing.T, conn net.Conn, bound time.Duration, what string) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(bound))
	data, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("%s: the broker still held the connection after %v", what, bound)
	}
	return string(data)
}

// TestSlowClientsCutOff: clients that trickle their request (slowloris)
// are cut off by the server's timeouts (serve --read-header-timeout,
// --read-timeout) while well-behaved clients keep being served.
func TestSlowClientsCutOff(t *testing.T) {
	s := newSecureSite(t, "--read-header-timeout", "1s", "--read-timeout", "3s")
	addr := strings.TrimPrefix(s.b.direct, "http://")
	const bound = 20 * time.Second // far above the timeouts, far below the trickles' length
	stop := make(chan struct{})
	defer close(stop)

	// Many connections trickling their headers, a byte every 250 ms:
	// each would take a minute to send its 240 bytes.
	head := []byte("POST /v1/credentials HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + s.agent +
		"\r\nContent-Type: application/json\r\nX-Padding: " + strings.Repeat("p", 40) + "\r\n\r\n")
	var conns []net.Conn
	for range 30 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns = append(conns, conn)
		go trickle(conn, head, 250*time.Millisecond, stop)
	}
	// A well-behaved client is served meanwhile.
	c := &http.Client{Timeout: 30 * time.Second}
	if e := s.call(c, "POST", s.b.direct+"/v1/credentials", s.agent, vendBody("OPS-DEPLOY", "slow"), nil); e.status != 200 {
		t.Fatalf("a vend while slow clients hold connections: %d %s", e.status, e.body)
	}
	for i, conn := range conns {
		if got := cutOff(t, conn, bound, fmt.Sprintf("slow headers %d", i)); strings.Contains(got, " 200 ") {
			t.Fatalf("a slow client was served: %q", got)
		}
	}

	// Headers sent at once, then a body that trickles: cut by the read
	// timeout, never served.
	body := vendBody("OPS-DEPLOY", "trickled")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/credentials HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		addr, s.agent, len(body)+200)
	go trickle(conn, append(body, bytes.Repeat([]byte(" "), 200)...), 250*time.Millisecond, stop)
	got := cutOff(t, conn, bound, "slow body")
	s.w.record("slow body answer", []byte(got))
	if strings.Contains(got, " 200 ") {
		t.Fatalf("a trickled body was served: %q", got)
	}

	// A connection that sends nothing at all is closed too.
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	cutOff(t, idle, bound, "silent connection")

	// And the broker still serves.
	if e := s.call(c, "POST", s.b.direct+"/v1/credentials", s.agent, vendBody("OPS-DEPLOY", "after"), nil); e.status != 200 {
		t.Fatalf("a vend after the slow clients: %d %s", e.status, e.body)
	}
}

// TestTokensRefused: a wrong, malformed, missing, expired or revoked token
// (and a request replayed after its token was revoked) is refused with 401
// and a JSON error; a token of another plan or role with 403; through the
// API and the CLI. Refused vends are audited as refused.
func TestTokensRefused(t *testing.T) {
	s := newSecureSite(t, "--auth-failure-burst", "1000")
	w := s.w
	c := &http.Client{Timeout: 30 * time.Second}
	vendURL := s.b.URL + "/v1/credentials"
	body := vendBody("OPS-DEPLOY", "7")

	unauthorized := func(what string, e exchange, want string) {
		t.Helper()
		if e.status != http.StatusUnauthorized || e.code(t) != credbroker.CodeUnauthorized || !strings.Contains(e.message(), want) {
			t.Errorf("%s: %d %s, want 401 unauthorized saying %q", what, e.status, e.body, want)
		}
		if !strings.HasPrefix(e.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", what, e.header.Get("WWW-Authenticate"))
		}
	}
	forbidden := func(what string, e exchange, want string) {
		t.Helper()
		if e.status != http.StatusForbidden || e.code(t) != credbroker.CodeForbidden || !strings.Contains(e.message(), want) {
			t.Errorf("%s: %d %s, want 403 forbidden saying %q", what, e.status, e.body, want)
		}
	}

	id, _, _ := strings.Cut(s.agent, ".")
	unauthorized("missing token", s.call(c, "POST", vendURL, "", body, nil), "no token")
	unauthorized("wrong secret", s.call(c, "POST", vendURL, id+"."+strings.Repeat("A", 43), body, nil), "unknown or wrong token")
	unauthorized("unknown ID", s.call(c, "POST", vendURL, "tok_0123456789abcdef."+strings.Repeat("A", 43), body, nil), "unknown or wrong token")
	unauthorized("malformed", s.call(c, "POST", vendURL, "not-a-token", body, nil), "malformed")
	unauthorized("not Bearer", s.call(c, "POST", vendURL, "", body, http.Header{"Authorization": {"Basic " + s.agent}}), "not a Bearer token")
	unauthorized("admin route", s.call(c, "GET", s.b.URL+"/v1/tokens", id+"."+strings.Repeat("B", 43), nil, nil), "unknown or wrong token")

	// Role and plan.
	forbidden("admin token vending", s.call(c, "POST", vendURL, s.admin, body, nil), "agent token")
	forbidden("agent token listing tokens", s.call(c, "GET", s.b.URL+"/v1/tokens", s.agent, nil, nil), "admin token")
	forbidden("agent token creating a connector", s.call(c, "POST", s.b.URL+"/v1/connectors", s.agent, []byte(`{"name":"x"}`), nil), "admin token")
	web := s.token("web", "WEB-*")
	forbidden("token of another plan", s.call(c, "POST", vendURL, web, body, nil), `bound to plans "WEB-*"`)
	forbidden("variables of another plan", s.call(c, "GET", s.b.URL+"/v1/agent/variables?plan=OPS-DEPLOY", web, nil, nil), `bound to plans "WEB-*"`)

	// Revoked: the vend that worked is refused when replayed, through the
	// API and through the CLI, and so is an admin token's listing.
	doomed := s.token("doomed", "OPS-*")
	if e := s.call(c, "POST", vendURL, doomed, body, nil); e.status != 200 {
		t.Fatalf("vend before the revocation: %d %s", e.status, e.body)
	}
	doomedAdmin := s.token("doomed-admin", "admin")
	if e := s.call(c, "GET", s.b.URL+"/v1/tokens", doomedAdmin, nil, nil); e.status != 200 {
		t.Fatalf("admin listing before the revocation: %d %s", e.status, e.body)
	}
	for _, tok := range []string{doomed, doomedAdmin} {
		tid, _, _ := strings.Cut(tok, ".")
		w.expectOK(s.b.admin(s.admin, "", "token", "revoke", tid), "token revoke")
	}
	for range 2 {
		unauthorized("replayed after revoke", s.call(c, "POST", vendURL, doomed, body, nil), "was revoked")
	}
	unauthorized("revoked admin", s.call(c, "GET", s.b.URL+"/v1/tokens", doomedAdmin, nil, nil), "was revoked")
	r := w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN="+doomed), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("the CLI with a revoked token: exit %d\n%s", r.code, r.stderr)
	}
	r = w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN="+doomedAdmin), "connector", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "revoked") {
		t.Errorf("the admin CLI with a revoked token: exit %d\n%s", r.code, r.stderr)
	}

	// Expired: a token made to last one second works, then stops.
	short := s.token("short", "OPS-*", "--expires", "2s")
	deadline := time.Now().Add(30 * time.Second)
	var e exchange
	for {
		e = s.call(c, "POST", vendURL, short, body, nil)
		if e.status != 200 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	unauthorized("expired token", e, "expired")

	// The refused vends are in the audit, as refused, with their codes.
	r = s.b.admin(s.admin, "", "audit", "--outcome", "refused", "--output", "json")
	w.expectOK(r, "audit --outcome refused")
	var recs []credbroker.AuditRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil {
		t.Fatalf("audit JSON: %v\n%s", err, r.stdout)
	}
	forbiddenVends := 0
	for _, rec := range recs {
		if rec.Action == credbroker.ActionVend && rec.ErrorCode == string(credbroker.CodeForbidden) {
			forbiddenVends++
		}
	}
	if forbiddenVends < 2 {
		t.Errorf("the audit holds %d refused (forbidden) vends, want at least 2:\n%s", forbiddenVends, r.stdout)
	}
}

// TestBruteForceThrottled: an address that keeps presenting wrong tokens
// is answered 429 with Retry-After (for any token the broker has not
// looked up before: no lookup is made for it), while a client at another
// address is still served, and so is a valid token the broker holds from
// the throttled address itself: one misconfigured agent behind a NAT does
// not lock its neighbours out.
func TestBruteForceThrottled(t *testing.T) {
	s := newSecureSite(t, "--auth-failure-burst", "5", "--auth-failure-rate", "0.001")
	vendURL := s.b.direct + "/v1/credentials"
	body := vendBody("OPS-DEPLOY", "9")
	attacker, other := from("127.0.0.2"), from("127.0.0.3")
	id, _, _ := strings.Cut(s.agent, ".")

	for i := range 5 {
		guess := fmt.Sprintf("%s.%043d", id, i)
		if e := s.call(attacker, "POST", vendURL, guess, body, nil); e.status != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d %s, want 401", i+1, e.status, e.body)
		}
	}
	for _, tok := range []string{id + ".guess-six-" + strings.Repeat("x", 33), "tok_0123456789abcdef." + strings.Repeat("y", 43)} {
		e := s.call(attacker, "POST", vendURL, tok, body, nil)
		if e.status != http.StatusTooManyRequests || e.code(t) != credbroker.CodeThrottled {
			t.Fatalf("after five wrong tokens: %d %s, want 429", e.status, e.body)
		}
		if ra, err := strconv.Atoi(e.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Errorf("Retry-After %q, want whole seconds", e.header.Get("Retry-After"))
		}
	}
	if e := s.call(attacker, "POST", vendURL, s.agent, body, nil); e.status != http.StatusOK {
		t.Fatalf("the right token from the throttled address: %d %s, want it served", e.status, e.body)
	}
	if e := s.call(other, "POST", vendURL, s.agent, body, nil); e.status != http.StatusOK {
		t.Fatalf("the right token from another address: %d %s", e.status, e.body)
	}
	// Through the CLI (which connects from 127.0.0.1): five wrong tokens,
	// then a sixth is throttled, with one clear line, and the right token
	// is served.
	env := func(tok string) []string {
		return s.w.env("CREDBROKER_BROKER="+s.b.direct, "CREDBROKER_TOKEN="+tok)
	}
	for i := range 5 {
		r := s.w.cbr(env(fmt.Sprintf("%s.%043d", id, 100+i)), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true")
		if r.code != 125 || !strings.Contains(r.stderr, "unknown or wrong token") {
			t.Fatalf("CLI guess %d: exit %d\n%s", i+1, r.code, r.stderr)
		}
	}
	r := s.w.cbr(env(fmt.Sprintf("%s.%043d", id, 200)), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "too many failed authentications") {
		t.Errorf("the CLI from a throttled address: exit %d\n%s", r.code, r.stderr)
	}
	r = s.w.cbr(env(s.agent), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--", "true")
	if r.code != 0 {
		t.Errorf("the CLI with the right token from a throttled address: exit %d\n%s", r.code, r.stderr)
	}
	if e := s.call(other, "POST", vendURL, s.agent, body, nil); e.status != http.StatusOK {
		t.Fatalf("the right token from a third address: %d %s", e.status, e.body)
	}
}

// The endpoint probe: the test binary, run as a task by `credbroker exec
// --delivery endpoint`, knocks on the container-credentials endpoint in
// every wrong way and reports each status (never a credential).
const probeEnv = "CREDBROKER_E2E_PROBE"

func runProbe() int {
	full := os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI")
	token := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")
	if tf := os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"); tf != "" {
		b, err := os.ReadFile(tf)
		if err != nil {
			fmt.Println("probe: token file:", err)
			return 2
		}
		token = string(b)
	}
	u, err := url.Parse(full)
	if full == "" || token == "" || err != nil {
		fmt.Println("probe: no endpoint in the environment")
		return 2
	}
	port := u.Port()
	get := func(name string, c *http.Client, method, target, host, auth string) {
		req, err := http.NewRequest(method, target, nil)
		if err != nil {
			fmt.Printf("%s error\n", name)
			return
		}
		if host != "" {
			req.Host = host
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			fmt.Printf("%s refused\n", name)
			return
		}
		defer resp.Body.Close()
		var m map[string]string
		json.NewDecoder(resp.Body).Decode(&m)
		shape := "json-error"
		if m["AccessKeyId"] != "" {
			shape = "credentials"
		} else if m["code"] == "" || m["message"] == "" {
			shape = "other"
		}
		fmt.Printf("%s %d %s\n", name, resp.StatusCode, shape)
	}
	c := &http.Client{Timeout: 10 * time.Second}
	get("valid", c, "GET", full, "", token)
	get("missing-token", c, "GET", full, "", "")
	get("wrong-token", c, "GET", full, "", strings.Repeat("0", len(token)))
	get("bearer-token", c, "GET", full, "", "Bearer "+token)
	get("rebinding-host", c, "GET", full, "attacker.example:"+port, token)
	get("host-without-port", c, "GET", full, "127.0.0.1", token)
	get("other-path", c, "GET", strings.TrimSuffix(full, u.Path)+"/latest/meta-data/", "", token)
	get("post", c, "POST", full, "", token)
	// A peer that is not loopback: this host's other addresses, if any,
	// as the source of a connection to the endpoint; and the endpoint's
	// port on those addresses, where nothing may listen.
	other := nonLoopback()
	if other == nil {
		fmt.Println("non-loopback-peer none")
		return 0
	}
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: other}, Timeout: 5 * time.Second}
	get("non-loopback-peer", &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}, "GET", full, "", token)
	get("non-loopback-address", c, "GET", "http://"+net.JoinHostPort(other.String(), port)+u.Path, "127.0.0.1:"+port, token)
	return 0
}

// nonLoopback returns an IPv4 address of this host that is not loopback,
// or nil.
func nonLoopback() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}

// TestContainerEndpointRefusals: the container-credentials endpoint that
// `credbroker exec --delivery endpoint` runs for a task answers only GETs
// of its own path, with its token, from loopback peers, for a Host naming
// its own address; everything else gets a JSON refusal and no
// credentials.
func TestContainerEndpointRefusals(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tokF := w.write("input-agent.token", s.agent)
	r := w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN_FILE="+tokF, probeEnv+"=endpoint"),
		"exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "3", "--delivery", "endpoint", "--", self)
	w.expectOK(r, "the endpoint probe")
	got := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		name, rest, _ := strings.Cut(sc.Text(), " ")
		got[name] = rest
	}
	want := map[string]string{
		"valid":             "200 credentials",
		"missing-token":     "401 json-error",
		"wrong-token":       "401 json-error",
		"bearer-token":      "401 json-error",
		"rebinding-host":    "403 json-error",
		"host-without-port": "403 json-error",
		"other-path":        "404 json-error",
		"post":              "405 json-error",
	}
	if got["non-loopback-peer"] != "none" {
		want["non-loopback-peer"] = "403 json-error"
		want["non-loopback-address"] = "refused"
	} else {
		t.Log("this host has no address but loopback: the non-loopback peer is checked by endpoint's handler tests only")
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Logf("probe output:\n%s\n%s", r.stdout, r.stderr)
	}
}

// TestNoSecretInBrokerStore: after connectors with secret keys, secret
// variables and vends, neither the database file nor the audit rows nor
// any admin answer hold a secret in the clear; the world's leak check
// (which records the store's files and the audit at stop) does the
// searching, this test makes sure there is something to search.
func TestNoSecretInBrokerStore(t *testing.T) {
	s := newSecureSite(t)
	w := s.w
	const varSecret = "db-password-0f7c2a9e51b3"
	w.secret(varSecret)
	w.expectOK(s.b.admin(s.admin, varSecret, "variable", "set", "dbPassword", "--plan", "OPS-DEPLOY", "--secret", "--value-file", "-"), "secret variable")
	c := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e := s.call(c, "POST", s.b.URL+"/v1/credentials", s.agent, vendBody("OPS-DEPLOY", strconv.Itoa(i)), nil)
			if e.status != 200 {
				mu.Lock()
				t.Errorf("vend %d: %d %s", i, e.status, e.body)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, args := range [][]string{
		{"connector", "list", "--output", "json"}, {"connector", "show", "deploy", "--output", "json"},
		{"variable", "list", "--plan", "OPS-DEPLOY", "--output", "json"}, {"token", "list", "--output", "json"},
		{"audit", "--output", "json"}, {"audit", "verify"},
	} {
		w.expectOK(s.b.admin(s.admin, "", args...), strings.Join(args, " "))
	}
	s.b.stop()
	// The store was recorded at stop; make sure it was, and that the
	// sealed secrets are in it (so that the search had the right input).
	w.mu.Lock()
	defer w.mu.Unlock()
	var db []byte
	for _, o := range w.outputs {
		if strings.HasPrefix(o.what, "database file credbroker.db") {
			db = append(db, o.data...)
		}
	}
	if len(db) == 0 {
		t.Fatal("the broker's database was not recorded at stop")
	}
	if !bytes.Contains(db, []byte("dbPassword")) || !bytes.Contains(db, []byte(w.minio.RootUser)) {
		t.Fatal("the recorded database lacks the variable and the connector")
	}
}
