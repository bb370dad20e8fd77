package broker_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/httpapi"
)

// placeholder in a fuzzed body is replaced by a fresh random secret on
// every run, so that a secret found where it must not be is this run's.
const placeholder = "@SECRET@"

// checkingIssuer makes the real offline checks of awscreds.Issuer and
// answers Issue itself, without a network.
type checkingIssuer struct {
	real awscreds.Issuer
	now  func() time.Time
}

func (c *checkingIssuer) Check(req credbroker.IssueRequest) ([]string, error) {
	return c.real.Check(req)
}

func (c *checkingIssuer) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	if _, err := c.real.Check(req); err != nil {
		return credbroker.Credentials{}, err
	}
	base, err := req.Base.Retrieve(ctx)
	if err != nil {
		return credbroker.Credentials{}, err
	}
	if req.Principal == credbroker.PrincipalProvided {
		return base, nil
	}
	return credbroker.Credentials{
		AccessKeyID: "ASIAFUZZISSUED000001", SecretAccessKey: "fuzz-issued-secret-value",
		SessionToken: "fuzz-issued-session-token", Expires: c.now().Add(time.Hour),
	}, nil
}

// fuzzBroker is a real broker service (SQLite store, sealed secrets, the
// real offline checks) behind the real HTTP handler.
type fuzzBroker struct {
	h            http.Handler
	dbPath       string
	admin, agent string
	logs         *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// take returns what was written since the last take.
func (l *lockedBuffer) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

func newFuzzBroker(f *testing.F) *fuzzBroker {
	f.Helper()
	dir := f.TempDir()
	fb := &fuzzBroker{dbPath: filepath.Join(dir, "fuzz.db"), logs: &lockedBuffer{}}
	st, ring := openStore(f, fb.dbPath)
	log := slog.New(slog.NewJSONHandler(fb.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := broker.New(broker.Options{
		Store: st, Keys: ring, Issuer: &checkingIssuer{now: time.Now}, Logger: log,
		Partition: func(region string) (string, error) {
			p, err := awscreds.LookupRegion(region)
			return p.ID, err
		},
		Signin: func(context.Context, credbroker.Credentials, string, string, time.Duration) (string, error) {
			return "https://signin.aws.amazon.com/federation?Action=login&SigninToken=fuzz", nil
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	_, fb.admin, fb.agent = serviceTokens(f, svc, "*")
	fb.h = httpapi.NewServer(svc, httpapi.ServerOptions{Logger: log, AuthFailureRate: -1}).Handler()
	return fb
}

// do sends one request; nil when target is not a URL a client could send.
func (fb *fuzzBroker) do(method, target, token string, body []byte) *httptest.ResponseRecorder {
	u, err := url.Parse("http://broker.test" + target)
	if err != nil || u.Host != "broker.test" {
		return nil
	}
	r := httptest.NewRequest(method, "http://broker.test/", bytes.NewReader(body))
	r.URL, r.RequestURI = u, u.RequestURI()
	r.Header.Set("Authorization", "Bearer "+token)
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	fb.h.ServeHTTP(w, r)
	return w
}

// dbFiles returns the bytes of the store's files (database, WAL).
func (fb *fuzzBroker) dbFiles() []byte {
	var all []byte
	for _, suffix := range []string{"", "-wal", "-journal"} {
		b, err := os.ReadFile(fb.dbPath + suffix)
		if err == nil {
			all = append(all, b...)
		}
	}
	return all
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 30)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "fz" + base64.RawURLEncoding.EncodeToString(b)
}

// onlyIn reports whether secret appears in the JSON object body only as
// the value of the member key (so that finding it elsewhere is a leak,
// not an echo of another field).
func onlyIn(body []byte, key, secret string) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return false
	}
	seen := false
	for k, v := range m {
		var s string
		if k == key && json.Unmarshal(v, &s) == nil && s == secret {
			seen = true
			continue
		}
		if strings.Contains(k, secret) || strings.Contains(string(v), secret) {
			return false
		}
	}
	return seen
}

// The routes FuzzBrokerAPI drives, picked by the fuzzer.
var fuzzRoutes = []struct {
	method, path string // {ref} is replaced by the fuzzed reference
	agent        bool   // sent with the agent token, else the admin's
}{
	{"POST", "/v1/connectors", false},
	{"PUT", "/v1/connectors/{ref}", false},
	{"POST", "/v1/tokens", false},
	{"PUT", "/v1/variables/{ref}", false},
	{"POST", "/v1/credentials", true},
	{"POST", "/v1/console", true},
	{"GET", "/v1/agent/variables", true},
}

// FuzzBrokerAPI drives connector, token and variable bodies (and vends
// from what they made) through the real broker: HTTP handler, service
// rules, awscreds' offline checks, sealing and the SQLite store. For any
// input: no panic and no 500; every refusal is JSON with a known code; a
// connector's secret key or a secret variable's value (a fresh random
// value put where the input says @SECRET@) never shows in a response, the
// log, or the database file in the clear.
func FuzzBrokerAPI(f *testing.F) {
	type seed struct {
		route uint8
		ref   string
		query string
		body  string
	}
	conn := `{"name":"deploy","principal":"assumed-role","base":"keys","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"@SECRET@",` +
		`"region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/deploy","scope":{"kind":"project","key":"OPS"},"allow_plans":["OPS-*"],` +
		`"default_duration_seconds":900,"max_duration_seconds":3600}`
	for _, s := range []seed{
		{0, "", "", conn},
		{0, "", "", `{"name":"fed","principal":"federated-user","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"@SECRET@","region":"eu-west-1","policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}]}","scope":{"kind":"system"}}`},
		{0, "", "", `{"name":"cn","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"@SECRET@","region":"cn-north-1","role_arn":"arn:aws:iam::123456789012:role/x","scope":{"kind":"system"}}`},
		{0, "", "", `{"name":"chain","base":"connector","base_connector":"deploy","region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/y","scope":{"kind":"plan","key":"OPS-DEPLOY"},"session_mode":"plan"}`},
		{0, "", "", `{"name":"prov","principal":"provided","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"@SECRET@","region":"us-gov-west-1","scope":{"kind":"system"},"sts_endpoints":["http://127.0.0.1:1"],"retries":2,"max_backoff_seconds":1}`},
		{0, "", "", `{"name":"tags","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"@SECRET@","region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/t","scope":{"kind":"system"},"tags":[{"key":"team","value":"ops"}],"transitive_tag_keys":["team"],"external_id":"ext-1"}`},
		{1, "deploy", "", `{"name":"deploy","description":"@SECRET@","region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/deploy","scope":{"kind":"system"},"revision":1}`},
		{1, "con_0000", "", `{"name":"x"}`},
		{2, "", "", `{"name":"ci","role":"agent","plans":"OPS-*","expires_in_seconds":60}`},
		{2, "", "", `{"name":"root","role":"admin","plans":"*"}`},
		{3, "dbPassword", "plan=OPS-DEPLOY", `{"value":"@SECRET@","secret":true}`},
		{3, "region", "", `{"value":"us-east-1"}`},
		{3, "awsSecretKeyPassword", "", `{"value":"@SECRET@"}`},
		{3, "bad name", "plan=ops", `{"value":"x"}`},
		{4, "", "", `{"connector":"deploy","plan":"OPS-DEPLOY","build":"1","duration_seconds":900}`},
		{4, "", "", `{"connector":"deploy","plan":"WEB-SITE","build":"1"}`},
		{4, "", "", `{"connector":"deploy","plan":"OPS-DEPLOY","policy":"{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"*\",\"Resource\":\"*\"}]}"}`},
		{4, "", "", `{"connector":"chain","plan":"OPS-DEPLOY","min_remaining_seconds":899,"duration_seconds":900}`},
		{5, "", "", `{"connector":"fed","plan":"OPS-X","destination":"https://console.aws.amazon.com/s3","duration_seconds":900}`},
		{6, "", "plan=OPS-DEPLOY", ``},
	} {
		f.Add(s.route, s.ref, s.query, []byte(s.body))
	}
	fb := newFuzzBroker(f)
	f.Fuzz(func(t *testing.T, route uint8, ref, query string, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		secret := randomSecret(t)
		body = bytes.ReplaceAll(body, []byte(placeholder), []byte(secret))
		target := strings.Replace(rt.path, "{ref}", url.PathEscape(ref), 1)
		if query != "" {
			target += "?" + query
		}
		tok := fb.admin
		if rt.agent {
			tok = fb.agent
		}
		if rt.method == "GET" {
			body = nil
		}
		fb.logs.take()
		w := fb.do(rt.method, target, tok, body)
		logs := fb.logs.take()
		if w == nil {
			return
		}

		if strings.Contains(logs, "panic") {
			t.Fatalf("%s %s %q: the handler panicked: %s", rt.method, target, body, logs)
		}
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable && w.Code != http.StatusBadGateway {
			t.Fatalf("%s %s %q: status %d: %s\nlog: %s", rt.method, target, body, w.Code, w.Body.String(), logs)
		}
		if w.Code >= 400 {
			checkError(t, w)
		}

		// Where the secret is the connector's key or a secret variable's
		// value and nothing else, it must show nowhere.
		var kept bool
		switch rt.path {
		case "/v1/connectors", "/v1/connectors/{ref}":
			kept = onlyIn(body, "secret_access_key", secret)
		case "/v1/variables/{ref}":
			var vb struct {
				Secret bool `json:"secret"`
			}
			kept = onlyIn(body, "value", secret) && json.Unmarshal(body, &vb) == nil && vb.Secret &&
				!strings.Contains(ref, secret) && !strings.Contains(query, secret)
		}
		if !kept {
			return
		}
		if strings.Contains(w.Body.String(), secret) {
			t.Fatalf("%s %s: the response shows the secret: %s", rt.method, target, w.Body.String())
		}
		if strings.Contains(logs, secret) {
			t.Fatalf("%s %s: the log shows the secret: %s", rt.method, target, logs)
		}
		if w.Code < 300 {
			if bytes.Contains(fb.dbFiles(), []byte(secret)) {
				t.Fatalf("%s %s: the secret is in the database file in the clear", rt.method, target)
			}
			for _, list := range []string{"/v1/connectors", "/v1/variables", "/v1/audit?limit=50"} {
				if lw := fb.do("GET", list, fb.admin, nil); strings.Contains(lw.Body.String(), secret) {
					t.Fatalf("GET %s shows the secret just stored", list)
				}
			}
		}
	})
}

// checkError checks that an error answer is JSON {"code","message"} with
// a known, non-internal code matching the status.
func checkError(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil || len(m) != 2 || m["code"] == "" || m["message"] == "" {
		t.Fatalf("status %d: body %q is not exactly {code, message}", w.Code, w.Body.String())
	}
	code := credbroker.Code(m["code"])
	if code == credbroker.CodeInternal {
		t.Fatalf("status %d: internal error: %s", w.Code, w.Body.String())
	}
	if want := httpapi.StatusForCode(code); want != w.Code && !(code == credbroker.CodeInvalid && (w.Code == 405 || w.Code == 413 || w.Code == 415)) {
		t.Fatalf("status %d with code %q (which maps to %d)", w.Code, code, want)
	}
}

// manualClock is a clock the test sets.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// FuzzAuthenticate presents random bearer tokens, and mutations of real
// ones, to the real broker service: only the exact secret of a live token
// (surrounding spaces aside) authenticates, as that token; a revoked or
// expired token's exact secret is refused like any guess; every refusal is
// CodeUnauthorized and shows no token secret.
func FuzzAuthenticate(f *testing.F) {
	ctx := context.Background()
	st, ring := openStore(f, filepath.Join(f.TempDir(), "auth.db"))
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := &manualClock{now: t0}
	svc, err := broker.New(broker.Options{Store: st, Keys: ring, Issuer: &checkingIssuer{now: clk.Now}, Now: clk.Now, TokenTTL: time.Nanosecond})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	mk := func(spec credbroker.TokenSpec) *credbroker.NewToken {
		nt, err := svc.CreateTokenLocal(ctx, spec)
		if err != nil {
			f.Fatal(err)
		}
		return nt
	}
	admin := mk(credbroker.TokenSpec{Name: "admin", Role: credbroker.RoleAdmin})
	agent := mk(credbroker.TokenSpec{Name: "agent", Role: credbroker.RoleAgent, Plans: "OPS-*"})
	expired := mk(credbroker.TokenSpec{Name: "short", Role: credbroker.RoleAgent, Plans: "*", ExpiresInSeconds: 60})
	revoked := mk(credbroker.TokenSpec{Name: "gone", Role: credbroker.RoleAgent, Plans: "*"})
	adminTok, err := svc.Authenticate(ctx, admin.Secret)
	if err != nil {
		f.Fatal(err)
	}
	if err := svc.RevokeToken(ctx, adminTok, revoked.ID); err != nil {
		f.Fatal(err)
	}
	clk.set(t0.Add(time.Hour)) // the short token has expired
	live := map[string]string{admin.Secret: admin.ID, agent.Secret: agent.ID}
	var secretParts []string
	for _, nt := range []*credbroker.NewToken{admin, agent, expired, revoked} {
		_, secret, _ := strings.Cut(nt.Secret, ".")
		secretParts = append(secretParts, secret)
		f.Add(nt.Secret)
		f.Add(" " + nt.Secret + "\t")
		f.Add(nt.Secret[:len(nt.Secret)-1])
		f.Add(nt.Secret + "A")
		f.Add(strings.ToUpper(nt.Secret))
		f.Add(nt.ID + "." + strings.Repeat("A", 43))
		f.Add(nt.ID)
	}
	f.Add(agent.ID + "." + secretParts[0]) // another token's secret under this ID
	f.Add("")
	f.Add(".")
	f.Add("tok_0000000000000000." + strings.Repeat("x", 43))
	f.Add("tok_" + strings.Repeat("g", 16) + "." + strings.Repeat("x", 43))
	f.Fuzz(func(t *testing.T, bearer string) {
		tok, err := svc.Authenticate(ctx, bearer)
		wantID, ok := live[strings.TrimSpace(bearer)]
		if err == nil {
			if !ok || tok == nil || tok.ID != wantID {
				t.Fatalf("bearer %q authenticated as %+v", bearer, tok)
			}
			return
		}
		if ok {
			t.Fatalf("the live token %q was refused: %v", bearer, err)
		}
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeUnauthorized || e.Message == "" {
			t.Fatalf("bearer %q refused with %v (%T), want CodeUnauthorized", bearer, err, err)
		}
		for _, s := range secretParts {
			if strings.Contains(e.Error(), s) {
				t.Fatalf("the refusal shows a token secret: %s", e.Error())
			}
		}
	})
}
