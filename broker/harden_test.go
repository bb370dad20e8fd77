package broker

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/credbroker/credbroker"
)

// The tests of issue 11 (hardening): each reproduces what an attacker
// found, and holds the fix.

// TestReservedTagsRefused: a request may not carry a tag of credbroker's
// own (credbroker:plan, :build, :job, in any case), least of all for a part
// of the build it omits, where the forged value would reach STS.
func TestReservedTagsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	for _, tg := range []credbroker.Tag{
		{Key: "credbroker:job", Value: "OPS-DEPLOY-RELEASE"}, // the build names no job
		{Key: "CredBroker:Build", Value: "1"},                // nor a build number
		{Key: "credbroker:plan", Value: "OPS-ADMIN"},         // the build's own plan
		{Key: "CREDBROKER:team", Value: "ops"},               // any key under the prefix
	} {
		req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Tags: []credbroker.Tag{{Key: "team", Value: "ops"}, tg}}
		_, err := e.svc.Vend(ctx, e.agent, req)
		if code(err) != credbroker.CodeInvalid || !strings.Contains(err.Error(), "tags[1].key") || !strings.Contains(err.Error(), "credbroker:") {
			t.Errorf("request tag %s=%s: %v, want invalid tags[1].key naming the reserved prefix", tg.Key, tg.Value, err)
		}
	}
	if n := e.iss.calls.Load(); n != 0 {
		t.Fatalf("a reserved tag reached STS: %d calls, tags %v", n, e.iss.last().Tags)
	}
}

// TestReservedConnectorTagsRefused: a connector may not carry a tag of
// credbroker's own either: its credbroker:job would stand in for every
// build that names no job. Refused at create and at update, naming the
// tag; a transitive key under the prefix stays allowed.
func TestReservedConnectorTagsRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	base := credbroker.ConnectorSpec{Name: "deploy", Region: "us-east-1", Principal: credbroker.PrincipalAssumedRole,
		RoleARN: "arn:aws:iam::123456789012:role/deploy", AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: baseSecret}
	for _, key := range []string{"credbroker:job", "CredBroker:Build", "CREDBROKER:team"} {
		spec := base
		spec.Tags = []credbroker.Tag{{Key: "team", Value: "ops"}, {Key: key, Value: "OPS-DEPLOY-RELEASE"}}
		_, err := e.svc.CreateConnector(ctx, e.admin, spec)
		if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeInvalid || e.Field != "tags[1].key" || !strings.Contains(e.Message, "credbroker:") {
			t.Errorf("connector tag %s: %v, want invalid tags[1].key naming the reserved prefix", key, err)
		}
	}
	spec := base
	spec.TransitiveTagKeys = []string{"credbroker:plan"}
	if _, err := e.svc.CreateConnector(ctx, e.admin, spec); err != nil {
		t.Fatalf("a connector passing credbroker:plan on as transitive: %v", err)
	}
	spec.Tags = []credbroker.Tag{{Key: "credbroker:job", Value: "x"}}
	if _, err := e.svc.UpdateConnector(ctx, e.admin, "deploy", spec); credbroker.ErrorCode(err) != credbroker.CodeInvalid {
		t.Fatalf("an update adding credbroker:job: %v, want invalid", err)
	}
}

// TestAuditCarriesSessionTags: the audit record of a vend holds the tags
// the session was issued with, through the store and the hash chain, and a
// cache hit is its own record with the same tags.
func TestAuditCarriesSessionTags(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Tags: []credbroker.Tag{{Key: "cost-center", Value: "42"}}})
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "7", Job: "OPS-DEPLOY-JOB1",
		Tags: []credbroker.Tag{{Key: "team", Value: "ops"}}}
	for range 2 {
		if _, err := e.svc.Vend(ctx, e.agent, req); err != nil {
			t.Fatal(err)
		}
	}
	sent := e.iss.last().Tags
	if len(sent) != 5 || e.iss.calls.Load() != 1 {
		t.Fatalf("%d STS calls, tags sent %v", e.iss.calls.Load(), sent)
	}
	recs, err := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend})
	if err != nil || len(recs) != 2 {
		t.Fatalf("vend records %v %v", recs, err)
	}
	for i, r := range recs {
		if !slices.Equal(r.Tags, sent) {
			t.Errorf("record %d (%s) has tags %v, want the tags sent %v", i, r.Detail, r.Tags, sent)
		}
	}
	if recs[0].Detail != "issued" || recs[1].Detail != "cached session" {
		t.Errorf("details %q, %q", recs[0].Detail, recs[1].Detail)
	}
	if rep, err := VerifyStore(ctx, e.st); err != nil || !rep.OK() {
		t.Fatalf("chain: %v %+v", err, rep)
	}
	// The tags are in the hash: a record whose tags were changed in the
	// store no longer verifies.
	forged := recs[0]
	if len(forged.Tags) < 3 {
		t.Fatalf("record tags %v", forged.Tags)
	}
	forged.Tags = slices.Clone(forged.Tags)
	forged.Tags[2].Value = "OPS-DEPLOY-RELEASE"
	if forged.ComputeHash() == recs[0].Hash {
		t.Fatal("a record's tags are not covered by its hash")
	}
}

// TestCacheKeyTagsUnambiguous: {"team=":"ops"} and {"team":"=ops"} are
// different tags and must not share a session.
func TestCacheKeyTagsUnambiguous(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	a, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1", Tags: []credbroker.Tag{{Key: "team=", Value: "ops"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1", Tags: []credbroker.Tag{{Key: "team", Value: "=ops"}}})
	if err != nil {
		t.Fatal(err)
	}
	if a.AccessKeyID == b.AccessKeyID || e.iss.calls.Load() != 2 {
		t.Fatalf("two vends with different tags shared a session (%d STS calls)", e.iss.calls.Load())
	}
	if got := e.iss.last().Tags; got[len(got)-1] != (credbroker.Tag{Key: "team", Value: "=ops"}) {
		t.Fatalf("second session carries tags %v", got)
	}
}

// TestOutOfRangeNumbersRefused: duration_seconds of 2^55+900 wraps to 900 s
// when turned into a time.Duration; it and other numbers out of range are
// refused before any use.
func TestOutOfRangeNumbersRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Signin = (&signinRecorder{}).signin })
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", MaxDurationSeconds: 3600})
	for _, req := range []credbroker.VendRequest{
		{DurationSeconds: 1<<55 + 900},
		{DurationSeconds: 1 << 62},
		{MinRemainingSeconds: 1<<55 + 30},
	} {
		req.Connector, req.Plan = "deploy", "OPS-A"
		_, err := e.svc.Vend(ctx, e.agent, req)
		if code(err) != credbroker.CodeInvalid || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%+v: %v, want invalid, out of range", req, err)
		}
	}
	if _, err := e.svc.Console(ctx, e.agent, credbroker.ConsoleRequest{Connector: "deploy", Plan: "OPS-A", DurationSeconds: 1<<55 + 900}); code(err) != credbroker.CodeInvalid {
		t.Errorf("console duration 2^55+900: %v", err)
	}
	if n := e.iss.calls.Load(); n != 0 {
		t.Fatalf("%d STS calls for out-of-range requests", n)
	}
}

// TestAgentVariablesRefuseInvalidPlan: a plan pattern is not a plan; it
// used to match the token's own pattern and answer the globals.
func TestAgentVariablesRefuseInvalidPlan(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.svc.SetVariable(ctx, e.admin, credbroker.Variable{Name: "region", Value: "us-east-1"}); err != nil {
		t.Fatal(err)
	}
	for _, plan := range []string{"OPS-*", "OPS-?", "ops-deploy", "OPS-DEPLOY\n", strings.Repeat("A", 200) + "-X"} {
		vs, err := e.svc.AgentVariables(ctx, e.agent, plan)
		if code(err) != credbroker.CodeInvalid || len(vs) != 0 {
			t.Errorf("plan %q: %d variables, %v; want invalid", plan, len(vs), err)
		}
	}
	if vs, err := e.svc.AgentVariables(ctx, e.agent, "OPS-DEPLOY"); err != nil || len(vs) != 1 {
		t.Fatalf("a valid plan: %v %v", vs, err)
	}
}

// signinRecorder is a console sign-in that records the session length it
// was asked for.
type signinRecorder struct {
	mu        sync.Mutex
	durations []time.Duration
}

func (s *signinRecorder) signin(_ context.Context, _ credbroker.Credentials, _, _ string, d time.Duration) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.durations = append(s.durations, d)
	return "https://signin.aws.amazon.com/federation?Action=login&SigninToken=t", nil
}

func (s *signinRecorder) last() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.durations[len(s.durations)-1]
}

// TestConsoleSessionCapped: the console session is at most the
// connector's maximum and what STS allows for the credentials it is made
// of, and the audit records its real length.
func TestConsoleSessionCapped(t *testing.T) {
	rec := &signinRecorder{}
	e := newEnv(t, func(o *Options) { o.Signin = rec.signin })
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "short", DefaultDurationSeconds: 900, MaxDurationSeconds: 900})
	e.connector(t, credbroker.ConnectorSpec{Name: "hub", MaxDurationSeconds: 12 * 3600})
	e.connector(t, credbroker.ConnectorSpec{Name: "spoke", Base: credbroker.BaseConnector, BaseConnector: "hub",
		RoleARN: "arn:aws:iam::210987654321:role/spoke", MaxDurationSeconds: 12 * 3600})
	e.connector(t, credbroker.ConnectorSpec{Name: "fed", Principal: credbroker.PrincipalFederatedUser, MaxDurationSeconds: 24 * 3600})
	cases := []struct {
		conn   string
		ask    time.Duration
		signin time.Duration // the SessionDuration sent; 0 for none
		length time.Duration // the console session's real length
	}{
		{"short", 12 * time.Hour, 15 * time.Minute, 15 * time.Minute},
		{"short", 0, 15 * time.Minute, 15 * time.Minute},
		{"hub", 20 * time.Hour, 12 * time.Hour, 12 * time.Hour},
		{"spoke", 12 * time.Hour, time.Hour, time.Hour},
		// A federated user's console session lasts as long as its
		// credentials: no SessionDuration, a vend of that length.
		{"fed", 36 * time.Hour, 0, 24 * time.Hour},
		{"fed", 2 * time.Hour, 0, 2 * time.Hour},
	}
	for i, c := range cases {
		res, err := e.svc.Console(ctx, e.agent, credbroker.ConsoleRequest{Connector: c.conn, Plan: "OPS-A", Build: strings.Repeat("1", i+1), DurationSeconds: int(c.ask / time.Second)})
		if err != nil {
			t.Fatalf("%s asking %s: %v", c.conn, c.ask, err)
		}
		now := e.clk.Now()
		if got := rec.last(); got != c.signin {
			t.Errorf("%s asking %s: the federation endpoint was asked for %s, want %s", c.conn, c.ask, got, c.signin)
		}
		if got := res.Expiration.Sub(now); got != c.length {
			t.Errorf("%s asking %s: the console session ends in %s, want %s", c.conn, c.ask, got, c.length)
		}
		recs, err := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionConsole})
		if err != nil || len(recs) != i+1 {
			t.Fatalf("%s: %d console records (%v), want %d", c.conn, len(recs), err, i+1)
		}
		last := recs[len(recs)-1]
		if last.Outcome != credbroker.OutcomeGranted || last.Connector != c.conn || !last.Expiration.Equal(now.Add(c.length)) || !strings.Contains(last.Detail, c.length.String()) {
			t.Errorf("%s: console record %+v, want one ending at now+%s", c.conn, last, c.length)
		}
	}
}

// badValues are values of the free-text fields of a vend that forge audit
// rows or drive a terminal.
var badValues = []string{
	"42\nSEQ TIME ACTION forged",
	"42\r",
	"42\tgranted",
	"42\x1b[2J",
	"42\x7f",
	"42\u0085",
	"42\u202eoops",
	"42\u2066x",
	"42\u200b",
	"42\u2028x",
	"42\xff",
}

// TestControlCharactersRefused: control, format and line-separator
// characters in plan, build, job, task or connector are refused, and the
// audit record of the refusal holds none of them.
func TestControlCharactersRefused(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	fields := []struct {
		name string
		set  func(*credbroker.VendRequest, string)
	}{
		{"build", func(r *credbroker.VendRequest, v string) { r.Build = v }},
		{"job", func(r *credbroker.VendRequest, v string) { r.Job = v }},
		{"task", func(r *credbroker.VendRequest, v string) { r.Task = v }},
		{"plan", func(r *credbroker.VendRequest, v string) { r.Plan = "OPS-" + v }},
		{"connector", func(r *credbroker.VendRequest, v string) { r.Connector = "deploy" + v }},
	}
	for _, f := range fields {
		for _, v := range badValues {
			req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1"}
			f.set(&req, v)
			_, err := e.svc.Vend(ctx, e.agent, req)
			if code(err) != credbroker.CodeInvalid || credbroker.AsError(err).Field != f.name {
				t.Errorf("%s %q: %v, want invalid %s", f.name, v, err, f.name)
			}
		}
	}
	if n := e.iss.calls.Load(); n != 0 {
		t.Fatalf("%d STS calls", n)
	}
	checkAuditClean(t, e)
}

// TestFieldLengthsBounded: every field a vend request writes into the audit
// is bounded, so that a refused vend cannot append kilobytes each.
func TestFieldLengthsBounded(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	long := strings.Repeat("9", 300)
	for name, req := range map[string]credbroker.VendRequest{
		"plan":      {Connector: "deploy", Plan: "OPS-" + long},
		"build":     {Connector: "deploy", Plan: "OPS-A", Build: long},
		"job":       {Connector: "deploy", Plan: "OPS-A", Job: long},
		"task":      {Connector: "deploy", Plan: "OPS-A", Task: long},
		"connector": {Connector: "d" + long, Plan: "OPS-A"},
	} {
		_, err := e.svc.Vend(ctx, e.agent, req)
		if code(err) != credbroker.CodeInvalid || credbroker.AsError(err).Field != name || !strings.Contains(err.Error(), "longer than") {
			t.Errorf("a %s of %d characters: %v, want invalid %s", name, len(long), err, name)
		}
	}
	checkAuditClean(t, e)
}

// checkAuditClean fails when an audit record holds a control character or
// a field longer than the bounds.
func checkAuditClean(t *testing.T, e *env) {
	t.Helper()
	recs, err := e.st.ListAudit(context.Background(), credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for name, v := range map[string]string{"plan": r.Plan, "build": r.Build, "job": r.Job, "task": r.Task, "connector": r.Connector, "detail": r.Detail} {
			if len(v) > 400 {
				t.Errorf("record %d: %s of %d bytes", r.Seq, name, len(v))
			}
			for _, c := range v {
				if c == unicode.ReplacementChar || unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || unicode.In(c, unicode.Zl, unicode.Zp) {
					t.Errorf("record %d: %s %q holds %U", r.Seq, name, v, c)
					break
				}
			}
		}
	}
}

// TestRefusalsAggregated: one token's refused vends cannot flood the
// audit: past a burst per window they are counted, and one record per
// token and window says how many there were and why.
func TestRefusalsAggregated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "WEB"}})
	refused := func(n int) {
		for range n {
			if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A"}); err == nil {
				t.Fatal("vend granted")
			}
		}
	}
	count := func() []credbroker.AuditRecord {
		recs, err := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend, Outcome: credbroker.OutcomeRefused})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	refused(500)
	if n := len(count()); n != DefaultRefusalBurst {
		t.Fatalf("500 refusals in a window made %d records, want the burst of %d", n, DefaultRefusalBurst)
	}
	// Another token is not affected.
	other, err := e.svc.CreateToken(ctx, e.admin, credbroker.TokenSpec{Name: "other", Role: credbroker.RoleAgent, Plans: "*"})
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _ := e.svc.Authenticate(ctx, other.Secret)
	if _, err := e.svc.Vend(ctx, otherTok, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A"}); err == nil {
		t.Fatal("vend granted")
	}
	if n := len(count()); n != DefaultRefusalBurst+1 {
		t.Fatalf("another token's refusal: %d records", n)
	}
	// When the window ends, the sweeper writes the summary.
	e.clk.Add(DefaultRefusalWindow + time.Second)
	e.svc.sweep()
	recs := count()
	sum := recs[len(recs)-1]
	if len(recs) != DefaultRefusalBurst+2 || sum.TokenID != e.agent.ID || !strings.Contains(sum.Detail, "490 more refused vends") ||
		!strings.Contains(sum.Detail, "forbidden 490") || sum.Plan != "OPS-A" || sum.Connector != "deploy" {
		t.Fatalf("summary %+v (%d records)", sum, len(recs))
	}
	// A new window records refusals one by one again; Close writes what
	// is pending.
	refused(DefaultRefusalBurst + 3)
	if err := e.svc.Close(); err != nil {
		t.Fatal(err)
	}
	recs = count()
	if len(recs) != 2*DefaultRefusalBurst+3 || !strings.Contains(recs[len(recs)-1].Detail, "3 more refused vends") {
		t.Fatalf("after the second window: %d records, last %+v", len(recs), recs[len(recs)-1])
	}
	if rep, err := VerifyStore(ctx, e.st); err != nil || !rep.OK() {
		t.Fatalf("chain: %v %+v", err, rep)
	}
}

// TestAgentLearnsNothingOfOtherConnectors: an agent token gets the same
// answer for a connector that does not exist and for one its plan may not
// use, and neither names a scope, an allow-list or the name asked for
// (which may be a secret variable's value); the audit has the reason.
func TestAgentLearnsNothingOfOtherConnectors(t *testing.T) {
	var logBuf syncBuffer
	e := newEnv(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "web", Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "WEB"}})
	e.connector(t, credbroker.ConnectorSpec{Name: "webplan", Scope: credbroker.Scope{Kind: credbroker.ScopePlan, Key: "WEB-SITE"}})
	e.connector(t, credbroker.ConnectorSpec{Name: "listed", AllowPlans: []string{"WEB-*"}})
	const secretName = "hunter2-db-password"
	var msgs []string
	for _, conn := range []string{"web", "webplan", "listed", "nosuch", secretName} {
		_, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: conn, Plan: "OPS-DEPLOY"})
		if code(err) != credbroker.CodeNotFound {
			t.Fatalf("%s: %v, want not_found", conn, err)
		}
		msg := err.Error()
		for _, leak := range []string{"WEB", "scope", "allowed", conn} {
			if strings.Contains(msg, leak) {
				t.Errorf("%s: the answer %q names %q", conn, msg, leak)
			}
		}
		msgs = append(msgs, msg)
	}
	for _, m := range msgs[1:] {
		if m != msgs[0] {
			t.Errorf("answers differ: %q and %q", msgs[0], m)
		}
	}
	recs, err := e.st.ListAudit(ctx, credbroker.AuditFilter{Outcome: credbroker.OutcomeRefused})
	if err != nil || len(recs) != 5 {
		t.Fatalf("refusal records %v %v", recs, err)
	}
	wantReasons := []string{"scoped to project WEB", "scoped to plan WEB-SITE", "allowed plans (WEB-*)", "", ""}
	for i, r := range recs[:3] {
		if r.Connector == "" || r.ErrorCode != string(credbroker.CodeForbidden) || !strings.Contains(r.Detail, wantReasons[i]) {
			t.Errorf("record %d: %+v, want the connector and the reason %q", i, r, wantReasons[i])
		}
	}
	for _, r := range recs[3:] {
		if r.Connector != "" || r.ErrorCode != string(credbroker.CodeNotFound) {
			t.Errorf("record of an unknown connector: %+v", r)
		}
	}
	for what, data := range map[string]string{"the broker log": logBuf.take(), "the audit": auditText(recs)} {
		if strings.Contains(data, secretName) || strings.Contains(data, "nosuch") {
			t.Errorf("%s names the connector asked for:\n%s", what, data)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	sync.Mutex
	b bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) { s.Lock(); defer s.Unlock(); return s.b.Write(p) }
func (s *syncBuffer) take() string                { s.Lock(); defer s.Unlock(); return s.b.String() }

func auditText(recs []credbroker.AuditRecord) string {
	var b bytes.Buffer
	for _, r := range recs {
		b.WriteString(r.Plan + " " + r.Build + " " + r.Job + " " + r.Task + " " + r.Connector + " " + r.Detail + "\n")
	}
	return b.String()
}

// TestRevokeWholeToken: a whole token given to revoke is revoked by its ID,
// and no error or audit record repeats its secret.
func TestRevokeWholeToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, secret, _ := strings.Cut(e.agentS, ".")
	if err := e.svc.RevokeToken(ctx, e.admin, e.agentS); err != nil {
		t.Fatalf("revoke by the whole token: %v", err)
	}
	e.clk.Add(time.Minute) // past the token cache
	if _, err := e.svc.Authenticate(ctx, e.agentS); code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("the token after its revocation: %v", err)
	}
	for _, bad := range []string{"tok_0123456789abcdef.not-a-secret-of-anyone-xxxxxxxxxxxxxxxxxx", "tok_0123.leakyleakyleaky", "leakyleakyleaky"} {
		err := e.svc.RevokeToken(ctx, e.admin, bad)
		if err == nil {
			t.Errorf("revoke %q: no error", bad)
			continue
		}
		if strings.Contains(err.Error(), "leaky") || strings.Contains(err.Error(), "not-a-secret") {
			t.Errorf("revoke %q: the error %q repeats it", bad, err)
		}
	}
	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionTokenRevoke})
	if strings.Contains(auditText(recs), secret) || strings.Contains(auditText(recs), "leaky") {
		t.Fatalf("revocation records repeat a secret: %s", auditText(recs))
	}
}

// TestKnowsToken: the broker tells the HTTP server which tokens it holds,
// by their IDs, without a store read.
func TestKnowsToken(t *testing.T) {
	e := newEnv(t)
	id, _, _ := strings.Cut(e.agentS, ".")
	for bearer, want := range map[string]bool{
		e.agentS:                 true,
		id + ".wrong-secret":     true, // known by its ID: the secret is checked later, as usual
		"tok_0123456789abcdef.x": false,
		"not-a-token":            false,
		id:                       false,
	} {
		if got := e.svc.KnowsToken(bearer); got != want {
			t.Errorf("KnowsToken(%q) = %v, want %v", bearer, got, want)
		}
	}
}
