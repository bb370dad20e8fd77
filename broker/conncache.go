package broker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
)

// connEntry is a connector as read from the store, with its secret opened,
// and when the store last confirmed that it still holds this revision.
type connEntry struct {
	c       *credbroker.Connector
	checked atomic.Int64 // the broker clock's UnixNano at the last confirmation
	// gen is a connector generation read before a confirmation of this
	// revision (noGeneration when none is known): while the store's
	// generation is still gen, the entry is still current.
	gen atomic.Int64
}

// noGeneration is the generation of an entry confirmed before the broker
// ever read one; it matches no generation a store returns.
const noGeneration = -1

func newConnEntry(c *credbroker.Connector, now time.Time, gen int64) *connEntry {
	e := &connEntry{c: c}
	e.checked.Store(now.UnixNano())
	e.gen.Store(gen)
	return e
}

// fresh reports whether the entry was confirmed less than ttl before now.
func (e *connEntry) fresh(now time.Time, ttl time.Duration) bool {
	return now.UnixNano()-e.checked.Load() <= int64(ttl)
}

// confirm records that the store held the entry's revision at time at,
// and a generation read before that.
func (e *connEntry) confirm(at time.Time, gen int64) {
	e.gen.Store(gen)
	t := at.UnixNano()
	for {
		old := e.checked.Load()
		if old >= t || e.checked.CompareAndSwap(old, t) {
			return
		}
	}
}

// generation is the store's connector generation n as read at time at
// (the broker clock before the query was sent).
type generation struct {
	n  int64
	at time.Time
}

func (s *Service) cachedConnector(ref string) *connEntry {
	s.connMu.RLock()
	defer s.connMu.RUnlock()
	return s.conns[ref]
}

func (s *Service) forgetConnector(c *credbroker.Connector) {
	s.connMu.Lock()
	delete(s.conns, c.ID)
	delete(s.conns, c.Name)
	s.connMu.Unlock()
}

// noConnector is the vend's answer for a connector the store does not have.
func noConnector(ref string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector %q", ref).
		WithFix("check the name (credbroker connector list), or the variable that holds it")
}

// connector returns the connector ref (ID or name) with its secret opened.
// The opened connector is kept in memory. Once the store last confirmed it
// is more than ConnectorTTL ago, the broker reads the store's connector
// generation (one read per ConnectorTTL for all connectors): unchanged, it
// confirms every connector held. Otherwise the store is asked for the
// revision that ref now names (an indexed read of two columns), and only a
// different ID or revision reads and opens the connector again. So a change
// made on another broker shows within ConnectorTTL, and a deleted
// connector stops vending within it, as if it were read every time.
func (s *Service) connector(ctx context.Context, ref string) (*credbroker.Connector, error) {
	now := s.now()
	e := s.cachedConnector(ref)
	if e != nil {
		ttl := s.opts.ConnectorTTL
		if e.fresh(now, ttl) {
			return e.c, nil
		}
		if g, ok := s.generation(ctx, now); ok && g.n == e.gen.Load() {
			e.confirm(g.at, g.n)
			return e.c, nil
		}
		known := s.knownGeneration()
		id, rev, err := s.opts.Store.ConnectorRevision(ctx, ref)
		switch {
		case err == nil && id == e.c.ID && rev == e.c.Revision:
			e.confirm(now, known)
			return e.c, nil
		case credbroker.ErrorCode(err) == credbroker.CodeNotFound:
			s.forgetRef(ref, e)
			return nil, noConnector(ref)
		case err != nil:
			return nil, err
		}
		// Another ID or revision: read it in full below.
	}
	known := s.knownGeneration()
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
			return nil, noConnector(ref)
		}
		return nil, err
	}
	if !c.Secret.Empty() {
		ref := credbroker.SecretRef{Kind: "connector", ID: c.ID}
		plain, err := s.openSecret(ref, c.Secret)
		if err != nil {
			s.log.Error("cannot open a connector's sealed secret", "connector", c.Name, "err", err)
			return nil, credbroker.Errorf(credbroker.CodeUnavailable, "connector",
				"the stored secret of connector %s cannot be opened", c.Name).
				WithFix("an administrator should check the broker log and its master key")
		}
		c.SecretAccessKey = string(plain)
	}
	e = newConnEntry(c, now, known)
	s.connMu.Lock()
	if old, ok := s.conns[c.ID]; ok && old.c.Name != c.Name && s.conns[old.c.Name] == old {
		delete(s.conns, old.c.Name)
	}
	s.conns[c.ID] = e
	s.conns[c.Name] = e
	s.connMu.Unlock()
	return c, nil
}

// knownGeneration is the last connector generation read, noGeneration
// before the first read. A confirmation records the one known before it
// asked the store.
func (s *Service) knownGeneration() int64 {
	if g := s.gen.Load(); g != nil {
		return g.n
	}
	return noGeneration
}

// generation returns the store's connector generation as read at most
// ConnectorTTL before now, reading it again when the last read is older;
// one read at a time, which concurrent callers share. false when the
// store cannot tell.
func (s *Service) generation(ctx context.Context, now time.Time) (generation, bool) {
	ttl := s.opts.ConnectorTTL
	if g := s.gen.Load(); g != nil && now.Sub(g.at) <= ttl {
		return *g, true
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if g := s.gen.Load(); g != nil && now.Sub(g.at) <= ttl {
		return *g, true
	}
	at := s.now()
	n, err := s.opts.Store.ConnectorGeneration(ctx)
	if err != nil {
		return generation{}, false
	}
	g := &generation{n: n, at: at}
	s.gen.Store(g)
	return *g, true
}

// forgetRef drops e, which ref no longer finds in the store, from the
// cache under ref and its own ID and name, unless a newer entry replaced
// it there meanwhile.
func (s *Service) forgetRef(ref string, e *connEntry) {
	s.connMu.Lock()
	for _, k := range []string{ref, e.c.ID, e.c.Name} {
		if s.conns[k] == e {
			delete(s.conns, k)
		}
	}
	s.connMu.Unlock()
}
