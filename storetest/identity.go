package storetest

import (
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// sampleIssuer has every field set, times with nanoseconds.
func sampleIssuer(name, url string) *credbroker.TrustedIssuer {
	return &credbroker.TrustedIssuer{
		Name: name, Description: "the CI of " + name, URL: url,
		DiscoveryURL: url + "/.well-known/openid-configuration", JWKSURL: url + "/keys",
		Audiences: []string{"credbroker", "sts.amazonaws.com"}, Algorithms: []string{"RS256", "EdDSA"},
		LeewaySeconds: 30, RejectReplay: true, CreatedAt: t0, UpdatedAt: t0.Add(time.Second),
	}
}

// sampleBinding has every field set.
func sampleBinding(name, issuer string) *credbroker.Binding {
	return &credbroker.Binding{
		Name: name, Issuer: issuer, Description: "deploys from main",
		Subject: "repo:acme/app:*",
		Claims: []credbroker.ClaimRule{
			{Claim: "repository", Values: []string{"acme/app"}},
			{Claim: "/ext/team", Globs: []string{"ops-*", "sre"}, Values: []string{"x"}},
		},
		PlanTemplate: "GH-{repository_owner}-{repository}",
		TagClaims:    []credbroker.ClaimTag{{Key: "repo", Claim: "repository"}, {Key: "ref", Claim: "ref"}},
		SessionName:  "gh-{run_id}", SourceIdentity: "{actor}",
		AuditClaims: []string{"workflow"},
		CreatedAt:   t0, UpdatedAt: t0.Add(time.Minute),
	}
}

// storedIssuer is i as a store gives it back.
func storedIssuer(i *credbroker.TrustedIssuer) *credbroker.TrustedIssuer {
	out := *i
	out.CreatedAt, out.UpdatedAt = norm(i.CreatedAt), norm(i.UpdatedAt)
	return &out
}

// storedBinding is b as a store gives it back.
func storedBinding(b *credbroker.Binding) *credbroker.Binding {
	out := *b
	out.CreatedAt, out.UpdatedAt = norm(b.CreatedAt), norm(b.UpdatedAt)
	return &out
}

// generation reads the identity generation or fails t.
func generation(t *testing.T, s credbroker.Store) int64 {
	t.Helper()
	g, err := s.IdentityGeneration(t.Context())
	must(t, err)
	return g
}

func testIssuers(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	g0 := generation(t, s)
	gh := sampleIssuer("github", "https://token.actions.githubusercontent.com")
	must(t, s.CreateIssuer(ctx, gh, rec(credbroker.ActionIssuerCreate)))
	if gh.Revision != 1 {
		t.Errorf("created issuer has revision %d, want 1", gh.Revision)
	}
	g1 := generation(t, s)
	if g1 == g0 {
		t.Error("creating an issuer did not move the identity generation")
	}
	gl := &credbroker.TrustedIssuer{Name: "gitlab", URL: "https://gitlab.example.com", Audiences: []string{"credbroker"}}
	must(t, s.CreateIssuer(ctx, gl, nil))

	got, err := s.GetIssuer(ctx, "github")
	must(t, err)
	wantEqual(t, "issuer", got, storedIssuer(gh))
	got, err = s.GetIssuer(ctx, "gitlab")
	must(t, err)
	wantEqual(t, "issuer with empty lists", got, storedIssuer(gl))
	_, err = s.GetIssuer(ctx, "missing")
	wantCode(t, err, credbroker.CodeNotFound)

	e := wantCode(t, s.CreateIssuer(ctx, sampleIssuer("github", "https://other.example.com"), nil), credbroker.CodeConflict)
	if e.Field != "name" {
		t.Errorf("name taken: field %q, want name", e.Field)
	}
	e = wantCode(t, s.CreateIssuer(ctx, sampleIssuer("gh2", gh.URL), nil), credbroker.CodeConflict)
	if e.Field != "url" {
		t.Errorf("URL trusted twice: field %q, want url", e.Field)
	}

	list, err := s.ListIssuers(ctx)
	must(t, err)
	wantEqual(t, "issuers by name", list, []*credbroker.TrustedIssuer{storedIssuer(gh), storedIssuer(gl)})

	// Update with the revision read; a stale one is refused.
	upd := *got
	upd.Audiences = []string{"only-this"}
	upd.UpdatedAt = t0.Add(time.Hour)
	must(t, s.UpdateIssuer(ctx, &upd, rec(credbroker.ActionIssuerUpdate)))
	if upd.Revision != got.Revision+1 {
		t.Errorf("updated revision %d, want %d", upd.Revision, got.Revision+1)
	}
	stale := *got
	wantCode(t, s.UpdateIssuer(ctx, &stale, nil), credbroker.CodeConflict)
	moved := upd
	moved.URL = gh.URL
	wantCode(t, s.UpdateIssuer(ctx, &moved, nil), credbroker.CodeConflict)
	wantCode(t, s.UpdateIssuer(ctx, &credbroker.TrustedIssuer{Name: "missing", URL: "https://x"}, nil), credbroker.CodeNotFound)
	got, err = s.GetIssuer(ctx, "gitlab")
	must(t, err)
	want := storedIssuer(&upd)
	want.CreatedAt = norm(gl.CreatedAt)
	wantEqual(t, "updated issuer", got, want)

	g2 := generation(t, s)
	must(t, s.DeleteIssuer(ctx, "gitlab", rec(credbroker.ActionIssuerDelete)))
	if generation(t, s) == g2 {
		t.Error("deleting an issuer did not move the identity generation")
	}
	wantCode(t, s.DeleteIssuer(ctx, "gitlab", nil), credbroker.CodeNotFound)
	recs := verifyTrail(t, s)
	if len(recs) != 3 {
		t.Errorf("%d audit records, want 3 (create, update, delete)", len(recs))
	}
}

func testBindings(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	must(t, s.CreateIssuer(ctx, sampleIssuer("github", "https://token.actions.githubusercontent.com"), nil))
	b := sampleBinding("deploy-main", "github")
	g0 := generation(t, s)
	must(t, s.CreateBinding(ctx, b, rec(credbroker.ActionBindingCreate)))
	if b.Revision != 1 {
		t.Errorf("created binding has revision %d, want 1", b.Revision)
	}
	if generation(t, s) == g0 {
		t.Error("creating a binding did not move the identity generation")
	}
	plain := &credbroker.Binding{Name: "any-main", Issuer: "github", Plans: "OPS-*", Subject: "repo:*:ref:refs/heads/main"}
	must(t, s.CreateBinding(ctx, plain, nil))

	got, err := s.GetBinding(ctx, "deploy-main")
	must(t, err)
	wantEqual(t, "binding", got, storedBinding(b))
	_, err = s.GetBinding(ctx, "missing")
	wantCode(t, err, credbroker.CodeNotFound)
	wantCode(t, s.CreateBinding(ctx, sampleBinding("deploy-main", "github"), nil), credbroker.CodeConflict)
	e := wantCode(t, s.CreateBinding(ctx, sampleBinding("other", "no-such-issuer"), nil), credbroker.CodeInvalid)
	if e.Field != "issuer" {
		t.Errorf("unknown issuer: field %q, want issuer", e.Field)
	}

	list, err := s.ListBindings(ctx)
	must(t, err)
	wantEqual(t, "bindings by name", list, []*credbroker.Binding{storedBinding(plain), storedBinding(b)})

	upd := *got
	upd.Claims = []credbroker.ClaimRule{{Claim: "ref", Values: []string{"refs/heads/main"}}}
	upd.PlanTemplate, upd.Plans = "", "OPS-DEPLOY"
	must(t, s.UpdateBinding(ctx, &upd, rec(credbroker.ActionBindingUpdate)))
	if upd.Revision != 2 {
		t.Errorf("updated revision %d, want 2", upd.Revision)
	}
	stale := *got
	wantCode(t, s.UpdateBinding(ctx, &stale, nil), credbroker.CodeConflict)
	bad := upd
	bad.Issuer = "no-such-issuer"
	wantCode(t, s.UpdateBinding(ctx, &bad, nil), credbroker.CodeInvalid)
	got, err = s.GetBinding(ctx, "deploy-main")
	must(t, err)
	wantEqual(t, "updated binding", got, storedBinding(&upd))

	// An issuer in use cannot be deleted.
	e = wantCode(t, s.DeleteIssuer(ctx, "github", nil), credbroker.CodeConflict)
	if e.Field != "issuer" {
		t.Errorf("issuer in use: field %q, want issuer", e.Field)
	}
	must(t, s.DeleteBinding(ctx, "deploy-main", rec(credbroker.ActionBindingDelete)))
	must(t, s.DeleteBinding(ctx, "any-main", nil))
	wantCode(t, s.DeleteBinding(ctx, "any-main", nil), credbroker.CodeNotFound)
	must(t, s.DeleteIssuer(ctx, "github", nil))
	verifyTrail(t, s)
}

// testAuditIdentity checks that who acted with an ID token survives the
// round trip and is covered by the hash.
func testAuditIdentity(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	r := rec(credbroker.ActionVend)
	r.TokenID = "oidc:deploy-main"
	r.Issuer = "https://token.actions.githubusercontent.com"
	r.Subject = "repo:acme/app:ref:refs/heads/main"
	r.Claims = []credbroker.Tag{{Key: "repository", Value: "acme/app"}, {Key: "sha", Value: "0123abcd"}}
	r.Tags = []credbroker.Tag{{Key: "repo", Value: "acme/app"}}
	plain := rec(credbroker.ActionVend)
	must(t, s.AppendAudit(ctx, r, plain))
	recs := verifyTrail(t, s)
	if len(recs) != 2 {
		t.Fatalf("%d records, want 2", len(recs))
	}
	got := recs[0]
	wantEqual(t, "issuer", got.Issuer, r.Issuer)
	wantEqual(t, "subject", got.Subject, r.Subject)
	wantEqual(t, "claims", got.Claims, r.Claims)
	if recs[1].Issuer != "" || recs[1].Subject != "" || recs[1].Claims != nil {
		t.Errorf("a record without identity reads back with %q %q %v", recs[1].Issuer, recs[1].Subject, recs[1].Claims)
	}
	edited := got
	edited.Claims = []credbroker.Tag{{Key: "repository", Value: "acme/other"}}
	if edited.ComputeHash() == got.Hash {
		t.Error("the hash does not cover the claims")
	}
	edited = got
	edited.Subject = "repo:acme/other:ref:refs/heads/main"
	if edited.ComputeHash() == got.Hash {
		t.Error("the hash does not cover the subject")
	}
}
