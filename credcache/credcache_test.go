package credcache

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// stsFake issues credentials that live for life, counting calls.
type stsFake struct {
	clk   *clock
	life  time.Duration
	calls atomic.Int64
	fail  atomic.Bool
	delay time.Duration
	gate  chan struct{}
}

func (f *stsFake) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	n := f.calls.Add(1)
	if f.gate != nil {
		<-f.gate
	}
	if f.fail.Load() {
		return credbroker.Credentials{}, errors.New("sts down")
	}
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIAFAKE%012d", n),
		SecretAccessKey: "secret",
		SessionToken:    "token",
		Expires:         f.clk.Now().Add(f.life),
		Source:          "fake",
	}, nil
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func TestReusesUntilRefreshWindow(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour}
	c := New(f, Options{Now: clk.Now})
	ctx := context.Background()
	a, err := c.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(40 * time.Minute)
	b, _ := c.Retrieve(ctx)
	if a.AccessKeyID != b.AccessKeyID || f.calls.Load() != 1 {
		t.Fatalf("expected reuse, calls=%d", f.calls.Load())
	}
	// An hour's credentials: advisory window 7.5 min. At 53 min, a
	// refresh starts in the background and the current ones are served.
	clk.Add(13 * time.Minute)
	d, _ := c.Retrieve(ctx)
	if d.AccessKeyID != a.AccessKeyID {
		t.Fatal("a caller in the advisory window waited for the refresh instead of getting the current credentials")
	}
	settle(c)
	d, _ = c.Retrieve(ctx)
	if d.AccessKeyID == a.AccessKeyID || f.calls.Load() != 2 {
		t.Fatalf("expected a refresh in the advisory window, calls=%d", f.calls.Load())
	}
}

// waiting returns how many callers wait for the refresh running in c.
func waiting(c *Cache) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flight == nil {
		return 0
	}
	return c.flight.waiters
}

// running reports whether a refresh is running in c.
func running(c *Cache) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flight != nil
}

// settle waits for the refresh running in c, if any, to end.
func settle(c *Cache) {
	c.mu.Lock()
	f := c.flight
	c.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

func TestAdvisoryFailureServesCached(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour}
	var told atomic.Int64
	c := New(f, Options{Now: clk.Now, OnRefreshError: func(error) { told.Add(1) }})
	ctx := context.Background()
	a, _ := c.Retrieve(ctx)
	f.fail.Store(true)
	clk.Add(54 * time.Minute) // 6 min left: advisory (7.5) but not mandatory (3.75)
	b, err := c.Retrieve(ctx)
	settle(c)
	if err != nil || b.AccessKeyID != a.AccessKeyID || told.Load() != 1 {
		t.Fatalf("advisory failure should serve cached: err=%v told=%d", err, told.Load())
	}
	clk.Add(3 * time.Minute) // 3 min left: mandatory
	if _, err := c.Retrieve(ctx); err == nil {
		t.Fatal("mandatory window with failing source must fail, not serve")
	}
}

func TestNeverExpired(t *testing.T) {
	// Drive an hour of 900-second sessions with random caller minimums and
	// check that nothing served is within its mandatory window, and count
	// the upstream calls.
	clk := newClock()
	f := &stsFake{clk: clk, life: 900 * time.Second}
	c := New(f, Options{Now: clk.Now})
	ctx := context.Background()
	for step := 0; step < 3600; step++ {
		cr, err := c.Retrieve(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if left := cr.Expires.Sub(clk.Now()); left <= 0 {
			t.Fatalf("served expired credentials at step %d", step)
		}
		clk.Add(time.Second)
	}
	if n := f.calls.Load(); n < 4 || n > 5 {
		t.Fatalf("900 s sessions over an hour took %d upstream calls, want 4 or 5", n)
	}
}

func TestCallerMinimum(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour}
	c := New(f, Options{Now: clk.Now})
	ctx := context.Background()
	a, _ := c.Retrieve(ctx)
	clk.Add(30 * time.Minute)
	b, err := c.RetrieveMin(ctx, 45*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if b.AccessKeyID == a.AccessKeyID {
		t.Fatal("credentials with 30 min left served to a caller that needs 45")
	}
	// A source that cannot meet the minimum is an error.
	if _, err := c.RetrieveMin(ctx, 2*time.Hour); err == nil {
		t.Fatal("no error when fresh credentials cannot meet the minimum")
	}
}

func TestSkewedUpstreamRefused(t *testing.T) {
	clk := newClock()
	p := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{AccessKeyID: "ASIAEXPIREDEXAMPLE", SecretAccessKey: "s", Expires: clk.Now().Add(-time.Minute)}, nil
	})
	c := New(p, Options{Now: clk.Now})
	_, err := c.Retrieve(context.Background())
	if credbroker.ErrorCode(err) != credbroker.CodeUpstream {
		t.Fatalf("expired upstream credentials: got %v", err)
	}
}

func TestSingleFlight(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour, gate: make(chan struct{})}
	c := New(f, Options{Now: clk.Now})
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Retrieve(context.Background()); err != nil {
				errs <- err
			}
		}()
	}
	// Let the callers pile up on the one flight, then release it.
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(f.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("1000 concurrent callers made %d upstream calls, want 1", n)
	}
}

func TestCancelledCallerDoesNotCancelFlight(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour, gate: make(chan struct{})}
	c := New(f, Options{Now: clk.Now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { _, err := c.Retrieve(ctx); done <- err }()
	for f.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	close(f.gate)
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Fatalf("the flight should have completed for later callers; calls=%d", n)
	}
}

func TestLongLivedKeys(t *testing.T) {
	clk := newClock()
	var n atomic.Int64
	p := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		n.Add(1)
		return credbroker.Credentials{AccessKeyID: "AKIASTATICEXAMPLE", SecretAccessKey: "s"}, nil
	})
	c := New(p, Options{Now: clk.Now})
	for range 10 {
		if _, err := c.Retrieve(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Add(24 * time.Hour)
	}
	if n.Load() != 1 {
		t.Fatalf("keys without expiry fetched %d times", n.Load())
	}
}

func BenchmarkCachedRetrieve(b *testing.B) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour}
	c := New(f, Options{Now: clk.Now})
	ctx := context.Background()
	c.Retrieve(ctx)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Retrieve(ctx)
		}
	})
}

// stepped is a provider whose calls the test lets through one at a time:
// each call sends its context on started, then waits for an outcome on
// release (nil: credentials that live for life).
type stepped struct {
	clk     *clock
	life    time.Duration
	calls   atomic.Int64
	started chan context.Context
	release chan error
}

func newStepped(clk *clock, life time.Duration) *stepped {
	return &stepped{clk: clk, life: life, started: make(chan context.Context, 100), release: make(chan error, 100)}
}

func (s *stepped) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	n := s.calls.Add(1)
	s.started <- ctx
	if err := <-s.release; err != nil {
		return credbroker.Credentials{}, err
	}
	return credbroker.Credentials{
		AccessKeyID:     fmt.Sprintf("ASIASTEP%012d", n),
		SecretAccessKey: "secret",
		Expires:         s.clk.Now().Add(s.life),
	}, nil
}

// prime fills c through s with a first set of credentials.
func prime(t *testing.T, c *Cache, s *stepped) credbroker.Credentials {
	t.Helper()
	s.release <- nil
	cr, err := c.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-s.started
	return cr
}

func TestAdvisoryServesCurrentWhileOneRefreshRuns(t *testing.T) {
	clk := newClock()
	s := newStepped(clk, time.Hour)
	c := New(s, Options{Now: clk.Now, RefreshTimeout: time.Hour})
	a := prime(t, c, s)

	// 6 min left: the advisory window (7.5 min) of an hour's credentials.
	clk.Add(54 * time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	first, err := c.Retrieve(ctx)
	if err != nil || first.AccessKeyID != a.AccessKeyID {
		t.Fatalf("first caller in the advisory window: %v, %s", err, first.AccessKeyID)
	}
	// The caller that started the refresh hangs up: the refresh goes on.
	cancel()
	rctx := <-s.started
	if rctx.Err() != nil {
		t.Fatal("the refresh was cancelled with the caller that started it")
	}
	if !Advisory(rctx) {
		t.Fatal("the background refresh is not marked advisory")
	}
	if dl, ok := rctx.Deadline(); !ok || dl.Before(time.Now().Add(59*time.Minute)) {
		t.Fatalf("the refresh is not bounded by its own timeout (deadline %v, %v)", dl, ok)
	}

	// While it runs (the provider is held), every caller, at once or in a
	// crowd, gets the current credentials and no second refresh starts.
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cr, err := c.Retrieve(context.Background()); err != nil || cr.AccessKeyID != a.AccessKeyID {
				t.Errorf("caller during the refresh: %v, %s", err, cr.AccessKeyID)
			}
		}()
	}
	wg.Wait()
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("%d upstream calls, want 2 (the first fill and one refresh)", n)
	}

	s.release <- nil
	settle(c)
	b, err := c.Retrieve(context.Background())
	if err != nil || b.AccessKeyID == a.AccessKeyID || !b.Expires.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("after the refresh: %v, %+v", err, b)
	}
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("%d upstream calls after the refresh, want 2", n)
	}
}

func TestFailedAdvisoryRefreshBacksOff(t *testing.T) {
	clk := newClock()
	s := newStepped(clk, time.Hour)
	var told atomic.Int64
	c := New(s, Options{
		Now: clk.Now, Backoff: 10 * time.Second, MaxBackoff: 30 * time.Second,
		Jitter:         func() float64 { return 0 }, // every wait in full
		OnRefreshError: func(error) { told.Add(1) },
	})
	a := prime(t, c, s)
	clk.Add(54 * time.Minute) // advisory window, 2.25 min before the mandatory one
	down := errors.New("sts down")

	// fail lets the refresh a caller starts now fail, and checks that
	// callers were served the current credentials throughout.
	retrieve := func() {
		t.Helper()
		cr, err := c.Retrieve(context.Background())
		if err != nil || cr.AccessKeyID != a.AccessKeyID {
			t.Fatalf("advisory window: %v, %s", err, cr.AccessKeyID)
		}
	}
	fail := func() {
		t.Helper()
		s.release <- down
		retrieve()
		settle(c)
		select {
		case <-s.started:
		default:
			t.Fatal("no refresh was tried")
		}
	}
	fail()
	if s.calls.Load() != 2 || told.Load() != 1 {
		t.Fatalf("calls %d, told %d", s.calls.Load(), told.Load())
	}
	// Backing off: many callers, no new refresh, until 10 s have passed.
	// (A refresh starts under the cache's lock, before Retrieve returns,
	// so none running means none was started.)
	idle := func(when string) {
		t.Helper()
		if running(c) {
			t.Fatalf("a refresh started %s", when)
		}
	}
	for range 50 {
		retrieve()
		idle("during the first backoff")
	}
	// waitOut moves the clock to just before the end of a backoff of d (no
	// refresh yet), then to its end, where one refresh is tried and fails.
	waitOut := func(d time.Duration, which string) {
		t.Helper()
		clk.Add(d - time.Nanosecond)
		retrieve()
		idle("just before the end of the " + which + " backoff")
		n := s.calls.Load()
		clk.Add(time.Nanosecond)
		fail()
		if got := s.calls.Load(); got != n+1 {
			t.Fatalf("%d upstream calls at the end of the %s backoff, want %d", got, which, n+1)
		}
	}
	waitOut(10*time.Second, "first (10 s)")
	waitOut(20*time.Second, "second (twice as long)")
	waitOut(30*time.Second, "third (40 s, capped at MaxBackoff)")
	if n, m := s.calls.Load(), told.Load(); n != 5 || m != 4 {
		t.Fatalf("%d upstream calls, %d failures told; want 5 and 4", n, m)
	}

	// A success ends the backoff: the new credentials are served.
	clk.Add(30 * time.Second)
	s.release <- nil
	retrieve()
	<-s.started
	settle(c)
	b, err := c.Retrieve(context.Background())
	if err != nil || b.AccessKeyID == a.AccessKeyID {
		t.Fatalf("after a successful refresh: %v, %s", err, b.AccessKeyID)
	}
	c.mu.Lock()
	failures, retryAt := c.failures, c.retryAt
	c.mu.Unlock()
	if failures != 0 || !retryAt.IsZero() {
		t.Fatalf("a success left %d failures and a backoff until %v", failures, retryAt)
	}
}

func TestBackoffIsJitteredAndBounded(t *testing.T) {
	for _, r := range []float64{0, 0.25, 0.5, 0.999999} {
		c := New(credbroker.ProviderFunc(nil), Options{Backoff: 4 * time.Second, MaxBackoff: time.Minute, Jitter: func() float64 { return r }})
		for n := 1; n <= 100; n++ {
			full := min(4*time.Second<<min(n-1, 10), time.Minute)
			got := c.backoff(n)
			if got > full || got < full/2 {
				t.Fatalf("jitter %v, failure %d: waits %s, want within [%s, %s]", r, n, got, full/2, full)
			}
			if want := full - time.Duration(r*float64(full/2)); got != want {
				t.Fatalf("jitter %v, failure %d: waits %s, want %s", r, n, got, want)
			}
		}
	}
	// The default source of jitter stays within the bounds too.
	c := New(credbroker.ProviderFunc(nil), Options{})
	for range 1000 {
		if got := c.backoff(1); got > DefaultBackoff || got < DefaultBackoff/2 {
			t.Fatalf("default backoff %s", got)
		}
		if got := c.backoff(50); got > DefaultMaxBackoff || got < DefaultMaxBackoff/2 {
			t.Fatalf("default backoff after 50 failures %s", got)
		}
	}
}

func TestMandatoryWindowWaitsAndFails(t *testing.T) {
	clk := newClock()
	s := newStepped(clk, time.Hour)
	var told atomic.Int64
	c := New(s, Options{Now: clk.Now, Jitter: func() float64 { return 0 }, OnRefreshError: func(error) { told.Add(1) }})
	a := prime(t, c, s)
	down := errors.New("sts down")

	// 3 min left: inside the mandatory window (3.75 min). The caller waits
	// for the refresh (the provider is held) and gets its error, never the
	// cached credentials.
	clk.Add(57 * time.Minute)
	res := make(chan error, 1)
	go func() {
		cr, err := c.Retrieve(context.Background())
		if err == nil {
			err = fmt.Errorf("served %s with %s left", cr.AccessKeyID, cr.Expires.Sub(clk.Now()))
			if cr.AccessKeyID == a.AccessKeyID {
				err = fmt.Errorf("served the cached credentials in the mandatory window (%s left)", cr.Expires.Sub(clk.Now()))
			}
			res <- err
			return
		}
		res <- nil
		if !errors.Is(err, down) {
			t.Errorf("mandatory window: %v, want the provider's error", err)
		}
	}()
	rctx := <-s.started
	if Advisory(rctx) {
		t.Fatal("a refresh that callers wait for is marked advisory")
	}
	s.release <- down
	if err := <-res; err != nil {
		t.Fatal(err)
	}

	// A failed refresh backs advisory refreshes off, not callers that must
	// have credentials: the next one tries again, and fails again.
	s.release <- down
	if _, err := c.Retrieve(context.Background()); !errors.Is(err, down) {
		t.Fatalf("second caller in the mandatory window: %v", err)
	}
	// Past the expiry: still an error, never the expired credentials.
	clk.Add(10 * time.Minute)
	s.release <- down
	if cr, err := c.Retrieve(context.Background()); err == nil {
		t.Fatalf("served %s %s after its expiry", cr.AccessKeyID, clk.Now().Sub(cr.Expires))
	}
	if n := s.calls.Load(); n != 4 {
		t.Fatalf("%d upstream calls, want 4", n)
	}
	// Each failure reached its caller as an error; none was only told.
	if n := told.Load(); n != 0 {
		t.Fatalf("%d failed refreshes told to OnRefreshError, whose callers got the error", n)
	}
	// The source is back: fresh credentials.
	s.release <- nil
	if cr, err := c.Retrieve(context.Background()); err != nil || cr.AccessKeyID == a.AccessKeyID {
		t.Fatalf("after the source came back: %v, %s", err, cr.AccessKeyID)
	}
}

func TestMustWaitersShareOneCall(t *testing.T) {
	clk := newClock()
	s := newStepped(clk, time.Hour)
	c := New(s, Options{Now: clk.Now})
	a := prime(t, c, s)

	// An advisory refresh starts; then time moves into the mandatory
	// window while it runs: callers that now must wait join it, and one
	// upstream call serves all.
	clk.Add(54 * time.Minute)
	if cr, _ := c.Retrieve(context.Background()); cr.AccessKeyID != a.AccessKeyID {
		t.Fatal("advisory window: not the current credentials")
	}
	<-s.started
	clk.Add(3 * time.Minute)
	got := make(chan string, 50)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cr, err := c.Retrieve(context.Background())
			if err != nil {
				t.Error(err)
			}
			got <- cr.AccessKeyID
		}()
	}
	s.release <- nil
	wg.Wait()
	close(got)
	for id := range got {
		if id == a.AccessKeyID || id == "" {
			t.Fatalf("a caller in the mandatory window got %q", id)
		}
	}
	if n := s.calls.Load(); n != 2 {
		t.Fatalf("%d upstream calls, want 2", n)
	}

	// The advisory refresh fails while callers that must wait are waiting
	// for it: they ask again, together, in one refresh of their own.
	clk.Add(54 * time.Minute) // the new credentials came at 57 min
	if _, err := c.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-s.started // the advisory refresh, held
	clk.Add(3 * time.Minute)
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Retrieve(context.Background())
			errs <- err
		}()
	}
	// Every caller must be waiting before the advisory refresh fails, or
	// a late one would start its own; wait until they have all asked.
	for waiting(c) < 50 {
		runtime.Gosched()
	}
	s.release <- errors.New("throttled")
	<-s.started // the must refresh
	s.release <- nil
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a caller that must wait: %v", err)
		}
	}
	if n := s.calls.Load(); n != 4 {
		t.Fatalf("%d upstream calls, want 4 (first, two advisory, one mandatory)", n)
	}
}

// olderFirst answers its first call with credentials that have short
// left, as a store of sessions issued earlier may, then fresh ones; it
// records the Need of each call.
type olderFirst struct {
	clk   *clock
	gate  chan struct{}
	mu    sync.Mutex
	needs []time.Duration
}

func (o *olderFirst) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	o.mu.Lock()
	o.needs = append(o.needs, Need(ctx))
	n := len(o.needs)
	o.mu.Unlock()
	if n == 1 {
		<-o.gate
		return credbroker.Credentials{AccessKeyID: "ASIAOLDER00000000001", SecretAccessKey: "s", Expires: o.clk.Now().Add(20 * time.Minute)}, nil
	}
	return credbroker.Credentials{AccessKeyID: "ASIAFRESH00000000002", SecretAccessKey: "s", Expires: o.clk.Now().Add(time.Hour)}, nil
}

// A refresh tells its provider what its first caller needs; a caller that
// joined it needing more, and finds its answer too short, asks again in a
// refresh of its own instead of failing; RetrieveServed says who waited
// for what.
func TestNeedAndJoinersNeedingMore(t *testing.T) {
	clk := newClock()
	p := &olderFirst{clk: clk, gate: make(chan struct{})}
	c := New(p, Options{Now: clk.Now})
	ctx := context.Background()
	type answer struct {
		cr      credbroker.Credentials
		outcome Served
		err     error
	}
	first, second := make(chan answer, 1), make(chan answer, 1)
	go func() {
		cr, o, err := c.RetrieveServed(ctx, 10*time.Minute)
		first <- answer{cr, o, err}
	}()
	for !running(c) {
		runtime.Gosched()
	}
	go func() {
		cr, o, err := c.RetrieveServed(ctx, 30*time.Minute)
		second <- answer{cr, o, err}
	}()
	for waiting(c) < 2 {
		runtime.Gosched()
	}
	close(p.gate)
	a, b := <-first, <-second
	if a.err != nil || a.cr.AccessKeyID != "ASIAOLDER00000000001" || a.outcome != Miss {
		t.Fatalf("first caller: %v %v %v", a.cr, a.outcome, a.err)
	}
	if b.err != nil || b.cr.AccessKeyID != "ASIAFRESH00000000002" || b.outcome != Miss {
		t.Fatalf("caller needing 30 min: %v %v %v; want the fresh credentials of a refresh of its own", b.cr, b.outcome, b.err)
	}
	p.mu.Lock()
	needs := append([]time.Duration(nil), p.needs...)
	p.mu.Unlock()
	if len(needs) != 2 || needs[0] != 10*time.Minute || needs[1] != 30*time.Minute {
		t.Fatalf("the provider was told needs %v, want [10m 30m]", needs)
	}
	if _, o, err := c.RetrieveServed(ctx, 0); err != nil || o != Hit {
		t.Fatalf("cached: %v %v", o, err)
	}
	// In the advisory window: served at once while a refresh runs, which
	// needs nothing more than a fresh session.
	clk.Add(53 * time.Minute)
	if _, o, err := c.RetrieveServed(ctx, 0); err != nil || o != HitRefreshing {
		t.Fatalf("advisory window: %v %v", o, err)
	}
	settle(c)
	p.mu.Lock()
	last := p.needs[len(p.needs)-1]
	p.mu.Unlock()
	if last != 0 {
		t.Fatalf("an advisory refresh was told a need of %s", last)
	}
}

// A caller that joins a refresh it did not start is Coalesced.
func TestServedCoalesced(t *testing.T) {
	clk := newClock()
	f := &stsFake{clk: clk, life: time.Hour, gate: make(chan struct{})}
	c := New(f, Options{Now: clk.Now})
	ctx := context.Background()
	outcomes := make(chan Served, 2)
	for range 2 {
		go func() {
			_, o, err := c.RetrieveServed(ctx, 0)
			if err != nil {
				t.Error(err)
			}
			outcomes <- o
		}()
	}
	for waiting(c) < 2 {
		runtime.Gosched()
	}
	close(f.gate)
	got := map[Served]int{}
	got[<-outcomes]++
	got[<-outcomes]++
	if got[Miss] != 1 || got[Coalesced] != 1 || f.calls.Load() != 1 {
		t.Fatalf("outcomes %v with %d calls; want one miss and one coalesced wait on one call", got, f.calls.Load())
	}
	if Miss.String() != "miss" || Coalesced.String() != "coalesced" || Hit.String() != "hit" || HitRefreshing.String() != "hit_refreshing" {
		t.Fatal("outcome names")
	}
}
