package bench

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
)

// FakeSTS stands in for STS inside the process: it implements
// broker.Issuer, counts its calls and issues sessions that expire
// Lifetime after its clock's now (the request's duration when zero). Its
// credentials have the sizes of real ones: a 20-character key ID, a
// 40-character secret and an 800-character session token.
type FakeSTS struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Lifetime overrides the requested duration when positive.
	Lifetime time.Duration
	// Delay, when positive, is how long each call takes.
	Delay time.Duration

	calls atomic.Int64
}

// Check implements broker.Issuer: nothing to check offline.
func (f *FakeSTS) Check(credbroker.IssueRequest) ([]string, error) { return nil, nil }

// Issue implements broker.Issuer.
func (f *FakeSTS) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	n := f.calls.Add(1)
	if req.Base != nil {
		if _, err := req.Base.Retrieve(ctx); err != nil {
			return credbroker.Credentials{}, err
		}
	}
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return credbroker.Credentials{}, ctx.Err()
		}
	}
	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	life := req.Duration
	if f.Lifetime > 0 {
		life = f.Lifetime
	}
	token := fmt.Sprintf("FwoGZXIvYXdzEB%012d", n)
	token += strings.Repeat("x", 800-len(token))
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAFAKE%012d", n),
		SecretAccessKey: fmt.Sprintf("fake/secret/%028d", n),
		SessionToken:    token,
		Expires:         now().Add(life),
	}, nil
}

// Calls returns how many sessions were issued.
func (f *FakeSTS) Calls() int64 { return f.calls.Load() }

// Clock is a settable clock for in-process scenarios.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Tokens are the secrets of the tokens Provision made.
type Tokens struct {
	Admin string // admin token, for the connector and token APIs
	Agent string // agent token for plans OPS-*
}

// Provision writes a broker's first tokens and the given connectors into a
// store, through the broker service as an administrator would (so the
// connectors' secrets are sealed with keys), and returns the tokens'
// secrets. The caller closes the store.
func Provision(ctx context.Context, st credbroker.Store, keys broker.Sealer, specs []credbroker.ConnectorSpec) (Tokens, error) {
	svc, err := broker.New(broker.Options{Store: st, Keys: keys, Issuer: &FakeSTS{}})
	if err != nil {
		return Tokens{}, err
	}
	defer svc.Close()
	return provision(ctx, svc, specs)
}

func provision(ctx context.Context, svc *broker.Service, specs []credbroker.ConnectorSpec) (Tokens, error) {
	adminNew, err := svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "bench-admin", Role: credbroker.RoleAdmin})
	if err != nil {
		return Tokens{}, fmt.Errorf("create admin token: %w", err)
	}
	admin, err := svc.Authenticate(ctx, adminNew.Secret)
	if err != nil {
		return Tokens{}, fmt.Errorf("admin token: %w", err)
	}
	agentNew, err := svc.CreateToken(ctx, admin, credbroker.TokenSpec{Name: "bench-agents", Role: credbroker.RoleAgent, Plans: "OPS-*"})
	if err != nil {
		return Tokens{}, fmt.Errorf("create agent token: %w", err)
	}
	for _, spec := range specs {
		if _, err := svc.CreateConnector(ctx, admin, spec); err != nil {
			return Tokens{}, fmt.Errorf("create connector %s: %w", spec.Name, err)
		}
	}
	return Tokens{Admin: adminNew.Secret, Agent: agentNew.Secret}, nil
}

// ConnectorSpec is the connector every scenario vends from: an assumed
// role with stored base keys, for the OPS project, with sessions of
// duration seconds. sts is its STS endpoint ("" for the region's).
func ConnectorSpec(name, accessKeyID, secretKey, sts string, duration time.Duration) credbroker.ConnectorSpec {
	spec := credbroker.ConnectorSpec{
		Name: name, Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys,
		AccessKeyID: accessKeyID, SecretAccessKey: secretKey,
		Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/bench",
		DefaultDurationSeconds: int(duration / time.Second), MaxDurationSeconds: int(max(duration, time.Hour) / time.Second),
		Scope:      credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"},
		AllowPlans: []string{"OPS-*"},
	}
	if sts != "" {
		spec.STSEndpoints = []string{sts}
	}
	return spec
}

// discardAudit is an audit writer that keeps nothing, for scenarios that
// measure something other than the audit.
type discardAudit struct{ n atomic.Int64 }

func (d *discardAudit) Append(_ context.Context, recs ...*credbroker.AuditRecord) error {
	d.n.Add(int64(len(recs)))
	return nil
}
