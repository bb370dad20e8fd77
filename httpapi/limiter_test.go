package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// TestAuthLimiter: after a burst of failed authentications an address is
// refused with 429 before its token is checked, other addresses are not
// affected, the address earns tries back at the configured rate, and
// idle entries are dropped.
func TestAuthLimiter(t *testing.T) {
	clk := &manualClock{now: t0}
	e := newTestEnv(t, httpapi.ServerOptions{Now: clk.Now, AuthFailureRate: 1, AuthFailureBurst: 5})
	h := e.srv.Handler()
	const attacker, other = "203.0.113.9:4000", "198.51.100.20:5000"
	guess := func(remote, token string) *http.Response {
		return serve(t, h, request{method: "GET", path: "/v1/tokens", token: token, remote: remote}).Result()
	}

	for i := range 5 {
		if r := guess(attacker, "cbk_guess"); r.StatusCode != 401 {
			t.Fatalf("guess %d: status %d, want 401", i+1, r.StatusCode)
		}
	}
	auths := e.svc.count("Authenticate")
	w := serve(t, h, request{method: "GET", path: "/v1/tokens", token: adminSecret, remote: attacker})
	msg := wantError(t, w, http.StatusTooManyRequests, credbroker.CodeThrottled)
	if ra := w.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After = %q, want 1 (message %q)", ra, msg)
	}
	wantError(t, serve(t, h, request{method: "GET", path: "/v1/tokens", remote: attacker}), 429, credbroker.CodeThrottled)
	if n := e.svc.count("Authenticate"); n != auths {
		t.Errorf("the service checked %d tokens from a throttled address", n-auths)
	}

	// Another address is not affected, with a good token or a bad one.
	if r := guess(other, adminSecret); r.StatusCode != 200 {
		t.Errorf("good token from another address: %d", r.StatusCode)
	}
	if r := guess(other, "cbk_guess"); r.StatusCode != 401 {
		t.Errorf("bad token from another address: %d, want 401", r.StatusCode)
	}
	// Health checks are not throttled.
	if w := serve(t, h, request{method: "GET", path: "/healthz", remote: attacker}); w.Code != 200 {
		t.Errorf("healthz from a throttled address: %d", w.Code)
	}

	// One second later the attacker has earned one try back.
	clk.Advance(time.Second)
	if r := guess(attacker, adminSecret); r.StatusCode != 200 {
		t.Errorf("after a second, good token: %d, want 200", r.StatusCode)
	}
	if r := guess(attacker, "cbk_guess"); r.StatusCode != 401 {
		t.Errorf("after a second, bad token: %d, want 401", r.StatusCode)
	}
	if r := guess(attacker, adminSecret); r.StatusCode != 429 {
		t.Errorf("after the earned try: %d, want 429", r.StatusCode)
	}

	// Entries whose bucket has refilled are dropped at the next sweep.
	if n := httpapi.LimiterEntries(e.srv); n != 2 {
		t.Fatalf("limiter tracks %d addresses, want 2", n)
	}
	clk.Advance(time.Minute)
	guess("192.0.2.99:1", "cbk_guess")
	if n := httpapi.LimiterEntries(e.srv); n != 1 {
		t.Errorf("after a quiet minute the limiter tracks %d addresses, want 1", n)
	}
	if r := guess(attacker, adminSecret); r.StatusCode != 200 {
		t.Errorf("evicted attacker with a good token: %d", r.StatusCode)
	}
}

// TestAuthLimiterBounded: with the table full of addresses still being
// limited, new addresses share one overflow bucket instead of growing it.
func TestAuthLimiterBounded(t *testing.T) {
	clk := &manualClock{now: t0}
	e := newTestEnv(t, httpapi.ServerOptions{Now: clk.Now, AuthFailureRate: 1, AuthFailureBurst: 2, AuthLimiterEntries: 3})
	h := e.srv.Handler()
	fail := func(remote string) int {
		return serve(t, h, request{method: "GET", path: "/v1/tokens", token: "cbk_guess", remote: remote}).Code
	}
	for i := range 100 {
		remote := "203.0.113." + strconv.Itoa(i) + ":1"
		fail(remote)
		fail(remote)
		if n := httpapi.LimiterEntries(e.srv); n > 3 {
			t.Fatalf("after %d addresses the limiter tracks %d, above its cap of 3", i+1, n)
		}
	}
	// The overflow bucket is empty, so a new address is slowed too.
	if code := fail("198.51.100.1:1"); code != 429 {
		t.Errorf("new address while the table is full: %d, want 429", code)
	}
	clk.Advance(time.Hour)
	if code := serve(t, h, request{method: "GET", path: "/v1/tokens", token: adminSecret, remote: "198.51.100.1:1"}).Code; code != 200 {
		t.Errorf("an hour later: %d, want 200", code)
	}
}

// TestAuthLimiterAddresses: an IPv6 /64 is one client; X-Forwarded-For
// counts only with TrustProxy, and then its last entry.
func TestAuthLimiterAddresses(t *testing.T) {
	burst := func(t *testing.T, opts httpapi.ServerOptions, first, second request) int {
		t.Helper()
		opts.AuthFailureRate, opts.AuthFailureBurst = 1, 3
		opts.Now = (&manualClock{now: t0}).Now
		e := newTestEnv(t, opts)
		for range 3 {
			first.method, first.path, first.token = "GET", "/v1/tokens", "cbk_guess"
			serve(t, e.srv.Handler(), first)
		}
		second.method, second.path, second.token = "GET", "/v1/tokens", adminSecret
		return serve(t, e.srv.Handler(), second).Code
	}
	xff := func(v string) http.Header { return http.Header{"X-Forwarded-For": {v}} }

	t.Run("ipv6 /64", func(t *testing.T) {
		if code := burst(t, httpapi.ServerOptions{}, request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:2:ffff::9]:1"}); code != 429 {
			t.Errorf("same /64: %d, want 429", code)
		}
		if code := burst(t, httpapi.ServerOptions{}, request{remote: "[2001:db8:1:2::1]:1"}, request{remote: "[2001:db8:1:3::1]:1"}); code != 200 {
			t.Errorf("other /64: %d, want 200", code)
		}
	})
	t.Run("x-forwarded-for ignored without TrustProxy", func(t *testing.T) {
		if code := burst(t, httpapi.ServerOptions{}, request{remote: "10.0.0.1:1", header: xff("203.0.113.1")},
			request{remote: "10.0.0.1:1", header: xff("203.0.113.2")}); code != 429 {
			t.Errorf("spoofed X-Forwarded-For escaped the limiter: %d", code)
		}
	})
	t.Run("x-forwarded-for with TrustProxy", func(t *testing.T) {
		opts := httpapi.ServerOptions{TrustProxy: true}
		if code := burst(t, opts, request{remote: "10.0.0.1:1", header: xff("198.51.100.1, 203.0.113.1")},
			request{remote: "10.0.0.1:1", header: xff("203.0.113.2")}); code != 200 {
			t.Errorf("another client behind the proxy: %d, want 200", code)
		}
		if code := burst(t, opts, request{remote: "10.0.0.1:1", header: xff("198.51.100.1, 203.0.113.1")},
			request{remote: "10.0.0.2:1", header: xff("1.2.3.4, 203.0.113.1")}); code != 429 {
			t.Errorf("same client, a forged first entry: %d, want 429", code)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		e := newTestEnv(t, httpapi.ServerOptions{AuthFailureRate: -1})
		for range 50 {
			serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/tokens", token: "cbk_guess"})
		}
		if w := serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/tokens", token: adminSecret}); w.Code != 200 {
			t.Errorf("limiter off: %d", w.Code)
		}
	})
}
