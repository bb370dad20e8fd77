package oidc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/identity"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/oidc"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// setup starts an issuer and a verifier that trusts it, on one clock.
func setup(t *testing.T, edit ...func(*credbroker.TrustedIssuer)) (*testpeers.Issuer, *oidc.Verifier, *credbroker.TrustedIssuer, *clock) {
	t.Helper()
	is := testpeers.StartIssuer(t)
	clk := &clock{now: time.Now()}
	is.Now = clk.Now
	trusted := &credbroker.TrustedIssuer{Name: "ci", URL: is.URL, Audiences: []string{"credbroker"}}
	for _, e := range edit {
		e(trusted)
	}
	if err := identity.CheckIssuer(trusted); err != nil {
		t.Fatal(err)
	}
	v := oidc.New(oidc.Options{Now: clk.Now, RefreshInterval: time.Second})
	return is, v, trusted, clk
}

func finder(iss *credbroker.TrustedIssuer) func(string) *credbroker.TrustedIssuer {
	return func(u string) *credbroker.TrustedIssuer {
		if u == iss.URL {
			return iss
		}
		return nil
	}
}

func TestVerifyGitHubToken(t *testing.T) {
	is, v, trusted, _ := setup(t)
	raw := is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker"))
	tok, err := v.Verify(t.Context(), raw, finder(trusted))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Subject != "repo:acme/app:ref:refs/heads/main" || tok.Claims["repository"] != "acme/app" || tok.Issuer != trusted || tok.ID == "" {
		t.Errorf("verified token %+v", tok)
	}
	if time.Until(tok.Expires) < 4*time.Minute {
		t.Errorf("expires %v", tok.Expires)
	}
	// Buildkite's build_number is a JSON number: it stays exact.
	raw = is.Token(t, testpeers.BuildkiteClaims("acme", "deploy", "credbroker"))
	tok, err = v.Verify(t.Context(), raw, finder(trusted))
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := tok.Claims["build_number"].(interface{ String() string }); !ok || n.String() != "42" {
		t.Errorf("build_number %#v", tok.Claims["build_number"])
	}
}

func TestHostileTokens(t *testing.T) {
	is, v, trusted, clk := setup(t)
	good := func() map[string]any { return testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker") }
	with := func(edit func(c map[string]any)) map[string]any { c := good(); edit(c); return c }
	now := clk.Now()
	for _, c := range []struct {
		name  string
		token func() string
		code  credbroker.Code
		want  string
	}{
		{"expired", func() string {
			return is.Token(t, with(func(c map[string]any) {
				c["iat"] = now.Add(-time.Hour).Unix()
				c["exp"] = now.Add(-10 * time.Minute).Unix()
			}))
		}, credbroker.CodeUnauthorized, "the token expired at"},
		{"not yet valid", func() string {
			return is.Token(t, with(func(c map[string]any) {
				c["nbf"] = now.Add(10 * time.Minute).Unix()
				c["exp"] = now.Add(time.Hour).Unix()
			}))
		}, credbroker.CodeUnauthorized, "not valid before"},
		{"issued in the future", func() string {
			return is.Token(t, with(func(c map[string]any) {
				c["iat"] = now.Add(10 * time.Minute).Unix()
				c["nbf"] = nil
				c["exp"] = now.Add(time.Hour).Unix()
			}))
		}, credbroker.CodeUnauthorized, "issued in the future"},
		{"no expiry", func() string { return is.Token(t, with(func(c map[string]any) { c["exp"] = nil })) }, credbroker.CodeUnauthorized, "no expiry"},
		{"wrong audience", func() string { return is.Token(t, with(func(c map[string]any) { c["aud"] = "sts.amazonaws.com" })) },
			credbroker.CodeUnauthorized, `audience "sts.amazonaws.com" is not one issuer ci accepts`},
		{"no audience", func() string { return is.Token(t, with(func(c map[string]any) { c["aud"] = nil })) }, credbroker.CodeUnauthorized, "names no audience"},
		{"no subject", func() string { return is.Token(t, with(func(c map[string]any) { c["sub"] = nil })) }, credbroker.CodeUnauthorized, "no subject"},
		{"wrong issuer", func() string {
			return is.Token(t, with(func(c map[string]any) { c["iss"] = "https://evil.example.com" }))
		},
			credbroker.CodeUnauthorized, `issuer "https://evil.example.com" is not trusted`},
		{"issuer with a trailing slash", func() string { return is.Token(t, with(func(c map[string]any) { c["iss"] = is.URL + "/" })) },
			credbroker.CodeUnauthorized, "is not trusted"},
		{"unknown kid", func() string { return is.Hostile(t, testpeers.HostileUnknownKid, good()) }, credbroker.CodeUnauthorized, `publishes no key "never-published"`},
		{"alg none", func() string { return is.Hostile(t, testpeers.HostileNone, good()) }, credbroker.CodeUnauthorized, `algorithm "none"`},
		{"HS256 with the public key", func() string { return is.Hostile(t, testpeers.HostileHS256, good()) }, credbroker.CodeUnauthorized, `algorithm "HS256"`},
		{"tampered payload", func() string { return is.Hostile(t, testpeers.HostileTampered, good()) }, credbroker.CodeUnauthorized, "signature does not verify"},
		{"oversized", func() string {
			return is.Token(t, with(func(c map[string]any) { c["padding"] = strings.Repeat("x", oidc.MaxTokenBytes) }))
		}, credbroker.CodeUnauthorized, "bytes; this broker accepts tokens of at most 8192"},
		{"not a JWT", func() string { return "tok_0123456789abcdef.secret" }, credbroker.CodeUnauthorized, "not a JWT"},
		{"garbage parts", func() string { return "eyJ!.eyJ.x" }, credbroker.CodeUnauthorized, "not a well-formed JWT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			raw := c.token()
			_, err := v.Verify(t.Context(), raw, finder(trusted))
			e := credbroker.AsError(err)
			if e == nil || e.Code != c.code || !strings.Contains(e.Message, c.want) {
				t.Fatalf("Verify: %v, want %s with %q", err, c.code, c.want)
			}
			if len(raw) > 20 && strings.Contains(e.Error(), raw[len(raw)-20:]) {
				t.Errorf("the error holds the token: %v", e)
			}
		})
	}
	// An issuer that allows only ES256 refuses its own RS256 tokens.
	es := *trusted
	es.Algorithms = []string{"ES256"}
	_, err := v.Verify(t.Context(), is.Token(t, good()), finder(&es))
	if e := credbroker.AsError(err); e == nil || !strings.Contains(e.Message, "signed with RS256, which issuer ci does not allow (ES256)") {
		t.Errorf("RS256 at an ES256 issuer: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	is, v, trusted, clk := setup(t)
	claims := testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
		t.Fatal(err)
	}
	fetches := is.JWKSFetches.Load()
	// Cached keys: no fetch.
	for range 5 {
		if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
			t.Fatal(err)
		}
	}
	if n := is.JWKSFetches.Load(); n != fetches {
		t.Errorf("%d key set fetches for tokens of a cached key", n-fetches)
	}
	// A new key at the issuer: the first token that names it makes the
	// verifier fetch the key set again; no restart.
	clk.Add(2 * time.Second)
	is.Rotate(t)
	is.DropOldKeys()
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
		t.Fatalf("a token of the rotated key: %v", err)
	}
	if n := is.JWKSFetches.Load(); n != fetches+1 {
		t.Errorf("%d fetches for the new key, want 1", n-fetches)
	}
	// A stream of tokens with unknown kids fetches at most once per
	// refresh interval.
	fetches = is.JWKSFetches.Load()
	clk.Add(2 * time.Second)
	for range 20 {
		_, err := v.Verify(t.Context(), is.Hostile(t, testpeers.HostileUnknownKid, claims), finder(trusted))
		if credbroker.ErrorCode(err) != credbroker.CodeUnauthorized {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := is.JWKSFetches.Load() - fetches; n != 1 {
		t.Errorf("%d fetches for 20 unknown kids within the refresh interval, want 1", n)
	}
	// An ES256 key works too once the issuer allows it.
	es := *trusted
	es.Algorithms = []string{"RS256", "ES256"}
	clk.Add(2 * time.Second)
	is.AddECKey(t)
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(&es)); err != nil {
		t.Fatalf("ES256: %v", err)
	}
}

func TestUnreachableIssuer(t *testing.T) {
	is, v, trusted, clk := setup(t)
	claims := testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")
	is.SetDown(true)
	_, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted))
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnavailable || !strings.Contains(e.Message, "status 503") {
		t.Fatalf("issuer down: %v", err)
	}
	// Within the refresh interval the failure answers at once.
	before := is.JWKSFetches.Load()
	_, err = v.Verify(t.Context(), is.Token(t, claims), finder(trusted))
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Fatalf("second try: %v", err)
	}
	if is.JWKSFetches.Load() != before {
		t.Error("a failed issuer was asked again within the refresh interval")
	}
	// Back up: the next request after the interval succeeds.
	is.SetDown(false)
	clk.Add(2 * time.Second)
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
		t.Fatalf("issuer back: %v", err)
	}

	// An issuer that hangs: the fetch times out, within FetchTimeout.
	hang, _ := testpeers.BlackHole(t)
	stuck := &credbroker.TrustedIssuer{Name: "stuck", URL: is.URL, JWKSURL: hang + "/keys", Audiences: []string{"credbroker"}, Algorithms: []string{"RS256"}}
	hv := oidc.New(oidc.Options{FetchTimeout: 200 * time.Millisecond})
	_, err = hv.Verify(t.Context(), is.Token(t, claims), finder(stuck))
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnavailable || !strings.Contains(e.Message, "no answer within 200ms") {
		t.Fatalf("hanging issuer: %v", err)
	}
	// A caller that gives up does not wait for the fetch.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	hv2 := oidc.New(oidc.Options{FetchTimeout: time.Minute})
	_, err = hv2.Verify(ctx, is.Token(t, claims), finder(stuck))
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Fatalf("cancelled caller: %v", err)
	}
}

func TestDiscoveryChecks(t *testing.T) {
	is, _, trusted, _ := setup(t)
	claims := testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")
	// A discovery document of another issuer is refused.
	var served atomic.Bool
	other := http.NewServeMux()
	other.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		served.Store(true)
		w.Write([]byte(`{"issuer":"https://someone.else","jwks_uri":"` + is.URL + `/keys"}`))
	})
	url := serve(t, other)
	wrong := *trusted
	wrong.DiscoveryURL = url + "/.well-known/openid-configuration"
	_, err := oidc.New(oidc.Options{}).Verify(t.Context(), is.Token(t, claims), finder(&wrong))
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnavailable || !strings.Contains(e.Message, `names issuer "https://someone.else"`) || !served.Load() {
		t.Fatalf("foreign discovery document: %v", err)
	}
	// The key set named directly works without discovery.
	direct := *trusted
	direct.DiscoveryURL, direct.JWKSURL = "", is.URL+"/keys"
	if _, err := oidc.New(oidc.Options{}).Verify(t.Context(), is.Token(t, claims), finder(&direct)); err != nil {
		t.Fatalf("jwks_url: %v", err)
	}
}

func TestPeek(t *testing.T) {
	is, _, _, _ := setup(t)
	raw := is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker"))
	if got := oidc.Peek(raw); got.Issuer != is.URL || got.Subject != "repo:acme/app:ref:refs/heads/main" {
		t.Errorf("Peek: %+v", got)
	}
	if got := oidc.Peek("x.y.z"); got.Issuer != "" || got.Subject != "" {
		t.Errorf("Peek of garbage: %+v", got)
	}
}

// FuzzVerify feeds tokens to the parser: never a panic, never an accepted
// token that the issuer did not sign, and every error a domain error.
func FuzzVerify(f *testing.F) {
	is := testpeers.StartIssuer(f)
	trusted := &credbroker.TrustedIssuer{Name: "ci", URL: is.URL, Audiences: []string{"credbroker"}}
	if err := identity.CheckIssuer(trusted); err != nil {
		f.Fatal(err)
	}
	good := is.Token(f, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker"))
	f.Add(good)
	f.Add(is.Hostile(f, testpeers.HostileNone, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")))
	f.Add(is.Hostile(f, testpeers.HostileTampered, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")))
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	v := oidc.New(oidc.Options{})
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := v.Verify(context.Background(), raw, finder(trusted))
		if err != nil {
			if credbroker.AsError(err) == nil {
				t.Fatalf("not a domain error: %v", err)
			}
			return
		}
		if raw != good {
			// go-jose accepts a few equivalent spellings of one token;
			// whatever it accepts must carry the signed claims.
			if tok.Subject != "repo:acme/app:ref:refs/heads/main" {
				t.Fatalf("accepted a token the issuer did not sign: %q", raw)
			}
		}
	})
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// fetchRecorder is a FetchObserver that keeps the results it is told.
type fetchRecorder struct {
	mu      sync.Mutex
	results []string
}

func (r *fetchRecorder) JWKSFetch(result string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d < 0 {
		result += " (negative duration)"
	}
	r.results = append(r.results, result)
}

func (r *fetchRecorder) told() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.results, " ")
}

// TestFetchObserver: the observer is told of each fetch of the key set
// (discovery and key set together), with its result; a token of a cached
// key fetches nothing, so tells nothing.
func TestFetchObserver(t *testing.T) {
	is := testpeers.StartIssuer(t)
	clk := &clock{now: time.Now()}
	is.Now = clk.Now
	trusted := &credbroker.TrustedIssuer{Name: "ci", URL: is.URL, Audiences: []string{"credbroker"}}
	if err := identity.CheckIssuer(trusted); err != nil {
		t.Fatal(err)
	}
	rec := &fetchRecorder{}
	v := oidc.New(oidc.Options{Now: clk.Now, RefreshInterval: time.Second, Observer: rec})
	claims := testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")
	for range 3 {
		if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
			t.Fatal(err)
		}
	}
	if got := rec.told(); got != "ok" {
		t.Fatalf("after three tokens of one key: told %q, want one ok", got)
	}
	// A token of a new key while the issuer is down: one failed fetch.
	is.Rotate(t)
	is.SetDown(true)
	clk.Add(2 * time.Second)
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Fatalf("issuer down: %v", err)
	}
	is.SetDown(false)
	clk.Add(2 * time.Second)
	if _, err := v.Verify(t.Context(), is.Token(t, claims), finder(trusted)); err != nil {
		t.Fatal(err)
	}
	if got := rec.told(); got != "ok error ok" {
		t.Fatalf("told %q, want ok error ok", got)
	}
	if n := is.JWKSFetches.Load(); n != 2 {
		t.Errorf("the issuer served its key set %d times, want 2 (the failed fetch ended at discovery)", n)
	}
}
