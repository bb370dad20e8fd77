package broker

import (
	"context"
	"errors"
	"runtime"
	"strings"
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

// gatedAudit holds each transaction until released, telling when one
// starts.
type gatedAudit struct {
	credbroker.AuditStore
	started chan int
	release chan struct{}
}

func (g *gatedAudit) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	g.started <- len(recs)
	<-g.release
	return g.AuditStore.AppendAudit(ctx, recs...)
}

// TestGroupAuditCloseCommitsWhatIsQueued: the records queued behind a
// transaction in progress when Close is called are committed, in one more
// transaction, before Close returns; an append after Close is refused.
func TestGroupAuditCloseCommitsWhatIsQueued(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/a.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ga := &gatedAudit{AuditStore: st, started: make(chan int, 10), release: make(chan struct{})}
	g := NewGroupAudit(ga, 0)
	rec := func(b string) *credbroker.AuditRecord {
		return &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Outcome: credbroker.OutcomeGranted, Build: b}
	}
	errs := make(chan error, 10)
	go func() { errs <- g.Append(ctx, rec("leader")) }()
	if n := <-ga.started; n != 1 {
		t.Fatalf("the first transaction holds %d records", n)
	}
	const queued = 5
	for i := range queued {
		go func() { errs <- g.Append(ctx, rec(string(rune('a'+i)))) }()
	}
	// Every queued append is waiting behind the leader before Close.
	for {
		g.mu.Lock()
		n := len(g.pending)
		g.mu.Unlock()
		if n == queued {
			break
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { g.Close(); close(closed) }()
	for {
		g.mu.Lock()
		c := g.closed
		g.mu.Unlock()
		if c {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := g.Append(ctx, rec("late")); !errors.Is(err, errAuditClosed) {
		t.Fatalf("append after Close: %v", err)
	}
	ga.release <- struct{}{} // the leader's transaction
	if n := <-ga.started; n != queued {
		t.Fatalf("the transaction after the leader's holds %d records, want %d", n, queued)
	}
	select {
	case <-closed:
		t.Fatal("Close returned before the queued records were committed")
	default:
	}
	ga.release <- struct{}{}
	<-closed
	for range queued + 1 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	recs, err := st.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil || len(recs) != queued+1 {
		t.Fatalf("%d records stored, want %d: %v", len(recs), queued+1, err)
	}
}

// TestGroupAuditLoneCallerCommitsItself: with no transaction in
// progress the caller commits on its own goroutine, without a hand-off
// to another one and back.
func TestGroupAuditLoneCallerCommitsItself(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/a.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var stack atomic.Value
	g := NewGroupAudit(auditStoreFunc{st, func(context.Context) {
		buf := make([]byte, 64<<10)
		stack.Store(string(buf[:runtime.Stack(buf, false)]))
	}}, 0)
	defer g.Close()
	if err := g.Append(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: "vend", Outcome: "granted"}); err != nil {
		t.Fatal(err)
	}
	if s, _ := stack.Load().(string); !strings.Contains(s, "TestGroupAuditLoneCallerCommitsItself") {
		t.Fatalf("the transaction did not run on the caller's goroutine:\n%s", s)
	}
}

type auditStoreFunc struct {
	credbroker.AuditStore
	before func(ctx context.Context)
}

func (a auditStoreFunc) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	a.before(ctx)
	return a.AuditStore.AppendAudit(ctx, recs...)
}
