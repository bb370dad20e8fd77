package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/console"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// stsStandIn checks requests with the real offline rules (awscreds) and
// answers them without a network call.
type stsStandIn struct {
	rules awscreds.Issuer
	n     atomic.Int64
	now   func() time.Time
}

func (s *stsStandIn) Check(req credbroker.IssueRequest) ([]string, error) { return s.rules.Check(req) }

func (s *stsStandIn) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	if _, err := s.rules.Check(req); err != nil {
		return credbroker.Credentials{}, err
	}
	n := s.n.Add(1)
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIACONSOLETEST%05d", n),
		SecretAccessKey: fmt.Sprintf("console-test-secret-%d-never-shown", n),
		SessionToken:    fmt.Sprintf("console-test-session-token-%d", n),
		Expires:         s.now().Add(req.Duration),
	}, nil
}

// testClock is the broker's and the console's clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// rig is a broker with its API and console on one httptest server, as
// credbroker serve mounts them, with an admin and an agent token.
type rig struct {
	t        testing.TB
	svc      *broker.Service
	st       *sqlite.Store
	clk      *testClock
	ts       *httptest.Server
	sessions *console.MemorySessions
	admin    string // admin token secret
	adminTok *credbroker.Token
	agent    string
	log      *strings.Builder
	logMu    *sync.Mutex
}

type rigOptions struct {
	failBurst int
	signin    bool
}

func newRig(t testing.TB, ro rigOptions) *rig {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/c.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := seal.GenerateKey()
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	// RefusalBurst -1: every refusal is a record of its own, as the audit
	// pages are tested with many of them (aggregation is broker's test).
	opts := broker.Options{Store: st, Keys: ring, Issuer: &stsStandIn{now: clk.Now}, Now: clk.Now, RefusalBurst: -1,
		Partition: func(r string) (string, error) { p, err := awscreds.LookupRegion(r); return p.ID, err }}
	if ro.signin {
		opts.Signin = func(_ context.Context, cr credbroker.Credentials, region, dest string, _ time.Duration) (string, error) {
			return "https://signin.example.test/federation?Action=login&SigninToken=tok-for-" + url.QueryEscape(cr.AccessKeyID), nil
		}
	}
	svc, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	r := &rig{t: t, svc: svc, st: st, clk: clk}
	r.sessions = console.NewMemorySessions(console.DefaultIdleTimeout, console.DefaultLifetime, clk.Now)
	r.serve(ro.failBurst, r.sessions)

	nt, err := svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "alice", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	r.admin = nt.Secret
	if r.adminTok, err = svc.Authenticate(ctx, nt.Secret); err != nil {
		t.Fatal(err)
	}
	at, err := svc.CreateToken(ctx, r.adminTok, credbroker.TokenSpec{Name: "ops agents", Role: credbroker.RoleAgent, Plans: "OPS-*"})
	if err != nil {
		t.Fatal(err)
	}
	r.agent = at.Secret
	return r
}

// serve mounts the broker's API and a console keeping its sessions in
// sessions on one httptest server, as credbroker serve does, logging to
// the rig; failBurst bounds failed sign-ins (100 when zero).
func (r *rig) serve(failBurst int, sessions console.SessionStore) {
	r.t.Helper()
	r.log, r.logMu = &strings.Builder{}, &sync.Mutex{}
	logger := slog.New(slog.NewTextHandler(lockedWriter{r}, nil))
	if failBurst == 0 {
		failBurst = 100
	}
	srv := httpapi.NewServer(r.svc, httpapi.ServerOptions{Logger: logger, Now: r.clk.Now, AuthFailureRate: 0.001, AuthFailureBurst: failBurst})
	con, err := console.New(console.Options{Service: r.svc, Sessions: sessions, Limiter: srv.AuthFailures(), Now: r.clk.Now, Logger: logger})
	if err != nil {
		r.t.Fatal(err)
	}
	srv.Mount(console.Prefix, con)
	srv.RedirectHome(console.Prefix)
	r.ts = httptest.NewServer(srv.Handler())
	r.t.Cleanup(r.ts.Close)
}

type lockedWriter struct{ r *rig }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.r.logMu.Lock()
	defer w.r.logMu.Unlock()
	return w.r.log.Write(p)
}

func (r *rig) logs() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.log.String()
}

// browser is a client with a cookie jar that does not follow redirects
// and sends what a browser sends with a same-origin form.
type browser struct {
	r   *rig
	c   *http.Client
	jar *cookiejar.Jar
}

func (r *rig) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{r: r, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// page is a response read whole.
type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) page {
	b.r.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.r.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) page {
	b.r.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.r.ts.URL+path, nil)
	req.Header.Set("Accept", "text/html")
	return b.do(req)
}

// post submits a form as a same-origin page of the console would.
func (b *browser) post(path string, form url.Values) page {
	b.r.t.Helper()
	return b.postWith(path, form, http.Header{"Origin": {b.r.ts.URL}, "Sec-Fetch-Site": {"same-origin"}})
}

func (b *browser) postWith(path string, form url.Values, h http.Header) page {
	b.r.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.r.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range h {
		req.Header[k] = vs
	}
	return b.do(req)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of a page's forms.
func csrf(t testing.TB, p page) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token on the page (status %d):\n%s", p.status, p.body)
	}
	return m[1]
}

// signin signs b in with token and returns the sign-in answer.
func (b *browser) signin(token string) page {
	b.r.t.Helper()
	form := b.get("/console/signin")
	return b.post("/console/signin", url.Values{"csrf": {csrf(b.r.t, form)}, "token": {token}})
}

// signedIn returns a browser signed in as the rig's admin, and its CSRF
// token.
func (r *rig) signedIn() (*browser, string) {
	r.t.Helper()
	b := r.browser()
	if p := b.signin(r.admin); p.status != http.StatusSeeOther || p.location() != "/console/" {
		r.t.Fatalf("sign-in: %d %s\n%s", p.status, p.location(), p.body)
	}
	ov := b.get("/console/")
	if ov.status != 200 {
		r.t.Fatalf("overview after sign-in: %d\n%s", ov.status, ov.body)
	}
	return b, csrf(r.t, ov)
}

// cookie returns the value of the browser's cookie name, or "".
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.r.ts.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.r.ts.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

const sessionCookie = "credbroker-session"

// audit returns the store's audit records.
func (r *rig) audit(f credbroker.AuditFilter) []credbroker.AuditRecord {
	r.t.Helper()
	recs, err := r.st.ListAudit(context.Background(), f)
	if err != nil {
		r.t.Fatal(err)
	}
	return recs
}
