package console_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

const (
	baseKeyID  = "AKIACONSOLEBASE00001"
	baseSecret = "console/base/secret/key/never/shown/0001"
)

func connectorForm(tok, name string, extra ...string) url.Values {
	v := url.Values{"csrf": {tok}, "name": {name}, "principal": {"assumed-role"}, "base": {"keys"},
		"access_key_id": {baseKeyID}, "secret_access_key": {baseSecret}, "region": {"us-east-1"},
		"role_arn": {"arn:aws:iam::123456789012:role/deploy"}, "scope_kind": {"project"}, "scope_key": {"OPS"},
		"allow_plans": {"OPS-*"}, "session_mode": {"build"}, "default_duration": {"15m"}, "max_duration": {"1h"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

var fieldErrRE = regexp.MustCompile(`<p class="field-error" id="e-([a-z_]+)" role="alert">([^<]*)</p>`)

// fieldErrors returns the form's field errors.
func fieldErrors(body string) map[string]string {
	out := map[string]string{}
	for _, m := range fieldErrRE.FindAllStringSubmatch(body, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// TestConnectorForm: the service's rules and field-level messages on the
// form, the policy's JSON error line, the secret never rendered back, and
// the change audited as the API audits it.
func TestConnectorForm(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, tok := r.signedIn()
	bad := "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"s3:GetObject\"}\n  ]\n}"
	p := b.post("/console/connectors", connectorForm(tok, "deploy", "policy", bad))
	errs := fieldErrors(p.body)
	if p.status != http.StatusBadRequest || !strings.Contains(errs["policy"], "not valid JSON") || !strings.Contains(errs["policy"], "line 4") {
		t.Fatalf("malformed policy: %d %v\n%s", p.status, errs, p.body)
	}
	if !strings.Contains(p.body, `id="policy-excerpt"`) || !strings.Contains(p.body, `<span class="bad-line">   4  `) {
		t.Fatalf("no excerpt marking line 4:\n%s", p.body)
	}
	if strings.Contains(p.body, baseSecret) {
		t.Fatal("the secret key was rendered back into the form")
	}
	if !strings.Contains(p.body, "of 2048 characters") {
		t.Fatal("the policy's size limit is not shown")
	}
	// Other rules, each on its own field.
	for field, extra := range map[string][]string{
		"role_arn":            {"role_arn", "arn:aws:iam::123456789012:user/x"},
		"scope_key":           {"scope_key", "ops"},
		"allow_plans":         {"allow_plans", "OPS-[\n"},
		"allowed_account_ids": {"allowed_account_ids", "123456789012\nprod"},
		"default_duration":    {"default_duration", "ten minutes"},
		"max_duration":        {"max_duration", "48h"},
		"region":              {"region", "mars-north-1"},
		"name":                {"name", "con_reserved"},
		"tags":                {"tags", "no-equals"},
	} {
		p := b.post("/console/connectors", connectorForm(tok, "deploy", extra...))
		if got := fieldErrors(p.body); got[field] == "" || p.status < 400 {
			t.Errorf("%s = %q: status %d, errors %v", field, extra[1], p.status, got)
		}
	}
	// The account guard's rule about the role is shown on the role.
	p = b.post("/console/connectors", connectorForm(tok, "deploy", "allowed_account_ids", "111111111111"))
	if got := fieldErrors(p.body); !strings.Contains(got["role_arn"], "account 123456789012 of role ARN") || p.status < 400 {
		t.Errorf("a role outside the allowed accounts: status %d, errors %v", p.status, got)
	}
	if recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionConnectorCreate}); len(recs) != 0 {
		t.Fatalf("refused forms were stored: %+v", recs)
	}
	good := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*"}]}`
	p = b.post("/console/connectors", connectorForm(tok, "deploy", "policy", good, "description", "deploys OPS", "tags", "team=ops"))
	if p.status != http.StatusSeeOther || p.location() != "/console/connectors/deploy" {
		t.Fatalf("fixed form: %d %s\n%s", p.status, p.location(), p.body)
	}
	edit := b.get("/console/connectors/deploy")
	if edit.status != 200 || !strings.Contains(edit.body, "Connector deploy created.") || strings.Contains(edit.body, baseSecret) ||
		!strings.Contains(edit.body, "****0001") || strings.Contains(edit.body, baseKeyID) {
		t.Fatalf("edit page: %d\n%s", edit.status, edit.body)
	}
	// The same change through the API is audited the same way.
	var api credbroker.ConnectorSpec
	api.Name, api.Principal, api.Region, api.RoleARN = "deploy-api", credbroker.PrincipalAssumedRole, "us-east-1", "arn:aws:iam::123456789012:role/deploy"
	api.AccessKeyID, api.SecretAccessKey = baseKeyID, baseSecret
	body, _ := json.Marshal(api)
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/v1/connectors", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+r.admin)
	req.Header.Set("Content-Type", "application/json")
	if p := r.browser().do(req); p.status != http.StatusCreated {
		t.Fatalf("API create: %d %s", p.status, p.body)
	}
	recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionConnectorCreate})
	if len(recs) != 2 {
		t.Fatalf("audit %+v", recs)
	}
	for _, rec := range recs {
		if rec.TokenID != r.adminTok.ID || rec.Outcome != credbroker.OutcomeGranted || !strings.HasPrefix(rec.Detail, "connector con_") ||
			rec.RoleARN != api.RoleARN {
			t.Errorf("audit record %+v", rec)
		}
	}

	// Edit: the secret stays unless replaced; a stale revision conflicts.
	form := connectorForm(tok, "deploy", "secret_access_key", "", "access_key_id", "", "policy", good, "max_duration", "2h", "revision", "1")
	if p := b.post("/console/connectors/deploy", form); p.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", p.status, p.body)
	}
	in, _ := r.svc.GetConnector(context.Background(), r.adminTok, "deploy")
	if in.MaxDurationSeconds != 7200 || !in.HasSecret || in.Revision != 2 {
		t.Fatalf("after update: %+v", in)
	}
	p = b.post("/console/connectors/deploy", form)
	if p.status != http.StatusConflict || !strings.Contains(p.body, "revision 2, not 1") {
		t.Fatalf("stale revision: %d\n%s", p.status, p.body)
	}
	// Delete needs the name typed.
	if p := b.post("/console/connectors/deploy/delete", url.Values{"csrf": {tok}, "confirm": {"dep"}}); p.status != http.StatusBadRequest {
		t.Fatalf("delete without confirmation: %d", p.status)
	}
	if p := b.post("/console/connectors/deploy/delete", url.Values{"csrf": {tok}, "confirm": {"deploy"}}); p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	if _, err := r.svc.GetConnector(context.Background(), r.adminTok, "deploy"); credbroker.ErrorCode(err) != credbroker.CodeNotFound {
		t.Fatalf("deleted connector: %v", err)
	}
}

// TestConnectorTest: the test vend shows identity and expiry, never the
// secret, obeys the connector's scope, and is audited.
func TestConnectorTest(t *testing.T) {
	r := newRig(t, rigOptions{signin: true})
	b, tok := r.signedIn()
	if p := b.post("/console/connectors", connectorForm(tok, "deploy")); p.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	p := b.post("/console/connectors/deploy/test", url.Values{"csrf": {tok}, "plan": {"OPS-DEPLOY"}})
	if p.status != 200 || !strings.Contains(p.body, `id="test-ok"`) || !strings.Contains(p.body, "arn:aws:iam::123456789012:role/deploy") ||
		!strings.Contains(p.body, "****0001") || !strings.Contains(p.body, "2026-11-25 12:15:00 UTC") {
		t.Fatalf("test vend: %d\n%s", p.status, p.body)
	}
	if strings.Contains(p.body, "console-test-secret") || strings.Contains(p.body, "console-test-session-token") || strings.Contains(p.body, "ASIACONSOLETEST") {
		t.Fatal("the test page shows the vended keys")
	}
	p = b.post("/console/connectors/deploy/test", url.Values{"csrf": {tok}, "plan": {"WEB-SITE"}})
	if p.status != http.StatusForbidden || !strings.Contains(p.body, "is scoped to project OPS") {
		t.Fatalf("out of scope: %d\n%s", p.status, p.body)
	}
	recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionVend})
	if len(recs) != 2 || recs[0].Outcome != "granted" || recs[0].Task != "console-test" || recs[0].TokenID != r.adminTok.ID || recs[1].Outcome != "refused" {
		t.Fatalf("audit %+v", recs)
	}
	// Console sign-in link: a vend too, the page never cached.
	p = b.post("/console/connectors/deploy/signin", url.Values{"csrf": {tok}, "plan": {"OPS-DEPLOY"}})
	if p.status != 200 || !strings.Contains(p.body, `href="https://signin.example.test/federation?Action=login&amp;SigninToken=tok-for-ASIACONSOLETEST`) ||
		p.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("sign-in link: %d\n%s", p.status, p.body)
	}
}

// TestTokensAndVariables: a token's secret shown once, revocation, and
// variables whose secret values are never shown.
func TestTokensAndVariables(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, tok := r.signedIn()
	p := b.post("/console/tokens", url.Values{"csrf": {tok}, "name": {"ops agents 2"}, "role": {"agent"}, "plans": {""}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "must be bound to a project or plan pattern") {
		t.Fatalf("agent token without plans: %d\n%s", p.status, p.body)
	}
	p = b.post("/console/tokens", url.Values{"csrf": {tok}, "name": {"ops agents 2"}, "role": {"agent"}, "plans": {"OPS-*"}, "expires": {"720h"}})
	m := regexp.MustCompile(`id="new-token" value="(tok_[0-9a-f]{16}\.[A-Za-z0-9_-]{43})"`).FindStringSubmatch(p.body)
	if p.status != 200 || m == nil {
		t.Fatalf("create token: %d\n%s", p.status, p.body)
	}
	agent, err := r.svc.Authenticate(context.Background(), m[1])
	if err != nil || agent.Role != credbroker.RoleAgent || agent.Plans != "OPS-*" || agent.ExpiresAt.IsZero() {
		t.Fatalf("the shown token: %+v, %v", agent, err)
	}
	list := b.get("/console/tokens")
	if strings.Contains(list.body, m[1]) || !strings.Contains(list.body, agent.ID) {
		t.Fatal("the token list shows the secret, or not the token")
	}
	if p := b.post("/console/tokens/"+agent.ID+"/revoke", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther {
		t.Fatalf("revoke: %d", p.status)
	}
	if _, err := r.svc.Authenticate(context.Background(), m[1]); credbroker.ErrorCode(err) != credbroker.CodeUnauthorized {
		t.Fatalf("revoked token still works: %v", err)
	}
	if l := b.get("/console/tokens"); !strings.Contains(l.body, "Token "+agent.ID+" revoked.") {
		t.Fatal("no notice after revocation")
	}

	const secretValue = "db-password-never-shown-9f8e7d"
	for _, v := range []url.Values{
		{"csrf": {tok}, "name": {"region"}, "value": {"us-east-1"}},
		{"csrf": {tok}, "name": {"dbPassword"}, "plan": {"OPS-DEPLOY"}, "value": {secretValue}},
		{"csrf": {tok}, "name": {"apiKey"}, "plan": {"OPS-DEPLOY"}, "value": {secretValue + "-2"}, "secret": {"1"}},
	} {
		if p := b.post("/console/variables", v); p.status != http.StatusSeeOther {
			t.Fatalf("set %v: %d\n%s", v, p.status, p.body)
		}
	}
	p = b.post("/console/variables", url.Values{"csrf": {tok}, "name": {"x"}, "plan": {"ops"}, "value": {secretValue + "-3"}, "secret": {"1"}})
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "invalid plan key") || strings.Contains(p.body, secretValue) {
		t.Fatalf("bad plan: %d\n%s", p.status, p.body)
	}
	page := b.get("/console/variables?plan=OPS-DEPLOY")
	if !strings.Contains(page.body, "us-east-1") || !strings.Contains(page.body, "dbPassword") || strings.Contains(page.body, secretValue) ||
		strings.Count(page.body, "secret, sealed") != 2 {
		t.Fatalf("variables page:\n%s", page.body)
	}
	if p := b.post("/console/variables/delete", url.Values{"csrf": {tok}, "name": {"region"}}); p.status != http.StatusSeeOther {
		t.Fatalf("delete: %d", p.status)
	}
	vs, _ := r.svc.ListVariables(context.Background(), r.adminTok, "")
	if len(vs) != 2 {
		t.Fatalf("variables after delete: %+v", vs)
	}
	if n := len(r.audit(credbroker.AuditFilter{Action: credbroker.ActionVariableSet})); n != 3 {
		t.Fatalf("%d variable.set records", n)
	}
}

// TestAuditPages: paging newest first through every record once, the
// filters (token among them), a record's detail, verification, and the
// exports with formula cells defused.
func TestAuditPages(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	agent, _ := r.svc.Authenticate(ctx, r.agent)
	for i := range 120 {
		plan := "OPS-A"
		if i%3 == 0 {
			plan = "=HYPERLINK(\"http://evil\")"
		}
		r.svc.Vend(ctx, agent, credbroker.VendRequest{Connector: "missing", Plan: plan, Build: fmt.Sprint(i)})
	}
	b, _ := r.signedIn()
	seen := map[int64]bool{}
	path := "/console/audit?outcome=refused"
	last := int64(1 << 62)
	for pages := 0; path != ""; pages++ {
		p := b.get(path)
		if p.status != 200 || pages > 5 {
			t.Fatalf("%s: %d", path, p.status)
		}
		for _, m := range regexp.MustCompile(`<td><a href="/console/audit/(\d+)">`).FindAllStringSubmatch(p.body, -1) {
			var seq int64
			fmt.Sscan(m[1], &seq)
			if seen[seq] || seq >= last {
				t.Fatalf("record %d twice or out of order", seq)
			}
			seen[seq], last = true, seq
		}
		path = ""
		if m := regexp.MustCompile(`href="([^"]*)" id="older"`).FindStringSubmatch(p.body); m != nil {
			path = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 120 {
		t.Fatalf("paged through %d of 120 refused vends", len(seen))
	}
	// Newer pages lead back.
	p := b.get("/console/audit?outcome=refused&before=30")
	if m := regexp.MustCompile(`href="([^"]*)" id="newer"`).FindStringSubmatch(p.body); m == nil || !strings.Contains(m[1], "after=") {
		t.Fatalf("no newer link on an older page:\n%s", p.body)
	}
	// Token filter: the admin's own records only.
	p = b.get("/console/audit?token=" + r.adminTok.ID)
	if strings.Contains(p.body, "<td>vend</td>") || !strings.Contains(p.body, "<td>token.create</td>") {
		t.Fatalf("token filter:\n%s", p.body)
	}
	if p := b.get("/console/audit?since=yesterday"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "write a time") {
		t.Fatalf("bad since: %d", p.status)
	}
	// The plan is shown escaped, never as markup.
	rec := b.get("/console/audit/3")
	if rec.status != 200 || !strings.Contains(rec.body, "matches its contents") || !strings.Contains(rec.body, "=HYPERLINK(&#34;http://evil&#34;)") {
		t.Fatalf("record 3:\n%s", rec.body)
	}
	if v := b.get("/console/audit/verify"); !strings.Contains(v.body, `id="chain-ok"`) {
		t.Fatalf("verify:\n%s", v.body)
	}
	// CSV: the formula is text; JSON Lines: the records as the API has them.
	c := b.get("/console/audit/export?format=csv&action=vend")
	if c.status != 200 || !strings.HasPrefix(c.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("csv: %d %v", c.status, c.header)
	}
	rows, err := csv.NewReader(strings.NewReader(c.body)).ReadAll()
	if err != nil || len(rows) != 121 || rows[0][0] != "seq" {
		t.Fatalf("csv rows %d, %v", len(rows), err)
	}
	formulas := 0
	for _, row := range rows[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Fatalf("cell %q starts a formula", cell)
			}
			if strings.HasPrefix(cell, "'=HYPERLINK") {
				formulas++
			}
		}
	}
	if formulas != 40 {
		t.Fatalf("%d defused formulas, want 40", formulas)
	}
	j := b.get("/console/audit/export?format=jsonl&plan=OPS-A")
	lines := strings.Split(strings.TrimSpace(j.body), "\n")
	if len(lines) != 80 {
		t.Fatalf("%d JSON lines, want 80", len(lines))
	}
	var first credbroker.AuditRecord
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil || first.Plan != "OPS-A" || first.ComputeHash() != first.Hash {
		t.Fatalf("first line %q: %v", lines[0], err)
	}
}

// TestOverview: the vends of the last hour and day, the busiest plans and
// connectors, the STS state as last seen and the recent refusals.
func TestOverview(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx := context.Background()
	b, tok := r.signedIn()
	if p := b.post("/console/connectors", connectorForm(tok, "deploy")); p.status != http.StatusSeeOther {
		t.Fatalf("create: %d", p.status)
	}
	agent, _ := r.svc.Authenticate(ctx, r.agent)
	for i := range 7 {
		if _, err := r.svc.Vend(ctx, agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	r.svc.Vend(ctx, agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-OTHER", DurationSeconds: 99999})
	p := b.get("/console/")
	for _, want := range []string{
		`<span class="good">7</span> granted · <span class="bad">1</span> refused <span class="muted">in the last hour`,
		`Last hour: 7 granted, 1 refused`, `Last day: 7 granted, 1 refused`,
		`<a href="/console/audit?plan=OPS-DEPLOY">OPS-DEPLOY</a></td><td class="num">7`,
		`<a href="/console/audit?connector=deploy">deploy</a></td><td class="num">8`,
		`<span class="pill reachable">reachable</span>`, "longer than connector deploy&#39;s maximum",
		"active version 1", "<rect class=\"granted\"",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	// Later vends are read incrementally; a day later the counts are gone.
	r.clk.Add(2 * time.Hour)
	r.svc.Vend(ctx, agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "late"})
	if p := b.signin(r.admin); p.status != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	p = b.get("/console/")
	if !strings.Contains(p.body, `<span class="good">1</span> granted · <span class="bad">0</span> refused <span class="muted">in the last hour`) ||
		!strings.Contains(p.body, "Last day: 8 granted, 1 refused") {
		t.Errorf("two hours later:\n%s", p.body)
	}
	r.clk.Add(25 * time.Hour)
	if p := b.signin(r.admin); p.status != http.StatusSeeOther {
		t.Fatal("sign-in")
	}
	p = b.get("/console/")
	if !strings.Contains(p.body, "Last day: 0 granted, 0 refused") {
		t.Errorf("a day later:\n%s", p.body)
	}
}

func issuerForm(tok, name string, extra ...string) url.Values {
	v := url.Values{"csrf": {tok}, "name": {name}, "url": {"https://token.actions.githubusercontent.com"},
		"audiences": {"credbroker"}, "description": {"GitHub Actions"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

func bindingForm(tok, name string, extra ...string) url.Values {
	v := url.Values{"csrf": {tok}, "name": {name}, "issuer": {"github"}, "subject": {"repo:acme/*:ref:refs/heads/main"},
		"claims": {"repository_owner=acme\r\nrepository=acme/app\r\nrepository=acme/web"}, "claim_globs": {"ref=refs/heads/*"},
		"plan_template": {"GH-{repository_owner}-{repository}"}, "tag_claims": {"repository\r\ncommit=sha"},
		"session_name": {"gh-{run_id}-{run_attempt}"}, "source_identity": {"{actor}"}, "audit_claims": {"workflow_ref"}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// TestIssuerForm: a trusted issuer's every CLI setting on the form, the
// service's rules shown on their fields, revisions, and the changes
// audited as the API audits them.
func TestIssuerForm(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, tok := r.signedIn()
	for field, extra := range map[string][]string{
		"name":          {"name", "GitHub"},
		"url":           {"url", "http://ci.example.com"},
		"discovery_url": {"discovery_url", "ftp://ci.example.com/keys"},
		"jwks_url":      {"discovery_url", "https://ci.example.com/d", "jwks_url", "https://ci.example.com/k"},
		"audiences":     {"audiences", "\r\n"},
		"algorithms":    {"algorithms", "RS256\r\nHS256"},
		"leeway":        {"leeway", "ten seconds"},
	} {
		p := b.post("/console/issuers", issuerForm(tok, "github", extra...))
		if got := fieldErrors(p.body); got[field] == "" || p.status != http.StatusBadRequest {
			t.Errorf("%s = %q: status %d, errors %v", field, extra[1], p.status, got)
		}
	}
	// The service's own messages, with their fix, as the CLI prints them.
	p := b.post("/console/issuers", issuerForm(tok, "github", "leeway", "10m"))
	if got := fieldErrors(p.body)["leeway"]; !strings.Contains(got, "leeway_seconds: leeway 600 s is out of range; allow a small clock skew") {
		t.Errorf("leeway 10m: %q", got)
	}
	p = b.post("/console/issuers", issuerForm(tok, "github", "algorithms", "RS256\r\nHS256"))
	if got := fieldErrors(p.body)["algorithms"]; !strings.HasPrefix(got, `algorithms[1]: algorithm &#34;HS256&#34; is refused`) {
		t.Errorf("HS256: %q", got)
	}
	if recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionIssuerCreate}); len(recs) != 0 {
		t.Fatalf("refused forms were stored: %+v", recs)
	}
	p = b.post("/console/issuers", issuerForm(tok, "github", "algorithms", "RS256\r\nES256\r\nEdDSA", "leeway", "2m", "reject_replay", "1"))
	if p.status != http.StatusSeeOther || p.location() != "/console/issuers/github" {
		t.Fatalf("create: %d %s\n%s", p.status, p.location(), p.body)
	}
	in, err := r.svc.GetIssuer(context.Background(), r.adminTok, "github")
	if err != nil || in.LeewaySeconds != 120 || !in.RejectReplay || len(in.Algorithms) != 3 || in.Audiences[0] != "credbroker" ||
		in.DiscoveryURL != "https://token.actions.githubusercontent.com/.well-known/openid-configuration" || in.Description != "GitHub Actions" {
		t.Fatalf("stored: %+v, %v", in, err)
	}
	edit := b.get("/console/issuers/github")
	if edit.status != 200 || !strings.Contains(edit.body, "Issuer github trusted.") || !strings.Contains(edit.body, `value="2m"`) ||
		!strings.Contains(edit.body, "RS256\nES256\nEdDSA</textarea>") || !strings.Contains(edit.body, `name="reject_replay" value="1" checked`) {
		t.Fatalf("edit page: %d\n%s", edit.status, edit.body)
	}
	if p := b.post("/console/issuers", issuerForm(tok, "github")); p.status != http.StatusConflict || !strings.Contains(fieldErrors(p.body)["name"], "already exists") {
		t.Fatalf("second github: %d %v", p.status, fieldErrors(p.body))
	}
	// The same change through the API is audited the same way.
	body, _ := json.Marshal(credbroker.TrustedIssuer{Name: "gitlab", URL: "https://gitlab.example.com", Audiences: []string{"credbroker"}})
	req, _ := http.NewRequest(http.MethodPost, r.ts.URL+"/v1/issuers", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+r.admin)
	req.Header.Set("Content-Type", "application/json")
	if p := r.browser().do(req); p.status != http.StatusCreated {
		t.Fatalf("API create: %d %s", p.status, p.body)
	}
	recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionIssuerCreate})
	if len(recs) != 2 || recs[0].Detail != "issuer github (https://token.actions.githubusercontent.com)" || recs[1].Detail != "issuer gitlab (https://gitlab.example.com)" {
		t.Fatalf("audit %+v", recs)
	}
	for _, rec := range recs {
		if rec.TokenID != r.adminTok.ID || rec.Outcome != credbroker.OutcomeGranted {
			t.Errorf("audit record %+v", rec)
		}
	}
	// Update: every field replaced from the form; a stale revision conflicts.
	form := issuerForm(tok, "github", "audiences", "credbroker\r\nhttps://broker.example.com", "discovery_url", "",
		"jwks_url", "https://token.actions.githubusercontent.com/.well-known/jwks", "revision", "1")
	if p := b.post("/console/issuers/github", form); p.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", p.status, p.body)
	}
	in, _ = r.svc.GetIssuer(context.Background(), r.adminTok, "github")
	if in.Revision != 2 || len(in.Audiences) != 2 || in.JWKSURL == "" || in.DiscoveryURL != "" || in.RejectReplay || in.LeewaySeconds != 0 {
		t.Fatalf("after update: %+v", in)
	}
	if p := b.post("/console/issuers/github", form); p.status != http.StatusConflict || !strings.Contains(p.body, "revision") {
		t.Fatalf("stale revision: %d\n%s", p.status, p.body)
	}
	if p := b.post("/console/issuers/github", withField(form, "revision", "")); p.status != http.StatusBadRequest || !strings.Contains(p.body, "which revision") {
		t.Fatalf("no revision: %d", p.status)
	}
	if n := len(r.audit(credbroker.AuditFilter{Action: credbroker.ActionIssuerUpdate})); n != 1 {
		t.Fatalf("%d issuer.update records", n)
	}
	list := b.get("/console/identity")
	if list.status != 200 || !strings.Contains(list.body, `<a href="/console/issuers/gitlab">gitlab</a>`) ||
		!strings.Contains(list.body, "credbroker, https://broker.example.com") || !strings.Contains(list.body, `aria-current="page">Identity`) {
		t.Fatalf("identity page: %d\n%s", list.status, list.body)
	}
}

// TestBindingForm: a binding's rules from the form as the CLI's flags
// make them, the service's field-level messages, the edit round trip,
// and deletion in order (an issuer in use is refused), all audited.
func TestBindingForm(t *testing.T) {
	r := newRig(t, rigOptions{})
	b, tok := r.signedIn()
	if p := b.post("/console/issuers", issuerForm(tok, "github")); p.status != http.StatusSeeOther {
		t.Fatalf("issuer: %d\n%s", p.status, p.body)
	}
	for field, extra := range map[string][]string{
		"name":          {"name", "gh deploy"},
		"issuer":        {"issuer", "gitlab"},
		"subject":       {"subject", "*", "claims", "", "claim_globs", ""},
		"claims":        {"claims", "repository_owner"},
		"claim_globs":   {"claim_globs", "ref=*"},
		"plans":         {"plans", "OPS-*"},
		"plan_template": {"plan_template", "GH-{repository"},
		"tag_claims":    {"tag_claims", "credbroker:plan=repository"},
		"session_name":  {"session_name", "gh-{run_id"},
	} {
		p := b.post("/console/bindings", bindingForm(tok, "gh-deploy", extra...))
		if got := fieldErrors(p.body); got[field] == "" || p.status < 400 {
			t.Errorf("%s = %q: status %d, errors %v", field, extra[1], p.status, got)
		}
	}
	p := b.post("/console/bindings", bindingForm(tok, "gh-deploy", "subject", "", "claims", "", "claim_globs", ""))
	if got := fieldErrors(p.body)["claims"]; !strings.Contains(got, "would accept every token of its issuer; bind the claims") {
		t.Errorf("no rules: %q", got)
	}
	if recs := r.audit(credbroker.AuditFilter{Action: credbroker.ActionBindingCreate}); len(recs) != 0 {
		t.Fatalf("refused forms were stored: %+v", recs)
	}
	if p := b.post("/console/bindings", bindingForm(tok, "gh-deploy")); p.status != http.StatusSeeOther || p.location() != "/console/bindings/gh-deploy" {
		t.Fatalf("create: %d %s\n%s", p.status, p.location(), p.body)
	}
	got, err := r.svc.GetBinding(context.Background(), r.adminTok, "gh-deploy")
	want := credbroker.Binding{Name: "gh-deploy", Issuer: "github", Subject: "repo:acme/*:ref:refs/heads/main",
		Claims: []credbroker.ClaimRule{{Claim: "repository_owner", Values: []string{"acme"}},
			{Claim: "repository", Values: []string{"acme/app", "acme/web"}}, {Claim: "ref", Globs: []string{"refs/heads/*"}}},
		PlanTemplate: "GH-{repository_owner}-{repository}", TagClaims: []credbroker.ClaimTag{{Key: "repository", Claim: "repository"}, {Key: "commit", Claim: "sha"}},
		SessionName: "gh-{run_id}-{run_attempt}", SourceIdentity: "{actor}", AuditClaims: []string{"workflow_ref"}, Revision: 1}
	if err != nil {
		t.Fatal(err)
	}
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	if g, w := fmt.Sprintf("%+v", *got), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("stored binding\n got %s\nwant %s", g, w)
	}
	// The edit form holds the binding as the create form made it: saved
	// unchanged, it is the same binding at the next revision.
	edit := b.get("/console/bindings/gh-deploy")
	if edit.status != 200 || !strings.Contains(edit.body, "Binding gh-deploy created.") {
		t.Fatalf("edit page: %d\n%s", edit.status, edit.body)
	}
	resubmit := url.Values{"csrf": {tok}}
	for _, m := range regexp.MustCompile(`(?s)name="([a-z_]+)"[^>]*value="([^"]*)"|name="([a-z_]+)"[^>]*>([^<]*)</textarea>`).FindAllStringSubmatch(edit.body, -1) {
		if m[1] != "" && m[1] != "csrf" {
			resubmit.Set(m[1], strings.NewReplacer("&#34;", `"`, "&amp;", "&", "&#43;", "+").Replace(m[2]))
		} else if m[3] != "" {
			resubmit.Set(m[3], m[4])
		}
	}
	if p := b.post("/console/bindings/gh-deploy", resubmit); p.status != http.StatusSeeOther {
		t.Fatalf("resubmitted edit form %v: %d\n%s", resubmit, p.status, p.body)
	}
	again, _ := r.svc.GetBinding(context.Background(), r.adminTok, "gh-deploy")
	again.CreatedAt, again.UpdatedAt, want.Revision = time.Time{}, time.Time{}, 2
	if g, w := fmt.Sprintf("%+v", *again), fmt.Sprintf("%+v", want); g != w {
		t.Fatalf("after an unchanged edit\n got %s\nwant %s", g, w)
	}
	// A fixed plan instead of the template.
	if p := b.post("/console/bindings/gh-deploy", withField(withField(withField(resubmit, "plan_template", ""), "plans", "OPS-DEPLOY"), "revision", "2")); p.status != http.StatusSeeOther {
		t.Fatalf("update to a fixed plan: %d\n%s", p.status, p.body)
	}
	if b2, _ := r.svc.GetBinding(context.Background(), r.adminTok, "gh-deploy"); b2.Plans != "OPS-DEPLOY" || b2.PlanTemplate != "" || b2.Revision != 3 {
		t.Fatalf("after update: %+v", b2)
	}
	if p := b.post("/console/bindings/gh-deploy", resubmit); p.status != http.StatusConflict {
		t.Fatalf("stale revision: %d", p.status)
	}
	list := b.get("/console/identity")
	if !strings.Contains(list.body, `<a href="/console/bindings/gh-deploy">gh-deploy</a>`) ||
		!strings.Contains(list.body, "<code>repository_owner=acme repository=acme/app|acme/web ref=refs/heads/*</code>") {
		t.Fatalf("identity page:\n%s", list.body)
	}

	// An issuer in use cannot be deleted; the binding first, by its name.
	p = b.post("/console/issuers/github/delete", url.Values{"csrf": {tok}, "confirm": {"github"}})
	if p.status != http.StatusConflict || !strings.Contains(p.body, "is used by bindings gh-deploy") || !strings.Contains(p.body, `id="delete-form"`) {
		t.Fatalf("delete an issuer in use: %d\n%s", p.status, p.body)
	}
	if p := b.get("/console/bindings/gh-deploy/delete"); p.status != 200 || !strings.Contains(p.body, "Type the binding's name") {
		t.Fatalf("delete page: %d\n%s", p.status, p.body)
	}
	if p := b.post("/console/bindings/gh-deploy/delete", url.Values{"csrf": {tok}, "confirm": {"gh"}}); p.status != http.StatusBadRequest {
		t.Fatalf("delete without confirmation: %d", p.status)
	}
	if p := b.post("/console/bindings/gh-deploy/delete", url.Values{"csrf": {tok}, "confirm": {"gh-deploy"}}); p.status != http.StatusSeeOther || p.location() != "/console/identity" {
		t.Fatalf("delete binding: %d", p.status)
	}
	if p := b.post("/console/issuers/github/delete", url.Values{"csrf": {tok}, "confirm": {"github"}}); p.status != http.StatusSeeOther {
		t.Fatalf("delete issuer: %d\n%s", p.status, p.body)
	}
	if _, err := r.svc.GetIssuer(context.Background(), r.adminTok, "github"); credbroker.ErrorCode(err) != credbroker.CodeNotFound {
		t.Fatalf("deleted issuer: %v", err)
	}
	for action, n := range map[string]int{credbroker.ActionBindingCreate: 1, credbroker.ActionBindingUpdate: 2,
		credbroker.ActionBindingDelete: 1, credbroker.ActionIssuerDelete: 1} {
		recs := r.audit(credbroker.AuditFilter{Action: action})
		if len(recs) != n {
			t.Errorf("%d %s records, want %d", len(recs), action, n)
		}
		for _, rec := range recs {
			if rec.TokenID != r.adminTok.ID || rec.Outcome != credbroker.OutcomeGranted {
				t.Errorf("audit record %+v", rec)
			}
		}
	}
}
