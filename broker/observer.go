package broker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
)

// Observer is told what the broker does, for metrics (package metrics
// implements it; the broker does not know Prometheus). Its methods are
// called on the vend path, concurrently: they must be quick and must not
// block. Every argument is a bounded value: never a token, a plan, a build
// or a key; the connector is a name the broker resolved from its store,
// never a name a request made up.
type Observer interface {
	// Vend is called once per vend, when its outcome is known: outcome
	// is "granted" or "refused"; code the error code of a refusal ("" for
	// a grant); connector the name of the connector the vend resolved (""
	// when it was refused before one was found); source "cache" when a
	// granted vend was served from the session cache, "sts" when it
	// waited for STS ("" for a refusal); d the vend's time in the broker,
	// its audit record included.
	Vend(outcome, code, connector, source string, d time.Duration)
	// Cache is called for each vend that reached the session cache, with
	// how the cache answered it.
	Cache(served string)
	// STSCall is called after each STS call at one endpoint (with its
	// retries): the operation (AssumeRole, GetFederationToken,
	// GetSessionToken), the endpoint's host, "ok" or the error code the
	// call ended with ("budget" when the broker's own budget refused an
	// attempt), and how long it took.
	STSCall(operation, endpoint, result string, d time.Duration)
	// BudgetWait is called when an STS attempt waited d for its turn in
	// the broker's STS budget.
	BudgetWait(d time.Duration)
	// BudgetRefusal is called when the budget refused an STS attempt.
	BudgetRefusal()
	// AuditCommit is called after each audit transaction: how many
	// records it held, how long the commit took, and its error.
	AuditCommit(records int, d time.Duration, err error)
	// StoreError is called when a store operation the broker needed
	// failed (not a record that does not exist): op names it.
	StoreError(op string)
	// AuthFailure is called for each refused authentication, with its
	// kind: malformed, unknown, wrong_secret, revoked, expired.
	AuthFailure(kind string)
}

// Store operations named in Observer.StoreError.
const (
	StoreOpAuditAppend = "audit_append"
	StoreOpToken       = "token_read"
	StoreOpConnector   = "connector_read"
	StoreOpReady       = "ready"
	StoreOpProbe       = "write_probe"
)

// nopObserver observes nothing.
type nopObserver struct{}

func (nopObserver) Vend(string, string, string, string, time.Duration) {}
func (nopObserver) Cache(string)                                       {}
func (nopObserver) STSCall(string, string, string, time.Duration)      {}
func (nopObserver) BudgetWait(time.Duration)                           {}
func (nopObserver) BudgetRefusal()                                     {}
func (nopObserver) AuditCommit(int, time.Duration, error)              {}
func (nopObserver) StoreError(string)                                  {}
func (nopObserver) AuthFailure(string)                                 {}

// observedSleep is the budget's sleep, telling obs of each wait.
func observedSleep(sleep func(context.Context, time.Duration) error, obs Observer) func(context.Context, time.Duration) error {
	if sleep == nil {
		sleep = sleepContext
	}
	return func(ctx context.Context, d time.Duration) error {
		obs.BudgetWait(d)
		return sleep(ctx, d)
	}
}

// stsObserved wraps a vend's budget gate and gives the AfterCall hook of
// its STS calls: a call that the gate ended is counted as "budget", not
// as the throttling STS would have answered.
func (s *Service) stsObserved(gate func(context.Context) error) (before func(context.Context) error, after func(string, string, error, time.Duration)) {
	var refused atomic.Bool
	if gate != nil {
		before = func(ctx context.Context) error {
			err := gate(ctx)
			if err != nil {
				refused.Store(true)
				s.obs.BudgetRefusal()
			}
			return err
		}
	}
	after = func(op, endpoint string, err error, d time.Duration) {
		result := "ok"
		switch {
		case err != nil && refused.Swap(false):
			result = "budget"
		case err != nil:
			result = string(credbroker.ErrorCode(err))
		}
		s.obs.STSCall(op, endpoint, result, d)
	}
	return before, after
}

// observeVend tells the observer of a vend that began at start: refused
// with err, or granted as the cache served it.
func (s *Service) observeVend(rec *credbroker.AuditRecord, served credcache.Served, err error, start time.Time) {
	d := s.now().Sub(start)
	if err != nil {
		code := credbroker.ErrorCode(err)
		if code == "" {
			code = credbroker.CodeInternal
		}
		s.obs.Vend("refused", string(code), rec.Connector, "", d)
		return
	}
	source := "cache"
	if served == credcache.Miss || served == credcache.Coalesced {
		source = "sts"
	}
	s.obs.Vend("granted", "", rec.Connector, source, d)
}

// observeCommit tells obs of an audit transaction of n records.
func observeCommit(obs Observer, n int, d time.Duration, err error) {
	obs.AuditCommit(n, d, err)
	if err != nil {
		obs.StoreError(StoreOpAuditAppend)
	}
}
