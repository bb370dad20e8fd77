package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
)

// A fleet is the brokers on one database (Options.Fleet). Behind each
// broker's own session cache, which stays in front, they behave as one:
//
//   - A session one broker got from STS is stored sealed, under the cache
//     key as associated data, and served by the others under the same
//     reuse rules (the cache key covers the connector and its revision, the
//     plan, build and job or the plan alone, and the parameters; the
//     remaining lifetime is checked against the sealed expiry).
//   - A session no broker has is asked of STS once: the broker that takes
//     the session's lock calls, the others wait for its result, and call
//     STS themselves when the holder goes away without one (it died, and
//     the database released its lock with its connection; or its call
//     failed) or when the wait passes Options.FleetWait.
//   - The STS budget per base identity and region is one token bucket in
//     the database, refilled by the database's clock.
//
// Whenever the database cannot be asked, a broker falls back to what it
// does alone: it calls STS itself, within its own budget.

// DefaultFleetWait bounds a wait for another broker's STS call when
// Options.FleetWait is zero: the default STS deadline, within which the
// other broker's call ends one way or the other.
const DefaultFleetWait = 20 * time.Second

// How often a broker waiting for another's STS call asks whether the call
// is over: from fleetPollMin, doubling, to fleetPollMax, with jitter.
const (
	fleetPollMin = 5 * time.Millisecond
	fleetPollMax = 50 * time.Millisecond
)

// sharedCreds is what the sealed blob of a shared session holds.
type sharedCreds struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Expires         time.Time `json:"expires"`
	Issued          time.Time `json:"issued"`
}

// fleetProvider puts the fleet in front of prov, the STS call of the
// session key of connector name; without a fleet it is prov.
func (s *Service) fleetProvider(key, name string, e *vendEntry, prov credbroker.Provider) credbroker.Provider {
	if s.opts.Fleet == nil {
		return prov
	}
	return credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
		return s.fleetRetrieve(ctx, key, name, e, prov)
	})
}

// fleetRetrieve serves the session key from the fleet's store when a
// broker has it, else calls STS holding the session's lock, or waits for
// the broker that holds it. It runs as the refresh of e's cache, so one
// call of it at a time per session in this broker.
func (s *Service) fleetRetrieve(ctx context.Context, key, name string, e *vendEntry, prov credbroker.Provider) (credbroker.Credentials, error) {
	f := s.opts.Fleet
	need := credcache.Need(ctx)
	cr, found, err := s.loadShared(ctx, key, name, need)
	if err != nil {
		s.log.Warn("the fleet's shared sessions cannot be read; calling STS without them", "connector", name, "err", err)
		s.opts.FleetObserver.FleetSession(FleetUnavailable, 0)
		return prov.Retrieve(ctx)
	}
	if found {
		e.noteShared(cr.AccessKeyID)
		s.opts.FleetObserver.FleetSession(FleetShared, 0)
		return cr, nil
	}
	started := s.now()
	since := func() time.Duration { return s.now().Sub(started) }
	// The holder's own STS work ends within its deadline; the wait is
	// bounded by the same, so that a holder that hangs without dying (a
	// frozen host keeps its connection, and its lock) stalls no one for
	// longer.
	wctx, cancel := context.WithTimeout(ctx, s.opts.FleetWait)
	defer cancel()
	poll, waited := fleetPollMin, false
	for {
		held, err := f.TryLockSession(ctx, key)
		if err != nil {
			s.log.Warn("the fleet's session lock cannot be taken; calling STS without it", "connector", name, "err", err)
			s.opts.FleetObserver.FleetSession(FleetUnavailable, since())
			return s.issueShared(ctx, key, name, prov)
		}
		if held {
			return s.fleetLead(ctx, key, name, e, prov, need, waited, since)
		}
		waited = true
		if err := sleepContext(wctx, poll/2+rand.N(poll)); err != nil {
			if ctx.Err() != nil {
				return credbroker.Credentials{}, ctx.Err()
			}
			s.log.Warn("another broker's STS call for a session outlasted the fleet wait; calling STS without it",
				"connector", name, "waited", s.opts.FleetWait)
			s.opts.FleetObserver.FleetSession(FleetTimeout, since())
			return s.issueShared(ctx, key, name, prov)
		}
		poll = min(2*poll, fleetPollMax)
	}
}

// fleetLead runs holding the lock of session key: it serves the session
// if a broker stored it meanwhile (the holder this broker waited for, or
// one that finished between the first look and the lock), else calls STS
// and shares the result, then releases the lock.
func (s *Service) fleetLead(ctx context.Context, key, name string, e *vendEntry, prov credbroker.Provider, need time.Duration, waited bool, since func() time.Duration) (credbroker.Credentials, error) {
	defer func() {
		// Released even when the vend's caller has gone: the lock is the
		// fleet's, and its other brokers wait on it.
		if err := s.opts.Fleet.UnlockSession(context.WithoutCancel(ctx), key); err != nil {
			s.log.Warn("the fleet's session lock cannot be released; the database releases it when this broker's connection ends", "connector", name, "err", err)
		}
	}()
	cr, found, err := s.loadShared(ctx, key, name, need)
	if err == nil && found {
		e.noteShared(cr.AccessKeyID)
		o := FleetShared
		if waited {
			o = FleetWaited
		}
		s.opts.FleetObserver.FleetSession(o, since())
		return cr, nil
	}
	o := FleetLed
	if waited {
		// The broker that held the lock let it go without a session.
		o = FleetFallback
	}
	// The wait is for the other broker, not this one's own STS call.
	w := since()
	cr, err = s.issueShared(ctx, key, name, prov)
	s.opts.FleetObserver.FleetSession(o, w)
	return cr, err
}

// issueShared calls STS and shares the session it gets.
func (s *Service) issueShared(ctx context.Context, key, name string, prov credbroker.Provider) (credbroker.Credentials, error) {
	cr, err := prov.Retrieve(ctx)
	if err != nil || !cr.CanExpire() || cr.Expired(s.now()) {
		return cr, err
	}
	b, err := json.Marshal(sharedCreds{AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey,
		SessionToken: cr.SessionToken, Expires: cr.Expires, Issued: s.now()})
	if err == nil {
		var sealed credbroker.Sealed
		if sealed, err = s.opts.Keys.Seal(credbroker.SessionRef(key), b); err == nil {
			err = s.opts.Fleet.ShareSession(ctx, credbroker.SharedSession{Key: key, Sealed: sealed, Expires: cr.Expires})
		}
	}
	if err != nil {
		// The session is served all the same; the other brokers get
		// their own.
		s.log.Warn("a session could not be shared with the fleet", "connector", name, "session", cr, "err", err)
	}
	return cr, nil
}

// loadShared returns the session stored under key when it opens and has
// more left than need and than its advisory window (a session about to be
// refreshed is refreshed instead). found is false when there is none that
// qualifies; err only when the database cannot be asked.
func (s *Service) loadShared(ctx context.Context, key, name string, need time.Duration) (cr credbroker.Credentials, found bool, err error) {
	ss, err := s.opts.Fleet.SharedSession(ctx, key)
	if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
		return cr, false, nil
	}
	if err != nil {
		return cr, false, err
	}
	plain, err := s.openSecret(credbroker.SessionRef(key), ss.Sealed)
	var sc sharedCreds
	if err == nil {
		err = json.Unmarshal(plain, &sc)
	}
	if err != nil || sc.AccessKeyID == "" || sc.SecretAccessKey == "" || sc.Expires.IsZero() {
		// Never served: a row changed in the database (or copied from
		// another session), or sealed under a key this broker lacks.
		// This broker gets its own session, which replaces the row.
		s.log.Error("a shared session of the fleet does not open; calling STS instead", "connector", name, "err", err)
		return cr, false, nil
	}
	left := sc.Expires.Sub(s.now())
	advisory := credcache.DefaultAdvisory
	if life := sc.Expires.Sub(sc.Issued); life > 0 {
		advisory = min(advisory, life/8)
	}
	if left <= max(need, advisory) {
		return cr, false, nil
	}
	return credbroker.Credentials{AccessKeyID: sc.AccessKeyID, SecretAccessKey: sc.SecretAccessKey,
		SessionToken: sc.SessionToken, Expires: sc.Expires, Source: "connector:" + name}, true, nil
}

// fleetGate is the BeforeAttempt of calls by id in region with a fleet: a
// turn in the bucket the brokers on the database share, booked by the
// database's clock and waited for here. Should the database not answer,
// local (this broker's own budget) decides instead.
func (b *stsBudgets) fleetGate(id budgetID, region, key string, local func(context.Context) error) func(context.Context) error {
	sum := sha256.Sum256([]byte("credbroker sts budget\x00" + key))
	bucket := hex.EncodeToString(sum[:])
	return func(ctx context.Context) error {
		wait, ok, err := b.fleet.TakeTurn(ctx, bucket, b.spec.Rate, b.spec.Burst, b.limit(ctx))
		if err != nil {
			b.log.Warn("the fleet's STS budget cannot be read; this broker's own budget applies to this call", "err", err)
			return local(ctx)
		}
		if !ok {
			b.obs.BudgetTurn(0, true, true)
			return b.refusal(id, region, 0, true)
		}
		if wait > 0 {
			if err := b.sleep(ctx, wait); err != nil {
				if err := b.fleet.ReturnTurn(context.WithoutCancel(ctx), bucket); err != nil {
					b.log.Warn("a turn of the fleet's STS budget could not be given back", "err", err)
				}
				b.obs.BudgetTurn(wait, true, true)
				return b.gaveUp(id, region, err)
			}
		}
		b.obs.BudgetTurn(wait, false, true)
		return nil
	}
}

// sweepFleet deletes the fleet's expired sessions, refilled buckets and
// ended claims of token IDs.
func (s *Service) sweepFleet() {
	if s.opts.Fleet == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.opts.Fleet.SweepFleet(ctx); err != nil {
		s.log.Warn("the fleet's expired sessions could not be deleted; the next sweep tries again", "err", err)
	}
}
