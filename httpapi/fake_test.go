package httpapi_test

import (
	"context"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// Secrets of the fixtures: tests check that none reaches a log or an error.
const (
	adminSecret  = "cbk_admin_0123456789abcdefSECRETadmin"
	agentSecret  = "cbk_agent_0123456789abcdefSECRETagent"
	vendSecret   = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
	vendSession  = "FwoGZXIvYXdzEXAMPLESESSIONTOKENvalue////"
	newTokSecret = "cbk_new_0123456789abcdefSECRETnew"
	varSecret    = "hunter2-variable-secret-value"
)

var (
	t0       = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	adminTok = &credbroker.Token{ID: "tok-admin", Name: "admin", Role: credbroker.RoleAdmin, CreatedAt: t0}
	agentTok = &credbroker.Token{ID: "tok-agent", Name: "agent", Role: credbroker.RoleAgent, Plans: "OPS-*", CreatedAt: t0}

	fixVend = &credbroker.VendResult{
		AccessKeyID: "ASIAEXAMPLEKEYID1234", SecretAccessKey: vendSecret, SessionToken: vendSession,
		Expiration: t0.Add(time.Hour), Region: "eu-west-1", Partition: "aws",
		Connector: "deploy", ConnectorID: "con-1", RoleARN: "arn:aws:iam::123456789012:role/deploy",
		Warnings: []string{"duration clamped to 1h"},
	}
	fixConsole = &credbroker.ConsoleResult{URL: "https://signin.aws.amazon.com/federation?Action=login&SigninToken=abc", Expiration: t0.Add(15 * time.Minute)}
	fixInfo    = credbroker.ConnectorInfo{
		ConnectorSpec: credbroker.ConnectorSpec{
			Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys,
			AccessKeyID: "****MPLE", Region: "eu-west-1", RoleARN: "arn:aws:iam::123456789012:role/deploy",
			PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, DefaultDurationSeconds: 900,
			Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"}, AllowPlans: []string{"OPS-*"},
			Tags: []credbroker.Tag{{Key: "team", Value: "ops"}}, Revision: 3,
		},
		ID: "con-1", HasSecret: true, Partition: "aws", CreatedAt: t0, UpdatedAt: t0.Add(time.Minute),
	}
	fixNewToken = &credbroker.NewToken{Token: credbroker.Token{ID: "tok-new", Name: "ci", Role: credbroker.RoleAgent, Plans: "OPS-*", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}, Secret: newTokSecret}
	fixVars     = []credbroker.Variable{
		{Name: "region", Value: "eu-west-1", UpdatedAt: t0},
		{Plan: "OPS-DEPLOY", Name: "dbPassword", Value: varSecret, Secret: true, UpdatedAt: t0},
	}
	fixAudit = []credbroker.AuditRecord{
		{Seq: 1, Time: t0, Action: credbroker.ActionVend, TokenID: "tok-agent", Plan: "OPS-DEPLOY", Connector: "deploy", Outcome: credbroker.OutcomeGranted, PrevHash: credbroker.AuditGenesis, Hash: "h1"},
		{Seq: 2, Time: t0.Add(time.Second), Action: credbroker.ActionVend, Outcome: credbroker.OutcomeRefused, ErrorCode: "forbidden", PrevHash: "h1", Hash: "h2"},
	}
	fixReport = &credbroker.AuditReport{Records: 2, HeadSeq: 2, HeadHash: "h2", Problems: []credbroker.AuditProblem{{Seq: 2, Problem: "edited"}}}
)

// call is one Service call the fake saw, without the token.
type call struct {
	method string
	tokID  string
	args   []any
}

// fakeService is a hand-written Service: two tokens, fixed answers, and
// every call recorded. The fields under mu are set through set, since
// requests read them on other goroutines. Block and Entered, when set
// before the server starts, hold Vend until Block is closed.
type fakeService struct {
	Block   chan struct{}
	Entered chan struct{}
	// Audit, when set before the server starts, replaces ListAudit.
	Audit func(f credbroker.AuditFilter) []credbroker.AuditRecord

	mu       sync.Mutex
	calls    []call
	err      error // returned by every method after Authenticate
	authErr  error // returned by Authenticate
	readyErr error
	panics   bool
}

// set changes the fake's behaviour under its lock.
func (f *fakeService) set(fn func(f *fakeService)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeService) record(method string, tok *credbroker.Token, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ""
	if tok != nil {
		id = tok.ID
	}
	f.calls = append(f.calls, call{method, id, args})
	if f.panics {
		panic("fake service panics")
	}
	return f.err
}

// last returns the last call the fake saw.
func (f *fakeService) last() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}
	}
	return f.calls[len(f.calls)-1]
}

func (f *fakeService) ncalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func (f *fakeService) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.method == method {
			n++
		}
	}
	return n
}

func (f *fakeService) Authenticate(_ context.Context, bearer string) (*credbroker.Token, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{method: "Authenticate"})
	authErr := f.authErr
	f.mu.Unlock()
	if authErr != nil {
		return nil, authErr
	}
	switch bearer {
	case adminSecret:
		return adminTok, nil
	case agentSecret:
		return agentTok, nil
	}
	return nil, credbroker.Errorf(credbroker.CodeUnauthorized, "token", "the token is wrong, expired or revoked")
}

func (f *fakeService) Vend(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error) {
	if f.Entered != nil {
		f.Entered <- struct{}{}
	}
	if f.Block != nil {
		<-f.Block
	}
	if err := f.record("Vend", tok, req); err != nil {
		return nil, err
	}
	res := *fixVend
	return &res, nil
}

func (f *fakeService) AgentVariables(_ context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) {
	if err := f.record("AgentVariables", tok, plan); err != nil {
		return nil, err
	}
	return append([]credbroker.Variable(nil), fixVars...), nil
}

func (f *fakeService) Console(_ context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error) {
	if err := f.record("Console", tok, req); err != nil {
		return nil, err
	}
	res := *fixConsole
	return &res, nil
}

func (f *fakeService) CreateConnector(_ context.Context, tok *credbroker.Token, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := f.record("CreateConnector", tok, spec); err != nil {
		return nil, err
	}
	info := fixInfo
	info.SecretAccessKey = spec.SecretAccessKey // a careless service: the server must blank it
	return &info, nil
}

func (f *fakeService) UpdateConnector(_ context.Context, tok *credbroker.Token, idOrName string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := f.record("UpdateConnector", tok, idOrName, spec); err != nil {
		return nil, err
	}
	info := fixInfo
	return &info, nil
}

func (f *fakeService) GetConnector(_ context.Context, tok *credbroker.Token, idOrName string) (*credbroker.ConnectorInfo, error) {
	if err := f.record("GetConnector", tok, idOrName); err != nil {
		return nil, err
	}
	info := fixInfo
	return &info, nil
}

func (f *fakeService) ListConnectors(_ context.Context, tok *credbroker.Token) ([]credbroker.ConnectorInfo, error) {
	if err := f.record("ListConnectors", tok); err != nil {
		return nil, err
	}
	return []credbroker.ConnectorInfo{fixInfo}, nil
}

func (f *fakeService) DeleteConnector(_ context.Context, tok *credbroker.Token, idOrName string) error {
	return f.record("DeleteConnector", tok, idOrName)
}

func (f *fakeService) CreateToken(_ context.Context, tok *credbroker.Token, spec credbroker.TokenSpec) (*credbroker.NewToken, error) {
	if err := f.record("CreateToken", tok, spec); err != nil {
		return nil, err
	}
	nt := *fixNewToken
	return &nt, nil
}

func (f *fakeService) ListTokens(_ context.Context, tok *credbroker.Token) ([]*credbroker.Token, error) {
	if err := f.record("ListTokens", tok); err != nil {
		return nil, err
	}
	return []*credbroker.Token{adminTok, agentTok}, nil
}

func (f *fakeService) RevokeToken(_ context.Context, tok *credbroker.Token, id string) error {
	return f.record("RevokeToken", tok, id)
}

func (f *fakeService) SetVariable(_ context.Context, tok *credbroker.Token, v credbroker.Variable) error {
	return f.record("SetVariable", tok, v)
}

func (f *fakeService) DeleteVariable(_ context.Context, tok *credbroker.Token, plan, name string) error {
	return f.record("DeleteVariable", tok, plan, name)
}

func (f *fakeService) ListVariables(_ context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error) {
	if err := f.record("ListVariables", tok, plan); err != nil {
		return nil, err
	}
	vars := append([]credbroker.Variable(nil), fixVars...)
	vars[1].Value = ""
	return vars, nil
}

func (f *fakeService) ListAudit(_ context.Context, tok *credbroker.Token, flt credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	if err := f.record("ListAudit", tok, flt); err != nil {
		return nil, err
	}
	if f.Audit != nil {
		return f.Audit(flt), nil
	}
	return append([]credbroker.AuditRecord(nil), fixAudit...), nil
}

func (f *fakeService) VerifyAudit(_ context.Context, tok *credbroker.Token) (*credbroker.AuditReport, error) {
	if err := f.record("VerifyAudit", tok); err != nil {
		return nil, err
	}
	rep := *fixReport
	return &rep, nil
}

func (f *fakeService) Ready(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readyErr
}
