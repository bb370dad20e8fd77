package httpapi_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// The tests of issue 11 (hardening) for the HTTP layer.

// knowingService is the fake service, able to tell which tokens it holds
// (httpapi.TokenKnower).
type knowingService struct {
	*fakeService
	known map[string]bool
}

func (k knowingService) KnowsToken(bearer string) bool { return k.known[bearer] }

// TestAuthLimiterServesKnownTokens: an address over its failed
// authentications is refused before any lookup, except for a token the
// service holds: valid, it is served (one failing agent does not lock out
// its neighbours on the same host); wrong, it is a 429 too.
func TestAuthLimiterServesKnownTokens(t *testing.T) {
	clk := &manualClock{now: t0}
	svc := knowingService{fakeService: &fakeService{}, known: map[string]bool{adminSecret: true, "cbk_known_but_revoked": true}}
	srv := httpapi.NewServer(svc, httpapi.ServerOptions{Now: clk.Now, AuthFailureRate: 1, AuthFailureBurst: 5})
	h := srv.Handler()
	const nat = "203.0.113.9:4000"
	get := func(token string) *http.Response {
		return serve(t, h, request{method: "GET", path: "/v1/tokens", token: token, remote: nat}).Result()
	}
	for i := range 5 {
		if r := get("cbk_misconfigured"); r.StatusCode != 401 {
			t.Fatalf("failure %d: %d, want 401", i+1, r.StatusCode)
		}
	}
	if r := get(adminSecret); r.StatusCode != 200 {
		t.Fatalf("a valid token the service holds, from the limited address: %d, want 200", r.StatusCode)
	}
	auths := svc.count("Authenticate")
	for _, tok := range []string{"cbk_misconfigured", "cbk_another_guess", agentSecret} {
		w := serve(t, h, request{method: "GET", path: "/v1/tokens", token: tok, remote: nat})
		wantError(t, w, http.StatusTooManyRequests, credbroker.CodeThrottled)
		if w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tok)
		}
	}
	if n := svc.count("Authenticate"); n != auths {
		t.Errorf("%d lookups of tokens the service does not hold, from a limited address", n-auths)
	}
	// A held token that fails (revoked, say) is checked, and answered 429.
	w := serve(t, h, request{method: "GET", path: "/v1/tokens", token: "cbk_known_but_revoked", remote: nat})
	wantError(t, w, http.StatusTooManyRequests, credbroker.CodeThrottled)
	if n := svc.count("Authenticate"); n != auths+1 {
		t.Errorf("a held token from a limited address was not checked")
	}
}

// TestUnknownRouteDoesNotRepeatPath: a path may hold a secret (a whole
// token where an ID belongs); the answer and the log line do not repeat it.
func TestUnknownRouteDoesNotRepeatPath(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	const secret = "Xq7Rb2SECRETw9Vz0PASTEDTOKENsecretPART000"
	for _, p := range []string{"/v1/token/tok_0123456789abcdef." + secret, "/" + secret, "/v1/tokens/tok_0123456789abcdef." + secret + "/x"} {
		w := serve(t, e.srv.Handler(), request{method: "DELETE", path: p, token: adminSecret})
		msg := wantError(t, w, http.StatusNotFound, credbroker.CodeNotFound)
		if strings.Contains(msg, secret) {
			t.Errorf("%s: the answer repeats the path: %q", p, msg)
		}
	}
	waitFor(t, "three log lines", func() bool { return strings.Count(e.logs.String(), `"msg":"request"`) >= 3 })
	if strings.Contains(e.logs.String(), secret) {
		t.Fatalf("the log repeats a path:\n%s", e.logs.String())
	}
}

// TestUncleanPathsJSON: a path with //, . or .. segments gets a JSON
// error, not ServeMux's redirect (which is not JSON, and would send the
// client elsewhere with its token).
func TestUncleanPathsJSON(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	for _, p := range []string{"//v1/tokens", "/v1//tokens", "/v1/./tokens", "/v1/x/../tokens", "/v1/tokens/.", "/v1/tokens/..", "/./healthz"} {
		w := serve(t, e.srv.Handler(), request{method: "GET", path: p, token: adminSecret})
		wantError(t, w, http.StatusBadRequest, credbroker.CodeInvalid)
		if loc := w.Header().Get("Location"); loc != "" {
			t.Errorf("%s: redirected to %s", p, loc)
		}
	}
	// Clean paths are served as before.
	if w := serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/tokens", token: adminSecret}); w.Code != 200 {
		t.Errorf("/v1/tokens: %d", w.Code)
	}
	wantError(t, serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/connectors/", token: adminSecret}), 404, credbroker.CodeNotFound)
}

// TestHeaderLimitAsDocumented: the header block limit in force is the
// configured one (16 KiB by default), not that plus net/http's 4 KiB of
// slack; a block over it gets a JSON 431.
func TestHeaderLimitAsDocumented(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	addr, _ := startServe(t, e.srv)
	send := func(padding int) (int, string) {
		t.Helper()
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := fmt.Sprintf("GET /v1/tokens HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nX-Padding: %s\r\n\r\n", addr, adminSecret, strings.Repeat("p", padding))
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("a header block of %d bytes: %v", len(head), err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	const limit = httpapi.DefaultMaxHeaderBytes
	if st, body := send(limit - 512); st != 200 {
		t.Fatalf("a header block under %d bytes: %d %s", limit, st, body)
	}
	for _, over := range []int{limit + 16, limit + 2048} {
		st, body := send(over)
		if st != http.StatusRequestHeaderFieldsTooLarge || !strings.Contains(body, `"code":"invalid"`) {
			t.Errorf("a header block of over %d bytes: %d %s, want a JSON 431", over, st, body)
		}
	}
}
