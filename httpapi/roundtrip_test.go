package httpapi_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// TestRoundTrip sends each route's request through the real Client and
// checks what the service received and what the client got back.
func TestRoundTrip(t *testing.T) {
	e := newTestEnv(t, httpapi.ServerOptions{})
	ctx := context.Background()

	// wantCall checks the service's last call: method, token and arguments.
	wantCall := func(t *testing.T, method, tokID string, args ...any) {
		t.Helper()
		c := e.svc.last()
		if c.method != method || c.tokID != tokID {
			t.Fatalf("service got %s by %q, want %s by %q", c.method, c.tokID, method, tokID)
		}
		if len(args) == 0 {
			args = nil
		}
		if !reflect.DeepEqual(c.args, args) {
			t.Errorf("%s arguments:\n got %#v\nwant %#v", method, c.args, args)
		}
	}
	same := func(t *testing.T, what string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
		}
	}

	t.Run("vend", func(t *testing.T) {
		req := credbroker.VendRequest{
			Connector: "deploy", Plan: "OPS-DEPLOY", Build: "42", Job: "OPS-DEPLOY-JOB1", Task: "upload",
			DurationSeconds: 900, Policy: `{"Version":"2012-10-17"}`, PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
			MinRemainingSeconds: 300, Tags: []credbroker.Tag{{Key: "build", Value: "42"}},
		}
		res, err := e.agent.Vend(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "Vend", "tok-agent", req)
		same(t, "vend result", res, fixVend)
	})
	t.Run("provider", func(t *testing.T) {
		p := e.agent.Provider(credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY"})
		creds, err := p.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		same(t, "credentials", creds, fixVend.Credentials())
	})
	t.Run("agent variables", func(t *testing.T) {
		vars, err := e.agent.AgentVariables(ctx, "OPS-DEPLOY")
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "AgentVariables", "tok-agent", "OPS-DEPLOY")
		same(t, "variables", vars, fixVars)
	})
	t.Run("console", func(t *testing.T) {
		req := credbroker.ConsoleRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "7", Destination: "https://console.aws.amazon.com/s3/", DurationSeconds: 3600}
		res, err := e.admin.Console(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "Console", "tok-admin", req)
		same(t, "console result", res, fixConsole)
	})
	spec := credbroker.ConnectorSpec{
		Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys,
		AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: vendSecret, Region: "eu-west-1",
		RoleARN: "arn:aws:iam::123456789012:role/deploy", ExternalID: "ext", Policy: `{"Version":"2012-10-17"}`,
		DefaultDurationSeconds: 900, MaxDurationSeconds: 3600,
		Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"}, AllowPlans: []string{"OPS-*"},
		SessionMode: credbroker.SessionPerBuild, STSEndpoints: []string{"https://sts.eu-west-1.amazonaws.com"},
		Retries: 2, MaxBackoffSeconds: 5, Revision: 3,
	}
	t.Run("create connector", func(t *testing.T) {
		info, err := e.admin.CreateConnector(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "CreateConnector", "tok-admin", spec)
		// The fake echoes the secret key into its answer; the server
		// must never send it back.
		same(t, "connector", info, &fixInfo)
	})
	t.Run("update connector", func(t *testing.T) {
		info, err := e.admin.UpdateConnector(ctx, "deploy/with slash", spec)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "UpdateConnector", "tok-admin", "deploy/with slash", spec)
		same(t, "connector", info, &fixInfo)
	})
	t.Run("get connector", func(t *testing.T) {
		info, err := e.admin.GetConnector(ctx, "con-1")
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "GetConnector", "tok-admin", "con-1")
		same(t, "connector", info, &fixInfo)
	})
	t.Run("list connectors", func(t *testing.T) {
		list, err := e.admin.ListConnectors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "ListConnectors", "tok-admin")
		same(t, "connectors", list, []credbroker.ConnectorInfo{fixInfo})
	})
	t.Run("delete connector", func(t *testing.T) {
		if err := e.admin.DeleteConnector(ctx, "deploy"); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "DeleteConnector", "tok-admin", "deploy")
	})
	t.Run("create token", func(t *testing.T) {
		ts := credbroker.TokenSpec{Name: "ci", Role: credbroker.RoleAgent, Plans: "OPS-*", ExpiresInSeconds: 86400}
		nt, err := e.admin.CreateToken(ctx, ts)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "CreateToken", "tok-admin", ts)
		same(t, "new token", nt, fixNewToken)
	})
	t.Run("list tokens", func(t *testing.T) {
		list, err := e.admin.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "ListTokens", "tok-admin")
		same(t, "tokens", list, []*credbroker.Token{adminTok, agentTok})
	})
	t.Run("revoke token", func(t *testing.T) {
		if err := e.admin.RevokeToken(ctx, "tok-new"); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "RevokeToken", "tok-admin", "tok-new")
	})
	t.Run("set variable", func(t *testing.T) {
		v := credbroker.Variable{Plan: "OPS-DEPLOY", Name: "dbPassword", Value: varSecret, Secret: true}
		if err := e.admin.SetVariable(ctx, v); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "SetVariable", "tok-admin", v)
		g := credbroker.Variable{Name: "region", Value: "eu-west-1"}
		if err := e.admin.SetVariable(ctx, g); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "SetVariable", "tok-admin", g)
	})
	t.Run("delete variable", func(t *testing.T) {
		if err := e.admin.DeleteVariable(ctx, "OPS-DEPLOY", "dbPassword"); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "DeleteVariable", "tok-admin", "OPS-DEPLOY", "dbPassword")
		if err := e.admin.DeleteVariable(ctx, "", "region"); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "DeleteVariable", "tok-admin", "", "region")
	})
	t.Run("list variables", func(t *testing.T) {
		vars, err := e.admin.ListVariables(ctx, "OPS-DEPLOY")
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "ListVariables", "tok-admin", "OPS-DEPLOY")
		if len(vars) != 2 || vars[1].Value != "" || !vars[1].Secret {
			t.Errorf("admin variables = %+v, want the secret one blank", vars)
		}
	})
	t.Run("list audit", func(t *testing.T) {
		f := credbroker.AuditFilter{
			Since: t0, Until: t0.Add(90*time.Minute + 500*time.Millisecond), Plan: "OPS-DEPLOY", Connector: "deploy",
			Outcome: credbroker.OutcomeRefused, Action: credbroker.ActionVend, AfterSeq: 17, Limit: 50,
		}
		recs, err := e.admin.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "ListAudit", "tok-admin", f)
		same(t, "audit records", recs, fixAudit)
	})
	t.Run("list audit default limit", func(t *testing.T) {
		if _, err := e.admin.ListAudit(ctx, credbroker.AuditFilter{Limit: 10}); err != nil {
			t.Fatal(err)
		}
		wantCall(t, "ListAudit", "tok-admin", credbroker.AuditFilter{Limit: 10})
		w := serve(t, e.srv.Handler(), request{method: "GET", path: "/v1/audit", token: adminSecret})
		if w.Code != 200 {
			t.Fatalf("GET /v1/audit: %d %s", w.Code, w.Body)
		}
		wantCall(t, "ListAudit", "tok-admin", credbroker.AuditFilter{Limit: httpapi.DefaultAuditLimit})
	})
	t.Run("verify audit", func(t *testing.T) {
		rep, err := e.admin.VerifyAudit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantCall(t, "VerifyAudit", "tok-admin")
		same(t, "report", rep, fixReport)
	})
	t.Run("ready", func(t *testing.T) {
		if err := e.admin.Ready(ctx); err != nil {
			t.Fatal(err)
		}
		e.svc.set(func(f *fakeService) { f.readyErr = credbroker.Errorf(credbroker.CodeUnavailable, "", "store down") })
		defer e.svc.set(func(f *fakeService) { f.readyErr = nil })
		if err := e.admin.Ready(ctx); codeOf(t, err) != credbroker.CodeUnavailable {
			t.Fatalf("Ready with the store down: %v, want unavailable", err)
		}
	})
}

// TestListAuditPages checks that the client pages through more records
// than one response holds, using the after parameter.
func TestListAuditPages(t *testing.T) {
	svc := &fakeService{}
	const total = httpapi.MaxAuditLimit*2 + 5
	svc.Audit = func(f credbroker.AuditFilter) []credbroker.AuditRecord {
		var out []credbroker.AuditRecord
		for seq := f.AfterSeq + 1; seq <= total && len(out) < f.Limit; seq++ {
			out = append(out, credbroker.AuditRecord{Seq: seq, Action: "vend", Outcome: "granted"})
		}
		return out
	}
	srv := httpapi.NewServer(svc, httpapi.ServerOptions{})
	ts := newHTTPTestServer(t, srv)
	c := newClient(t, ts, adminSecret)

	all, err := c.ListAudit(context.Background(), credbroker.AuditFilter{Plan: "OPS-X"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("got %d records, want %d", len(all), total)
	}
	for i, r := range all {
		if r.Seq != int64(i+1) {
			t.Fatalf("record %d has seq %d", i, r.Seq)
		}
	}
	if n := svc.count("ListAudit"); n != 3 {
		t.Errorf("%d requests, want 3 pages", n)
	}
	last := svc.last().args[0].(credbroker.AuditFilter)
	if last.Plan != "OPS-X" || last.AfterSeq != 2*httpapi.MaxAuditLimit {
		t.Errorf("last page filter = %+v", last)
	}

	some, err := c.ListAudit(context.Background(), credbroker.AuditFilter{Limit: httpapi.MaxAuditLimit + 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != httpapi.MaxAuditLimit+10 {
		t.Errorf("limit %d: got %d records", httpapi.MaxAuditLimit+10, len(some))
	}
}
