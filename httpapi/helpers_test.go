package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// syncBuffer is a log sink that requests write to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// lines returns the JSON log lines decoded.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// manualClock is an injected clock the test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// testEnv is a server over a fake service, served by httptest, with an
// admin and an agent client and the server's log captured as JSON.
type testEnv struct {
	svc   *fakeService
	srv   *httpapi.Server
	ts    *httptest.Server
	logs  *syncBuffer
	admin *httpapi.Client
	agent *httpapi.Client
}

func newTestEnv(t *testing.T, opts httpapi.ServerOptions) *testEnv {
	t.Helper()
	e := &testEnv{svc: &fakeService{}, logs: &syncBuffer{}}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	e.srv = httpapi.NewServer(e.svc, opts)
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.ts.Close)
	e.admin = newClient(t, e.ts.URL, adminSecret)
	e.agent = newClient(t, e.ts.URL, agentSecret)
	return e
}

func newClient(t *testing.T, url, token string) *httpapi.Client {
	t.Helper()
	c, err := httpapi.NewClient(url, httpapi.ClientOptions{Token: token, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("NewClient(%s): %v", url, err)
	}
	return c
}

// request is one raw request against a handler.
type request struct {
	method, path string
	token        string // sent as a Bearer token when set
	auth         string // a raw Authorization header, when set
	ctype        string // Content-Type; application/json when a body is given and this is empty
	body         string
	remote       string // RemoteAddr, 192.0.2.1:1234 when empty
	header       http.Header
}

func serve(t *testing.T, h http.Handler, rq request) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, rq.path, body)
	for k, vs := range rq.header {
		r.Header[k] = vs
	}
	if rq.body != "" {
		ct := rq.ctype
		if ct == "" {
			ct = "application/json"
		}
		r.Header.Set("Content-Type", ct)
	}
	switch {
	case rq.auth != "":
		r.Header.Set("Authorization", rq.auth)
	case rq.token != "":
		r.Header.Set("Authorization", "Bearer "+rq.token)
	}
	r.RemoteAddr = rq.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "192.0.2.1:1234"
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// errorOf decodes an error response and checks that it is exactly
// {"code","message"} in JSON.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) (credbroker.Code, string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("error response Content-Type = %q, want application/json (body %q)", ct, w.Body.String())
	}
	var m map[string]string
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("error body %q is not a JSON object of strings: %v", w.Body.String(), err)
	}
	if len(m) != 2 || m["code"] == "" || m["message"] == "" {
		t.Errorf("error body %q: want exactly a code and a message", w.Body.String())
	}
	return credbroker.Code(m["code"]), m["message"]
}

// wantError checks a response's status and error code.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, code credbroker.Code) string {
	t.Helper()
	if w.Code != status {
		t.Errorf("status = %d, want %d (body %q)", w.Code, status, w.Body.String())
	}
	got, msg := errorOf(t, w)
	if got != code {
		t.Errorf("code = %q, want %q (message %q)", got, code, msg)
	}
	return msg
}

// codeOf returns err's credbroker code, failing when err is not one.
func codeOf(t *testing.T, err error) credbroker.Code {
	t.Helper()
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("error %v (%T) is not a *credbroker.Error", err, err)
	}
	return e.Code
}

// waitFor polls cond for up to two seconds: a request's log line is
// written as its handler returns, which may be just after the client has
// the response.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newHTTPTestServer serves srv with httptest and returns its URL.
func newHTTPTestServer(t *testing.T, srv *httpapi.Server) string {
	t.Helper()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}
