package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/oidc"
)

// BenchmarkVendByIDToken compares, in the same run, a cached vend whose
// caller presents an agent token with one whose caller presents a CI's ID
// token (a GitHub-shaped JWT of a trusted issuer, matched by a binding):
// the token check and the vend, the audit record appended to SQLite. The
// broker caches an accepted ID token by its hash until it expires, so
// after the first request the JWT's signature is not verified again.
// The ratio sub-benchmarks time the two in alternating batches and report
// the ID token's throughput over the agent token's.
func BenchmarkVendByIDToken(b *testing.B) {
	for _, audit := range []struct {
		name string
		w    broker.AuditWriter
	}{{"audit=sqlite", nil}, {"audit=none", nopAudit{}}} {
		svc, agentSecret, req := benchService(b, audit.w, func(o *broker.Options) { o.Verifier = oidc.New(oidc.Options{}) })
		is := testpeers.StartIssuer(b)
		ctx := context.Background()
		admin := benchAdmin(b, svc)
		if _, err := svc.CreateIssuer(ctx, admin, credbroker.TrustedIssuer{Name: "github", URL: is.URL, Audiences: []string{"credbroker"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.CreateBinding(ctx, admin, credbroker.Binding{Name: "gh", Issuer: "github",
			Claims: []credbroker.ClaimRule{{Claim: "repository", Values: []string{"acme/app"}}}, Plans: "OPS-DEPLOY",
			TagClaims: []credbroker.ClaimTag{{Key: "repository", Claim: "repository"}}}); err != nil {
			b.Fatal(err)
		}
		jwt := is.Token(b, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker"))
		vend := func(b *testing.B, bearer string) {
			tok, err := svc.Authenticate(ctx, bearer)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Vend(ctx, tok, req); err != nil {
				b.Fatal(err)
			}
		}
		for _, who := range []struct{ name, bearer string }{{"agent-token", agentSecret}, {"id-token", jwt}} {
			tok, err := svc.Authenticate(ctx, who.bearer)
			if err != nil {
				b.Fatal(err)
			}
			if (tok.Identity != nil) != (who.name == "id-token") {
				b.Fatalf("%s authenticated as %+v", who.name, tok)
			}
			vend(b, who.bearer) // warm the session
			b.Run(audit.name+"/"+who.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					vend(b, who.bearer)
				}
			})
		}
		// The two callers in alternating batches, so that a change of
		// the shared machine's load hits both alike: the ID token's
		// throughput as a fraction of the agent token's (goal >= 0.9).
		b.Run(audit.name+"/ratio", func(b *testing.B) {
			const batch = 100
			var agent, id time.Duration
			for i := 0; b.Loop(); i++ {
				first, second := agentSecret, jwt
				if i%2 == 1 {
					first, second = jwt, agentSecret
				}
				for _, bearer := range []string{first, second} {
					start := time.Now()
					for range batch {
						vend(b, bearer)
					}
					if bearer == jwt {
						id += time.Since(start)
					} else {
						agent += time.Since(start)
					}
				}
			}
			if id > 0 {
				b.ReportMetric(float64(agent)/float64(id), "id/agent-throughput")
			}
		})
	}
}

// benchAdmin makes another admin token of svc.
func benchAdmin(b *testing.B, svc *broker.Service) *credbroker.Token {
	b.Helper()
	nt, err := svc.CreateTokenLocal(context.Background(), credbroker.TokenSpec{Name: "bench-admin", Role: credbroker.RoleAdmin})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := svc.Authenticate(context.Background(), nt.Secret)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}
