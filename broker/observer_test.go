package broker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/sqlite"
)

// recorder is an Observer that keeps what it is told, as strings.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(parts ...string) {
	r.mu.Lock()
	r.events = append(r.events, strings.Join(parts, " "))
	r.mu.Unlock()
}

func (r *recorder) count(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			n++
		}
	}
	return n
}

func (r *recorder) Vend(outcome, code, connector, source string, _ time.Duration) {
	r.add("vend", outcome, code, connector, source)
}
func (r *recorder) Cache(served string) { r.add("cache", served) }
func (r *recorder) STSCall(op, endpoint, result string, _ time.Duration) {
	r.add("sts", op, endpoint, result)
}
func (r *recorder) BudgetWait(time.Duration) { r.add("budget-wait") }
func (r *recorder) BudgetRefusal()           { r.add("budget-refusal") }
func (r *recorder) AuditCommit(n int, _ time.Duration, err error) {
	r.add("commit", strings.Repeat("r", n), map[bool]string{true: "failed", false: "ok"}[err != nil])
}
func (r *recorder) StoreError(op string)    { r.add("store-error", op) }
func (r *recorder) AuthFailure(kind string) { r.add("auth", kind) }

// TestObserverSeesWhatTheBrokerDoes: a known run of vends, refusals and
// authentication failures, and the observer's account of it, exactly.
func TestObserverSeesWhatTheBrokerDoes(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, func(o *Options) { o.Observer = rec })
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeSystem}})
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"}
	for range 3 {
		if _, err := e.svc.Vend(ctx, e.agent, req); err != nil {
			t.Fatal(err)
		}
	}
	// A name no connector has, twice: refused, and not a label of its own.
	for range 2 {
		if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "made-up-by-a-caller", Plan: "OPS-DEPLOY"}); code(err) != credbroker.CodeNotFound {
			t.Fatalf("unknown connector: %v", err)
		}
	}
	id, secret, _ := strings.Cut(e.agentS, ".")
	for _, bad := range []string{"hello", id + "." + strings.Repeat("A", len(secret)), "tok_0000000000000000." + secret} {
		if _, err := e.svc.Authenticate(ctx, bad); code(err) != credbroker.CodeUnauthorized {
			t.Fatalf("bad token %q accepted", bad)
		}
	}
	for want, n := range map[string]int{
		"vend granted  deploy sts":                   1,
		"vend granted  deploy cache":                 2,
		"vend refused not_found  ":                   2,
		"cache miss":                                 1,
		"cache hit":                                  2,
		"sts AssumeRole https://sts.fake.example ok": 1,
		"auth malformed":                             1,
		"auth wrong_secret":                          1,
		"auth unknown":                               1,
		"commit r ok":                                5,
		"store-error":                                0,
		"vend refused not_found  made-up-by-a-ca":    0,
	} {
		if got := rec.count(want); got != n {
			t.Errorf("%q: %d events, want %d\n%s", want, got, n, strings.Join(rec.events, "\n"))
		}
	}
	if e.iss.calls.Load() != 1 {
		t.Fatalf("%d STS calls", e.iss.calls.Load())
	}
}

// flakyStore is a store whose writes can be made to fail.
type flakyStore struct {
	*sqlite.Store
	fail   atomic.Bool
	probes atomic.Int64
}

func (f *flakyStore) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if f.fail.Load() {
		return credbroker.Errorf(credbroker.CodeUnavailable, "store", "store is not writable")
	}
	return f.Store.AppendAudit(ctx, recs...)
}

func (f *flakyStore) ProbeWrite(ctx context.Context, now time.Time) error {
	f.probes.Add(1)
	if f.fail.Load() {
		return credbroker.Errorf(credbroker.CodeUnavailable, "store", "store is not writable")
	}
	return f.Store.ProbeWrite(ctx, now)
}

// TestReadyNeedsWrites: Ready fails while the store refuses writes and
// passes again once it takes them; a fresh committed record spares the
// probe, and probes are at most one a second however often Ready is
// asked.
func TestReadyNeedsWrites(t *testing.T) {
	var fs *flakyStore
	rec := &recorder{}
	e := newEnv(t, func(o *Options) {
		fs = &flakyStore{Store: o.Store.(*sqlite.Store)}
		o.Store, o.Observer = fs, rec
	})
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeSystem}})
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"}
	if _, err := e.svc.Vend(ctx, e.agent, req); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Ready(ctx); err != nil || fs.probes.Load() != 0 {
		t.Fatalf("ready after a fresh commit: %v, %d probes (want none)", err, fs.probes.Load())
	}
	e.clk.Add(writeFresh + time.Second)
	if err := e.svc.Ready(ctx); err != nil || fs.probes.Load() != 1 {
		t.Fatalf("ready with no fresh commit: %v, %d probes (want 1)", err, fs.probes.Load())
	}

	fs.fail.Store(true)
	if _, err := e.svc.Vend(ctx, e.agent, req); code(err) != credbroker.CodeUnavailable {
		t.Fatalf("vend on a store that refuses writes: %v", err)
	}
	for range 10 {
		if err := e.svc.Ready(ctx); code(err) != credbroker.CodeUnavailable {
			t.Fatalf("ready on a store that refuses writes: %v", err)
		}
	}
	if n := fs.probes.Load(); n != 2 {
		t.Fatalf("%d probes for 10 readiness checks within a second, want 2 in all", n)
	}
	fs.fail.Store(false)
	// Within the second the last probe's answer stands; after it the
	// store is asked again.
	if err := e.svc.Ready(ctx); err == nil {
		t.Fatal("ready within a second of a failed probe")
	}
	e.clk.Add(probeEvery)
	if err := e.svc.Ready(ctx); err != nil {
		t.Fatalf("ready once the store takes writes again: %v", err)
	}
	if rec.count("store-error write_probe") != 1 || rec.count("store-error audit_append") != 1 {
		t.Fatalf("store errors: %v", rec.events)
	}
}
