package broker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/sqlite"
)

// countingAudit wraps a store and counts transactions.
type countingAudit struct {
	credbroker.AuditStore
	txs  atomic.Int64
	fail atomic.Bool
	slow time.Duration
}

func (c *countingAudit) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	c.txs.Add(1)
	time.Sleep(c.slow)
	if c.fail.Load() {
		return credbroker.Errorf(credbroker.CodeUnavailable, "store", "store is not writable")
	}
	return c.AuditStore.AppendAudit(ctx, recs...)
}

func TestGroupAuditBatchesAndKeepsEveryRecord(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/a.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ca := &countingAudit{AuditStore: st, slow: 2 * time.Millisecond}
	g := NewGroupAudit(ca, 0)
	defer g.Close()
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Outcome: credbroker.OutcomeGranted, Build: string(rune('a' + i%26))}
			if err := g.Append(ctx, rec); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	recs, err := st.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil || len(recs) != 400 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if p, _, _ := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs); len(p) != 0 {
		t.Fatalf("chain: %v", p)
	}
	if n := ca.txs.Load(); n >= 400 {
		t.Fatalf("400 concurrent appends took %d transactions: no batching", n)
	}
	t.Logf("400 records in %d transactions", ca.txs.Load())
}

func TestGroupAuditFailsClosed(t *testing.T) {
	ctx := context.Background()
	st, _ := sqlite.Open(ctx, t.TempDir()+"/a.db")
	defer st.Close()
	ca := &countingAudit{AuditStore: st}
	ca.fail.Store(true)
	g := NewGroupAudit(ca, 0)
	defer g.Close()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.Append(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); credbroker.ErrorCode(err) == credbroker.CodeUnavailable {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 50 {
		t.Fatalf("%d of 50 appends reported the failure", failed.Load())
	}
}

func TestGroupAuditClose(t *testing.T) {
	ctx := context.Background()
	st, _ := sqlite.Open(ctx, t.TempDir()+"/a.db")
	defer st.Close()
	g := NewGroupAudit(st, 0)
	if err := g.Append(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); err != nil {
		t.Fatal(err)
	}
	g.Close()
	if err := g.Append(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); !errors.Is(err, errAuditClosed) {
		t.Fatalf("append after close: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	g2 := NewGroupAudit(st, 0)
	defer g2.Close()
	if err := g2.Append(cctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); err == nil {
		t.Fatal("append with a cancelled context succeeded")
	}
}

func BenchmarkGroupAudit(b *testing.B) {
	ctx := context.Background()
	st, _ := sqlite.Open(ctx, b.TempDir()+"/a.db")
	defer st.Close()
	for _, mode := range []string{"direct", "group"} {
		b.Run(mode, func(b *testing.B) {
			var w AuditWriter = storeAudit{s: st}
			if mode == "group" {
				g := NewGroupAudit(st, 0)
				defer g.Close()
				w = g
			}
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := w.Append(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); err != nil {
						b.Error(err)
					}
				}
			})
		})
	}
}
