package broker_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// benchIssuer is STS for the benchmarks: hour-long sessions of real sizes.
type benchIssuer struct{ calls atomic.Int64 }

func (*benchIssuer) Check(credbroker.IssueRequest) ([]string, error) { return nil, nil }

func (b *benchIssuer) Issue(_ context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	n := b.calls.Add(1)
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIABENCH%011d", n),
		SecretAccessKey: strings.Repeat("s", 40),
		SessionToken:    strings.Repeat("t", 800),
		Expires:         time.Now().Add(req.Duration),
	}, nil
}

// nopAudit keeps no audit records, to measure the vend without its append.
type nopAudit struct{}

func (nopAudit) Append(context.Context, ...*credbroker.AuditRecord) error { return nil }

// openStore opens a new SQLite store at path, closed when the test ends,
// and a key ring of one new key.
func openStore(tb testing.TB, path string) (*sqlite.Store, *seal.Ring) {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	key, err := seal.GenerateKey()
	if err != nil {
		tb.Fatal(err)
	}
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		tb.Fatal(err)
	}
	return st, ring
}

// serviceTokens makes svc's first admin token and an agent token for
// plans, and returns the admin token, authenticated, and the two secrets.
func serviceTokens(tb testing.TB, svc *broker.Service, plans string) (admin *credbroker.Token, adminSecret, agentSecret string) {
	tb.Helper()
	ctx := context.Background()
	adminNew, err := svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "admin", Role: credbroker.RoleAdmin})
	if err != nil {
		tb.Fatal(err)
	}
	admin, err = svc.Authenticate(ctx, adminNew.Secret)
	if err != nil {
		tb.Fatal(err)
	}
	agentNew, err := svc.CreateToken(ctx, admin, credbroker.TokenSpec{Name: "agents", Role: credbroker.RoleAgent, Plans: plans})
	if err != nil {
		tb.Fatal(err)
	}
	return admin, adminNew.Secret, agentNew.Secret
}

// benchService is a broker over a SQLite store with one connector, an
// agent token and a warm session: the state of a broker answering cached
// vends.
func benchService(b *testing.B, audit broker.AuditWriter, optFns ...func(*broker.Options)) (*broker.Service, string, credbroker.VendRequest) {
	b.Helper()
	ctx := context.Background()
	st, ring := openStore(b, filepath.Join(b.TempDir(), "bench.db"))
	opts := broker.Options{Store: st, Keys: ring, Issuer: &benchIssuer{}, Audit: audit}
	for _, fn := range optFns {
		fn(&opts)
	}
	svc, err := broker.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	admin, _, agentSecret := serviceTokens(b, svc, "OPS-*")
	_, err = svc.CreateConnector(ctx, admin, credbroker.ConnectorSpec{
		Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys,
		AccessKeyID: "AKIABENCHBASEKEY0001", SecretAccessKey: strings.Repeat("k", 40),
		Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/deploy",
		Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"}, AllowPlans: []string{"OPS-*"},
	})
	if err != nil {
		b.Fatal(err)
	}
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "42", Job: "OPS-DEPLOY-JOB1", Task: "upload"}
	agent, err := svc.Authenticate(ctx, agentSecret)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := svc.Vend(ctx, agent, req); err != nil {
		b.Fatal(err)
	}
	return svc, agentSecret, req
}

// BenchmarkVend measures a cached vend in process, token lookup included:
// with the audit record appended to SQLite (what a broker does), and with
// the audit discarded (the rest of the vend path).
func BenchmarkVend(b *testing.B) {
	for _, c := range []struct {
		name  string
		audit broker.AuditWriter
	}{{"cached/audit=sqlite", nil}, {"cached/audit=none", nopAudit{}}} {
		b.Run(c.name, func(b *testing.B) {
			svc, secret, req := benchService(b, c.audit)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				tok, err := svc.Authenticate(ctx, secret)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := svc.Vend(ctx, tok, req); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/parallel", func(b *testing.B) {
			svc, secret, req := benchService(b, c.audit)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tok, err := svc.Authenticate(ctx, secret)
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := svc.Vend(ctx, tok, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkVendConnectorExpired measures a cached vend whose connector
// has outlived ConnectorTTL, as every vend does when vends spread over
// more connectors than are each used once a TTL: the broker makes sure
// the connector it holds is still the stored one before it vends.
func BenchmarkVendConnectorExpired(b *testing.B) {
	svc, secret, req := benchService(b, nopAudit{}, func(o *broker.Options) { o.ConnectorTTL = time.Nanosecond })
	ctx := context.Background()
	tok, err := svc.Authenticate(ctx, secret)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Vend(ctx, tok, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate measures the token check of every API call with
// the token in the broker's cache.
func BenchmarkAuthenticate(b *testing.B) {
	svc, secret, _ := benchService(b, nopAudit{})
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Authenticate(ctx, secret); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
