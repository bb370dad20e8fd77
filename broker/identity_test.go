package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/oidc"
)

// oidcEnv is a broker that trusts a test issuer, with a binding of
// acme's deploys from main to the plan GH-ACME_APP, and a connector that
// plan may use.
type oidcEnv struct {
	*env
	is *testpeers.Issuer
}

func newOIDCEnv(t *testing.T, mods ...func(*credbroker.TrustedIssuer)) *oidcEnv {
	t.Helper()
	var e *env
	var clk *clock
	e = newEnv(t, func(o *Options) {
		clk = &clock{t: time.Now().UTC()}
		o.Now = clk.Now
		o.Verifier = oidc.New(oidc.Options{Now: clk.Now, RefreshInterval: time.Second})
		o.RefusalBurst = -1
	})
	e.clk = clk
	e.iss.now = clk.Now
	is := testpeers.StartIssuer(t)
	is.Now = clk.Now
	ctx := context.Background()
	spec := credbroker.TrustedIssuer{Name: "github", URL: is.URL, Audiences: []string{"credbroker"}}
	for _, m := range mods {
		m(&spec)
	}
	if _, err := e.svc.CreateIssuer(ctx, e.admin, spec); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.CreateBinding(ctx, e.admin, credbroker.Binding{
		Name: "gh-deploy", Issuer: "github", Subject: "repo:acme/*:ref:refs/heads/main",
		Claims:       []credbroker.ClaimRule{{Claim: "repository_owner", Values: []string{"acme"}}},
		PlanTemplate: "GH-{repository}",
		TagClaims:    []credbroker.ClaimTag{{Key: "repository", Claim: "repository"}, {Key: "sha", Claim: "sha"}},
		SessionName:  "gh-{run_id}-{run_attempt}", SourceIdentity: "{actor}",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "GH"},
		AllowPlans: []string{"GH-ACME_*"}, Tags: []credbroker.Tag{{Key: "team", Value: "ops"}}})
	return &oidcEnv{env: e, is: is}
}

func (e *oidcEnv) ghToken(t *testing.T, repo string) string {
	return e.is.Token(t, testpeers.GitHubClaims(repo, "refs/heads/main", "credbroker"))
}

// lastAudit returns the last audit record.
func (e *oidcEnv) lastAudit(t *testing.T) credbroker.AuditRecord {
	t.Helper()
	recs, err := e.st.ListAudit(context.Background(), credbroker.AuditFilter{})
	if err != nil || len(recs) == 0 {
		t.Fatalf("audit: %v (%d records)", err, len(recs))
	}
	return recs[len(recs)-1]
}

func TestVendWithIDToken(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	raw := e.ghToken(t, "acme/app")
	tok, err := e.svc.Authenticate(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if tok.ID != "oidc:gh-deploy" || tok.Role != credbroker.RoleAgent || tok.Plans != "GH-ACME_APP" || tok.Identity == nil {
		t.Fatalf("token %+v", tok)
	}
	// The plan comes from the binding when the request names none.
	res, err := e.svc.Vend(ctx, tok, credbroker.VendRequest{Connector: "deploy", Build: "7"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessKeyID == "" {
		t.Fatal("no credentials")
	}
	req := e.iss.last()
	if req.SessionName != "gh-1234567-1" || req.SourceIdentity != "octocat" {
		t.Errorf("session name %q, source identity %q", req.SessionName, req.SourceIdentity)
	}
	tags := map[string]string{}
	for _, tg := range req.Tags {
		tags[tg.Key] = tg.Value
	}
	if tags["credbroker:plan"] != "GH-ACME_APP" || tags["repository"] != "acme/app" || tags["team"] != "ops" || !strings.HasPrefix(tags["sha"], "5d1fa3c0b2e4") {
		t.Errorf("session tags %v", req.Tags)
	}
	rec := e.lastAudit(t)
	if rec.Outcome != credbroker.OutcomeGranted || rec.TokenID != "oidc:gh-deploy" || rec.Issuer != e.is.URL ||
		rec.Subject != "repo:acme/app:ref:refs/heads/main" || rec.Plan != "GH-ACME_APP" {
		t.Errorf("audit record %+v", rec)
	}
	claims := map[string]string{}
	for _, c := range rec.Claims {
		claims[c.Key] = c.Value
	}
	for _, k := range []string{"repository", "ref", "sha", "run_id", "workflow", "actor"} {
		if claims[k] == "" {
			t.Errorf("audit claims lack %s: %v", k, rec.Claims)
		}
	}
	if len(rec.Tags) == 0 {
		t.Error("the audit record has no session tags")
	}

	// The same token again is served from the cache of verified tokens,
	// and its session from the vend cache.
	calls := e.iss.calls.Load()
	tok2, err := e.svc.Authenticate(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Vend(ctx, tok2, credbroker.VendRequest{Connector: "deploy", Build: "7"}); err != nil {
		t.Fatal(err)
	}
	if e.iss.calls.Load() != calls {
		t.Error("a second vend for the same caller called STS")
	}
	if !e.svc.KnowsToken(raw) {
		t.Error("an accepted ID token is not known to the broker")
	}

	// The token may act for its own plan only, and cannot forge claim tags.
	if _, err := e.svc.Vend(ctx, tok, credbroker.VendRequest{Connector: "deploy", Plan: "GH-ACME_OTHER"}); code(err) != credbroker.CodeForbidden ||
		!strings.Contains(err.Error(), "name a plan of binding gh-deploy") {
		t.Errorf("another plan: %v", err)
	}
	_, err = e.svc.Vend(ctx, tok, credbroker.VendRequest{Connector: "deploy", Tags: []credbroker.Tag{{Key: "repository", Value: "acme/other"}}})
	if code(err) != credbroker.CodeForbidden || !strings.Contains(err.Error(), `tag "repository" is set by the broker`) {
		t.Errorf("a forged claim tag: %v", err)
	}
	// Another repository of acme gets its own plan, which the connector's
	// allow-list decides about as for an agent token.
	other, err := e.svc.Authenticate(ctx, e.ghToken(t, "acme/web"))
	if err != nil {
		t.Fatal(err)
	}
	if other.Plans != "GH-ACME_WEB" {
		t.Errorf("plans %q", other.Plans)
	}
	if _, err := e.svc.Vend(ctx, other, credbroker.VendRequest{Connector: "deploy"}); err != nil {
		t.Errorf("acme/web: %v", err)
	}
}

// TestHostileIDTokens refuses every kind of bad token with a clear error
// and an audit record that never holds the token.
func TestHostileIDTokens(t *testing.T) {
	e := newOIDCEnv(t, func(i *credbroker.TrustedIssuer) { i.RejectReplay = true })
	ctx := context.Background()
	now := e.clk.Now()
	good := func() map[string]any { return testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker") }
	with := func(edit func(map[string]any)) map[string]any { c := good(); edit(c); return c }
	replayed := e.is.Token(t, good())
	if _, err := e.svc.Authenticate(ctx, replayed); err != nil {
		t.Fatalf("first use: %v", err)
	}
	for _, c := range []struct {
		name   string
		token  string
		code   credbroker.Code
		want   string
		action string
	}{
		{"expired", e.is.Token(t, with(func(c map[string]any) {
			c["iat"], c["exp"] = now.Add(-time.Hour).Unix(), now.Add(-5*time.Minute).Unix()
		})), credbroker.CodeUnauthorized, "expired", credbroker.ActionAuthenticate},
		{"not yet valid", e.is.Token(t, with(func(c map[string]any) { c["nbf"], c["exp"] = now.Add(time.Hour).Unix(), now.Add(2*time.Hour).Unix() })),
			credbroker.CodeUnauthorized, "not valid before", credbroker.ActionAuthenticate},
		{"wrong audience", e.is.Token(t, with(func(c map[string]any) { c["aud"] = "sts.amazonaws.com" })), credbroker.CodeUnauthorized, "audience", credbroker.ActionAuthenticate},
		{"wrong issuer", e.is.Token(t, with(func(c map[string]any) { c["iss"] = "https://token.actions.githubusercontent.com" })),
			credbroker.CodeUnauthorized, "is not trusted", credbroker.ActionAuthenticate},
		{"unknown kid", e.is.Hostile(t, testpeers.HostileUnknownKid, good()), credbroker.CodeUnauthorized, "publishes no key", credbroker.ActionAuthenticate},
		{"alg none", e.is.Hostile(t, testpeers.HostileNone, good()), credbroker.CodeUnauthorized, `"none"`, credbroker.ActionAuthenticate},
		{"HS256 with the public key", e.is.Hostile(t, testpeers.HostileHS256, good()), credbroker.CodeUnauthorized, `"HS256"`, credbroker.ActionAuthenticate},
		{"tampered payload", e.is.Hostile(t, testpeers.HostileTampered, good()), credbroker.CodeUnauthorized, "signature does not verify", credbroker.ActionAuthenticate},
		{"replayed jti", replayed, credbroker.CodeUnauthorized, "was already used", credbroker.ActionAuthenticate},
		{"claims not matching", e.is.Token(t, testpeers.GitHubClaims("evil/app", "refs/heads/main", "credbroker")),
			credbroker.CodeForbidden, "binding gh-deploy: subject", credbroker.ActionAuthenticate},
		{"other branch", e.is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/feature", "credbroker")),
			credbroker.CodeForbidden, "binding gh-deploy: subject", credbroker.ActionAuthenticate},
		{"oversized", e.is.Token(t, with(func(c map[string]any) { c["pad"] = strings.Repeat("p", 9000) })),
			credbroker.CodeUnauthorized, "at most 8192", credbroker.ActionAuthenticate},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.svc.Authenticate(ctx, c.token)
			if code(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Authenticate: %v, want %s with %q", err, c.code, c.want)
			}
			rec := e.lastAudit(t)
			if rec.Action != c.action || rec.Outcome != credbroker.OutcomeRefused || rec.ErrorCode != string(c.code) || !strings.Contains(rec.Detail, c.want) {
				t.Errorf("audit record %+v", rec)
			}
			for _, part := range strings.Split(c.token, ".") {
				if len(part) > 16 && (strings.Contains(err.Error(), part) || strings.Contains(rec.Detail, part) || strings.Contains(rec.Subject, part)) {
					t.Errorf("a part of the token leaked: %v / %+v", err, rec)
				}
			}
		})
	}
	// A refused token's record names the subject it claimed.
	if _, err := e.svc.Authenticate(ctx, e.is.Token(t, testpeers.GitHubClaims("evil/app", "refs/heads/main", "credbroker"))); err == nil {
		t.Fatal("accepted")
	}
	if rec := e.lastAudit(t); rec.Subject != "repo:evil/app:ref:refs/heads/main" || rec.TokenID != "oidc:github" || rec.Issuer != e.is.URL {
		t.Errorf("refusal record %+v", rec)
	}
}

func TestIDTokenKeyRotationAndBindingChanges(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	if _, err := e.svc.Authenticate(ctx, e.ghToken(t, "acme/app")); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates its key: the broker picks the new one up by
	// itself, without a restart.
	e.clk.Add(2 * time.Second)
	e.is.Rotate(t)
	e.is.DropOldKeys()
	if _, err := e.svc.Authenticate(ctx, e.ghToken(t, "acme/app")); err != nil {
		t.Fatalf("after the key rotation: %v", err)
	}
	// A binding change applies to tokens already accepted: the cache of
	// verified tokens follows the identity generation.
	raw := e.ghToken(t, "acme/app")
	if _, err := e.svc.Authenticate(ctx, raw); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteBinding(ctx, e.admin, "gh-deploy"); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Authenticate(ctx, raw)
	if code(err) != credbroker.CodeForbidden || !strings.Contains(err.Error(), "has no binding") {
		t.Fatalf("after the binding's deletion: %v", err)
	}
	// The admin API checks what it stores.
	_, err = e.svc.CreateBinding(ctx, e.admin, credbroker.Binding{Name: "all", Issuer: "github", Plans: "GH-*"})
	if code(err) != credbroker.CodeInvalid || !strings.Contains(err.Error(), "would accept every token") {
		t.Errorf("a binding that accepts everything: %v", err)
	}
	_, err = e.svc.CreateIssuer(ctx, e.admin, credbroker.TrustedIssuer{Name: "hmac", URL: "https://x.example.com", Audiences: []string{"a"}, Algorithms: []string{"HS256"}})
	if code(err) != credbroker.CodeInvalid {
		t.Errorf("an HMAC issuer: %v", err)
	}
	if _, err := e.svc.ListIssuers(ctx, e.agent); code(err) != credbroker.CodeForbidden {
		t.Errorf("an agent lists issuers: %v", err)
	}
	got, err := e.svc.UpdateIssuer(ctx, e.admin, "github", credbroker.TrustedIssuer{URL: e.is.URL, Audiences: []string{"other"}})
	if err != nil || got.Revision != 2 {
		t.Fatalf("update issuer: %v %+v", err, got)
	}
	if _, err := e.svc.UpdateIssuer(ctx, e.admin, "github", credbroker.TrustedIssuer{URL: e.is.URL, Audiences: []string{"x"}, Revision: 1}); code(err) != credbroker.CodeConflict {
		t.Errorf("stale issuer update: %v", err)
	}
}

func TestUnreachableIssuerIs503(t *testing.T) {
	e := newOIDCEnv(t)
	ctx := context.Background()
	e.is.SetDown(true)
	_, err := e.svc.Authenticate(ctx, e.ghToken(t, "acme/app"))
	if code(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "cannot be fetched") {
		t.Fatalf("issuer down: %v", err)
	}
	if rec := e.lastAudit(t); rec.ErrorCode != string(credbroker.CodeUnavailable) || rec.Action != credbroker.ActionAuthenticate {
		t.Errorf("audit record %+v", rec)
	}
	e.is.SetDown(false)
	e.clk.Add(2 * time.Second)
	if _, err := e.svc.Authenticate(ctx, e.ghToken(t, "acme/app")); err != nil {
		t.Fatalf("issuer back: %v", err)
	}
}

func TestNoVerifier(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Authenticate(context.Background(), "eyJhbGciOiJSUzI1NiJ9.eyJ9.c2ln")
	if code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "accepts no ID tokens") {
		t.Fatalf("ID token without a verifier: %v", err)
	}
}
