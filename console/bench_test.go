package console_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/credbroker/credbroker"
)

// BenchmarkAuditPages measures the console's audit reads over a trail of
// 20,000 vend records: the newest page (windows read backwards), a page
// deep in the trail, a rare filter that matches records far apart, and the
// overview once its stats are warm (only new records are read), each to
// be read against the baseline of the same run.
func BenchmarkAuditPages(b *testing.B) {
	r := newRig(b, rigOptions{})
	ctx := context.Background()
	agent, _ := r.svc.Authenticate(ctx, r.agent)
	recs := make([]*credbroker.AuditRecord, 0, 500)
	for i := range 20000 {
		plan := "OPS-A"
		if i%1000 == 0 {
			plan = "OPS-RARE"
		}
		recs = append(recs, &credbroker.AuditRecord{Time: r.clk.Now(), Action: credbroker.ActionVend, TokenID: agent.ID,
			Plan: plan, Build: fmt.Sprint(i), Connector: "deploy", Outcome: credbroker.OutcomeGranted})
		if len(recs) == cap(recs) {
			if err := r.st.AppendAudit(ctx, recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	br, _ := r.signedIn()
	// The baseline: the one store read of 50 records that a page needs at
	// least, through the service.
	b.Run("baseline-store-read", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.svc.ListAudit(ctx, r.adminTok, credbroker.AuditFilter{AfterSeq: 19950, Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, bc := range []struct{ name, path string }{
		{"newest", "/console/audit"},
		{"deep", "/console/audit?before=1000"},
		{"rare-filter", "/console/audit?plan=OPS-RARE"},
		{"overview-warm", "/console/"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if p := br.get(bc.path); p.status != http.StatusOK {
					b.Fatalf("%s: %d", bc.path, p.status)
				}
			}
		})
	}
}
