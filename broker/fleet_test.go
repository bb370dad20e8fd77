package broker

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/oidc"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/seal"
)

// fleetSTS stands in for STS behind brokers of a fleet: every Issue takes
// its turn in the budget (BeforeAttempt) and counts; while hold is set,
// the next Issue waits for release (or for its context) before it answers.
type fleetSTS struct {
	clk   *clock
	calls atomic.Int64

	mu      sync.Mutex
	hold    bool
	held    chan struct{} // closed when a call is being held
	release chan struct{}
}

func (f *fleetSTS) Check(credbroker.IssueRequest) ([]string, error) { return nil, nil }

// holdNext makes the next Issue wait for the returned release function;
// held is closed once it waits.
func (f *fleetSTS) holdNext() (held <-chan struct{}, release func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hold, f.held, f.release = true, make(chan struct{}), make(chan struct{})
	rel := f.release
	var once sync.Once
	return f.held, func() { once.Do(func() { close(rel) }) }
}

func (f *fleetSTS) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	if req.BeforeAttempt != nil {
		if err := req.BeforeAttempt(ctx); err != nil {
			return credbroker.Credentials{}, err
		}
	}
	n := f.calls.Add(1)
	f.mu.Lock()
	hold, held, release := f.hold, f.held, f.release
	f.hold = false
	f.mu.Unlock()
	if hold {
		close(held)
		select {
		case <-release:
		case <-ctx.Done():
			return credbroker.Credentials{}, ctx.Err()
		}
	}
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAFLEET%011d", n),
		SecretAccessKey: fmt.Sprintf("fleet-secret-%d", n),
		SessionToken:    fmt.Sprintf("fleet-token-%d", n),
		Expires:         f.clk.Now().Add(req.Duration),
	}, nil
}

// spyFleet is a broker's Fleet, counting the session locks it was refused
// and failing every call while fail is set.
type spyFleet struct {
	credbroker.Fleet
	refused atomic.Int64
	fail    atomic.Bool
}

var errFleetDown = credbroker.Errorf(credbroker.CodeUnavailable, "", "store is unavailable: cannot reach the database")

func (f *spyFleet) SharedSession(ctx context.Context, key string) (credbroker.SharedSession, error) {
	if f.fail.Load() {
		return credbroker.SharedSession{}, errFleetDown
	}
	return f.Fleet.SharedSession(ctx, key)
}

func (f *spyFleet) TryLockSession(ctx context.Context, key string) (bool, error) {
	if f.fail.Load() {
		return false, errFleetDown
	}
	ok, err := f.Fleet.TryLockSession(ctx, key)
	if err == nil && !ok {
		f.refused.Add(1)
	}
	return ok, err
}

func (f *spyFleet) TakeTurn(ctx context.Context, bucket string, rate float64, burst int, maxWait time.Duration) (time.Duration, bool, error) {
	if f.fail.Load() {
		return 0, false, errFleetDown
	}
	return f.Fleet.TakeTurn(ctx, bucket, rate, burst, maxWait)
}

func (f *spyFleet) ClaimTokenID(ctx context.Context, key string, until time.Time) (bool, error) {
	if f.fail.Load() {
		return false, errFleetDown
	}
	return f.Fleet.ClaimTokenID(ctx, key, until)
}

// recObserver counts what a broker tells its FleetObserver.
type recObserver struct {
	mu     sync.Mutex
	fleet  map[FleetOutcome]int
	turns  int
	denied int
	shared int // turns of the fleet's budget
	waits  int // turns that waited
}

func (o *recObserver) FleetSession(f FleetOutcome, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fleet[f]++
}

func (o *recObserver) BudgetTurn(waited time.Duration, refused, fleet bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.turns++
	if waited > 0 {
		o.waits++
	}
	if refused {
		o.denied++
	}
	if fleet {
		o.shared++
	}
}

func (o *recObserver) fleetCount(f FleetOutcome) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fleet[f]
}

// fleetBroker is one broker of a test fleet: its own store on the
// fleet's database, and its own Service.
type fleetBroker struct {
	svc   *Service
	st    *postgres.Store
	spy   *spyFleet
	obs   *recObserver
	rec   *recorder // the broker's Observer
	agent *credbroker.Token
}

// testFleet is n brokers on one PostgreSQL database with one master key
// and one fake STS, with a connector "deploy" made through the first.
type testFleet struct {
	b    []*fleetBroker
	sts  *fleetSTS
	clk  *clock
	dsn  string // the database, for psql behind the stores
	ring *seal.Ring
}

func newTestFleet(t *testing.T, n int, mods ...func(*Options)) *testFleet {
	t.Helper()
	ctx := context.Background()
	dsn := testpeers.Postgres(t)
	key, _ := seal.GenerateKey()
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	// The database's clock decides which shared sessions have expired, so
	// the brokers' clock starts at the real time.
	clk := &clock{t: time.Now()}
	f := &testFleet{sts: &fleetSTS{clk: clk}, clk: clk, ring: ring}
	for range n {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		spy := &spyFleet{Fleet: st.Fleet()}
		obs := &recObserver{fleet: map[FleetOutcome]int{}}
		rec := &recorder{}
		opts := Options{Store: st, Keys: ring, Issuer: f.sts, Now: clk.Now, Fleet: spy, FleetObserver: obs, Observer: rec, FleetWait: 10 * time.Second}
		for _, m := range mods {
			m(&opts)
		}
		svc, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		f.b = append(f.b, &fleetBroker{svc: svc, st: st, spy: spy, obs: obs, rec: rec})
	}
	first := f.b[0].svc
	nt, err := first.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "admin", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := first.Authenticate(ctx, nt.Secret)
	if err != nil {
		t.Fatal(err)
	}
	at, err := first.CreateToken(ctx, admin, credbroker.TokenSpec{Name: "agents", Role: credbroker.RoleAgent, Plans: "OPS-*"})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range f.b {
		if b.agent, err = b.svc.Authenticate(ctx, at.Secret); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := first.CreateConnector(ctx, admin, credbroker.ConnectorSpec{
		Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Region: "us-east-1",
		RoleARN: "arn:aws:iam::123456789012:role/deploy", AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: baseSecret,
		DefaultDurationSeconds: 900, MaxDurationSeconds: 3600,
	}); err != nil {
		t.Fatal(err)
	}
	f.dsn = dsn
	return f
}

// vend asks broker i for the deploy connector's session of build.
func (f *testFleet) vend(i int, build string, minRemaining int) (*credbroker.VendResult, error) {
	b := f.b[i]
	return b.svc.Vend(context.Background(), b.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: build, MinRemainingSeconds: minRemaining})
}

// details counts the details of the granted vend records of build.
func (f *testFleet) details(t *testing.T, build string) map[string]int {
	t.Helper()
	recs, err := f.b[0].st.ListAudit(context.Background(), credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range recs {
		if r.Action == credbroker.ActionVend && r.Build == build && r.Outcome == credbroker.OutcomeGranted {
			out[r.Detail]++
		}
	}
	return out
}

// waitFor waits until cond holds, failing t if it does not within 20 s
// (a bound on a hang, not a measure: cond holds within milliseconds).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20 s for %s", what)
		}
	}
}

// Identical cold vends at three brokers make one STS call: the broker
// that takes the session's lock calls, the others wait for it and serve
// its session. The audit says "issued" once and "shared session" at each
// other broker.
func TestFleetOneCallPerBurst(t *testing.T) {
	f := newTestFleet(t, 3)
	held, release := f.sts.holdNext()
	defer release()
	const each = 10
	keys := make(chan string, 3*each)
	var wg sync.WaitGroup
	for i := range f.b {
		for range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.vend(i, "7", 0)
				if err != nil {
					t.Errorf("broker %d: %v", i, err)
					return
				}
				keys <- res.AccessKeyID
			}()
		}
	}
	// One broker is in its STS call; the other two must have found the
	// lock taken before it answers.
	<-held
	waitFor(t, "the two other brokers to find the lock taken", func() bool {
		waiting := 0
		for _, b := range f.b {
			if b.spy.refused.Load() > 0 {
				waiting++
			}
		}
		return waiting == 2
	})
	release()
	wg.Wait()
	close(keys)
	seen := map[string]bool{}
	for k := range keys {
		seen[k] = true
	}
	if n := f.sts.calls.Load(); n != 1 || len(seen) != 1 {
		t.Fatalf("%d identical vends at three brokers made %d STS calls and got %d sessions; want 1 and 1", 3*each, n, len(seen))
	}
	var led, waited int
	for _, b := range f.b {
		led += b.obs.fleetCount(FleetLed)
		waited += b.obs.fleetCount(FleetWaited)
	}
	if led != 1 || waited != 2 {
		t.Errorf("fleet outcomes: %d led, %d waited; want 1 and 2", led, waited)
	}
	if d := f.details(t, "7"); d["issued"] != 1 || d["shared session"] != 2 || d["cached session"] != 3*each-3 {
		t.Errorf("audit details %v; want 1 issued, 2 shared session, %d cached session", d, 3*each-3)
	}
}

// A session one broker got is served by another from the fleet's store,
// with no STS call, while it has more left than the vend asks for; a vend
// needing more gets a session of its own, which replaces the shared one.
func TestFleetSharedSessionReuseRules(t *testing.T) {
	f := newTestFleet(t, 3)
	first, err := f.vend(0, "8", 0)
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.vend(1, "8", 0)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessKeyID != first.AccessKeyID || f.sts.calls.Load() != 1 || f.b[1].obs.fleetCount(FleetShared) != 1 {
		t.Fatalf("broker 1 got %s (STS calls %d), want broker 0's shared session %s", second.AccessKeyID, f.sts.calls.Load(), first.AccessKeyID)
	}
	// Another build is another session.
	if other, err := f.vend(1, "9", 0); err != nil || other.AccessKeyID == first.AccessKeyID {
		t.Fatalf("another build: %v %v", other, err)
	}
	// 900-second sessions; 200 s later 700 s are left. A vend needing 800
	// does not take the shared one: it gets its own, which then serves
	// the next broker that needs that much.
	f.clk.Add(200 * time.Second)
	third, err := f.vend(2, "8", 800)
	if err != nil {
		t.Fatal(err)
	}
	if third.AccessKeyID == first.AccessKeyID || f.b[2].obs.fleetCount(FleetLed) != 1 {
		t.Fatalf("a vend needing 800 s got the shared session with 700 s left")
	}
	if again, err := f.vend(0, "8", 0); err != nil || again.AccessKeyID != first.AccessKeyID {
		t.Fatalf("broker 0's own cache: %v %v", again, err)
	}
	// Broker 1 has the first session in its own cache, too short for a
	// vend needing 800 s: it looks in the fleet's store and finds the
	// third.
	fourth, err := f.vend(1, "8", 800)
	if err != nil || fourth.AccessKeyID != third.AccessKeyID {
		t.Fatalf("broker 1 needing 800 s: %v %v; want the third session %s from the store", fourth, err, third.AccessKeyID)
	}
	if n := f.sts.calls.Load(); n != 3 {
		t.Fatalf("%d STS calls, want 3 (build 8 twice, build 9 once)", n)
	}
	// Expired by the database's clock, shared sessions go at the sweep.
	testpeers.PSQL(t, f.dsn, `UPDATE shared_sessions SET expires_us = 1`)
	f.b[0].svc.sweepFleet()
	if rows := testpeers.PSQL(t, f.dsn, `SELECT count(*) FROM shared_sessions`); rows != "0" {
		t.Fatalf("%s shared sessions after the sweep", rows)
	}
}

// A shared session whose row was changed in the database is never served:
// a blob copied from another session does not open under this key. The
// broker gets a session of its own, which replaces the row.
func TestFleetTamperedSessionNotServed(t *testing.T) {
	f := newTestFleet(t, 3)
	a, err := f.vend(0, "10", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.vend(0, "11", 0); err != nil {
		t.Fatal(err)
	}
	// The two rows swap their sealed sessions.
	swapped := testpeers.PSQL(t, f.dsn, `WITH u AS (UPDATE shared_sessions SET blob = (SELECT s.blob FROM shared_sessions s WHERE s.key <> shared_sessions.key) RETURNING 1)
		SELECT count(*) FROM u`)
	if swapped != "2" {
		t.Fatalf("swapped %s rows, want 2", swapped)
	}
	f.clk.Add(time.Second)
	b, err := f.vend(1, "10", 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.AccessKeyID == a.AccessKeyID || f.b[1].obs.fleetCount(FleetLed) != 1 || f.sts.calls.Load() != 3 {
		t.Fatalf("broker 1 served %s after the tamper (STS calls %d); want a session of its own", b.AccessKeyID, f.sts.calls.Load())
	}
	c, err := f.vend(2, "10", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != b.AccessKeyID || f.b[2].obs.fleetCount(FleetShared) != 1 {
		t.Fatalf("broker 2 got %s; want broker 1's session %s from the replaced row", c.AccessKeyID, b.AccessKeyID)
	}
}

// A broker that holds a session's lock and goes away (its connection to
// the database ends, as when it is killed) leaves no one waiting: a broker
// waiting for it takes the lock and calls STS itself.
func TestFleetHolderGoneFallsBack(t *testing.T) {
	f := newTestFleet(t, 2)
	held, release := f.sts.holdNext()
	defer release()
	done := make(chan error, 1)
	go func() {
		_, err := f.vend(0, "12", 0)
		done <- err
	}()
	<-held
	waiter := make(chan *credbroker.VendResult, 1)
	go func() {
		res, err := f.vend(1, "12", 0)
		if err != nil {
			t.Error(err)
		}
		waiter <- res
	}()
	waitFor(t, "broker 1 to find the lock taken", func() bool { return f.b[1].spy.refused.Load() > 0 })
	// Broker 0 "dies": its store closes, and the database releases the
	// lock held on its connection.
	f.b[0].st.Close()
	res := <-waiter
	if res == nil {
		t.FailNow()
	}
	if f.b[1].obs.fleetCount(FleetFallback) != 1 || f.sts.calls.Load() != 2 {
		t.Fatalf("fleet outcomes %v, STS calls %d; want one fallback after the first call", f.b[1].obs.fleet, f.sts.calls.Load())
	}
	release()
	if err := <-done; err == nil {
		t.Error("broker 0 vended with its store closed")
	}
}

// A broker whose lock holder neither answers nor goes away waits no
// longer than FleetWait, then calls STS itself.
func TestFleetWaitBounded(t *testing.T) {
	f := newTestFleet(t, 2, func(o *Options) { o.FleetWait = 200 * time.Millisecond })
	held, release := f.sts.holdNext()
	first := make(chan error, 1)
	go func() {
		_, err := f.vend(0, "13", 0)
		first <- err
	}()
	defer func() {
		release()
		<-first
	}()
	<-held
	res, err := f.vend(1, "13", 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.b[1].obs.fleetCount(FleetTimeout) != 1 || res.AccessKeyID != "ASIAFLEET00000000002" {
		t.Fatalf("outcomes %v, got %s; want a timeout and a call of its own", f.b[1].obs.fleet, res.AccessKeyID)
	}
}

// The STS budget is the fleet's: three brokers with a burst of 2 between
// them make two calls, the rest are refused saying whose budget it is.
// While the database cannot be asked, each broker's own budget applies,
// and sessions are still issued.
func TestFleetBudget(t *testing.T) {
	f := newTestFleet(t, 3, func(o *Options) {
		o.STSBudget = STSBudget{Rate: 0.001, Burst: 2, MaxWait: time.Second}
	})
	granted, refused := 0, 0
	for i := range 6 {
		_, err := f.vend(i%3, fmt.Sprint("budget-", i), 0)
		switch {
		case err == nil:
			granted++
		case code(err) == credbroker.CodeThrottled && strings.Contains(err.Error(), "the STS budget that the brokers on this database share"):
			refused++
		default:
			t.Fatalf("vend %d: %v", i, err)
		}
	}
	if granted != 2 || refused != 4 || f.sts.calls.Load() != 2 {
		t.Fatalf("%d granted, %d refused, %d STS calls; want 2, 4, 2", granted, refused, f.sts.calls.Load())
	}
	// Each turn is told once: to the FleetObserver as a turn of the
	// fleet's budget, and a refused one to the Observer as one refusal.
	if got := f.turns(); got != (turnCounts{turns: 6, denied: 4, fleet: 6, refusals: 4, led: 6}) {
		t.Errorf("observed %+v; want 6 fleet turns, 4 refused and 4 refusals, 6 sessions led", got)
	}
	for _, b := range f.b {
		b.spy.fail.Store(true)
	}
	for i := range 3 {
		if _, err := f.vend(i, fmt.Sprint("db-down-", i), 0); err != nil {
			t.Fatalf("vend with the fleet down (the store's records still work): %v", err)
		}
	}
	var unavailable, local int
	for _, b := range f.b {
		unavailable += b.obs.fleetCount(FleetUnavailable)
		b.obs.mu.Lock()
		local += b.obs.turns - b.obs.shared
		b.obs.mu.Unlock()
	}
	if unavailable != 3 || local != 3 || f.sts.calls.Load() != 5 {
		t.Fatalf("with the fleet down: %d unavailable, %d local turns, %d STS calls; want 3, 3, 5", unavailable, local, f.sts.calls.Load())
	}
	if got := f.turns(); got != (turnCounts{turns: 9, denied: 4, fleet: 6, refusals: 4, led: 6}) {
		t.Errorf("with the fleet down, observed %+v; want 3 more turns, all local and granted", got)
	}
}

// turnCounts is what the brokers of a fleet told their observers of the
// STS budget, summed.
type turnCounts struct {
	turns, denied, fleet, waits int // FleetObserver.BudgetTurn
	refusals, budgetWaits       int // Observer.BudgetRefusal, BudgetWait
	led                         int // FleetObserver.FleetSession(FleetLed)
}

func (f *testFleet) turns() turnCounts {
	var c turnCounts
	for _, b := range f.b {
		b.obs.mu.Lock()
		c.turns += b.obs.turns
		c.denied += b.obs.denied
		c.fleet += b.obs.shared
		c.waits += b.obs.waits
		c.led += b.obs.fleet[FleetLed]
		b.obs.mu.Unlock()
		c.refusals += b.rec.count("budget-refusal")
		c.budgetWaits += b.rec.count("budget-wait")
	}
	return c
}

// A turn of the fleet's budget that waits is told once to each observer:
// one wait to the Observer (through the budget's sleep), one turn that
// waited to the FleetObserver.
func TestFleetBudgetWaitCountedOnce(t *testing.T) {
	var slept atomic.Int64
	f := newTestFleet(t, 2, func(o *Options) {
		// One call per 20 s: the second waits about 20 s for its turn,
		// slept at once here.
		o.STSBudget = STSBudget{Rate: 0.05, Burst: 1, MaxWait: 25 * time.Second}
		o.Sleep = func(context.Context, time.Duration) error { slept.Add(1); return nil }
	})
	for i := range 2 {
		if _, err := f.vend(i, fmt.Sprint("wait-", i), 0); err != nil {
			t.Fatalf("vend %d: %v", i, err)
		}
	}
	if got := f.turns(); slept.Load() != 1 || got != (turnCounts{turns: 2, fleet: 2, waits: 1, budgetWaits: 1, led: 2}) {
		t.Errorf("slept %d times, observed %+v; want 1 sleep, 2 fleet turns of which 1 waited, 1 budget wait", slept.Load(), got)
	}
	if n := f.sts.calls.Load(); n != 2 {
		t.Errorf("%d STS calls, want 2", n)
	}
}

// An ID token of an issuer that rejects replays is accepted once by the
// whole fleet: used at one broker, it is refused at the others, whose own
// memory has never seen it. While the fleet's record cannot be read, such
// a token is refused (503), never let through, and the record keeps no
// hash that names the token.
func TestFleetTokenUsedOnce(t *testing.T) {
	f := newTestFleet(t, 3, func(o *Options) {
		o.Verifier = oidc.New(oidc.Options{Now: o.Now, RefreshInterval: time.Second})
		o.RefusalBurst = -1
	})
	ctx := context.Background()
	is := testpeers.StartIssuer(t)
	is.Now = f.clk.Now
	first := f.b[0].svc
	nt, err := first.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "admin-2", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := first.Authenticate(ctx, nt.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateIssuer(ctx, admin, credbroker.TrustedIssuer{Name: "github", URL: is.URL, Audiences: []string{"credbroker"}, RejectReplay: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := first.CreateBinding(ctx, admin, credbroker.Binding{Name: "gh", Issuer: "github", Subject: "repo:acme/*", PlanTemplate: "GH-{repository}"}); err != nil {
		t.Fatal(err)
	}
	token := func() string { return is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker")) }

	raw := token()
	if _, err := f.b[1].svc.Authenticate(ctx, raw); err != nil {
		t.Fatalf("the first use of a token: %v", err)
	}
	for _, i := range []int{0, 2, 1} {
		_, err := f.b[i].svc.Authenticate(ctx, raw)
		if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnauthorized || !strings.Contains(e.Message, "was already used") {
			t.Fatalf("the token used at broker 1, again at broker %d: %v, want refused as already used", i, err)
		}
	}
	// Concurrent first uses of one token at every broker: one wins.
	raw = token()
	var wg sync.WaitGroup
	var won, refused atomic.Int64
	for i := range 3 {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.b[i].svc.Authenticate(ctx, raw); err == nil {
					won.Add(1)
				} else if credbroker.ErrorCode(err) == credbroker.CodeUnauthorized {
					refused.Add(1)
				}
			}()
		}
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != 11 {
		t.Fatalf("12 concurrent uses of one token over 3 brokers: %d accepted and %d refused, want 1 and 11", won.Load(), refused.Load())
	}

	// The fleet's record down: a fresh token is refused, with 503.
	f.b[2].spy.fail.Store(true)
	_, err = f.b[2].svc.Authenticate(ctx, token())
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Fatalf("a token while the fleet cannot be read: %v, want unavailable", err)
	}
	f.b[2].spy.fail.Store(false)
	if _, err := f.b[2].svc.Authenticate(ctx, token()); err != nil {
		t.Fatalf("a fresh token once the fleet is back: %v", err)
	}
	// The database holds hashes, not the jti.
	if rows := testpeers.PSQL(t, f.dsn, `SELECT count(*) FROM used_token_ids WHERE key ~ '^[0-9a-f]{64}$'`); rows != "3" {
		t.Fatalf("used_token_ids holds %s hashed keys, want 3 (the three tokens accepted)", rows)
	}
	if rows := testpeers.PSQL(t, f.dsn, `SELECT count(*) FROM used_token_ids`); rows != "3" {
		t.Fatalf("used_token_ids holds %s rows, want 3", rows)
	}
}
