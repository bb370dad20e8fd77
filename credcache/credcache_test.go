package credcache

import (
	"context"
	"errors"
	"fmt"
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
	// An hour's credentials: advisory window 7.5 min. At 53 min, refresh.
	clk.Add(13 * time.Minute)
	d, _ := c.Retrieve(ctx)
	if d.AccessKeyID == a.AccessKeyID || f.calls.Load() != 2 {
		t.Fatalf("expected a refresh in the advisory window, calls=%d", f.calls.Load())
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
