package bench

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
)

// HourOptions configure SimulateHour. Zero values take the defaults.
type HourOptions struct {
	// Lifetime of each session STS issues; 900 s.
	Lifetime time.Duration
	// Span is the simulated time; one hour.
	Span time.Duration
	// Step is the simulated time between two vends; one second.
	Step time.Duration
}

// HourResult is what SimulateHour saw.
type HourResult struct {
	// Vends is how many vends were made, all of one key.
	Vends int
	// STSCalls is how many sessions STS issued.
	STSCalls int64
	// CallsAt are the simulated times of the STS calls, from the start:
	// when the fake STS was called, which for a refresh in the background
	// may be a little after the vend that started it.
	CallsAt []time.Duration
	// Expired counts vends that returned credentials already expired.
	Expired int
	// Short counts vends that returned credentials with less left than the
	// broker's default minimum lifetime of 60 s.
	Short int
	// MinLeft is the least lifetime any returned credential had left.
	MinLeft time.Duration
}

// minRemaining is the broker's default: vended credentials have at least
// this long to live.
const minRemaining = time.Minute

// SimulateHour drives one key (one connector, plan, build and job) through
// a simulated hour on an injected clock: a broker.Service over st, whose
// STS is a FakeSTS issuing sessions of o.Lifetime, answers a vend every
// o.Step. It counts the STS calls and checks every credential served
// against the clock. The audit records are counted, not stored.
func SimulateHour(ctx context.Context, st credbroker.Store, keys broker.Sealer, o HourOptions) (HourResult, error) {
	if o.Lifetime <= 0 {
		o.Lifetime = 900 * time.Second
	}
	if o.Span <= 0 {
		o.Span = time.Hour
	}
	if o.Step <= 0 {
		o.Step = time.Second
	}
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clk := NewClock(start)
	sts := &timedSTS{FakeSTS: FakeSTS{Now: clk.Now, Lifetime: o.Lifetime}, start: start}
	svc, err := broker.New(broker.Options{Store: st, Keys: keys, Issuer: sts, Now: clk.Now, Audit: &discardAudit{}})
	if err != nil {
		return HourResult{}, err
	}
	defer svc.Close()
	spec := ConnectorSpec("deploy", "AKIABENCHBASEKEY0001", "bench/base/secret/key/0000000000000000000", "", o.Lifetime)
	toks, err := provision(ctx, svc, []credbroker.ConnectorSpec{spec})
	if err != nil {
		return HourResult{}, err
	}
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "42", Job: "OPS-DEPLOY-JOB1", Task: "deploy"}
	res := HourResult{MinLeft: o.Lifetime}
	for at := time.Duration(0); at < o.Span; at += o.Step {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		clk.Advance(at - clk.Now().Sub(start))
		// The agent token is looked up again whenever the broker's token
		// cache has expired on the simulated clock, as in a real broker.
		tok, err := svc.Authenticate(ctx, toks.Agent)
		if err != nil {
			return res, fmt.Errorf("authenticate at %s: %w", at, err)
		}
		vr, err := svc.Vend(ctx, tok, req)
		if err != nil {
			return res, fmt.Errorf("vend at %s: %w", at, err)
		}
		res.Vends++
		now := clk.Now()
		left := vr.Expiration.Sub(now)
		if !vr.Expiration.After(now) {
			res.Expired++
		}
		if left < minRemaining {
			res.Short++
		}
		res.MinLeft = min(res.MinLeft, left)
	}
	res.CallsAt = sts.callsAt()
	res.STSCalls = int64(len(res.CallsAt))
	return res, nil
}

// timedSTS is a FakeSTS that notes the simulated time of each call.
type timedSTS struct {
	FakeSTS
	start time.Time

	mu sync.Mutex
	at []time.Duration
}

// Issue implements broker.Issuer.
func (f *timedSTS) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	f.mu.Lock()
	f.at = append(f.at, f.Now().Sub(f.start))
	f.mu.Unlock()
	return f.FakeSTS.Issue(ctx, req)
}

func (f *timedSTS) callsAt() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.at)
}

// SessionMemory measures the memory one cached session takes in a
// broker.Service: over st, with a FakeSTS and the audit discarded, it
// vends n builds of one connector (a session each, cached) and returns the
// growth of the live heap after a collection, divided by n.
func SessionMemory(ctx context.Context, st credbroker.Store, keys broker.Sealer, n int) (float64, error) {
	if n <= 0 {
		return 0, fmt.Errorf("session memory: n must be positive")
	}
	svc, err := broker.New(broker.Options{Store: st, Keys: keys, Issuer: &FakeSTS{}, Audit: &discardAudit{}})
	if err != nil {
		return 0, err
	}
	defer svc.Close()
	spec := ConnectorSpec("deploy", "AKIABENCHBASEKEY0001", "bench/base/secret/key/0000000000000000000", "", time.Hour)
	toks, err := provision(ctx, svc, []credbroker.ConnectorSpec{spec})
	if err != nil {
		return 0, err
	}
	tok, err := svc.Authenticate(ctx, toks.Agent)
	if err != nil {
		return 0, err
	}
	vend := func(build int) error {
		_, err := svc.Vend(ctx, tok, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: strconv.Itoa(build), Job: "OPS-DEPLOY-JOB1"})
		return err
	}
	// One vend first, so the token, the connector and the code paths are
	// warm and only sessions are counted.
	if err := vend(0); err != nil {
		return 0, err
	}
	before := liveHeap()
	for i := 1; i <= n; i++ {
		if err := vend(i); err != nil {
			return 0, err
		}
	}
	after := liveHeap()
	if got := svc.CachedSessions(); got != n+1 {
		return 0, fmt.Errorf("session memory: the broker caches %d sessions, want %d", got, n+1)
	}
	runtime.KeepAlive(svc)
	return float64(int64(after)-int64(before)) / float64(n), nil
}

// liveHeap returns the bytes of live heap objects after two collections.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
