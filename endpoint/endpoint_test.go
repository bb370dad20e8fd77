package endpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// sessions issues a new 15-minute session per call, as AssumeRole would.
func sessions(clk *clock, calls *atomic.Int64) credbroker.Provider {
	return credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		n := calls.Add(1)
		return credbroker.Credentials{
			AccessKeyID:     fmt.Sprintf("ASIASESSION%09d", n),
			SecretAccessKey: fmt.Sprintf("secret-%d", n),
			SessionToken:    fmt.Sprintf("token-%d", n),
			Expires:         clk.Now().Add(15 * time.Minute),
		}, nil
	})
}

func start(t *testing.T, p credbroker.Provider, now func() time.Time) *Server {
	t.Helper()
	s, err := Start(Options{Provider: p, Dir: t.TempDir(), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func token(t *testing.T, s *Server) string {
	b, err := os.ReadFile(s.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func get(t *testing.T, url, host, auth string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if host != "" {
		req.Host = host
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("status %d, body not JSON: %q", resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func TestServesAndRefreshes(t *testing.T) {
	clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
	var calls atomic.Int64
	cache := credcache.New(sessions(clk, &calls), credcache.Options{Now: clk.Now})
	s := start(t, cache, clk.Now)
	tok := token(t, s)

	st, a := get(t, s.URL, "", tok)
	if st != 200 || a["AccessKeyId"] == "" || a["SecretAccessKey"] == "" || a["Token"] == "" {
		t.Fatalf("status %d body %v", st, a)
	}
	exp, err := time.Parse(time.RFC3339, a["Expiration"])
	if err != nil || !exp.Equal(clk.Now().Add(15*time.Minute)) {
		t.Fatalf("expiration %q: %v", a["Expiration"], err)
	}
	clk.Add(5 * time.Minute)
	if _, b := get(t, s.URL, "", tok); b["AccessKeyId"] != a["AccessKeyId"] {
		t.Fatal("refreshed too early")
	}
	// In the advisory window (14 of 15 minutes gone, 60 s left, more than
	// the mandatory 56 s), the current session is served at once while one
	// refresh runs in the background.
	clk.Add(9 * time.Minute)
	if _, b := get(t, s.URL, "", tok); b["AccessKeyId"] != a["AccessKeyId"] {
		t.Fatal("a task waited for the refresh in the advisory window")
	}
	// Nearer expiry (30 s left, the mandatory window), the endpoint never
	// serves the old session: the refresh's new one, awaited if need be.
	clk.Add(30 * time.Second)
	_, c := get(t, s.URL, "", tok)
	if c["AccessKeyId"] == a["AccessKeyId"] {
		t.Fatal("served the old session near its expiry")
	}
	if exp2, _ := time.Parse(time.RFC3339, c["Expiration"]); !exp2.After(clk.Now().Add(10 * time.Minute)) {
		t.Fatalf("refreshed expiration %s", c["Expiration"])
	}
	if calls.Load() != 2 {
		t.Fatalf("%d upstream calls, want 2", calls.Load())
	}
}

func TestRefusals(t *testing.T) {
	clk := &clock{t: time.Now()}
	var calls atomic.Int64
	s := start(t, credcache.New(sessions(clk, &calls), credcache.Options{Now: clk.Now}), clk.Now)
	tok := token(t, s)
	port := s.URL[len("http://127.0.0.1:") : len(s.URL)-len(Path)]

	cases := []struct {
		name, url, host, auth string
		status                int
	}{
		{"missing token", s.URL, "", "", 401},
		{"wrong token", s.URL, "", strings.Repeat("0", 64), 401},
		{"token prefix", s.URL, "", tok[:63], 401},
		{"rebinding host", s.URL, "evil.example:" + port, tok, 403},
		{"host without port", s.URL, "127.0.0.1", tok, 403},
		{"wrong path", strings.TrimSuffix(s.URL, Path) + "/other", "", tok, 404},
		{"localhost host ok", s.URL, "localhost:" + port, tok, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body := get(t, c.url, c.host, c.auth)
			if st != c.status {
				t.Fatalf("status %d, want %d (%v)", st, c.status, body)
			}
			if st != 200 && (body["code"] == "" || body["message"] == "") {
				t.Fatalf("error body %v lacks code and message", body)
			}
			if st != 200 && strings.Contains(fmt.Sprint(body), "secret-") {
				t.Fatal("error body holds a secret")
			}
		})
	}
	if calls.Load() != 1 {
		t.Fatalf("refused requests reached the provider: %d calls", calls.Load())
	}
}

func TestNonLoopbackPeerRefused(t *testing.T) {
	clk := &clock{t: time.Now()}
	var calls atomic.Int64
	s := start(t, sessions(clk, &calls), clk.Now)
	for _, remote := range []string{"10.1.2.3:4444", "192.168.0.9:80", "[2001:db8::1]:443", "garbage"} {
		req := httptest.NewRequest(http.MethodGet, s.URL, nil)
		req.RemoteAddr = remote
		req.Host = strings.TrimPrefix(strings.TrimSuffix(s.URL, Path), "http://")
		req.Header.Set("Authorization", token(t, s))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden {
			t.Errorf("peer %s: status %d", remote, rec.Code)
		}
	}
	if calls.Load() != 0 {
		t.Fatal("a non-loopback peer reached the provider")
	}
}

func TestTokenFile(t *testing.T) {
	clk := &clock{t: time.Now()}
	var calls atomic.Int64
	s := start(t, sessions(clk, &calls), clk.Now)
	fi, err := os.Stat(s.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", fi.Mode().Perm())
	}
	if n := len(token(t, s)); n != 64 {
		t.Fatalf("token of %d hex characters, want 64 (256 bits)", n)
	}
	s.Close()
	if _, err := os.Stat(s.TokenFile); !os.IsNotExist(err) {
		t.Fatal("token file left behind after Close")
	}
}

func TestUpstreamErrorIsJSON(t *testing.T) {
	p := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeThrottled, "sts", "Throttling: rate exceeded")
	})
	s := start(t, p, time.Now)
	st, body := get(t, s.URL, "", token(t, s))
	if st != http.StatusTooManyRequests || body["code"] != "throttled" {
		t.Fatalf("status %d body %v", st, body)
	}
}

// Long-lived keys still get every field botocore reads: Token (empty) and
// an Expiration.
func TestLongLivedKeysHaveEveryField(t *testing.T) {
	p := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{AccessKeyID: "AKIALONGLIVEDEXAMPLE", SecretAccessKey: "long-lived-secret"}, nil
	})
	s := start(t, p, time.Now)
	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	req.Header.Set("Authorization", token(t, s))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	for _, k := range []string{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"} {
		if _, ok := m[k]; !ok {
			t.Errorf("response lacks %s: %v", k, m)
		}
	}
}
