package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// TestSessionLifecycle: sign-in makes a server-side session whose cookie
// is HttpOnly and SameSite=Strict; sign-out ends it on the server, so the
// old cookie value opens nothing.
func TestSessionLifecycle(t *testing.T) {
	r := newRig(t, rigOptions{})
	b := r.browser()
	if p := b.get("/console/"); p.status != http.StatusSeeOther || p.location() != "/console/signin" {
		t.Fatalf("before sign-in: %d %s", p.status, p.location())
	}
	form := b.get("/console/signin")
	p := b.post("/console/signin", url.Values{"csrf": {csrf(t, form)}, "token": {r.admin}})
	if p.status != http.StatusSeeOther || p.location() != "/console/" {
		t.Fatalf("sign-in: %d %s\n%s", p.status, p.location(), p.body)
	}
	var sc *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			sc = c
		}
	}
	if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteStrictMode || sc.Path != "/" || sc.Secure {
		t.Fatalf("session cookie %+v", sc)
	}
	if strings.Contains(p.header.Get("Set-Cookie"), r.admin) || r.sessions.Len() != 1 {
		t.Fatalf("cookie holds the token, or %d sessions", r.sessions.Len())
	}
	ov := b.get("/console/")
	if ov.status != 200 || !strings.Contains(ov.body, "alice") {
		t.Fatalf("overview: %d", ov.status)
	}
	if strings.Contains(ov.body, r.admin) || strings.Contains(ov.body, sc.Value) {
		t.Fatal("the page shows the admin token or the session ID")
	}
	// Sign-out without the CSRF token changes nothing.
	if p := b.post("/console/signout", url.Values{}); p.status != http.StatusForbidden || r.sessions.Len() != 1 {
		t.Fatalf("sign-out without CSRF: %d, %d sessions", p.status, r.sessions.Len())
	}
	out := b.post("/console/signout", url.Values{"csrf": {csrf(t, ov)}})
	if out.status != http.StatusSeeOther || out.location() != "/console/signin?ended=signout" || r.sessions.Len() != 0 {
		t.Fatalf("sign-out: %d %s, %d sessions", out.status, out.location(), r.sessions.Len())
	}
	// The old cookie, replayed, is dead on the server.
	replay := r.browser()
	replay.setCookie(sessionCookie, sc.Value)
	if p := replay.get("/console/tokens"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/console/signin") {
		t.Fatalf("replayed session after sign-out: %d %s", p.status, p.location())
	}
	if !strings.Contains(r.logs(), "console sign-in") || strings.Contains(r.logs(), sc.Value) || strings.Contains(r.logs(), r.admin) {
		t.Fatalf("log:\n%s", r.logs())
	}
}

// TestSessionExpiry: idle and absolute expiry, by the injected clock.
func TestSessionExpiry(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, _ := r.signedIn()
	r.clk.Add(29 * time.Minute)
	if p := b.get("/console/tokens"); p.status != 200 {
		t.Fatalf("within the idle timeout: %d", p.status)
	}
	r.clk.Add(30 * time.Minute)
	if p := b.get("/console/tokens"); p.status != http.StatusSeeOther || p.location() != "/console/signin?ended=expired" {
		t.Fatalf("idle: %d %s", p.status, p.location())
	}
	// Busy, but past the lifetime.
	b, _ = r.signedIn()
	for range 12*4 - 1 {
		r.clk.Add(15 * time.Minute)
		if p := b.get("/console/"); p.status != 200 {
			t.Fatalf("busy session ended early at %s: %d", r.clk.Now(), p.status)
		}
	}
	r.clk.Add(15 * time.Minute)
	if p := b.get("/console/"); p.status != http.StatusSeeOther || p.location() != "/console/signin?ended=expired" {
		t.Fatalf("past the lifetime: %d %s", p.status, p.location())
	}
}

// TestAgentTokenRefused: an agent token cannot sign in, and no token in
// an Authorization header opens a console page.
func TestAgentTokenRefused(t *testing.T) {
	r := newRig(t, rigOptions{})
	b := r.browser()
	p := b.signin(r.agent)
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "Agent tokens cannot sign in") || b.cookie(sessionCookie) != "" || r.sessions.Len() != 0 {
		t.Fatalf("agent sign-in: %d, cookie %q, %d sessions\n%s", p.status, b.cookie(sessionCookie), r.sessions.Len(), p.body)
	}
	for _, tok := range []string{r.agent, r.admin} {
		req, _ := http.NewRequest(http.MethodGet, r.ts.URL+"/console/connectors", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if p := r.browser().do(req); p.status != http.StatusSeeOther {
			t.Fatalf("bearer token on a console page: %d", p.status)
		}
	}
	if p := b.signin("tok_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); p.status != http.StatusUnauthorized || r.sessions.Len() != 0 {
		t.Fatalf("wrong token: %d", p.status)
	}
}

// TestSessionFixation: a session ID planted before sign-in is not
// honoured, and sign-in ends a session the browser already had.
func TestSessionFixation(t *testing.T) {
	r := newRig(t, rigOptions{})
	// The attacker's own valid session, planted in the victim's browser.
	attacker, _ := r.signedIn()
	planted := attacker.cookie(sessionCookie)
	victim := r.browser()
	victim.setCookie(sessionCookie, planted)
	if p := victim.signin(r.admin); p.status != http.StatusSeeOther {
		t.Fatalf("victim sign-in: %d", p.status)
	}
	got := victim.cookie(sessionCookie)
	if got == "" || got == planted {
		t.Fatalf("session ID not rotated at sign-in: %q", got)
	}
	if p := attacker.get("/console/tokens"); p.status != http.StatusSeeOther {
		t.Fatalf("planted session still open after the victim's sign-in: %d", p.status)
	}
	// An ID the server never issued is worth nothing.
	made := r.browser()
	made.setCookie(sessionCookie, "attacker-chosen-session-id")
	if p := made.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("made-up session: %d", p.status)
	}
	if p := made.signin(r.admin); p.status != http.StatusSeeOther || made.cookie(sessionCookie) == "attacker-chosen-session-id" {
		t.Fatalf("sign-in kept the made-up ID: %d", p.status)
	}
}

// TestCSRF: a state-changing request without the session's CSRF token,
// with a wrong one, or from another site changes nothing.
func TestCSRF(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, tok := r.signedIn()
	create := url.Values{"name": {"csrf-probe"}, "role": {"agent"}, "plans": {"*"}}
	count := func() int {
		list, _ := r.svc.ListTokens(context.Background(), r.adminTok)
		return len(list)
	}
	before := count()
	for name, form := range map[string]url.Values{
		"no token":    create,
		"wrong token": withField(create, "csrf", "AAAA"+tok[4:]),
	} {
		if p := b.post("/console/tokens", form); p.status != http.StatusForbidden || count() != before {
			t.Fatalf("%s: %d, tokens %d -> %d", name, p.status, before, count())
		}
	}
	good := withField(create, "csrf", tok)
	for name, h := range map[string]http.Header{
		"cross-site fetch":    {"Sec-Fetch-Site": {"cross-site"}},
		"other origin":        {"Origin": {"https://evil.example"}},
		"same-site elsewhere": {"Sec-Fetch-Site": {"same-site"}},
	} {
		if p := b.postWith("/console/tokens", good, h); p.status != http.StatusForbidden || count() != before {
			t.Fatalf("%s: %d", name, p.status)
		}
	}
	// Another session's token does not do either.
	other, otherTok := r.signedIn()
	_ = other
	if p := b.post("/console/tokens", withField(create, "csrf", otherTok)); p.status != http.StatusForbidden || count() != before {
		t.Fatalf("another session's CSRF token: %d", p.status)
	}
	if p := b.post("/console/tokens", good); p.status != 200 || count() != before+1 {
		t.Fatalf("the real form: %d\n%s", p.status, p.body)
	}
	// The sign-in form needs its own double-submitted token.
	fresh := r.browser()
	if p := fresh.post("/console/signin", url.Values{"token": {r.admin}}); p.status != http.StatusForbidden || fresh.cookie(sessionCookie) != "" {
		t.Fatalf("sign-in without its CSRF token: %d", p.status)
	}
	if p := fresh.postWith("/console/signin", url.Values{"token": {r.admin}, "csrf": {"x"}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}); p.status != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d", p.status)
	}
}

func withField(v url.Values, k, val string) url.Values {
	out := url.Values{}
	for key, vs := range v {
		out[key] = append([]string(nil), vs...)
	}
	out.Set(k, val)
	return out
}

// TestSecurityHeaders: every page, signed in or not, forbids framing,
// inline script and style, sniffing, referrers and caching; and no page
// has inline script or style attributes for the policy to block.
func TestSecurityHeaders(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, _ := r.signedIn()
	inline := regexp.MustCompile(`(?i)<script(?:\s[^>]*)?>[^<]|\sstyle=|\son[a-z]+=|javascript:`)
	for _, path := range []string{"/console/signin", "/console/", "/console/connectors", "/console/connectors/new", "/console/tokens",
		"/console/variables", "/console/audit", "/console/audit/verify", "/console/audit/1", "/console/no-such-page",
		"/console/identity", "/console/issuers/new", "/console/bindings/new"} {
		p := b.get(path)
		h := p.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'self'") ||
			!strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		for k, want := range map[string]string{"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
			"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if h.Get(k) != want {
				t.Errorf("%s: %s = %q, want %q", path, k, h.Get(k), want)
			}
		}
		if m := inline.FindString(p.body); m != "" {
			t.Errorf("%s: inline script or style %q", path, m)
		}
	}
	if p := b.get("/console/assets/style.css"); p.status != 200 || !strings.HasPrefix(p.header.Get("Content-Type"), "text/css") ||
		p.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("stylesheet: %d %v", p.status, p.header)
	}
	// A browser at / is sent to the console.
	if p := r.browser().get("/"); p.status != http.StatusSeeOther || p.location() != "/console/" {
		t.Errorf("/: %d %s", p.status, p.location())
	}
}

// TestSigninRateLimited: failed sign-ins spend the API's per-address
// budget; once it is spent even the right token waits.
func TestSigninRateLimited(t *testing.T) {
	r := newRig(t, rigOptions{failBurst: 3})
	b := r.browser()
	for i := range 3 {
		if p := b.signin("tok_0123456789abcdef.wrongwrongwrongwrongwrongwrongwrongwrongwro"); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, p.status)
		}
	}
	p := b.signin(r.admin)
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || b.cookie(sessionCookie) != "" {
		t.Fatalf("after the burst: %d, Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	// The API refuses the same address too, for any token it does not
	// already hold (a held, valid one is still served: see SECURITY.md).
	req, _ := http.NewRequest(http.MethodGet, r.ts.URL+"/v1/connectors", nil)
	req.Header.Set("Authorization", "Bearer tok_fedcba9876543210.wrongwrongwrongwrongwrongwrongwrongwrongwro")
	if p := b.do(req); p.status != http.StatusTooManyRequests {
		t.Fatalf("API after console failures: %d", p.status)
	}
}

// TestRevokedTokenEndsSession: revoking the admin token a session was
// opened with ends the session.
func TestRevokedTokenEndsSession(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	second, err := r.svc.CreateToken(ctx, r.adminTok, credbroker.TokenSpec{Name: "bob", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	b := r.browser()
	if p := b.signin(second.Secret); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", p.status)
	}
	if p := b.get("/console/tokens"); p.status != 200 {
		t.Fatalf("tokens: %d", p.status)
	}
	if err := r.svc.RevokeToken(ctx, r.adminTok, second.ID); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/console/tokens"); p.status != http.StatusSeeOther || p.location() != "/console/signin?ended=token" {
		t.Fatalf("after revocation: %d %s", p.status, p.location())
	}
	if r.sessions.Len() != 0 {
		t.Fatalf("%d sessions left", r.sessions.Len())
	}
}

// TestIdentityXSS: markup through every field of an issuer and a binding
// that can hold it comes back as text on every page that shows it.
func TestIdentityXSS(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	const x = `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	iss := credbroker.TrustedIssuer{Name: "xss", Description: x, URL: "https://ci.example.com/" + x,
		JWKSURL: "https://ci.example.com/keys?" + x, Audiences: []string{x, "credbroker"}}
	if _, err := r.svc.CreateIssuer(ctx, r.adminTok, iss); err != nil {
		t.Fatal(err)
	}
	bind := credbroker.Binding{Name: "xss", Issuer: "xss", Description: x, Subject: "repo:" + x,
		Claims:       []credbroker.ClaimRule{{Claim: "repository", Values: []string{x}, Globs: []string{x + "*"}}},
		PlanTemplate: "GH-{repository}" + x, TagClaims: []credbroker.ClaimTag{{Key: "repo", Claim: "repository"}},
		SessionName: "gh-{run_id}" + x, SourceIdentity: "{actor}" + x}
	if _, err := r.svc.CreateBinding(ctx, r.adminTok, bind); err != nil {
		t.Fatal(err)
	}
	b, _ := r.signedIn()
	for _, path := range []string{"/console/identity", "/console/issuers/xss", "/console/bindings/xss",
		"/console/audit?action=issuer.create", "/console/audit"} {
		p := b.get(path)
		if p.status != 200 {
			t.Fatalf("%s: %d", path, p.status)
		}
		if strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<img src=x") {
			t.Errorf("%s: markup rendered unescaped", path)
		}
		if !strings.Contains(p.body, "&lt;script&gt;alert(1)&lt;/script&gt;") && !strings.Contains(p.body, "%3Cscript%3E") {
			t.Errorf("%s: the payload is not on the page as text, so this test would prove nothing", path)
		}
	}
	// A rejected form shows the payload back as text too.
	b, tok := r.signedIn()
	p := b.post("/console/bindings", url.Values{"csrf": {tok}, "name": {"x2"}, "issuer": {x}, "subject": {"repo:*" + x}, "plans": {"OPS-*"}})
	if p.status != http.StatusBadRequest || strings.Contains(p.body, "<script>alert") || !strings.Contains(p.body, "&lt;script&gt;") {
		t.Errorf("rejected binding form: %d\n%s", p.status, p.body)
	}
}

// TestIdentityCSRF: the issuer and binding forms change nothing without
// the session's CSRF token or from another site.
func TestIdentityCSRF(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	if _, err := r.svc.CreateIssuer(ctx, r.adminTok, credbroker.TrustedIssuer{Name: "github",
		URL: "https://token.actions.githubusercontent.com", Audiences: []string{"credbroker"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.CreateBinding(ctx, r.adminTok, credbroker.Binding{Name: "keep", Issuer: "github",
		Claims: []credbroker.ClaimRule{{Claim: "repository_owner", Values: []string{"acme"}}}, Plans: "OPS-*"}); err != nil {
		t.Fatal(err)
	}
	b, tok := r.signedIn()
	state := func() string {
		is, _ := r.svc.ListIssuers(ctx, r.adminTok)
		bs, _ := r.svc.ListBindings(ctx, r.adminTok)
		return fmt.Sprintf("%+v %+v", is, bs)
	}
	before := state()
	forms := map[string]url.Values{
		"/console/issuers":               {"name": {"evil"}, "url": {"https://evil.example"}, "audiences": {"credbroker"}},
		"/console/issuers/github":        {"name": {"github"}, "url": {"https://evil.example"}, "audiences": {"x"}, "revision": {"1"}},
		"/console/issuers/github/delete": {"confirm": {"github"}},
		"/console/bindings":              {"name": {"evil"}, "issuer": {"github"}, "subject": {"x"}, "plans": {"*"}},
		"/console/bindings/keep":         {"name": {"keep"}, "issuer": {"github"}, "subject": {"x"}, "plans": {"*"}, "revision": {"1"}},
		"/console/bindings/keep/delete":  {"confirm": {"keep"}},
	}
	for path, form := range forms {
		for name, p := range map[string]page{
			"no token":    b.post(path, form),
			"wrong token": b.post(path, withField(form, "csrf", "AAAA"+tok[4:])),
			"cross-site":  b.postWith(path, withField(form, "csrf", tok), http.Header{"Sec-Fetch-Site": {"cross-site"}}),
		} {
			if p.status != http.StatusForbidden {
				t.Errorf("%s, %s: %d", path, name, p.status)
			}
		}
	}
	if after := state(); after != before {
		t.Fatalf("refused forms changed the identities:\n%s\n%s", before, after)
	}
	if recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionIssuerCreate}); len(recs) != 1 {
		t.Fatalf("%d issuer.create records", len(recs))
	}
}
