// Package credcache caches credentials in front of a credbroker.Provider:
// one upstream call for any number of concurrent callers, refresh before
// expiry, and never an expired credential.
//
// It follows botocore's two refresh windows. Inside the advisory window
// the cache tries to refresh but keeps serving what it holds if the refresh
// fails; inside the mandatory window (or below the caller's minimum
// remaining lifetime) it must refresh, and fails if it cannot. Both windows
// shrink for short-lived credentials (an eighth and a sixteenth of the
// lifetime), so a 900-second session is used for most of its life.
//
// Why not aws.CredentialsCache: the SDK's cache reads the time from an
// internal package global, so tests cannot drive it with an injected clock;
// it cannot honour a per-caller minimum lifetime; and its fail-to-refresh
// strategy may extend credentials past their real expiry. Concurrent
// callers still share one call through golang.org/x/sync/singleflight.
package credcache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/credbroker/credbroker"
)

// Default refresh windows, before they are shrunk for short lifetimes.
const (
	DefaultAdvisory  = 15 * time.Minute
	DefaultMandatory = 5 * time.Minute
)

// Options configure a Cache. Zero values take the defaults.
type Options struct {
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Advisory is how long before expiry a refresh is attempted while the
	// cached credentials are still served if it fails.
	Advisory time.Duration
	// Mandatory is how long before expiry the cached credentials stop being
	// served.
	Mandatory time.Duration
	// OnRefreshError, when set, is told of an advisory refresh that failed
	// while the cached credentials were served instead.
	OnRefreshError func(err error)
}

// Cache is a credbroker.Provider that caches another. It is safe for
// concurrent use.
type Cache struct {
	p    credbroker.Provider
	opts Options

	mu      sync.RWMutex
	cur     credbroker.Credentials
	fetched time.Time
	have    bool

	sf singleflight.Group
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
	return &Cache{p: p, opts: opts}
}

// Retrieve returns credentials with at least the mandatory window left.
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
	stateAdvisory              // try to refresh, serve on failure
	stateMust                  // refresh or fail
)

func (c *Cache) classify(cr credbroker.Credentials, fetched time.Time, have bool, minRemaining time.Duration, now time.Time) state {
	if !have {
		return stateMust
	}
	if !cr.CanExpire() {
		return stateFresh
	}
	advisory, mandatory := c.windows(fetched, cr.Expires)
	mandatory = max(mandatory, minRemaining)
	left := cr.Expires.Sub(now)
	switch {
	case left <= mandatory || left <= 0:
		return stateMust
	case left <= advisory:
		return stateAdvisory
	}
	return stateFresh
}

// RetrieveMin returns credentials that remain valid for more than
// minRemaining (and more than the mandatory window). Concurrent calls that
// need a refresh share one call to the provider.
func (c *Cache) RetrieveMin(ctx context.Context, minRemaining time.Duration) (credbroker.Credentials, error) {
	c.mu.RLock()
	cur, fetched, have := c.cur, c.fetched, c.have
	c.mu.RUnlock()

	now := c.opts.Now()
	st := c.classify(cur, fetched, have, minRemaining, now)
	if st == stateFresh {
		return cur, nil
	}

	// Callers with the same need share one flight; the provider is not
	// cancelled when one of them gives up.
	ch := c.sf.DoChan(minRemaining.String(), func() (any, error) {
		return c.refresh(context.WithoutCancel(ctx), minRemaining)
	})
	var res singleflight.Result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return credbroker.Credentials{}, ctx.Err()
	}

	now = c.opts.Now()
	if res.Err != nil {
		if st == stateAdvisory && c.classify(cur, fetched, true, minRemaining, now) != stateMust {
			if c.opts.OnRefreshError != nil {
				c.opts.OnRefreshError(res.Err)
			}
			return cur, nil
		}
		return credbroker.Credentials{}, res.Err
	}
	got := res.Val.(fetchResult)
	if c.classify(got.creds, got.fetched, true, minRemaining, now) == stateMust {
		return credbroker.Credentials{}, shortLived(got.creds, minRemaining, now)
	}
	return got.creds, nil
}

type fetchResult struct {
	creds   credbroker.Credentials
	fetched time.Time
}

// refresh calls the provider once and stores the result if it is usable.
func (c *Cache) refresh(ctx context.Context, minRemaining time.Duration) (fetchResult, error) {
	// Another caller may have refreshed while this one waited for the flight.
	now := c.opts.Now()
	c.mu.RLock()
	cur, fetched, have := c.cur, c.fetched, c.have
	c.mu.RUnlock()
	if have && c.classify(cur, fetched, true, minRemaining, now) == stateFresh {
		return fetchResult{cur, fetched}, nil
	}

	cr, err := c.p.Retrieve(ctx)
	if err != nil {
		return fetchResult{}, err
	}
	if cr.AccessKeyID == "" || cr.SecretAccessKey == "" {
		return fetchResult{}, credbroker.Errorf(credbroker.CodeUpstream, cr.Source, "the source returned incomplete credentials (no access key ID or secret key)")
	}
	now = c.opts.Now()
	if cr.Expired(now) {
		return fetchResult{}, credbroker.Errorf(credbroker.CodeUpstream, cr.Source,
			"the source returned credentials %s that expired at %s, before this host's time %s",
			credbroker.MaskKeyID(cr.AccessKeyID), cr.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)).
			WithFix("check this host's clock (NTP); the credentials were not used")
	}
	c.mu.Lock()
	c.cur, c.fetched, c.have = cr, now, true
	c.mu.Unlock()
	return fetchResult{cr, now}, nil
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

// Invalidate drops the cached credentials; the next call fetches anew.
func (c *Cache) Invalidate() {
	c.mu.Lock()
	c.cur, c.have = credbroker.Credentials{}, false
	c.mu.Unlock()
}

// Peek returns the cached credentials without refreshing, and whether there
// are any.
func (c *Cache) Peek() (credbroker.Credentials, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.cur, c.have
}
