// Package credcache caches credentials in front of a credbroker.Provider:
// one upstream call for any number of concurrent callers, refresh before
// expiry, and never an expired credential.
//
// It follows the two refresh windows of botocore and of the AWS SDK for
// Go's aws.CredentialsCache. Inside the advisory window every caller gets
// the cached credentials at once while one refresh runs in the background;
// if that refresh fails, the next one waits for a jittered backoff that
// doubles with each failure in a row (Backoff up to MaxBackoff), so a
// failing source is not asked again by every caller. Inside the mandatory
// window (or below the caller's minimum remaining lifetime) the cached
// credentials are never served: callers wait for one shared refresh and get
// its error if it fails. Both windows shrink for short-lived credentials (an
// eighth and a sixteenth of the lifetime), so a 900-second session is used
// for most of its life.
//
// A refresh belongs to the cache, not to the caller that started it: it
// runs with the caller's context values but not its cancellation (a caller
// that hangs up leaves it running for the others), bounded by its own
// RefreshTimeout. The provider can tell an advisory refresh, which nobody
// waits for, from one callers wait for, with Advisory(ctx), and learn the
// lifetime the caller who started it needs with Need(ctx).
//
// Why not aws.CredentialsCache: the SDK is imported by package awscreds
// alone, and this cache also sits in front of sources that are not the
// SDK's (the broker's vend client, the broker's own sessions). The SDK's
// cache reads the time from an internal package global, so tests cannot
// drive it with an injected clock; it cannot honour a per-caller minimum
// lifetime; its advisory refresh (newer than the v1.48 this module uses)
// covers only the SDK's own providers, others keep making callers wait; and
// after a failed refresh it keeps serving the cached credentials through its
// backoff, even past their expiry, where this cache fails instead.
package credcache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
)

// Defaults of Options.
const (
	// DefaultAdvisory and DefaultMandatory are the refresh windows before
	// they are shrunk for short lifetimes.
	DefaultAdvisory  = 15 * time.Minute
	DefaultMandatory = 5 * time.Minute
	// DefaultBackoff is the wait after a first failed refresh; it doubles
	// with each failure in a row, up to DefaultMaxBackoff.
	DefaultBackoff    = 5 * time.Second
	DefaultMaxBackoff = 2 * time.Minute
	// DefaultRefreshTimeout bounds one call to the provider.
	DefaultRefreshTimeout = time.Minute
)

// Options configure a Cache. Zero values take the defaults.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Advisory is how long before expiry a refresh is started in the
	// background while the cached credentials are still served.
	Advisory time.Duration
	// Mandatory is how long before expiry the cached credentials stop being
	// served.
	Mandatory time.Duration
	// Backoff is how long after a failed refresh the next advisory refresh
	// waits at least; it doubles with each failure in a row, up to
	// MaxBackoff. Each wait is shortened by a random part of up to half of
	// it, so that many caches that failed together do not retry together.
	// Callers in the mandatory window do not wait for the backoff.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// RefreshTimeout bounds each call to the provider; it runs under a
	// context of its own, which no caller's cancellation ends.
	RefreshTimeout time.Duration
	// Jitter returns a random number in [0, 1) for the backoff; a
	// math/rand/v2 source when nil.
	Jitter func() float64
	// OnRefreshError, when set, is told of a refresh that failed while the
	// cached credentials were still served (an advisory refresh). It is
	// called from the refresh's goroutine, before the callers waiting for
	// that refresh get its error.
	OnRefreshError func(err error)
}

// Cache is a credbroker.Provider that caches another. It is safe for
// concurrent use.
type Cache struct {
	p    credbroker.Provider
	opts Options

	// cur is read without the lock by callers that find it fresh; it is
	// replaced, never changed, under mu.
	cur atomic.Pointer[entry]

	mu       sync.Mutex
	flight   *flight   // the refresh running, if any
	failures int       // refreshes failed in a row
	retryAt  time.Time // no advisory refresh before this
}

// entry is a set of cached credentials and when they were fetched.
type entry struct {
	creds   credbroker.Credentials
	fetched time.Time
}

// flight is one call to the provider, shared by every caller that waits
// for it. Its fields are written before done is closed.
type flight struct {
	advisory bool
	need     time.Duration // the minRemaining of the caller that started it
	waiters  int           // callers that waited for it; under Cache.mu
	done     chan struct{}
	got      *entry
	err      error
}

// New returns a cache in front of p.
func New(p credbroker.Provider, opts Options) *Cache {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Advisory <= 0 {
		opts.Advisory = DefaultAdvisory
	}
	if opts.Mandatory <= 0 {
		opts.Mandatory = DefaultMandatory
	}
	if opts.Mandatory > opts.Advisory {
		opts.Mandatory = opts.Advisory
	}
	if opts.Backoff <= 0 {
		opts.Backoff = DefaultBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.Backoff {
		opts.MaxBackoff = opts.Backoff
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = DefaultRefreshTimeout
	}
	if opts.Jitter == nil {
		opts.Jitter = rand.Float64
	}
	return &Cache{p: p, opts: opts}
}

// advisoryKey marks the context of a refresh: true for an advisory one.
type advisoryKey struct{}

// Advisory reports whether ctx is that of an advisory refresh: one the
// cache runs in the background while it keeps serving the current
// credentials, so that no caller waits for it. A provider may then choose
// not to wait for a rate limit, say, since failing costs no caller anything.
func Advisory(ctx context.Context) bool {
	v, _ := ctx.Value(advisoryKey{}).(bool)
	return v
}

// Retrieve returns credentials with more than the mandatory window left.
func (c *Cache) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	return c.RetrieveMin(ctx, 0)
}

// windows returns the advisory and mandatory windows for credentials
// fetched at fetched and expiring at exp.
func (c *Cache) windows(fetched, exp time.Time) (advisory, mandatory time.Duration) {
	life := exp.Sub(fetched)
	advisory, mandatory = c.opts.Advisory, c.opts.Mandatory
	if life > 0 {
		advisory = min(advisory, life/8)
		mandatory = min(mandatory, life/16)
	}
	return advisory, mandatory
}

// state classifies cached credentials for a caller needing minRemaining.
type state int

const (
	stateFresh    state = iota // serve
	stateAdvisory              // serve, and refresh in the background
	stateMust                  // refresh and wait, or fail
)

func (c *Cache) classify(e *entry, minRemaining time.Duration, now time.Time) state {
	if e == nil {
		return stateMust
	}
	if !e.creds.CanExpire() {
		return stateFresh
	}
	advisory, mandatory := c.windows(e.fetched, e.creds.Expires)
	mandatory = max(mandatory, minRemaining)
	left := e.creds.Expires.Sub(now)
	switch {
	case left <= mandatory || left <= 0:
		return stateMust
	case left <= advisory:
		return stateAdvisory
	}
	return stateFresh
}

// needKey marks the context of a refresh with the remaining lifetime
// that the caller who started it needs.
type needKey struct{}

// Need returns the remaining lifetime that the caller who started the
// refresh of ctx asked for (RetrieveMin's minRemaining; zero for an
// advisory refresh). A provider that may answer with credentials issued
// earlier (a store of sessions other processes share) uses it to tell
// which are still long enough; credentials fresh from their source need
// not look at it.
func Need(ctx context.Context) time.Duration {
	v, _ := ctx.Value(needKey{}).(time.Duration)
	return v
}

// Served says how a call of RetrieveServed was answered, for metrics.
type Served uint8

// How a call was served.
const (
	// Hit: the cached credentials, with no refresh needed.
	Hit Served = iota
	// HitRefreshing: the cached credentials, in the advisory window while
	// a refresh runs in the background (started by this call or before).
	HitRefreshing
	// Miss: no usable credentials were cached; this call started a
	// refresh and waited for it.
	Miss
	// Coalesced: no usable credentials were cached; this call waited for
	// a refresh another caller had started.
	Coalesced
)

// String names the outcome: "hit", "hit_refreshing", "miss", "coalesced".
func (o Served) String() string {
	switch o {
	case Hit:
		return "hit"
	case HitRefreshing:
		return "hit_refreshing"
	case Miss:
		return "miss"
	case Coalesced:
		return "coalesced"
	}
	return "unknown"
}

// RetrieveMin returns credentials that remain valid for more than
// minRemaining (and more than the mandatory window). In the advisory window
// it returns the cached credentials at once and starts a refresh in the
// background, unless one is running or a failed one is backing off.
// Concurrent callers that must wait share one call to the provider.
func (c *Cache) RetrieveMin(ctx context.Context, minRemaining time.Duration) (credbroker.Credentials, error) {
	cr, _, err := c.RetrieveServed(ctx, minRemaining)
	return cr, err
}

// RetrieveServed is RetrieveMin, also saying how the call was served:
// from the cache, or after waiting for a refresh it started or joined.
func (c *Cache) RetrieveServed(ctx context.Context, minRemaining time.Duration) (credbroker.Credentials, Served, error) {
	if e := c.cur.Load(); e != nil && c.classify(e, minRemaining, c.opts.Now()) == stateFresh {
		return e.creds, Hit, nil
	}
	// At most twice: a caller that must wait and joined an advisory
	// refresh that failed asks again in a refresh of its own, since the
	// provider may have given up early on the advisory one; so does one
	// that joined a refresh started for a caller needing less, whose
	// credentials are too short for it (a provider may answer with older
	// credentials that suffice for the caller that started it: Need).
	for try := 0; ; try++ {
		c.mu.Lock()
		now := c.opts.Now()
		e := c.cur.Load()
		switch c.classify(e, minRemaining, now) {
		case stateFresh:
			c.mu.Unlock()
			return e.creds, Hit, nil
		case stateAdvisory:
			if c.flight == nil && !now.Before(c.retryAt) {
				c.start(ctx, true, 0)
			}
			c.mu.Unlock()
			return e.creds, HitRefreshing, nil
		}
		outcome := Coalesced
		f := c.flight
		if f == nil {
			f = c.start(ctx, false, minRemaining)
			outcome = Miss
		}
		f.waiters++
		c.mu.Unlock()

		select {
		case <-f.done:
		case <-ctx.Done():
			return credbroker.Credentials{}, outcome, ctx.Err()
		}
		if f.err != nil {
			if f.advisory && try == 0 {
				continue
			}
			return credbroker.Credentials{}, outcome, f.err
		}
		now = c.opts.Now()
		if c.classify(f.got, minRemaining, now) == stateMust {
			if f.need < minRemaining && try == 0 {
				continue
			}
			return credbroker.Credentials{}, outcome, shortLived(f.got.creds, minRemaining, now)
		}
		return f.got.creds, outcome, nil
	}
}

// start begins a refresh for a caller needing need; c.mu is held. The
// refresh keeps ctx's values but not its cancellation or deadline.
func (c *Cache) start(ctx context.Context, advisory bool, need time.Duration) *flight {
	f := &flight{advisory: advisory, need: need, done: make(chan struct{})}
	c.flight = f
	ctx = context.WithValue(context.WithoutCancel(ctx), advisoryKey{}, advisory)
	ctx = context.WithValue(ctx, needKey{}, need)
	go c.run(ctx, f)
	return f
}

// run calls the provider once, stores what it got if usable, and ends the
// flight.
func (c *Cache) run(ctx context.Context, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.RefreshTimeout)
	defer cancel()
	got, err := c.fetch(ctx)

	c.mu.Lock()
	if err != nil {
		c.failures++
		c.retryAt = c.opts.Now().Add(c.backoff(c.failures))
	} else {
		c.cur.Store(got)
		c.failures, c.retryAt = 0, time.Time{}
	}
	f.got, f.err = got, err
	c.flight = nil
	c.mu.Unlock()

	if err != nil && f.advisory && c.opts.OnRefreshError != nil {
		c.opts.OnRefreshError(err)
	}
	close(f.done)
}

// backoff returns the wait after the n-th failed refresh in a row.
func (c *Cache) backoff(n int) time.Duration {
	d := c.opts.Backoff
	for i := 1; i < n && d < c.opts.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.opts.MaxBackoff)
	return d - time.Duration(c.opts.Jitter()*float64(d/2))
}

// fetch calls the provider and checks what it returns.
func (c *Cache) fetch(ctx context.Context) (*entry, error) {
	cr, err := c.p.Retrieve(ctx)
	if err != nil {
		return nil, err
	}
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
		return nil, credbroker.Errorf(credbroker.CodeUpstream, cr.Source, "the source returned incomplete credentials (no access key ID or secret key)")
	}
	now := c.opts.Now()
	if cr.Expired(now) {
		return nil, credbroker.Errorf(credbroker.CodeUpstream, cr.Source,
			"the source returned credentials %s that expired at %s, before this host's time %s",
			credbroker.MaskKeyID(cr.AccessKeyID), cr.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)).
			WithFix("check this host's clock (NTP); the credentials were not used")
	}
	return &entry{creds: cr, fetched: now}, nil
}

func shortLived(cr credbroker.Credentials, minRemaining time.Duration, now time.Time) error {
	left := cr.Expires.Sub(now).Round(time.Second)
	need := "the refresh window"
	if minRemaining > 0 {
		need = fmt.Sprintf("the %s the caller asked for", minRemaining)
	}
	return credbroker.Errorf(credbroker.CodeUpstream, cr.Source,
		"fresh credentials %s expire in %s, less than %s",
		credbroker.MaskKeyID(cr.AccessKeyID), left, need).
		WithFix("ask for a longer session duration or a shorter minimum, and check this host's clock (NTP)")
}

// Invalidate drops the cached credentials and any backoff; the next call
// fetches anew.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.cur.Store(nil)
	c.failures, c.retryAt = 0, time.Time{}
	c.mu.Unlock()
}

// Peek returns the cached credentials without refreshing, and whether there
// are any: for deciding when an idle cache may be dropped, not for serving.
func (c *Cache) Peek() (credbroker.Credentials, bool) {
	if e := c.cur.Load(); e != nil {
		return e.creds, true
	}
	return credbroker.Credentials{}, false
}
