package broker

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
)

// gatedIssuer stands in for STS behind the broker's budget: each Issue
// makes attempts STS attempts, each after req.BeforeAttempt, and records
// the (fake) time each attempt would be sent at: the clock plus the wait
// the budget asked for.
type gatedIssuer struct {
	clk      *clock
	attempts int

	mu    sync.Mutex
	sent  []time.Time
	waits map[*int]time.Duration
	n     atomic.Int64
	// outcomes, when set, gets the error (or nil) of every Issue.
	outcomes chan error
}

// waitKey carries, through the context, where the fake sleep writes the
// wait of the current attempt.
type waitKey struct{}

func (f *gatedIssuer) Check(credbroker.IssueRequest) ([]string, error) { return nil, nil }

func (f *gatedIssuer) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	cr, err := f.issue(ctx, req)
	f.mu.Lock()
	out := f.outcomes
	f.mu.Unlock()
	if out != nil {
		out <- err
	}
	return cr, err
}

// watch makes every later Issue report its outcome on the returned channel.
func (f *gatedIssuer) watch() <-chan error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcomes = make(chan error, 100)
	return f.outcomes
}

func (f *gatedIssuer) issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	if _, err := req.Base.Retrieve(ctx); err != nil {
		return credbroker.Credentials{}, err
	}
	for range max(f.attempts, 1) {
		var wait time.Duration
		actx := context.WithValue(ctx, waitKey{}, &wait)
		if req.BeforeAttempt != nil {
			if err := req.BeforeAttempt(actx); err != nil {
				return credbroker.Credentials{}, err
			}
		}
		f.mu.Lock()
		f.sent = append(f.sent, f.clk.Now().Add(wait))
		f.mu.Unlock()
	}
	n := f.n.Add(1)
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAGATED%011d", n),
		SecretAccessKey: fmt.Sprintf("gated-secret-%d", n),
		SessionToken:    fmt.Sprintf("gated-token-%d", n),
		Expires:         f.clk.Now().Add(req.Duration),
	}, nil
}

func (f *gatedIssuer) sentTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := slices.Clone(f.sent)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// recordingSleep is the budget's Sleep in tests: it does not wait (the
// clock is fake); it hands the wait to the attempt and keeps the longest.
type recordingSleep struct {
	mu      sync.Mutex
	count   int
	longest time.Duration
}

func (s *recordingSleep) sleep(ctx context.Context, d time.Duration) error {
	if p, ok := ctx.Value(waitKey{}).(*time.Duration); ok {
		*p = d
	}
	s.mu.Lock()
	s.count++
	s.longest = max(s.longest, d)
	s.mu.Unlock()
	return nil
}

func (s *recordingSleep) calls() int { s.mu.Lock(); defer s.mu.Unlock(); return s.count }

type budgetEnv struct {
	*env
	gi    *gatedIssuer
	sleep *recordingSleep
}

func newBudgetEnv(t *testing.T, budget STSBudget, attempts int) *budgetEnv {
	t.Helper()
	be := &budgetEnv{sleep: &recordingSleep{}}
	be.env = newEnv(t, func(o *Options) {
		be.gi = &gatedIssuer{clk: nil, attempts: attempts}
		o.Issuer = be.gi
		o.STSBudget = budget
		o.Sleep = be.sleep.sleep
		o.RefusalBurst = -1 // every throttled vend recorded one by one
	})
	be.gi.clk = be.clk
	return be
}

// burst vends n distinct builds at once and returns the granted and the
// refused.
func (be *budgetEnv) burst(t *testing.T, conn string, from, n int) (granted int, refused []error) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := be.svc.Vend(context.Background(), be.agent, credbroker.VendRequest{Connector: conn, Plan: "OPS-A", Build: fmt.Sprint(from + i)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				refused = append(refused, err)
				return
			}
			granted++
		}()
	}
	wg.Wait()
	return granted, refused
}

// checkWindows fails if, in any window of length w, more STS attempts are
// sent than the budget allows: burst + rate × w.
func checkWindows(t *testing.T, sent []time.Time, rate float64, burst int, w time.Duration) {
	t.Helper()
	allowed := burst + int(rate*w.Seconds()+1e-9)
	for i := range sent {
		j := i
		for j < len(sent) && sent[j].Sub(sent[i]) < w {
			j++
		}
		if j-i > allowed {
			t.Fatalf("%d STS attempts within %s from %s; the budget allows %d", j-i, w, sent[i].Format(time.TimeOnly), allowed)
		}
	}
}

func TestSTSBudgetBoundsABurstOfBuilds(t *testing.T) {
	const rate, burst = 10.0, 5
	wait := 1050 * time.Millisecond // room for 10 more calls after the burst
	be := newBudgetEnv(t, STSBudget{Rate: rate, Burst: burst, MaxWait: wait}, 1)
	be.connector(t, credbroker.ConnectorSpec{Name: "deploy"})

	granted, refused := be.burst(t, "deploy", 0, 60)
	// The clock stands still: exactly the burst, plus the calls whose
	// turn comes within the allowed wait.
	if want := burst + 10; granted != want || len(refused) != 60-want {
		t.Fatalf("granted %d, refused %d; want %d granted", granted, len(refused), want)
	}
	for _, err := range refused {
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeThrottled || e.Field != "sts" ||
			!strings.Contains(e.Message, "the broker's STS budget for access key ****0001 in us-east-1 (10 calls per second, bursts of 5) is used up") ||
			!strings.Contains(e.Fix, "--sts-rate") {
			t.Fatalf("refusal: %v", err)
		}
	}
	if be.sleep.longest > wait {
		t.Fatalf("a vend waited %s, more than the %s allowed", be.sleep.longest, wait)
	}
	sent := be.gi.sentTimes()
	if len(sent) != granted {
		t.Fatalf("%d STS calls for %d granted vends", len(sent), granted)
	}
	checkWindows(t, sent, rate, burst, time.Second)
	checkWindows(t, sent, rate, burst, 300*time.Millisecond)

	// The refusals are audited as throttled.
	recs, _ := be.st.ListAudit(context.Background(), credbroker.AuditFilter{Action: credbroker.ActionVend, Outcome: credbroker.OutcomeRefused})
	if len(recs) != len(refused) || recs[0].ErrorCode != string(credbroker.CodeThrottled) {
		t.Fatalf("%d refusals audited (%+v), want %d throttled", len(recs), recs[0], len(refused))
	}

	// Time passes: the budget refills, and the next burst is bounded the
	// same way, over the whole run.
	be.clk.Add(10 * time.Second)
	granted2, _ := be.burst(t, "deploy", 1000, 60)
	if granted2 != burst+10 {
		t.Fatalf("after the refill: granted %d", granted2)
	}
	checkWindows(t, be.gi.sentTimes(), rate, burst, time.Second)
	checkWindows(t, be.gi.sentTimes(), rate, burst, 12*time.Second)
}

func TestSTSBudgetCountsEveryAttempt(t *testing.T) {
	// Three attempts per call (two throttled retries): the budget counts
	// attempts, so fewer vends get through, and the attempts stay within it.
	const rate, burst = 10.0, 6
	be := newBudgetEnv(t, STSBudget{Rate: rate, Burst: burst, MaxWait: 1050 * time.Millisecond}, 3)
	be.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	granted, _ := be.burst(t, "deploy", 0, 40)
	sent := be.gi.sentTimes()
	if granted > (burst+10)/3 || len(sent) > burst+10 {
		t.Fatalf("%d vends granted with %d attempts; the budget allows %d attempts", granted, len(sent), burst+10)
	}
	checkWindows(t, sent, rate, burst, time.Second)
}

func TestSTSBudgetSparesCachedSessions(t *testing.T) {
	const rate, burst = 1.0, 2
	be := newBudgetEnv(t, STSBudget{Rate: rate, Burst: burst, MaxWait: 2500 * time.Millisecond}, 1)
	be.connector(t, credbroker.ConnectorSpec{Name: "deploy", DefaultDurationSeconds: 3600})
	ctx := context.Background()
	cachedReq := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "cached"}
	first, err := be.svc.Vend(ctx, be.agent, cachedReq)
	if err != nil {
		t.Fatal(err)
	}
	exhaust := func(from int) {
		t.Helper()
		_, refused := be.burst(t, "deploy", from, 10)
		if len(refused) == 0 {
			t.Fatal("the burst did not use the budget up")
		}
	}
	vendCached := func() (*credbroker.VendResult, error) {
		calls, sleeps := be.gi.n.Load(), be.sleep.calls()
		r, err := be.svc.Vend(ctx, be.agent, cachedReq)
		if err == nil && r.AccessKeyID == first.AccessKeyID && (be.gi.n.Load() != calls || be.sleep.calls() != sleeps) {
			t.Fatal("serving the cached session made an STS call or waited for the budget")
		}
		return r, err
	}

	// Budget used up: the cached session is still served, with no call.
	exhaust(0)
	if r, err := vendCached(); err != nil || r.AccessKeyID != first.AccessKeyID {
		t.Fatalf("cached session while the budget is used up: %v", err)
	}

	// In the advisory refresh window (7.5 min before expiry for a 1 h
	// session), the cached session is served and a refresh is tried in the
	// background without queueing: refused at once.
	be.clk.Add(53 * time.Minute)
	exhaust(100)
	be.clk.Add(time.Second) // the next turn is now within the allowed wait
	outcomes := be.gi.watch()
	sleeps := be.sleep.calls()
	r, err := vendCached()
	if err != nil || r.AccessKeyID != first.AccessKeyID {
		t.Fatalf("advisory window with the budget used up: %v", err)
	}
	if err := <-outcomes; credbroker.ErrorCode(err) != credbroker.CodeThrottled || be.sleep.calls() != sleeps {
		t.Fatalf("the advisory refresh with the budget used up: %v, %d sleeps (want refused at once)", err, be.sleep.calls()-sleeps)
	}
	// It backs off: the next vends are served with no further try.
	for range 5 {
		if r, err := vendCached(); err != nil || r.AccessKeyID != first.AccessKeyID {
			t.Fatalf("advisory window, backing off: %v", err)
		}
	}
	select {
	case err := <-outcomes:
		t.Fatalf("an advisory refresh was tried again during its backoff: %v", err)
	default:
	}

	// In the mandatory window (3.75 min before expiry) it must refresh:
	// with the budget used up, 429, never the old session.
	be.clk.Add(4 * time.Minute)
	exhaust(200)
	r, err = be.svc.Vend(ctx, be.agent, cachedReq)
	if r != nil || credbroker.ErrorCode(err) != credbroker.CodeThrottled {
		t.Fatalf("mandatory window with the budget used up: %v, %v", r, err)
	}

	// Budget back: a fresh session, valid for the caller.
	be.clk.Add(time.Minute)
	r, err = be.svc.Vend(ctx, be.agent, cachedReq)
	if err != nil || r.AccessKeyID == first.AccessKeyID || r.Expiration.Sub(be.clk.Now()) < 59*time.Minute {
		t.Fatalf("after the budget refilled: %v %+v", err, r)
	}
}

func TestSTSBudgetKeys(t *testing.T) {
	be := newBudgetEnv(t, STSBudget{Rate: 1, Burst: 1, MaxWait: time.Millisecond}, 1)
	ctx := context.Background()
	be.connector(t, credbroker.ConnectorSpec{Name: "a"})
	be.connector(t, credbroker.ConnectorSpec{Name: "a-too"}) // same key and region as a
	be.connector(t, credbroker.ConnectorSpec{Name: "a-eu", Region: "eu-west-1"})
	be.connector(t, credbroker.ConnectorSpec{Name: "b", Base: credbroker.BaseKeys, AccessKeyID: "AKIABASEKEY000000002", SecretAccessKey: baseSecret})
	be.connector(t, credbroker.ConnectorSpec{Name: "spoke", Base: credbroker.BaseConnector, BaseConnector: "a",
		RoleARN: "arn:aws:iam::210987654321:role/spoke"})

	ids := map[string]string{}
	for _, name := range []string{"a", "a-too", "a-eu", "b", "spoke"} {
		c, err := be.svc.connector(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = be.svc.budgetID(ctx, c, 0).key + "/" + c.Region
	}
	if ids["a"] != ids["a-too"] || ids["a"] == ids["a-eu"] || ids["a"] == ids["b"] {
		t.Fatalf("keys: %v", ids)
	}
	if ids["spoke"] != "account:123456789012/us-east-1" {
		t.Fatalf("a connector on connector a spends account 123456789012's budget: %q", ids["spoke"])
	}

	// One call each: a and a-too share one turn; a-eu and b have their own.
	vend := func(conn string) error {
		_, err := be.svc.Vend(ctx, be.agent, credbroker.VendRequest{Connector: conn, Plan: "OPS-A", Build: "1"})
		return err
	}
	for conn, want := range map[string]credbroker.Code{"a": "", "a-eu": "", "b": ""} {
		if err := vend(conn); credbroker.ErrorCode(err) != want {
			t.Fatalf("%s: %v", conn, err)
		}
	}
	if err := vend("a-too"); credbroker.ErrorCode(err) != credbroker.CodeThrottled {
		t.Fatalf("a-too shares a's budget: %v", err)
	}
	// The spoke's base session (connector a's) needs a's budget: used up.
	if err := vend("spoke"); credbroker.ErrorCode(err) != credbroker.CodeThrottled || !strings.Contains(err.Error(), "access key ****0001") {
		t.Fatalf("spoke: %v", err)
	}

	// Idle limiters are dropped once they are full again.
	if be.svc.budget.size() == 0 {
		t.Fatal("no limiters")
	}
	be.clk.Add(time.Hour)
	be.svc.sweep()
	if n := be.svc.budget.size(); n != 0 {
		t.Fatalf("%d idle limiters kept", n)
	}
}

func TestSTSBudgetGate(t *testing.T) {
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	sl := &recordingSleep{}
	b := newSTSBudgets(STSBudget{Rate: 1, Burst: 1, MaxWait: 10 * time.Second}, clk.Now, sl.sleep)
	id := budgetID{key: "key:AKIAEXAMPLE", shown: "access key ****MPLE"}
	gate := b.gate(id, "us-east-1")
	ctx := context.Background()
	if err := gate(ctx); err != nil || sl.calls() != 0 {
		t.Fatalf("first call: %v, %d sleeps", err, sl.calls())
	}
	// The next turn is 1 s away: waited for.
	if err := gate(ctx); err != nil || sl.calls() != 1 {
		t.Fatalf("second call: %v", err)
	}
	// A deadline nearer than the turn: refused at once, the turn given back.
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err := gate(dctx)
	if credbroker.ErrorCode(err) != credbroker.CodeThrottled || !strings.Contains(err.Error(), "the next turn is 2s away") {
		t.Fatalf("deadline: %v", err)
	}
	// An advisory refresh of the session cache does not wait: refused at once.
	if err := gate(advisoryContext(t)); credbroker.ErrorCode(err) != credbroker.CodeThrottled || sl.calls() != 1 {
		t.Fatalf("advisory refresh: %v, %d sleeps", err, sl.calls())
	}
	// A sleep that gives up returns the turn.
	b.sleep = func(context.Context, time.Duration) error { return context.Canceled }
	if err := gate(ctx); credbroker.ErrorCode(err) != credbroker.CodeThrottled || !strings.Contains(err.Error(), "gave up while waiting") {
		t.Fatalf("canceled wait: %v", err)
	}
	b.sleep = sl.sleep
	if err := gate(dctx); !strings.Contains(fmt.Sprint(err), "the next turn is 2s away") {
		t.Fatalf("turns given back: %v", err)
	}

	// Off: no gate at all.
	if g := newSTSBudgets(STSBudget{Rate: -1}, clk.Now, nil).gate(id, "us-east-1"); g != nil {
		t.Fatal("a budget turned off still gates")
	}
	// Defaults.
	if d := (STSBudget{}).withDefaults(); d.Rate != DefaultSTSRate || d.Burst != DefaultSTSBurst || d.MaxWait != DefaultSTSWait {
		t.Fatalf("defaults %+v", d)
	}
	if DefaultSTSRate+DefaultSTSBurst > 600 {
		t.Fatal("the default budget is not well under STS's 600 calls per second")
	}
}

// advisoryContext returns the context of an advisory refresh, as a
// credcache.Cache gives it to its provider: a session of an hour, asked
// for 55 minutes into its life.
func advisoryContext(t *testing.T) context.Context {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	got := make(chan context.Context, 2)
	c := credcache.New(credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
		got <- ctx
		return credbroker.Credentials{AccessKeyID: "ASIAADVISORYEXAMPLE", SecretAccessKey: "s", Expires: clk.Now().Add(time.Hour)}, nil
	}), credcache.Options{Now: clk.Now})
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if credcache.Advisory(<-got) {
		t.Fatal("the first fill of a cache is marked advisory")
	}
	clk.Add(55 * time.Minute)
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx := <-got
	if !credcache.Advisory(ctx) {
		t.Fatal("the refresh in the advisory window is not marked advisory")
	}
	return ctx
}
