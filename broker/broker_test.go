package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// fakeIssuer stands in for STS: it counts calls and records requests.
type fakeIssuer struct {
	mu    sync.Mutex
	calls atomic.Int64
	reqs  []credbroker.IssueRequest
	now   func() time.Time
	gate  chan struct{}
	fail  error
	// account is the account of the sessions it issues ("" for one
	// STS does not name).
	account string
}

func (f *fakeIssuer) Check(req credbroker.IssueRequest) ([]string, error) {
	if req.BaseIsRoleSession && req.Duration > time.Hour {
		return []string{"duration lowered to 1h for role chaining"}, nil
	}
	return nil, nil
}

func (f *fakeIssuer) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	base, err := req.Base.Retrieve(ctx)
	if err != nil {
		return credbroker.Credentials{}, err
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	if f.fail != nil {
		return credbroker.Credentials{}, f.fail
	}
	if req.Principal == credbroker.PrincipalProvided {
		return base, nil
	}
	d := req.Duration
	if req.BaseIsRoleSession && d > time.Hour {
		d = time.Hour
	}
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAISSUED%010d", n),
		SecretAccessKey: fmt.Sprintf("issued-secret-%d-%s", n, base.AccessKeyID),
		SessionToken:    fmt.Sprintf("issued-token-%d", n),
		Expires:         f.now().Add(d),
		AccountID:       f.account,
	}, nil
}

func (f *fakeIssuer) last() credbroker.IssueRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reqs[len(f.reqs)-1]
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	svc    *Service
	st     *sqlite.Store
	ring   *seal.Ring
	iss    *fakeIssuer
	clk    *clock
	admin  *credbroker.Token
	agent  *credbroker.Token
	agentS string
}

const baseSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYBASEKEY001"

func newEnv(t *testing.T, mods ...func(*Options)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/b.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, _ := seal.GenerateKey()
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	iss := &fakeIssuer{now: clk.Now}
	opts := Options{Store: st, Keys: ring, Issuer: iss, Now: clk.Now,
		Partition: func(r string) (string, error) {
			if strings.HasPrefix(r, "cn-") {
				return "aws-cn", nil
			}
			return "aws", nil
		}}
	for _, m := range mods {
		m(&opts)
	}
	svc, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	e := &env{svc: svc, st: st, ring: ring, iss: iss, clk: clk}
	nt, err := svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "admin", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if e.admin, err = svc.Authenticate(ctx, nt.Secret); err != nil {
		t.Fatal(err)
	}
	at, err := svc.CreateToken(ctx, e.admin, credbroker.TokenSpec{Name: "ops agents", Role: credbroker.RoleAgent, Plans: "OPS-*"})
	if err != nil {
		t.Fatal(err)
	}
	e.agentS = at.Secret
	if e.agent, err = svc.Authenticate(ctx, at.Secret); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) connector(t *testing.T, spec credbroker.ConnectorSpec) *credbroker.ConnectorInfo {
	t.Helper()
	if spec.Region == "" {
		spec.Region = "us-east-1"
	}
	if spec.Base == "" && spec.BaseConnector == "" {
		spec.AccessKeyID, spec.SecretAccessKey = "AKIABASEKEY000000001", baseSecret
	}
	if spec.Principal == "" {
		spec.Principal = credbroker.PrincipalAssumedRole
	}
	if spec.Principal == credbroker.PrincipalAssumedRole && spec.RoleARN == "" {
		spec.RoleARN = "arn:aws:iam::123456789012:role/deploy"
	}
	in, err := e.svc.CreateConnector(context.Background(), e.admin, spec)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func code(err error) credbroker.Code { return credbroker.ErrorCode(err) }

func TestAuthenticate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id, secret, _ := strings.Cut(e.agentS, ".")
	wrong := id + "." + strings.Repeat("A", len(secret))
	for name, tok := range map[string]string{
		"empty": "", "malformed": "hello", "wrong secret": wrong,
		"unknown id": "tok_0000000000000000." + secret, "truncated": e.agentS[:len(e.agentS)-1],
	} {
		if _, err := e.svc.Authenticate(ctx, tok); code(err) != credbroker.CodeUnauthorized {
			t.Errorf("%s: %v", name, err)
		} else if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the secret", name)
		}
	}
	// Expired.
	nt, _ := e.svc.CreateToken(ctx, e.admin, credbroker.TokenSpec{Name: "short", Role: credbroker.RoleAgent, Plans: "*", ExpiresInSeconds: 60})
	if _, err := e.svc.Authenticate(ctx, nt.Secret); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(61 * time.Second)
	if _, err := e.svc.Authenticate(ctx, nt.Secret); code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	// Revoked, then replayed.
	if err := e.svc.RevokeToken(ctx, e.admin, e.agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Authenticate(ctx, e.agentS); code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestRoles(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.ListConnectors(ctx, e.agent); code(err) != credbroker.CodeForbidden {
		t.Fatalf("agent listing connectors: %v", err)
	}
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	if _, err := e.svc.Vend(ctx, e.admin, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY"}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("admin vending: %v", err)
	}
	if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "WEB-SITE"}); code(err) != credbroker.CodeForbidden ||
		!strings.Contains(err.Error(), `bound to plans "OPS-*"`) {
		t.Fatalf("token of another plan: %v", err)
	}
}

func TestConnectorNeverShowsSecret(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	got, err := e.svc.GetConnector(ctx, e.admin, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []*credbroker.ConnectorInfo{in, got} {
		s := fmt.Sprintf("%+v", *v)
		if strings.Contains(s, baseSecret) || strings.Contains(s, "AKIABASEKEY000000001") {
			t.Fatalf("connector info shows a secret or the whole key ID: %s", s)
		}
		if !v.HasSecret || v.AccessKeyID != "****0001" {
			t.Fatalf("info: %+v", v)
		}
	}
	// Stored sealed, not in the clear.
	c, err := e.st.GetConnector(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	if c.SecretAccessKey != "" || c.Secret.Empty() || strings.Contains(string(c.Secret.Blob), baseSecret) {
		t.Fatal("secret not sealed in the store")
	}
}

func TestConnectorValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ok := func() credbroker.ConnectorSpec {
		return credbroker.ConnectorSpec{Name: "c1", Principal: credbroker.PrincipalAssumedRole, Region: "us-east-1",
			RoleARN: "arn:aws:iam::123456789012:role/x", AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: baseSecret}
	}
	cases := map[string]struct {
		mod   func(*credbroker.ConnectorSpec)
		field string
	}{
		"bad name":         {func(s *credbroker.ConnectorSpec) { s.Name = "has space" }, "name"},
		"id-like name":     {func(s *credbroker.ConnectorSpec) { s.Name = "con_x" }, "name"},
		"no region":        {func(s *credbroker.ConnectorSpec) { s.Region = "" }, "region"},
		"no role":          {func(s *credbroker.ConnectorSpec) { s.RoleARN = "" }, "role_arn"},
		"no secret":        {func(s *credbroker.ConnectorSpec) { s.SecretAccessKey = "" }, "secret_access_key"},
		"bad principal":    {func(s *credbroker.ConnectorSpec) { s.Principal = "wizard" }, "principal"},
		"role on session":  {func(s *credbroker.ConnectorSpec) { s.Principal = credbroker.PrincipalSession }, "role_arn"},
		"default > max":    {func(s *credbroker.ConnectorSpec) { s.DefaultDurationSeconds, s.MaxDurationSeconds = 7200, 3600 }, "default_duration_seconds"},
		"bad scope":        {func(s *credbroker.ConnectorSpec) { s.Scope = credbroker.Scope{Kind: "project", Key: "ops lower"} }, "scope"},
		"bad glob":         {func(s *credbroker.ConnectorSpec) { s.AllowPlans = []string{"OPS-["} }, "allow_plans[0]"},
		"bad session mode": {func(s *credbroker.ConnectorSpec) { s.SessionMode = "forever" }, "session_mode"},
		"provided with STS": {func(s *credbroker.ConnectorSpec) {
			s.Principal, s.RoleARN = credbroker.PrincipalProvided, ""
			s.Policy = `{}`
		}, "policy"},
		"unknown base":      {func(s *credbroker.ConnectorSpec) { s.Base = "magic" }, "base"},
		"missing base conn": {func(s *credbroker.ConnectorSpec) { s.AccessKeyID, s.SecretAccessKey, s.BaseConnector = "", "", "nope" }, "base_connector"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			spec := ok()
			c.mod(&spec)
			_, err := e.svc.CreateConnector(ctx, e.admin, spec)
			ce := credbroker.AsError(err)
			if ce == nil || ce.Field != c.field {
				t.Fatalf("got %v, want an error on %s", err, c.field)
			}
			if strings.Contains(err.Error(), baseSecret) {
				t.Fatal("error shows the secret")
			}
		})
	}
	if list, _ := e.svc.ListConnectors(ctx, e.admin); len(list) != 0 {
		t.Fatalf("refused creates stored %d connectors", len(list))
	}
}

func TestScopeRules(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	all, _ := e.svc.CreateToken(ctx, e.admin, credbroker.TokenSpec{Name: "all", Role: credbroker.RoleAgent, Plans: "*"})
	allTok, _ := e.svc.Authenticate(ctx, all.Secret)
	e.connector(t, credbroker.ConnectorSpec{Name: "sys"})
	e.connector(t, credbroker.ConnectorSpec{Name: "proj", Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"}})
	e.connector(t, credbroker.ConnectorSpec{Name: "plan", Scope: credbroker.Scope{Kind: credbroker.ScopePlan, Key: "OPS-DEPLOY"}})
	e.connector(t, credbroker.ConnectorSpec{Name: "listed", AllowPlans: []string{"OPS-DEP*", "INFRA-X"}})
	cases := []struct {
		conn, plan string
		ok         bool
		rule       string
	}{
		{"sys", "OPS-DEPLOY", true, ""},
		{"sys", "", true, ""},
		{"proj", "OPS-DEPLOY", true, ""},
		{"proj", "WEB-SITE", false, "scoped to project OPS; plan WEB-SITE is not in it"},
		{"proj", "", false, "only system-scoped connectors"},
		{"plan", "OPS-DEPLOY", true, ""},
		{"plan", "OPS-OTHER", false, "scoped to plan OPS-DEPLOY"},
		{"listed", "OPS-DEPLOY", true, ""},
		{"listed", "INFRA-X", true, ""},
		{"listed", "OPS-BUILD", false, "matches none of connector listed's allowed plans (OPS-DEP*, INFRA-X)"},
	}
	for _, c := range cases {
		_, err := e.svc.Vend(ctx, allTok, credbroker.VendRequest{Connector: c.conn, Plan: c.plan, Build: "1"})
		if c.ok && err != nil {
			t.Errorf("%s for %q: %v", c.conn, c.plan, err)
		}
		if c.ok {
			continue
		}
		// The agent is told only that no such connector is available
		// to its plan (see TestAgentLearnsNothingOfOtherConnectors);
		// the audit names the rule, as forbidden.
		if code(err) != credbroker.CodeNotFound || strings.Contains(err.Error(), c.rule) {
			t.Errorf("%s for %q: got %v, want 404 not naming the rule", c.conn, c.plan, err)
		}
		recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Outcome: credbroker.OutcomeRefused})
		last := recs[len(recs)-1]
		if last.ErrorCode != string(credbroker.CodeForbidden) || last.Connector != c.conn || !strings.Contains(last.Detail, c.rule) {
			t.Errorf("%s for %q: audit record %+v, want forbidden naming %q", c.conn, c.plan, last, c.rule)
		}
	}
}

func TestNarrowingNeverWidens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	pol := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/*"}]}`
	e.connector(t, credbroker.ConnectorSpec{Name: "ro", Policy: pol, MaxDurationSeconds: 3600})
	v := func(req credbroker.VendRequest) error {
		req.Connector, req.Plan, req.Build = "ro", "OPS-DEPLOY", "7"
		_, err := e.svc.Vend(ctx, e.agent, req)
		return err
	}
	if err := v(credbroker.VendRequest{DurationSeconds: 7200}); code(err) != credbroker.CodeForbidden || !strings.Contains(err.Error(), "never widen") {
		t.Fatalf("longer duration: %v", err)
	}
	wider := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::alpha/*"}]}`
	if err := v(credbroker.VendRequest{Policy: wider}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("wider policy: %v", err)
	}
	if err := v(credbroker.VendRequest{PolicyARNs: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("extra managed policy: %v", err)
	}
	narrower := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/reports/*"}]}`
	if err := v(credbroker.VendRequest{Policy: narrower, DurationSeconds: 900}); err != nil {
		t.Fatalf("narrower request refused: %v", err)
	}
	got := e.iss.last()
	if got.Duration != 900*time.Second || !strings.Contains(got.Policy, "alpha/reports/*") {
		t.Fatalf("narrowed request not sent as asked: %+v", got)
	}
	// Refusals are audited with their code.
	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend, Outcome: credbroker.OutcomeRefused})
	if len(recs) != 3 || recs[0].ErrorCode != string(credbroker.CodeForbidden) {
		t.Fatalf("refused vends audited: %+v", recs)
	}
}

func TestConcurrentIdenticalVendsMakeOneCall(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	e.iss.gate = make(chan struct{})
	var wg sync.WaitGroup
	keys := make(chan string, 1000)
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "42"})
			if err != nil {
				errs <- err
				return
			}
			keys <- r.AccessKeyID
		}()
	}
	for e.iss.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(e.iss.gate)
	wg.Wait()
	close(errs)
	close(keys)
	for err := range errs {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for k := range keys {
		distinct[k] = true
	}
	if n := e.iss.calls.Load(); n != 1 || len(distinct) != 1 {
		t.Fatalf("1000 identical vends made %d STS calls and %d distinct keys", n, len(distinct))
	}
	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend})
	if len(recs) != 1000 {
		t.Fatalf("%d vend audit records, want 1000", len(recs))
	}
	rep, err := VerifyStore(ctx, e.st)
	if err != nil || !rep.OK() {
		t.Fatalf("chain: %v %+v", err, rep)
	}
}

func TestSessionModes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "perbuild"})
	e.connector(t, credbroker.ConnectorSpec{Name: "perplan", SessionMode: credbroker.SessionPerPlan})
	vend := func(conn, plan, build string) string {
		r, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: conn, Plan: plan, Build: build})
		if err != nil {
			t.Fatal(err)
		}
		return r.AccessKeyID
	}
	if vend("perbuild", "OPS-A", "1") == vend("perbuild", "OPS-A", "2") {
		t.Fatal("per-build connector shared a session across builds")
	}
	if vend("perbuild", "OPS-A", "3") != vend("perbuild", "OPS-A", "3") {
		t.Fatal("same build did not reuse its session")
	}
	if vend("perplan", "OPS-A", "1") != vend("perplan", "OPS-A", "2") {
		t.Fatal("per-plan connector did not share the plan's session")
	}
	if vend("perplan", "OPS-A", "1") == vend("perplan", "OPS-B", "1") {
		t.Fatal("per-plan connector shared a session across plans")
	}
	// The session name and source identity lead back to the build.
	vend("perbuild", "OPS-DEPLOY", "77")
	r := e.iss.last()
	if r.SessionName != "OPS-DEPLOY-77" || r.SourceIdentity != "OPS-DEPLOY-77" {
		t.Fatalf("session name %q source identity %q", r.SessionName, r.SourceIdentity)
	}
}

func TestMinRemainingAndExpiry(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "short", DefaultDurationSeconds: 900})
	req := credbroker.VendRequest{Connector: "short", Plan: "OPS-A", Build: "1"}
	a, _ := e.svc.Vend(ctx, e.agent, req)
	e.clk.Add(10 * time.Minute)
	req.MinRemainingSeconds = 600
	b, err := e.svc.Vend(ctx, e.agent, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID == b.AccessKeyID || b.Expiration.Sub(e.clk.Now()) < 10*time.Minute {
		t.Fatal("credentials with 5 minutes left served to a caller needing 10")
	}
	// Never an expired one, over an hour of requests.
	req.MinRemainingSeconds = 0
	for range 120 {
		r, err := e.svc.Vend(ctx, e.agent, req)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Expiration.After(e.clk.Now()) {
			t.Fatal("served expired credentials")
		}
		e.clk.Add(30 * time.Second)
	}
}

type failingAudit struct{}

func (failingAudit) Append(context.Context, ...*credbroker.AuditRecord) error {
	return credbroker.Errorf(credbroker.CodeUnavailable, "store", "store is not writable")
}

func TestAuditFailureRefusesVend(t *testing.T) {
	var fail atomic.Bool
	var real AuditWriter
	e := newEnv(t, func(o *Options) {
		real = storeAudit{o.Store}
		o.Audit = auditFunc(func(ctx context.Context, recs ...*credbroker.AuditRecord) error {
			if fail.Load() {
				return failingAudit{}.Append(ctx, recs...)
			}
			return real.Append(ctx, recs...)
		})
	})
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	fail.Store(true)
	res, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A"})
	if res != nil || code(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "audit") {
		t.Fatalf("vend with a failing audit: %v %v", res, err)
	}
}

type auditFunc func(ctx context.Context, recs ...*credbroker.AuditRecord) error

func (f auditFunc) Append(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	return f(ctx, recs...)
}

func TestRoleChainingCap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "hub"})
	e.connector(t, credbroker.ConnectorSpec{Name: "spoke", Base: credbroker.BaseConnector, BaseConnector: "hub",
		RoleARN: "arn:aws:iam::210987654321:role/spoke", DefaultDurationSeconds: 7200, MaxDurationSeconds: 7200})
	r, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "spoke", Plan: "OPS-A", Build: "1"})
	if err != nil {
		t.Fatal(err)
	}
	last := e.iss.last()
	if !last.BaseIsRoleSession || len(r.Warnings) == 0 || r.Expiration.Sub(e.clk.Now()) > time.Hour {
		t.Fatalf("chained vend: chaining=%v warnings=%v expires in %s", last.BaseIsRoleSession, r.Warnings, r.Expiration.Sub(e.clk.Now()))
	}
	if !strings.HasPrefix(e.iss.reqs[0].RoleARN, "arn:aws:iam::123456789012") {
		t.Fatal("the base connector was not assumed first")
	}
	// A cycle is refused.
	hub, _ := e.svc.GetConnector(ctx, e.admin, "hub")
	spec := hub.ConnectorSpec
	spec.AccessKeyID, spec.Base, spec.BaseConnector = "", credbroker.BaseConnector, "spoke"
	if _, err := e.svc.UpdateConnector(ctx, e.admin, "hub", spec); code(err) != credbroker.CodeUnprocessable {
		t.Fatalf("cycle: %v", err)
	}
}

func TestUpdateConflictAndNewSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	in := e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1"}
	a, _ := e.svc.Vend(ctx, e.agent, req)
	spec := in.ConnectorSpec
	spec.AccessKeyID = ""
	spec.MaxDurationSeconds = 7200
	up, err := e.svc.UpdateConnector(ctx, e.admin, "deploy", spec)
	if err != nil {
		t.Fatal(err)
	}
	if up.Revision != in.Revision+1 || !up.HasSecret {
		t.Fatalf("update: %+v", up)
	}
	if _, err := e.svc.UpdateConnector(ctx, e.admin, "deploy", spec); code(err) != credbroker.CodeConflict {
		t.Fatalf("stale revision: %v", err)
	}
	b, _ := e.svc.Vend(ctx, e.agent, req)
	if a.AccessKeyID == b.AccessKeyID {
		t.Fatal("a changed connector still served the old session")
	}
}

func TestVariables(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.svc.SetVariable(ctx, e.admin, credbroker.Variable{Name: "region", Value: "us-east-1"}))
	must(e.svc.SetVariable(ctx, e.admin, credbroker.Variable{Plan: "OPS-DEPLOY", Name: "deployConnector", Value: "deploy"}))
	must(e.svc.SetVariable(ctx, e.admin, credbroker.Variable{Plan: "OPS-DEPLOY", Name: "dbPassword", Value: "hunter2-secret"}))
	must(e.svc.SetVariable(ctx, e.admin, credbroker.Variable{Plan: "WEB-SITE", Name: "other", Value: "x"}))
	admin, err := e.svc.ListVariables(ctx, e.admin, "OPS-DEPLOY")
	must(err)
	for _, v := range admin {
		if v.Value == "hunter2-secret" {
			t.Fatal("admin list shows a secret value")
		}
	}
	got, err := e.svc.AgentVariables(ctx, e.agent, "OPS-DEPLOY")
	must(err)
	m := map[string]string{}
	for _, v := range got {
		m[v.Name] = v.Value
	}
	if m["region"] != "us-east-1" || m["deployConnector"] != "deploy" || m["dbPassword"] != "hunter2-secret" || m["other"] != "" {
		t.Fatalf("agent variables: %v", m)
	}
	if _, err := e.svc.AgentVariables(ctx, e.agent, "WEB-SITE"); code(err) != credbroker.CodeForbidden {
		t.Fatalf("other plan's variables: %v", err)
	}
}

func TestCheckKey(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := CheckKey(ctx, e.st, e.ring, "test"); err != nil {
		t.Fatal(err)
	}
	k2, _ := seal.GenerateKey()
	other, _ := seal.NewRing(map[int][]byte{1: k2})
	err := CheckKey(ctx, e.st, other, "other.key")
	if code(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "other.key") {
		t.Fatalf("wrong key: %v", err)
	}
	if err := CheckKey(ctx, e.st, e.ring, "test"); err != nil {
		t.Fatalf("the wrong key changed the key check: %v", err)
	}
}

func TestProvidedConnector(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "legacy", Principal: credbroker.PrincipalProvided})
	r, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "legacy", Plan: "OPS-A"})
	if err != nil {
		t.Fatal(err)
	}
	if r.AccessKeyID != "AKIABASEKEY000000001" || r.SecretAccessKey != baseSecret || r.SessionToken != "" {
		t.Fatalf("provided: %+v", r.AccessKeyID)
	}
	if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "legacy", Plan: "OPS-A", DurationSeconds: 900}); code(err) != credbroker.CodeUnprocessable {
		t.Fatalf("narrowing provided keys: %v", err)
	}
}

func TestUpstreamErrorAudited(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	e.iss.fail = credbroker.Errorf(credbroker.CodeForbidden, "sts", "AccessDenied: not authorized to perform sts:AssumeRole").WithCause(errors.New("request id 1234"))
	_, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A"})
	if code(err) != credbroker.CodeForbidden {
		t.Fatal(err)
	}
	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Outcome: credbroker.OutcomeRefused})
	if len(recs) != 1 || recs[0].RoleARN == "" || strings.Contains(recs[0].Detail, "1234") {
		t.Fatalf("refusal record: %+v", recs)
	}
}

func TestTagsCleanedAndSwitchedOff(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "tagged", Tags: []credbroker.Tag{{Key: "team", Value: "ops"}}, TransitiveTagKeys: []string{"team"}})
	if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "tagged", Plan: "OPS-A", Build: "42#1", Job: "job<1>"}); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range e.iss.last().Tags {
		got[tg.Key] = tg.Value
	}
	if got["credbroker:build"] != "42-1" || got["credbroker:job"] != "job-1-" || got["team"] != "ops" || len(e.iss.last().TransitiveTagKeys) != 1 {
		t.Fatalf("tags %v transitive %v", got, e.iss.last().TransitiveTagKeys)
	}
	e.connector(t, credbroker.ConnectorSpec{Name: "untagged", DisableTags: true, TransitiveTagKeys: []string{"team"}})
	if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "untagged", Plan: "OPS-A", Build: "1"}); err != nil {
		t.Fatal(err)
	}
	if r := e.iss.last(); len(r.Tags) != 0 || len(r.TransitiveTagKeys) != 0 {
		t.Fatalf("tags off still sent tags %v / transitive keys %v", r.Tags, r.TransitiveTagKeys)
	}
}

func TestTokenLifeBounded(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateToken(context.Background(), e.admin, credbroker.TokenSpec{Name: "x", Role: credbroker.RoleAgent, Plans: "*", ExpiresInSeconds: 1 << 62}); code(err) != credbroker.CodeInvalid {
		t.Fatalf("huge expiry: %v", err)
	}
}
