package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// TestMount: a handler mounted beside the API gets its paths and a log
// line; "/" sends browsers to the home page and keeps the JSON 404 for
// everyone else.
func TestMount(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	e.srv.Mount("/console/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("console " + r.URL.Path))
	}))
	e.srv.RedirectHome("/console/")
	h := e.srv.Handler()

	w := serve(t, h, request{method: "GET", path: "/console/connectors"})
	if w.Code != 200 || w.Body.String() != "console /console/connectors" || w.Header().Get("X-Request-Id") == "" {
		t.Fatalf("mounted: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	waitFor(t, "log line", func() bool {
		for _, l := range e.logs.lines(t) {
			if l["route"] == "/console/" && l["status"] == float64(200) {
				return true
			}
		}
		return false
	})

	w = serve(t, h, request{method: "GET", path: "/", header: http.Header{"Accept": {"text/html,application/xhtml+xml"}}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/console/" {
		t.Fatalf("browser at /: %d %v", w.Code, w.Header())
	}
	for _, rq := range []request{
		{method: "GET", path: "/"},
		{method: "GET", path: "/", header: http.Header{"Accept": {"application/json"}}},
		{method: "POST", path: "/", header: http.Header{"Accept": {"text/html"}}},
		{method: "GET", path: "/nothing", header: http.Header{"Accept": {"text/html"}}},
	} {
		wantError(t, serve(t, h, rq), http.StatusNotFound, credbroker.CodeNotFound)
	}
}

// TestAuthFailuresShared: failures recorded by a mounted handler count
// against the API's budget of the same address, and the API's against it.
func TestAuthFailuresShared(t *testing.T) {
	clk := &manualClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	e := newTestEnv(t, httpapi.ServerOptions{Now: clk.Now, AuthFailureRate: 1, AuthFailureBurst: 3})
	lim := e.srv.AuthFailures()
	r, _ := http.NewRequest("POST", "/console/signin", nil)
	r.RemoteAddr = "192.0.2.1:1234"
	for range 3 {
		if _, blocked := lim.Blocked(r); blocked {
			t.Fatal("blocked before the burst was spent")
		}
		lim.Failed(r)
	}
	wait, blocked := lim.Blocked(r)
	if !blocked || wait <= 0 || httpapi.RetryAfter(wait) != "1" {
		t.Fatalf("after the burst: blocked %v, wait %v", blocked, wait)
	}
	// The API refuses the same address before looking at its token.
	wantError(t, serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/connectors", token: adminSecret}), http.StatusTooManyRequests, credbroker.CodeThrottled)
	other, _ := http.NewRequest("POST", "/console/signin", nil)
	other.RemoteAddr = "198.51.100.7:1"
	if _, blocked := lim.Blocked(other); blocked {
		t.Fatal("another address is blocked")
	}
	clk.Advance(2 * time.Second)
	if _, blocked := lim.Blocked(r); blocked {
		t.Fatal("still blocked after the bucket refilled")
	}
}
