package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// screenshotsEnv names a directory where the browser test writes a
// screenshot of each console page at a laptop and a phone width
// (docs/console is where the README's come from). Unset, it writes none.
const screenshotsEnv = "CREDBROKER_CONSOLE_SCREENSHOTS"

// tab is one browser tab on the broker's console, driven by chromedp.
type tab struct {
	t       *testing.T
	ctx     context.Context
	base    string // the console's origin, through the recording proxy
	shots   string
	mu      sync.Mutex
	dialogs []string // every JavaScript dialog a page opened
}

// openBrowser starts headless Chromium (Debian's package) with a fresh
// profile outside the test's directory, and a tab whose dialogs are
// recorded and dismissed.
func openBrowser(t *testing.T, base string) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(testpeers.Chromium(t)),
		chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &tab{t: t, ctx: ctx, base: base, shots: os.Getenv(screenshotsEnv)}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.dialogs = append(b.dialogs, ev.Message)
			b.mu.Unlock()
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}
	}()
	return b
}

// timed runs fn with a deadline for one step.
func (b *tab) timed(what string, fn func(ctx context.Context) error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := fn(ctx); err != nil {
		loc, _ := chromedp.Run(b.ctx, chromedp.Location())
		body, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
		b.t.Fatalf("browser: %s: %v\nat %s:\n%s", what, err, loc, body)
	}
}

func (b *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	b.timed(what, func(ctx context.Context) error { return chromedp.Do(ctx, steps...) })
}

// open navigates to a console path and waits for the page.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do("open "+path, chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("main")))
}

// submit clicks a button and waits for the page its form leads to.
func (b *tab) submit(sel string) {
	b.t.Helper()
	b.timed("submit "+sel, func(ctx context.Context) error {
		_, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel))))
		return err
	})
}

// fill sets form fields by CSS selector.
func (b *tab) fill(fields ...string) {
	b.t.Helper()
	var steps []chromedp.Action[chromedp.Void]
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1]))
	}
	b.do("fill "+strings.Join(fields, " "), steps...)
}

// text returns an element's text, "" when there is none.
func (b *tab) text(sel string) string {
	b.t.Helper()
	var out string
	b.timed("read "+sel, func(ctx context.Context) error {
		var err error
		out, err = chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(
			`(function(){var e=document.querySelector(%q); return e ? (e.tagName === "INPUT" || e.tagName === "TEXTAREA" ? e.value : e.innerText) : ""})()`, sel)))
		return err
	})
	return out
}

// eval evaluates an expression in the page.
func eval[T any](b *tab, expr string) T {
	b.t.Helper()
	var out T
	b.timed("evaluate "+expr, func(ctx context.Context) error {
		var err error
		out, err = chromedp.Run(ctx, chromedp.Evaluate[T](expr))
		return err
	})
	return out
}

func (b *tab) location() string {
	b.t.Helper()
	return eval[string](b, `location.pathname + location.search`)
}

// cookie returns the browser's cookie name for the console.
func (b *tab) cookie(name string) *network.Cookie {
	b.t.Helper()
	res, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.base + "/console/"}})
	if err != nil {
		b.t.Fatalf("cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (b *tab) setCookie(name, value string) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, network.SetCookie, network.SetCookieParams{Name: name, Value: value, URL: b.base + "/"}); err != nil {
		b.t.Fatalf("set cookie: %v", err)
	}
}

// shot writes screenshots of the page at a laptop and a phone width,
// when screenshotsEnv names a directory.
func (b *tab) shot(name string) {
	b.t.Helper()
	if b.shots == "" {
		return
	}
	for _, size := range []struct {
		suffix string
		w, h   int64
		mobile bool
	}{{"laptop", 1280, 800, false}, {"phone", 390, 844, true}} {
		var shot []byte
		b.timed("screenshot "+name, func(ctx context.Context) error {
			emulate := chromedp.EmulateViewport(size.w, size.h)
			if size.mobile {
				emulate = chromedp.EmulateViewport(size.w, size.h, chromedp.EmulateMobile)
			}
			if err := chromedp.Do(ctx, emulate); err != nil {
				return err
			}
			var err error
			shot, err = chromedp.Run(ctx, chromedp.FullScreenshot(80))
			return err
		})
		if err := os.WriteFile(filepath.Join(b.shots, name+"-"+size.suffix+".jpg"), shot, 0o644); err != nil {
			b.t.Fatal(err)
		}
	}
	b.do("reset the viewport", chromedp.EmulateViewport(1280, 800))
}

// signIn pastes a token into the sign-in form.
func (b *tab) signIn(token string) {
	b.t.Helper()
	b.open("/console/signin")
	b.do("type the token", chromedp.SendKeys(chromedp.CSS("#token"), token))
	b.submit("#signin")
}

// consoleConnector is the connector the browser test creates: MinIO's STS
// with its root keys, read-only on bucket alpha, for the OPS project.
func consoleConnector(w *world, policy string) []string {
	return []string{
		"#f-name", "deploy", "#f-description", "deploys OPS to alpha", "#f-region", "us-east-1",
		"#f-access_key_id", w.minio.RootUser, "#f-secret_access_key", w.minio.RootPassword,
		"#f-role_arn", roleARN, "#f-policy", policy, "#f-default_duration", "15m", "#f-max_duration", "1h",
		"#f-scope_kind", "project", "#f-scope_key", "OPS", "#f-allow_plans", "OPS-*", "#f-sts_endpoints", w.minio.Endpoint,
	}
}

// TestWebConsole: an administrator's day in a real browser, from sign-in
// to sign-out, against a broker whose connector vends from MinIO; then
// the browser's attacks on the console.
func TestWebConsole(t *testing.T) {
	w := newWorld(t, false)
	dd := dataDir(w, "broker")
	b := w.startBroker(dd)
	admin := w.adminToken(dd)
	tab := openBrowser(t, b.URL)

	// A browser at / lands on the sign-in page.
	tab.open("/")
	if loc := tab.location(); loc != "/console/signin" {
		t.Fatalf("/ led to %s", loc)
	}
	tab.shot("signin")
	tab.signIn(admin)
	if loc := tab.location(); loc != "/console/" {
		t.Fatalf("after sign-in: %s\n%s", loc, tab.text("main"))
	}
	session := tab.cookie("credbroker-session")
	if session == nil || !session.HTTPOnly || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie %+v", session)
	}
	w.secret(session.Value)

	// A connector with a malformed policy: the field error, with its line.
	bad := strings.Replace(readAlpha, `"Effect": "Allow",`, `"Effect": "Allow"`, 1)
	tab.open("/console/connectors/new")
	tab.fill(consoleConnector(w, bad)...)
	tab.submit("#save")
	if e := tab.text("#e-policy"); !strings.Contains(e, "not valid JSON") || !strings.Contains(e, "line 4") {
		t.Fatalf("policy error %q\n%s", e, tab.text("main"))
	}
	if v := tab.text("#f-secret_access_key"); v != "" {
		t.Fatal("the secret key came back into the form")
	}
	tab.shot("connector-error")
	// Fixed (the secret typed again: it is never sent back to the page).
	tab.fill("#f-policy", readAlpha, "#f-secret_access_key", w.minio.RootPassword)
	tab.submit("#save")
	if f := tab.text("#flash"); !strings.Contains(f, "Connector deploy created") {
		t.Fatalf("after the fix: %q\n%s", f, tab.text("main"))
	}
	tab.shot("connector")

	// The test vend: a real AssumeRole on MinIO, identity and expiry only.
	tab.fill("#test-plan", "OPS-DEPLOY")
	tab.submit("#test")
	if ok := tab.text("#test-ok"); ok == "" {
		t.Fatalf("test vend:\n%s", tab.text("main"))
	}
	if role := tab.text("#test-role"); role != roleARN {
		t.Fatalf("test vend identity %q", role)
	}
	if exp := tab.text("#test-expiry"); !strings.HasSuffix(exp, "UTC") {
		t.Fatalf("test vend expiry %q", exp)
	}
	tab.shot("connector-test")
	// Out of the connector's scope: refused, naming the rule, and audited.
	tab.open("/console/connectors/deploy")
	tab.fill("#test-plan", "WEB-SITE")
	tab.submit("#test")
	if tab.text("#test-refused") == "" || !strings.Contains(tab.text("#page-error"), "is scoped to project OPS") {
		t.Fatalf("out-of-scope test vend:\n%s", tab.text("main"))
	}
	tab.open("/console/connectors?q=alpha")
	if !strings.Contains(tab.text("#connectors"), "deploy") {
		t.Fatal("search by description did not find the connector")
	}
	tab.shot("connectors")

	// An agent token, shown once, used by credbroker exec against MinIO.
	tab.open("/console/tokens")
	tab.fill("#t-name", "ops-agents", "#t-plans", "OPS-*")
	tab.submit("#create-token")
	agent := tab.text("#new-token")
	if !strings.HasPrefix(agent, "tok_") {
		t.Fatalf("new token %q\n%s", agent, tab.text("main"))
	}
	w.secret(agent)
	if tab.shots != "" {
		// The screenshot shows a stand-in, not this run's token.
		eval[chromedp.Void](tab, `document.getElementById("new-token").value = "tok_0123456789abcdef.shown-once-copy-it-now"`)
	}
	tab.shot("token-created")
	agentEnv := w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+agent)
	exec := func() result {
		return w.cbr(agentEnv, append([]string{"exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "77", "--"},
			w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)...)
	}
	r := exec()
	w.expectOK(r, "exec with the console's token")
	if strings.TrimSpace(r.stdout) != helloTxt {
		t.Fatalf("exec read %q", r.stdout)
	}
	tab.open("/console/tokens")
	tab.shot("tokens")

	// That vend in the audit table; filtered; its record; the chain.
	tab.open("/console/audit")
	rows := eval[[]string](tab, `Array.from(document.querySelectorAll("#audit tbody tr")).map(r => r.innerText)`)
	found := false
	for _, row := range rows {
		if strings.Contains(row, "vend") && strings.Contains(row, "OPS-DEPLOY") && strings.Contains(row, "\t77\t") && strings.Contains(row, "granted") {
			found = true
		}
	}
	if !found {
		t.Fatalf("the exec's vend is not in the audit table:\n%s", strings.Join(rows, "\n"))
	}
	tab.shot("audit")
	tab.fill("#a-plan", "OPS-DEPLOY", "#a-outcome", "granted", "#a-since", "1h")
	tab.submit("#filter")
	plans := eval[[]string](tab, `Array.from(document.querySelectorAll("#audit tbody tr")).map(r => r.cells[5].innerText + "/" + r.cells[3].innerText)`)
	if len(plans) != 2 { // the refused test vend was for WEB-SITE
		t.Fatalf("filtered rows %q, want the test vend and the exec's", plans)
	}
	for _, p := range plans {
		if !strings.HasPrefix(p, "OPS-DEPLOY/granted") {
			t.Fatalf("filtered row %q", p)
		}
	}
	tab.submit("#audit tbody tr:first-child a")
	if !strings.Contains(tab.text("#record"), "matches its contents") {
		t.Fatalf("record:\n%s", tab.text("main"))
	}
	tab.shot("audit-record")
	tab.open("/console/audit")
	tab.submit("#verify")
	if tab.text("#chain-ok") == "" || len(tab.text("#head-hash")) != 64 {
		t.Fatalf("verify:\n%s", tab.text("main"))
	}
	tab.shot("audit-verify")

	// Variables: a secret one is never shown.
	tab.open("/console/variables")
	tab.fill("#v-plan", "OPS-DEPLOY", "#v-name", "dbPassword", "#v-value", "console-variable-secret-4242")
	w.secret("console-variable-secret-4242")
	tab.submit("#set-variable")
	if v := tab.text("#variables"); !strings.Contains(v, "dbPassword") || !strings.Contains(v, "secret, sealed") {
		t.Fatalf("variables:\n%s", v)
	}
	tab.shot("variables")

	// A trusted issuer (an HMAC algorithm refused on its field, then
	// fixed) and a binding of its tokens to plans.
	tab.open("/console/issuers/new")
	tab.fill("#f-name", "github", "#f-url", "https://token.actions.githubusercontent.com", "#f-audiences", "credbroker",
		"#f-algorithms", "RS256\nHS256", "#f-description", "GitHub Actions of acme")
	tab.submit("#save")
	if e := tab.text("#e-algorithms"); !strings.Contains(e, `algorithm "HS256" is refused`) {
		t.Fatalf("algorithm error %q\n%s", e, tab.text("main"))
	}
	tab.fill("#f-algorithms", "RS256")
	tab.submit("#save")
	if f := tab.text("#flash"); !strings.Contains(f, "Issuer github trusted") {
		t.Fatalf("issuer: %q\n%s", f, tab.text("main"))
	}
	tab.shot("issuer")
	tab.open("/console/bindings/new?issuer=github")
	tab.fill("#f-name", "gh-deploy", "#f-subject", "repo:acme/*:ref:refs/heads/main", "#f-claims", "repository_owner=acme",
		"#f-plan_template", "GH-{repository_owner}-{repository}", "#f-tag_claims", "repository\nsha")
	tab.submit("#save")
	if f := tab.text("#flash"); !strings.Contains(f, "Binding gh-deploy created") {
		t.Fatalf("binding: %q\n%s", f, tab.text("main"))
	}
	tab.shot("binding")
	tab.open("/console/identity")
	if !strings.Contains(tab.text("#issuers"), "https://token.actions.githubusercontent.com") ||
		!strings.Contains(tab.text("#bindings"), "GH-{repository_owner}-{repository}") {
		t.Fatalf("identity page:\n%s", tab.text("main"))
	}
	tab.shot("identity")

	// Revoke the agent token: the next vend is refused.
	id, _, _ := strings.Cut(agent, ".")
	tab.open("/console/tokens/" + id + "/revoke")
	tab.submit("#confirm-revoke")
	if f := tab.text("#flash"); !strings.Contains(f, "revoked") {
		t.Fatalf("revoke: %q", f)
	}
	if r := exec(); r.code != 125 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("vend after revocation: exit %d\n%s", r.code, r.stderr)
	}
	tab.open("/console/")
	if txt := tab.text("main"); !strings.Contains(txt, "2 granted · 1 refused in the last hour") || !strings.Contains(txt, "reachable") ||
		!strings.Contains(tab.text("#refusals"), "plan WEB-SITE is not in it") {
		t.Fatalf("overview:\n%s", txt)
	}
	tab.shot("overview")

	// Sign out: the old session cookie, put back, opens nothing.
	tab.submit("#signout")
	if loc := tab.location(); loc != "/console/signin?ended=signout" {
		t.Fatalf("after sign-out: %s", loc)
	}
	tab.setCookie("credbroker-session", session.Value)
	tab.open("/console/tokens")
	if loc := tab.location(); !strings.HasPrefix(loc, "/console/signin") {
		t.Fatalf("the signed-out session still opens %s", loc)
	}

	t.Run("attacks", func(t *testing.T) { consoleAttacks(t, w, b, tab, admin) })
}

// consoleAttacks: script injected through every field the console shows
// never runs, a cross-site form and framing are refused, agent tokens
// cannot sign in, and a planted session ID is not honoured.
func consoleAttacks(t *testing.T, w *world, b *brokerProc, tab *tab, admin string) {
	tab.t = t
	// Payloads through the API, as an admin and as an agent could send them.
	const xss = `<script>window.__xss="script"</script><img src=x onerror="window.__xss='img';alert('xss')">`
	secretFile := w.write("input-xss.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "xss", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--sts-endpoint", w.minio.Endpoint,
		"--description", xss, "--scope", "project OPS", "--default-duration", "15m"), "connector with markup in its description")
	w.expectOK(b.admin(admin, "", "variable", "set", "note", "--plan", "OPS-DEPLOY", "--value", xss), "variable with markup")
	w.expectOK(b.admin(admin, "", "issuer", "create", "xss", "--url", "https://ci.example.com", "--audience", xss,
		"--description", xss), "issuer with markup")
	w.expectOK(b.admin(admin, "", "binding", "create", "xss", "--issuer", "xss", "--subject", "repo:"+xss, "--claim", "repository="+xss,
		"--plans", "OPS-X", "--session-name", "gh-"+xss, "--description", xss), "binding with markup")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "xss", "--plans", "*")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)
	for _, req := range []credbroker.VendRequest{
		{Connector: "xss", Plan: `<img src=x onerror=alert("plan")>`, Build: xss, Job: xss, Task: xss},
		{Connector: `<svg onload=alert("connector")>`, Plan: "OPS-X", Build: "1"},
		{Connector: "xss", Plan: "OPS-X", Build: xss, Job: `"><script>alert("job")</script>`, Task: `javascript:alert("task")`},
	} {
		b.vend(agent, req)
	}
	tab.signIn(admin)
	pages := []string{"/console/", "/console/connectors", "/console/connectors/xss", "/console/connectors?q=script",
		"/console/variables", "/console/variables?plan=OPS-DEPLOY", "/console/audit", "/console/audit?action=vend", "/console/tokens",
		"/console/identity", "/console/issuers/xss", "/console/bindings/xss"}
	var head struct {
		Seq int64 `json:"head_seq"`
	}
	b.api(http.MethodGet, "/v1/audit/verify", admin, nil, &head)
	for seq := head.Seq - 3; seq <= head.Seq; seq++ {
		pages = append(pages, fmt.Sprintf("/console/audit/%d", seq))
	}
	for _, p := range pages {
		tab.open(p)
		if got := eval[string](tab, `String(window.__xss)`); got != "undefined" {
			t.Errorf("%s: injected script ran (window.__xss = %s)", p, got)
		}
	}
	if !strings.Contains(tab.text("main"), "onerror") && !strings.Contains(tab.text("main"), "<script>") {
		// The payloads must be on the pages, as text, for the check to mean anything.
		t.Errorf("the last page does not show the payload as text:\n%s", tab.text("main"))
	}
	tab.open("/console/connectors/xss")
	if d := tab.text("#f-description"); d != xss {
		t.Errorf("the description shows %q, not the payload as text", d)
	}
	for _, p := range []string{"/console/issuers/xss", "/console/bindings/xss"} {
		tab.open(p)
		if d := tab.text("#f-description"); d != xss {
			t.Errorf("%s: the description shows %q, not the payload as text", p, d)
		}
	}
	tab.mu.Lock()
	dialogs := append([]string(nil), tab.dialogs...)
	tab.mu.Unlock()
	if len(dialogs) != 0 {
		t.Errorf("injected script opened dialogs: %q", dialogs)
	}

	// Another origin on this machine: a page that frames the console and
	// a form that posts to it. Its own script runs: the control that the
	// dialog watch above works.
	evil := serveEvil(t, b.URL)
	tab.do("open the attacker's page", chromedp.Navigate(evil+"/control"), chromedp.WaitReady(chromedp.CSS("body")))
	waitFor(t, "the control dialog", func() bool {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		return len(tab.dialogs) == len(dialogs)+1
	})
	tab.do("open the framing page", chromedp.Navigate(evil+"/frame"), chromedp.WaitReady(chromedp.CSS("#done")))
	tree, err := chromedp.Call(tab.ctx, page.GetFrameTree, cdp.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	framed := map[string]string{}
	for _, child := range tree.FrameTree.ChildFrames {
		framed[child.Frame.Name] = child.Frame.URL + " " + child.Frame.UnreachableURL
	}
	if !strings.Contains(framed["own"], evil) {
		t.Fatalf("control frame did not load: %v", framed)
	}
	if strings.HasPrefix(framed["console"], b.URL) {
		t.Fatalf("the console loaded in another site's frame: %v", framed)
	}
	before := tokenNames(t, b, admin)
	tab.do("open the forging page", chromedp.Navigate(evil+"/forge"), chromedp.WaitReady(chromedp.CSS("body")))
	waitFor(t, "the forged post's answer", func() bool {
		loc, _ := chromedp.Run(tab.ctx, chromedp.Location())
		return strings.HasPrefix(loc, b.URL)
	})
	if txt := tab.text("main"); !strings.Contains(txt, "came from another site") {
		t.Fatalf("forged post answered:\n%s", txt)
	}
	if after := tokenNames(t, b, admin); after != before || strings.Contains(after, "forged") {
		t.Fatalf("the forged post made a token: %s", after)
	}

	// Signed out, agent tokens cannot sign in.
	tab.open("/console/")
	tab.submit("#signout")
	tab.signIn(agent)
	if e := tab.text("#page-error"); !strings.Contains(e, "Agent tokens cannot sign in") {
		t.Fatalf("agent sign-in: %q", e)
	}
	if c := tab.cookie("credbroker-session"); c != nil && c.Value != "" {
		t.Fatalf("agent sign-in set a session cookie")
	}
	// A planted session ID is replaced at sign-in.
	tab.setCookie("credbroker-session", "planted-by-an-attacker")
	tab.signIn(admin)
	c := tab.cookie("credbroker-session")
	if c == nil || c.Value == "planted-by-an-attacker" || tab.location() != "/console/" {
		t.Fatalf("after sign-in with a planted ID: %+v at %s", c, tab.location())
	}
	w.secret(c.Value)
}

// tokenNames lists the broker's token names.
func tokenNames(t *testing.T, b *brokerProc, admin string) string {
	var list struct {
		Tokens []credbroker.Token `json:"tokens"`
	}
	b.api(http.MethodGet, "/v1/tokens", admin, nil, &list)
	var names []string
	for _, tk := range list.Tokens {
		names = append(names, tk.Name)
	}
	return strings.Join(names, ",")
}

// serveEvil is another origin on the loopback: a page that runs its own
// script (the control), one that frames the console and itself, and one
// that posts a form to the console.
func serveEvil(t *testing.T, console string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/control":
			fmt.Fprint(w, `<!doctype html><body><script>alert("control")</script></body>`)
		case "/own":
			fmt.Fprint(w, `<!doctype html><body>framable</body>`)
		case "/frame":
			fmt.Fprintf(w, `<!doctype html><body><iframe name="console" src="%s/console/"></iframe><iframe name="own" src="/own"></iframe>
<script>var n=0; function done(){ if(++n==2){ var d=document.createElement("p"); d.id="done"; document.body.appendChild(d);} }
document.querySelectorAll("iframe").forEach(f => f.onload = done);</script></body>`, console)
		case "/forge":
			fmt.Fprintf(w, `<!doctype html><body><form method="post" action="%s/console/tokens">
<input name="name" value="forged"><input name="role" value="admin"><input name="csrf" value="guess"></form>
<script>document.forms[0].submit()</script></body>`, console)
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
