package httpapi_test

import (
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// TestBadRequests covers what the server refuses before the service sees
// the request.
func TestBadRequests(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	h := e.srv.Handler()
	huge := `{"connector":"` + strings.Repeat("a", httpapi.DefaultMaxBodyBytes) + `"}`
	tests := []struct {
		name    string
		rq      request
		status  int
		code    credbroker.Code
		mention string // the message must name this
	}{
		{"unknown field", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d","duration":900}`}, 400, credbroker.CodeInvalid, `"duration"`},
		{"nested unknown field", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d","tags":[{"key":"a","vaule":"b"}]}`}, 400, credbroker.CodeInvalid, `"vaule"`},
		{"wrong type", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d","duration_seconds":"900"}`}, 400, credbroker.CodeInvalid, "duration_seconds"},
		{"two values", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d"}{"connector":"e"}`}, 400, credbroker.CodeInvalid, "exactly one"},
		{"trailing garbage", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d"} x`}, 400, credbroker.CodeInvalid, "exactly one"},
		{"not an object", request{method: "POST", path: "/v1/credentials", body: `["connector"]`}, 400, credbroker.CodeInvalid, "object"},
		{"syntax", request{method: "POST", path: "/v1/credentials", body: `{"connector":}`}, 400, credbroker.CodeInvalid, "not valid JSON"},
		{"truncated", request{method: "POST", path: "/v1/credentials", body: `{"connector":"d"`}, 400, credbroker.CodeInvalid, "truncated"},
		{"empty body", request{method: "POST", path: "/v1/credentials", ctype: "application/json", body: " "}, 400, credbroker.CodeInvalid, "empty"},
		{"huge body", request{method: "POST", path: "/v1/credentials", body: huge}, 413, credbroker.CodeInvalid, "larger than 65536 bytes"},
		{"huge connector body", request{method: "PUT", path: "/v1/connectors/x", body: huge}, 413, credbroker.CodeInvalid, "larger than"},
		{"text content type", request{method: "POST", path: "/v1/credentials", ctype: "text/plain", body: `{"connector":"d"}`}, 415, credbroker.CodeInvalid, "application/json"},
		{"form content type", request{method: "POST", path: "/v1/tokens", ctype: "application/x-www-form-urlencoded", body: `name=x`}, 415, credbroker.CodeInvalid, "application/json"},
		{"no content type", request{method: "PUT", path: "/v1/variables/x", body: `{"value":"v"}`, ctype: " "}, 415, credbroker.CodeInvalid, "application/json"},
		{"variable unknown field", request{method: "PUT", path: "/v1/variables/x", body: `{"value":"v","sealed":true}`}, 400, credbroker.CodeInvalid, `"sealed"`},
		{"unknown query parameter", request{method: "GET", path: "/v1/variables?plan=A&plna=B"}, 400, credbroker.CodeInvalid, "plna"},
		{"repeated plan", request{method: "GET", path: "/v1/agent/variables?plan=A&plan=B"}, 400, credbroker.CodeInvalid, "plan"},
		{"audit since", request{method: "GET", path: "/v1/audit?since=yesterday"}, 400, credbroker.CodeInvalid, "since"},
		{"audit until", request{method: "GET", path: "/v1/audit?until=2026-13-01T00:00:00Z"}, 400, credbroker.CodeInvalid, "until"},
		{"audit until before since", request{method: "GET", path: "/v1/audit?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z"}, 400, credbroker.CodeInvalid, "until"},
		{"audit after", request{method: "GET", path: "/v1/audit?after=-1"}, 400, credbroker.CodeInvalid, "after"},
		{"audit limit zero", request{method: "GET", path: "/v1/audit?limit=0"}, 400, credbroker.CodeInvalid, "limit"},
		{"audit limit too big", request{method: "GET", path: "/v1/audit?limit=10001"}, 400, credbroker.CodeInvalid, "limit"},
		{"audit limit text", request{method: "GET", path: "/v1/audit?limit=ten"}, 400, credbroker.CodeInvalid, "limit"},
		{"audit outcome", request{method: "GET", path: "/v1/audit?outcome=maybe"}, 400, credbroker.CodeInvalid, "outcome"},
		{"audit unknown", request{method: "GET", path: "/v1/audit?conector=deploy"}, 400, credbroker.CodeInvalid, "conector"},
		// The path is not repeated (it may hold a secret): see
		// TestUnknownRouteDoesNotRepeatPath.
		{"unknown path", request{method: "GET", path: "/v1/nothing"}, 404, credbroker.CodeNotFound, "no such API route"},
		{"unknown root path", request{method: "GET", path: "/"}, 404, credbroker.CodeNotFound, "no such API route"},
		{"empty ref", request{method: "GET", path: "/v1/connectors/"}, 404, credbroker.CodeNotFound, "no such API route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.rq.token = adminSecret
			before := e.svc.ncalls()
			w := serve(t, h, tt.rq)
			msg := wantError(t, w, tt.status, tt.code)
			if !strings.Contains(msg, tt.mention) {
				t.Errorf("message %q does not mention %q", msg, tt.mention)
			}
			e.svc.mu.Lock()
			defer e.svc.mu.Unlock()
			for _, c := range e.svc.calls[before:] {
				if c.method != "Authenticate" {
					t.Errorf("the service was called (%s) for a bad request", c.method)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	tests := []struct {
		method, path, allow string
	}{
		{"GET", "/v1/credentials", "POST"},
		{"DELETE", "/v1/credentials", "POST"},
		{"PATCH", "/v1/connectors", "GET, HEAD, POST"},
		{"POST", "/v1/connectors/deploy", "DELETE, GET, HEAD, PUT"},
		{"GET", "/v1/tokens/tok-1", "DELETE"},
		{"POST", "/v1/variables/x", "DELETE, PUT"},
		{"POST", "/v1/audit", "GET, HEAD"},
		{"POST", "/healthz", "GET, HEAD"},
	}
	for _, tt := range tests {
		w := serve(t, e.srv.Handler(), request{method: tt.method, path: tt.path, token: adminSecret})
		wantError(t, w, 405, credbroker.CodeInvalid)
		if got := w.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestUnauthorized(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	tests := []struct {
		name, auth, challenge string
	}{
		{"missing", "", `Bearer realm="credbroker"`},
		{"basic", "Basic YWRtaW46cGFzc3dvcmQ=", `Bearer realm="credbroker", error="invalid_request"`},
		{"empty bearer", "Bearer ", `Bearer realm="credbroker", error="invalid_request"`},
		{"two words", "Bearer a b", `Bearer realm="credbroker", error="invalid_request"`},
		{"control character", "Bearer a\x01b", `Bearer realm="credbroker", error="invalid_request"`},
		{"too long", "Bearer " + strings.Repeat("x", 12<<10+1), `Bearer realm="credbroker", error="invalid_request"`},
		{"wrong", "Bearer cbk_wrong", `Bearer realm="credbroker", error="invalid_token"`},
		{"wrong, lowercase scheme", "bearer cbk_wrong", `Bearer realm="credbroker", error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(t, e.srv.Handler(), request{method: "POST", path: "/v1/credentials", auth: tt.auth, body: `{"connector":"d"}`,
				remote: "198.51.100.7:999"})
			wantError(t, w, 401, credbroker.CodeUnauthorized)
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenge)
			}
		})
	}
	// A scheme in other case still works with a good token.
	w := serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/tokens", auth: "BEARER " + adminSecret})
	if w.Code != 200 {
		t.Errorf("BEARER scheme: %d %s", w.Code, w.Body)
	}
	// The client: a wrong token is CodeUnauthorized, and the token is in
	// no error text.
	c := newClient(t, e.ts.URL, "cbk_wrong_secret_value")
	_, err := c.ListTokens(t.Context())
	if codeOf(t, err) != credbroker.CodeUnauthorized {
		t.Errorf("wrong token: %v", err)
	}
	if strings.Contains(err.Error(), "cbk_wrong_secret_value") || strings.Contains(errorChain(err), "cbk_wrong_secret_value") {
		t.Errorf("client error shows the token: %v", errorChain(err))
	}
}

// errorChain renders err and every cause under it.
func errorChain(err error) string {
	var b strings.Builder
	for err != nil {
		b.WriteString(err.Error())
		b.WriteString(" | ")
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			break
		}
		err = u.Unwrap()
	}
	return b.String()
}

// TestJSONMediaTypes: application/json is accepted with parameters and in
// any case.
func TestJSONMediaTypes(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	for _, ct := range []string{"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"} {
		w := serve(t, e.srv.Handler(), request{method: "POST", path: "/v1/credentials", token: agentSecret, ctype: ct, body: `{"connector":"d"}`})
		if w.Code != 200 {
			t.Errorf("Content-Type %q: %d %s", ct, w.Code, w.Body)
		}
		if w.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("vend response without Cache-Control: no-store")
		}
	}
	for _, ct := range []string{"application/jsonx", "application/json-seq", "text/json"} {
		w := serve(t, e.srv.Handler(), request{method: "POST", path: "/v1/credentials", token: agentSecret, ctype: ct, body: `{"connector":"d"}`})
		wantError(t, w, 415, credbroker.CodeInvalid)
	}
}
