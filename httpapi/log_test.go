package httpapi_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// TestLogLines: one line per request with method, route, status,
// duration, token ID and request ID, and no token, body or secret.
func TestLogLines(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	ctx := context.Background()

	if _, err := e.agent.Vend(ctx, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.agent.AgentVariables(ctx, "OPS-DEPLOY"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateConnector(ctx, credbroker.ConnectorSpec{Name: "x", SecretAccessKey: vendSecret}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CreateToken(ctx, credbroker.TokenSpec{Name: "ci", Role: credbroker.RoleAgent}); err != nil {
		t.Fatal(err)
	}
	if err := e.admin.SetVariable(ctx, credbroker.Variable{Name: "pw", Value: varSecret, Secret: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := newClient(t, e.ts.URL, "cbk_guess_"+adminSecret[:12]).ListTokens(ctx); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	// A service error whose cause is logged: it must be about the request,
	// not carry the request's secrets.
	e.svc.set(func(f *fakeService) {
		f.err = credbroker.Errorf(credbroker.CodeUpstream, "", "STS failed").WithCause(errors.New("RequestID: abc-123"))
	})
	if _, err := e.agent.Vend(ctx, credbroker.VendRequest{Connector: "deploy"}); err == nil {
		t.Fatal("want an error")
	}
	const requests = 7
	waitFor(t, "7 request lines", func() bool { return strings.Count(e.logs.String(), `"msg":"request"`) >= requests })

	logs := e.logs.String()
	for _, secret := range []string{adminSecret, agentSecret, vendSecret, vendSession, newTokSecret, varSecret, "cbk_guess", "Bearer", "Authorization"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs)
		}
	}
	var lines []map[string]any
	for _, l := range e.logs.lines(t) {
		if l["msg"] == "request" {
			lines = append(lines, l)
		}
	}
	if len(lines) != requests {
		t.Fatalf("%d request lines for %d requests:\n%s", len(lines), requests, logs)
	}
	for _, l := range lines {
		for _, key := range []string{"method", "route", "status", "duration", "token_id", "request_id"} {
			if _, ok := l[key]; !ok {
				t.Errorf("log line lacks %q: %v", key, l)
			}
		}
	}
	vend := lines[0]
	if vend["method"] != "POST" || vend["route"] != "POST /v1/credentials" || vend["status"] != float64(200) ||
		vend["token_id"] != "tok-agent" || vend["level"] != "INFO" {
		t.Errorf("vend line = %v", vend)
	}
	if bad := lines[5]; bad["status"] != float64(401) || bad["token_id"] != "" || bad["code"] != "unauthorized" {
		t.Errorf("failed authentication line = %v", bad)
	}
	if failed := lines[6]; failed["level"] != "ERROR" || failed["status"] != float64(502) ||
		failed["code"] != "upstream" || failed["cause"] != "RequestID: abc-123" {
		t.Errorf("upstream failure line = %v", failed)
	}
}

// TestRequestID: each response carries an X-Request-Id, different per
// request and the same as on the log line; a proxy's ID is taken only with
// TrustProxy.
func TestRequestID(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	h := e.srv.Handler()
	a := serve(t, h, request{method: "GET", path: "/healthz"}).Header().Get("X-Request-Id")
	b := serve(t, h, request{method: "GET", path: "/nope"}).Header().Get("X-Request-Id")
	if a == "" || b == "" || a == b {
		t.Fatalf("request IDs %q and %q: want two different ones", a, b)
	}
	lines := e.logs.lines(t)
	if len(lines) != 2 || lines[0]["request_id"] != a || lines[1]["request_id"] != b {
		t.Errorf("logged IDs do not match the responses %q, %q: %v", a, b, lines)
	}
	if lines[1]["route"] != "/" || lines[1]["status"] != float64(404) {
		t.Errorf("unknown path line: %v", lines[1])
	}
	given := request{method: "GET", path: "/healthz", header: map[string][]string{"X-Request-Id": {"proxy-id-1"}}}
	if id := serve(t, h, given).Header().Get("X-Request-Id"); id == "proxy-id-1" {
		t.Errorf("took a client's request ID without TrustProxy")
	}
	trusted := newTestEnv(t, httpapi.ServerOptions{TrustProxy: true})
	if id := serve(t, trusted.srv.Handler(), given).Header().Get("X-Request-Id"); id != "proxy-id-1" {
		t.Errorf("behind a trusted proxy the ID is %q, want proxy-id-1", id)
	}
	given.header["X-Request-Id"] = []string{"bad id\nwith newline"}
	if id := serve(t, trusted.srv.Handler(), given).Header().Get("X-Request-Id"); strings.Contains(id, "bad") {
		t.Errorf("took a malformed request ID %q", id)
	}
}
