package identity

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

var github = &credbroker.TrustedIssuer{Name: "github", URL: "https://token.actions.githubusercontent.com", Audiences: []string{"credbroker"}}

// claimsOf decodes a JSON claim set as package oidc does (numbers as
// json.Number).
func claimsOf(t testing.TB, js string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// ghToken is a GitHub Actions token's claims for a push to main.
func ghToken(t testing.TB, repo string) *credbroker.VerifiedToken {
	owner, _, _ := strings.Cut(repo, "/")
	c := claimsOf(t, `{"sub":"repo:`+repo+`:ref:refs/heads/main","repository":"`+repo+`","repository_owner":"`+owner+`",
		"repository_owner_id":"123","ref":"refs/heads/main","ref_type":"branch","sha":"0f1e2d3c","workflow":"deploy",
		"run_id":"987654","run_attempt":"2","actor":"octocat","environment":"prod","ext":{"team":"ops-core"},"groups":["a","ops"]}`)
	return &credbroker.VerifiedToken{Issuer: github, Subject: c["sub"].(string), Claims: c, Expires: time.Unix(1e9, 0)}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"", "a", false}, {"*", "", true}, {"*", "any/thing:at all", true},
		{"refs/heads/*", "refs/heads/release/1.2", true}, {"refs/heads/*", "refs/tags/v1", false},
		{"repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main", true},
		{"repo:acme/*:ref:refs/heads/main", "repo:acme/app:ref:refs/heads/main2", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"a?c", "aéc", true},
		{`a\*c`, "a*c", true}, {`a\*c`, "abc", false}, {`a\\`, `a\`, true},
		{"*a*b*c*", "xxaxxbxxcxx", true}, {"*a*b*c*", "xxaxxcxxbxx", false},
		{"a*", "b", false}, {"**", "x", true}, {"*?", "", false},
	} {
		if got := Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
	if checkGlob(`ends\`) == nil {
		t.Error("a trailing backslash passed")
	}
}

// globRegexp is the reference the fuzzer checks Match against.
func globRegexp(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(p) {
				i++
			}
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

func FuzzGlob(f *testing.F) {
	for _, s := range [][2]string{{"refs/heads/*", "refs/heads/main"}, {"a?c", "abc"}, {`x\*`, "x*"}, {"*a*b", "ab"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		if len(p) > 64 || len(s) > 256 || checkGlob(p) != nil || !isASCII(p) || !isASCII(s) {
			return
		}
		if got, want := Match(p, s), globRegexp(p).MatchString(s); got != want {
			t.Fatalf("Match(%q, %q) = %v, the reference says %v", p, s, got, want)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func TestCleanPlanKey(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"GH-acme-acme/app", "GH-ACME_ACME_APP"},
		{"gl-group/sub-project", "GL-GROUP_SUB_PROJECT"},
		{"BK-ops.deploy", "BK-OPS_DEPLOY"},
		{"GH-" + strings.Repeat("a", 200), "GH-" + strings.Repeat("A", 125)},
		{"nodash", ""}, {"-plan", ""}, {"GH-", ""}, {"1X-plan", ""}, {"été-x", ""},
	} {
		got, ok := CleanPlanKey(c.in)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("CleanPlanKey(%q) = %q, %v; want %q", c.in, got, ok, c.want)
		}
	}
}

func TestCompileRefuses(t *testing.T) {
	base := func() *credbroker.Binding {
		return &credbroker.Binding{Name: "deploy", Issuer: "github", Plans: "OPS-DEPLOY",
			Claims: []credbroker.ClaimRule{{Claim: "repository", Values: []string{"acme/app"}}}}
	}
	for _, c := range []struct {
		name, field string
		edit        func(b *credbroker.Binding)
	}{
		{"bad name", "name", func(b *credbroker.Binding) { b.Name = "has space" }},
		{"no issuer", "issuer", func(b *credbroker.Binding) { b.Issuer = "" }},
		{"accepts everything", "claims", func(b *credbroker.Binding) { b.Claims = nil }},
		{"star subject", "subject", func(b *credbroker.Binding) { b.Claims, b.Subject = nil, "**" }},
		{"star glob", "claims[0].globs[0]", func(b *credbroker.Binding) {
			b.Claims[0] = credbroker.ClaimRule{Claim: "repository", Globs: []string{"*"}}
		}},
		{"empty rule", "claims[0]", func(b *credbroker.Binding) { b.Claims[0].Values = nil }},
		{"bad path", "claims[0].claim", func(b *credbroker.Binding) { b.Claims[0].Claim = "/a//b" }},
		{"bad escape", "claims[0].claim", func(b *credbroker.Binding) { b.Claims[0].Claim = "/a~2" }},
		{"bad glob", "claims[0].globs[0]", func(b *credbroker.Binding) { b.Claims[0].Globs = []string{`x\`} }},
		{"control character", "claims[0].values[0]", func(b *credbroker.Binding) { b.Claims[0].Values = []string{"a\nb"} }},
		{"no plan", "plans", func(b *credbroker.Binding) { b.Plans = "" }},
		{"both plans", "plans", func(b *credbroker.Binding) { b.PlanTemplate = "GH-{repository}" }},
		{"template without claim", "plan_template", func(b *credbroker.Binding) { b.Plans, b.PlanTemplate = "", "GH-APP" }},
		{"template without project", "plan_template", func(b *credbroker.Binding) { b.Plans, b.PlanTemplate = "", "{repository}" }},
		{"unclosed template", "plan_template", func(b *credbroker.Binding) { b.Plans, b.PlanTemplate = "", "GH-{repository" }},
		{"bad plan glob", "plans", func(b *credbroker.Binding) { b.Plans = "OPS-[" }},
		{"fixed plan no plan key", "plans", func(b *credbroker.Binding) { b.Plans = "0" }},
		{"fixed plan in lower case", "plans", func(b *credbroker.Binding) { b.Plans = "ops-deploy" }},
		{"reserved tag key", "tag_claims[0].key", func(b *credbroker.Binding) {
			b.TagClaims = []credbroker.ClaimTag{{Key: "Credbroker:plan", Claim: "repository"}}
		}},
		{"tag key twice", "tag_claims[1].key", func(b *credbroker.Binding) {
			b.TagClaims = []credbroker.ClaimTag{{Key: "repo", Claim: "repository"}, {Key: "REPO", Claim: "ref"}}
		}},
		{"tag key STS refuses", "tag_claims[0].key", func(b *credbroker.Binding) { b.TagClaims = []credbroker.ClaimTag{{Key: "a*b", Claim: "x"}} }},
		{"bad session template", "session_name", func(b *credbroker.Binding) { b.SessionName = "x}" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := base()
			c.edit(b)
			_, err := Compile(b)
			e := credbroker.AsError(err)
			if e == nil || e.Code != credbroker.CodeInvalid || e.Field != c.field {
				t.Fatalf("Compile: %v (field %q), want CodeInvalid on %s", err, fieldOf(e), c.field)
			}
			if e.Fix == "" {
				t.Errorf("%v: no fix", e)
			}
		})
	}
	if _, err := Compile(base()); err != nil {
		t.Fatalf("the base binding is refused: %v", err)
	}
}

func fieldOf(e *credbroker.Error) string {
	if e == nil {
		return ""
	}
	return e.Field
}

func TestMatchGitHub(t *testing.T) {
	r, err := Compile(&credbroker.Binding{
		Name: "gh-deploy", Issuer: "github", Subject: "repo:acme/*:ref:refs/heads/main",
		Claims: []credbroker.ClaimRule{
			{Claim: "repository_owner", Values: []string{"acme"}},
			{Claim: "/ext/team", Globs: []string{"ops-*"}},
			{Claim: "groups", Values: []string{"ops"}},
		},
		PlanTemplate: "GH-{repository_owner}-{repository}",
		TagClaims:    []credbroker.ClaimTag{{Key: "repo", Claim: "repository"}, {Key: "env", Claim: "environment"}, {Key: "gone", Claim: "absent"}},
		SessionName:  "gh-{run_id}-{run_attempt}", SourceIdentity: "{actor}",
		AuditClaims: []string{"/ext/team"},
	})
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.Match(ghToken(t, "acme/app"))
	if err != nil {
		t.Fatal(err)
	}
	if id.Plan != "GH-ACME_ACME_APP" || id.Binding != "gh-deploy" || id.Issuer != "github" || id.Subject != "repo:acme/app:ref:refs/heads/main" {
		t.Errorf("identity %+v", id)
	}
	wantTags := []credbroker.Tag{{Key: "repo", Value: "acme/app"}, {Key: "env", Value: "prod"}}
	if !equalTags(id.Tags, wantTags) {
		t.Errorf("tags %v, want %v", id.Tags, wantTags)
	}
	if id.SessionName != "gh-987654-2" || id.SourceIdentity != "octocat" {
		t.Errorf("session name %q, source identity %q", id.SessionName, id.SourceIdentity)
	}
	got := map[string]string{}
	for _, c := range id.Claims {
		got[c.Key] = c.Value
	}
	for k, v := range map[string]string{"repository": "acme/app", "ref": "refs/heads/main", "sha": "0f1e2d3c", "run_id": "987654", "/ext/team": "ops-core", "groups": "a,ops"} {
		if got[k] != v {
			t.Errorf("audit claim %s = %q, want %q (all: %v)", k, got[k], v, id.Claims)
		}
	}

	for _, c := range []struct {
		name, repo string
		edit       func(tok *credbroker.VerifiedToken)
		want       string
	}{
		{"other owner", "evil/app", nil, `binding gh-deploy: subject "repo:evil/app:ref:refs/heads/main" does not match`},
		{"other branch", "acme/app", func(tok *credbroker.VerifiedToken) { tok.Subject = "repo:acme/app:ref:refs/heads/dev" }, "subject"},
		{"claim missing", "acme/app", func(tok *credbroker.VerifiedToken) { delete(tok.Claims, "groups") }, "claim groups is missing"},
		{"nested claim", "acme/app", func(tok *credbroker.VerifiedToken) { tok.Claims["ext"] = map[string]any{"team": "web"} }, `claim /ext/team ("web") matches none`},
		{"owner claim", "acme/app", func(tok *credbroker.VerifiedToken) { tok.Claims["repository_owner"] = "acme2" }, `claim repository_owner ("acme2")`},
		{"template claim", "acme/app", func(tok *credbroker.VerifiedToken) { delete(tok.Claims, "repository") }, "plan template cannot be filled: claim repository is missing"},
		{"escaped value", "acme/app", func(tok *credbroker.VerifiedToken) { tok.Claims["repository_owner"] = "a\x1b[2Jb" }, `"a\\x1b[2Jb"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := ghToken(t, c.repo)
			if c.edit != nil {
				c.edit(tok)
			}
			_, err := r.Match(tok)
			e := credbroker.AsError(err)
			if e == nil || e.Code != credbroker.CodeForbidden || !strings.Contains(e.Message, c.want) {
				t.Fatalf("Match: %v, want forbidden with %q", err, c.want)
			}
			if strings.ContainsAny(e.Error(), "\x1b\n") {
				t.Errorf("the message holds a control character: %q", e.Error())
			}
		})
	}
}

func equalTags(a, b []credbroker.Tag) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestMatchGitLabBuildkite(t *testing.T) {
	gitlab := &credbroker.TrustedIssuer{Name: "gitlab", URL: "https://gitlab.example.com"}
	bk := &credbroker.TrustedIssuer{Name: "buildkite", URL: "https://agent.buildkite.com"}
	gl, err := Compile(&credbroker.Binding{Name: "gl", Issuer: "gitlab",
		Claims: []credbroker.ClaimRule{{Claim: "namespace_path", Values: []string{"platform"}}, {Claim: "ref_protected", Values: []string{"true"}}},
		Plans:  "GL-DEPLOY"})
	if err != nil {
		t.Fatal(err)
	}
	tok := &credbroker.VerifiedToken{Issuer: gitlab, Subject: "project_path:platform/api:ref_type:branch:ref:main",
		Claims: claimsOf(t, `{"namespace_path":"platform","project_path":"platform/api","ref_protected":"true","pipeline_id":"4711","job_id":"99"}`)}
	id, err := gl.Match(tok)
	if err != nil || id.Plan != "GL-DEPLOY" {
		t.Fatalf("gitlab: %v %+v", err, id)
	}
	tok.Claims["ref_protected"] = "false"
	if _, err := gl.Match(tok); err == nil {
		t.Error("an unprotected ref was accepted")
	}

	bkRule, err := Compile(&credbroker.Binding{Name: "bk", Issuer: "buildkite",
		Claims:       []credbroker.ClaimRule{{Claim: "organization_slug", Values: []string{"acme"}}, {Claim: "build_number", Globs: []string{"?*"}}},
		PlanTemplate: "BK-{pipeline_slug}", SessionName: "bk-{build_number}"})
	if err != nil {
		t.Fatal(err)
	}
	btok := &credbroker.VerifiedToken{Issuer: bk, Subject: "organization:acme:pipeline:deploy:ref:refs/heads/main:commit:abc:step:",
		Claims: claimsOf(t, `{"organization_slug":"acme","pipeline_slug":"deploy-web","build_number":42}`)}
	id, err = bkRule.Match(btok)
	if err != nil || id.Plan != "BK-DEPLOY_WEB" || id.SessionName != "bk-42" {
		t.Fatalf("buildkite: %v %+v", err, id)
	}
	// Buildkite's issuer is shared by every organisation.
	btok.Claims["organization_slug"] = "other-org"
	if _, err := Accept([]*Rule{bkRule, gl}, btok); err == nil || !strings.Contains(err.Error(), "no binding of issuer buildkite accepts this token: binding bk: claim organization_slug") {
		t.Errorf("Accept of another organisation's token: %v", err)
	}
	if _, err := Accept(nil, btok); err == nil || !strings.Contains(err.Error(), "has no binding") {
		t.Errorf("Accept with no bindings: %v", err)
	}
}

func TestCheckIssuer(t *testing.T) {
	ok := func() *credbroker.TrustedIssuer {
		return &credbroker.TrustedIssuer{Name: "github", URL: "https://token.actions.githubusercontent.com", Audiences: []string{"credbroker"}}
	}
	i := ok()
	if err := CheckIssuer(i); err != nil {
		t.Fatal(err)
	}
	if i.DiscoveryURL != "https://token.actions.githubusercontent.com/.well-known/openid-configuration" || len(i.Algorithms) != 2 {
		t.Errorf("defaults: %q %v", i.DiscoveryURL, i.Algorithms)
	}
	local := ok()
	local.URL = "http://127.0.0.1:8080/issuer"
	if err := CheckIssuer(local); err != nil {
		t.Errorf("a loopback http issuer: %v", err)
	}
	for _, c := range []struct {
		field string
		edit  func(i *credbroker.TrustedIssuer)
	}{
		{"name", func(i *credbroker.TrustedIssuer) { i.Name = "GitHub" }},
		{"url", func(i *credbroker.TrustedIssuer) { i.URL = "http://token.actions.githubusercontent.com" }},
		{"url", func(i *credbroker.TrustedIssuer) { i.URL = "https://user:pw@example.com" }},
		{"url", func(i *credbroker.TrustedIssuer) { i.URL = "example.com" }},
		{"jwks_url", func(i *credbroker.TrustedIssuer) { i.JWKSURL = "http://keys.example.com/jwks" }},
		{"jwks_url", func(i *credbroker.TrustedIssuer) { i.JWKSURL, i.DiscoveryURL = "https://k", "https://d" }},
		{"audiences", func(i *credbroker.TrustedIssuer) { i.Audiences = nil }},
		{"audiences[0]", func(i *credbroker.TrustedIssuer) { i.Audiences = []string{""} }},
		{"algorithms[0]", func(i *credbroker.TrustedIssuer) { i.Algorithms = []string{"HS256"} }},
		{"algorithms[1]", func(i *credbroker.TrustedIssuer) { i.Algorithms = []string{"RS256", "none"} }},
		{"leeway_seconds", func(i *credbroker.TrustedIssuer) { i.LeewaySeconds = 301 }},
	} {
		i := ok()
		c.edit(i)
		err := CheckIssuer(i)
		if e := credbroker.AsError(err); e == nil || e.Field != c.field || e.Code != credbroker.CodeInvalid {
			t.Errorf("%+v: %v, want invalid %s", i, err, c.field)
		}
	}
}

// FuzzCompileBinding feeds bindings (as the API decodes them) through
// Compile and, when they compile, matches a GitHub token: no panic, and a
// refusal is always a forbidden error naming the binding.
func FuzzCompileBinding(f *testing.F) {
	f.Add(`{"name":"b","issuer":"github","subject":"repo:acme/*","plan_template":"GH-{repository}","tag_claims":[{"key":"r","claim":"repository"}]}`)
	f.Add(`{"name":"b","issuer":"github","claims":[{"claim":"/ext/team","globs":["ops-*"]}],"plans":"OPS-*","session_name":"{run_id}{{x}}"}`)
	f.Add(`{"name":"b","issuer":"github","claims":[{"claim":"groups","values":["ops"]}],"plan_template":"G-{/ext/team}","source_identity":"{actor}"}`)
	tok := ghToken(f, "acme/app")
	f.Fuzz(func(t *testing.T, js string) {
		var b credbroker.Binding
		if json.Unmarshal([]byte(js), &b) != nil {
			return
		}
		r, err := Compile(&b)
		if err != nil {
			if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeInvalid || e.Field == "" {
				t.Fatalf("Compile: %v, want CodeInvalid naming a field", err)
			}
			return
		}
		id, err := r.Match(tok)
		if err != nil {
			e := credbroker.AsError(err)
			if e == nil || e.Code != credbroker.CodeForbidden || !strings.Contains(e.Message, "binding "+b.Name) {
				t.Fatalf("Match: %v", err)
			}
			return
		}
		if id.Plan != "" {
			if _, ok := CleanPlanKey(id.Plan); !ok {
				t.Fatalf("plan %q is no plan key", id.Plan)
			}
		}
		for _, tg := range id.Tags {
			if credbroker.CleanTagValue(tg.Value) != tg.Value {
				t.Fatalf("tag %v is not what STS takes", tg)
			}
		}
		if id.SessionName != "" && !credbroker.ValidSTSName(id.SessionName, 64) {
			t.Fatalf("session name %q", id.SessionName)
		}
	})
}
