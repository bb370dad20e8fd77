package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

func TestStatusForCode(t *testing.T) {
	tests := []struct {
		code credbroker.Code
		want int
	}{
		{credbroker.CodeInvalid, 400},
		{credbroker.CodeUnauthorized, 401},
		{credbroker.CodeForbidden, 403},
		{credbroker.CodeNotFound, 404},
		{credbroker.CodeConflict, 409},
		{credbroker.CodeUnprocessable, 422},
		{credbroker.CodeThrottled, 429},
		{credbroker.CodeUpstream, 502},
		{credbroker.CodeUnavailable, 503},
		{credbroker.CodeInternal, 500},
		{"", 500},
		{"something-new", 500},
	}
	for _, tt := range tests {
		if got := httpapi.StatusForCode(tt.code); got != tt.want {
			t.Errorf("StatusForCode(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

// TestServiceErrors checks every code end to end: the status on the wire,
// the body, and the *credbroker.Error the client makes of it.
func TestServiceErrors(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	tests := []struct {
		err     error
		status  int
		code    credbroker.Code
		message string // what the client must see
	}{
		{credbroker.Errorf(credbroker.CodeInvalid, "connector", "is required"), 400, credbroker.CodeInvalid, "connector: is required"},
		{credbroker.Errorf(credbroker.CodeUnauthorized, "", "token expired"), 401, credbroker.CodeUnauthorized, "token expired"},
		{credbroker.Errorf(credbroker.CodeForbidden, "plan", "OPS-X is not allowed").WithFix("ask an admin"), 403, credbroker.CodeForbidden, "plan: OPS-X is not allowed; ask an admin"},
		{credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector deploy"), 404, credbroker.CodeNotFound, "connector: no connector deploy"},
		{credbroker.Errorf(credbroker.CodeConflict, "", "changed concurrently"), 409, credbroker.CodeConflict, "changed concurrently"},
		{credbroker.Errorf(credbroker.CodeUnprocessable, "duration", "above the maximum"), 422, credbroker.CodeUnprocessable, "duration: above the maximum"},
		{credbroker.Errorf(credbroker.CodeThrottled, "", "slow down"), 429, credbroker.CodeThrottled, "slow down"},
		{credbroker.Errorf(credbroker.CodeUpstream, "", "STS refused the request"), 502, credbroker.CodeUpstream, "STS refused the request"},
		{credbroker.Errorf(credbroker.CodeUnavailable, "", "the store is down"), 503, credbroker.CodeUnavailable, "the store is down"},
		{credbroker.Errorf(credbroker.CodeInternal, "", "nil map in vend"), 500, credbroker.CodeInternal, "internal error; the broker log has the details"},
		{fmt.Errorf("vend: %w", credbroker.Errorf(credbroker.CodeNotFound, "", "wrapped")), 404, credbroker.CodeNotFound, "wrapped"},
		{errors.New("plain error"), 500, credbroker.CodeInternal, "internal error; the broker log has the details"},
		{&credbroker.Error{Code: "brand-new", Message: "unknown code"}, 500, credbroker.CodeInternal, "internal error; the broker log has the details"},
	}
	for _, tt := range tests {
		t.Run(string(tt.code)+"/"+tt.err.Error(), func(t *testing.T) {
			e.svc.set(func(f *fakeService) { f.err = tt.err })
			w := serve(t, e.srv.Handler(), request{method: "POST", path: "/v1/credentials", token: agentSecret, body: `{"connector":"deploy"}`})
			if msg := wantError(t, w, tt.status, tt.code); msg != tt.message {
				t.Errorf("message = %q, want %q", msg, tt.message)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}

			_, err := e.agent.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy"})
			ce := credbroker.AsError(err)
			if ce == nil {
				t.Fatalf("client error %v is not a *credbroker.Error", err)
			}
			if ce.Code != tt.code || ce.Message != "broker: "+tt.message || ce.Field != "" {
				t.Errorf("client error = {%q %q %q}, want {\"\" %q \"broker: %s\"}", ce.Field, ce.Code, ce.Message, tt.code, tt.message)
			}
		})
	}
}

// TestRawTextNeverLeaks: database and upstream text kept in an error's
// cause stays in the server log and never reaches the client.
func TestRawTextNeverLeaks(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	const pq = `pq: relation "connectors" does not exist`
	const aws = "operation error STS: AssumeRole, https response error StatusCode: 403, RequestID: 7a62c49f-347e-4fc4-9331-6e8eEXAMPLE, api error AccessDenied"
	errs := []error{
		errors.New(pq),
		fmt.Errorf("get connector deploy: %w", errors.New(pq)),
		credbroker.Errorf(credbroker.CodeUnavailable, "", "the store is unavailable").WithCause(errors.New(pq)),
		credbroker.Errorf(credbroker.CodeUpstream, "", "STS refused to assume the role").WithCause(errors.New(aws)),
		credbroker.Errorf(credbroker.CodeInternal, "", "%s", pq),
	}
	for i, serr := range errs {
		e.svc.set(func(f *fakeService) { f.err = serr })
		for _, rq := range []request{
			{method: "POST", path: "/v1/credentials", token: agentSecret, body: `{"connector":"deploy"}`},
			{method: "GET", path: "/v1/connectors/deploy", token: adminSecret},
			{method: "GET", path: "/v1/audit/verify", token: adminSecret},
		} {
			w := serve(t, e.srv.Handler(), rq)
			body := w.Body.String()
			for _, raw := range []string{"pq:", "relation", "RequestID", "7a62c49f", "AccessDenied", "StatusCode"} {
				if strings.Contains(body, raw) || strings.Contains(fmt.Sprint(w.Header()), raw) {
					t.Errorf("error %d, %s %s: response %q leaks %q", i, rq.method, rq.path, body, raw)
				}
			}
		}
		_, err := e.agent.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy"})
		if strings.Contains(err.Error(), "pq:") || strings.Contains(err.Error(), "RequestID") {
			t.Errorf("client error %q leaks raw text", err)
		}
	}
	// The server log has the full error, at error level for 5xx.
	logs := e.logs.String()
	if !strings.Contains(logs, "relation") || !strings.Contains(logs, "RequestID: 7a62c49f") {
		t.Errorf("the server log lacks the raw causes:\n%s", logs)
	}
	for _, l := range e.logs.lines(t) {
		if l["status"] == float64(500) || l["status"] == float64(502) || l["status"] == float64(503) {
			if l["level"] != "ERROR" {
				t.Errorf("5xx logged at %v, want ERROR: %v", l["level"], l)
			}
		}
	}
}

// TestReadyz: liveness and readiness need no token; an unready broker
// answers 503 without saying why.
func TestReadyz(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	h := e.srv.Handler()
	for _, path := range []string{"/healthz", "/livez", "/readyz"} {
		w := serve(t, h, request{method: "GET", path: path})
		if w.Code != 200 || w.Body.String() != "ok" {
			t.Errorf("GET %s = %d %q, want 200 ok", path, w.Code, w.Body)
		}
	}
	e.svc.set(func(f *fakeService) { f.readyErr = errors.New("dial tcp 10.0.0.5:5432: connection refused") })
	w := serve(t, h, request{method: "GET", path: "/readyz"})
	wantError(t, w, 503, credbroker.CodeUnavailable)
	if strings.Contains(w.Body.String(), "10.0.0.5") {
		t.Errorf("readyz leaks the cause: %q", w.Body)
	}
	for _, path := range []string{"/healthz", "/livez"} {
		if w := serve(t, h, request{method: "GET", path: path}); w.Code != 200 {
			t.Errorf("%s while unready = %d, want 200", path, w.Code)
		}
	}
}

// TestPanicRecovered: a panicking service answers 500 JSON and is logged.
func TestPanicRecovered(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	e.svc.set(func(f *fakeService) { f.panics = true })
	w := serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/tokens", token: adminSecret})
	wantError(t, w, http.StatusInternalServerError, credbroker.CodeInternal)
	if !strings.Contains(e.logs.String(), "fake service panics") {
		t.Errorf("panic not logged:\n%s", e.logs)
	}
}
