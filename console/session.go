package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// Session is a signed-in administrator's console session as the server
// keeps it. The session ID itself lives only in the browser's cookie: the
// store knows its SHA-256 (Key), so a copy of the store opens no session.
type Session struct {
	// Key is the hex SHA-256 of the session ID.
	Key string
	// TokenID is the admin token the session was opened with; its secret
	// is never kept. Revoking the token ends the session.
	TokenID   string
	TokenName string
	// CSRF is the token every state-changing form of the session carries.
	CSRF string
	// Created is when the administrator signed in; the session ends
	// Lifetime after it however busy it is.
	Created time.Time
	// LastSeen is the last request; the session ends IdleTimeout after it.
	LastSeen time.Time
	// Flash is a one-time notice for the next page ("token revoked").
	Flash string
}

// expired reports whether s has ended at now, by idle time or age.
func (s *Session) expired(now time.Time, idle, lifetime time.Duration) bool {
	return now.Sub(s.LastSeen) >= idle || now.Sub(s.Created) >= lifetime
}

// SessionStore keeps console sessions by the hash of their ID. The
// in-memory MemorySessions serves one broker; brokers sharing a store use
// FleetSessions, backed by it, so that a session opened on one is known
// to the others.
type SessionStore interface {
	// Put stores s under s.Key, replacing what was there.
	Put(ctx context.Context, s *Session) error
	// Get returns the session under key; CodeNotFound when there is none.
	Get(ctx context.Context, key string) (*Session, error)
	// Delete removes the session under key; a missing one is no error.
	Delete(ctx context.Context, key string) error
}

// newSessionID returns a fresh random session ID (256 bits) and its key.
func newSessionID() (id, key string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	id = base64.RawURLEncoding.EncodeToString(b)
	return id, sessionKey(id), nil
}

// sessionKey is the store key of a session ID.
func sessionKey(id string) string {
	sum := sha256.Sum256([]byte("credbroker-console-session-v1\x00" + id))
	return hex.EncodeToString(sum[:])
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// MemorySessions is a SessionStore in the broker's memory: sessions end
// when the broker restarts. Expired sessions are dropped as new ones are
// stored, and at most Max are kept (the oldest go first).
type MemorySessions struct {
	// Idle and Lifetime are the expiry the console applies; sessions past
	// either are swept.
	Idle, Lifetime time.Duration
	// Max bounds the number of sessions kept; 10,000 when zero.
	Max int
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	mu       sync.Mutex
	sessions map[string]Session
}

// NewMemorySessions returns an empty in-memory store for sessions that end
// after idle without a request, or lifetime after sign-in.
func NewMemorySessions(idle, lifetime time.Duration, now func() time.Time) *MemorySessions {
	return &MemorySessions{Idle: idle, Lifetime: lifetime, Now: now}
}

// Put stores a copy of s.
func (m *MemorySessions) Put(_ context.Context, s *Session) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sessions == nil {
		m.sessions = map[string]Session{}
	}
	if _, ok := m.sessions[s.Key]; !ok {
		m.makeRoom()
	}
	m.sessions[s.Key] = *s
	return nil
}

// makeRoom drops expired sessions, then the oldest while the store is
// full. m.mu is held. It runs at each sign-in, which are few.
func (m *MemorySessions) makeRoom() {
	limit := m.Max
	if limit <= 0 {
		limit = 10000
	}
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	for k, s := range m.sessions {
		if m.Idle > 0 && m.Lifetime > 0 && s.expired(now, m.Idle, m.Lifetime) {
			delete(m.sessions, k)
		}
	}
	for len(m.sessions) >= limit {
		oldest := ""
		for k, s := range m.sessions {
			if oldest == "" || s.Created.Before(m.sessions[oldest].Created) {
				oldest = k
			}
		}
		delete(m.sessions, oldest)
	}
}

// Get returns a copy of the session under key.
func (m *MemorySessions) Get(_ context.Context, key string) (*Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[key]
	if !ok {
		return nil, credbroker.Errorf(credbroker.CodeNotFound, "session", "no such session")
	}
	return &s, nil
}

// Delete removes the session under key.
func (m *MemorySessions) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.sessions, key)
	return nil
}

// Len returns the number of sessions kept.
func (m *MemorySessions) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// FleetSessions is a SessionStore in the database the brokers of a fleet
// share (credbroker.Fleet): a session opened at one broker is known to
// the others behind the same balancer, and survives a broker's restart.
// Each session is stored with its latest end, the sooner of LastSeen plus
// Idle and Created plus Lifetime, and the fleet's sweep deletes it then.
type FleetSessions struct {
	Fleet          credbroker.Fleet
	Idle, Lifetime time.Duration
}

// NewFleetSessions returns a SessionStore in f for sessions that end
// after idle without a request, or lifetime after sign-in.
func NewFleetSessions(f credbroker.Fleet, idle, lifetime time.Duration) *FleetSessions {
	return &FleetSessions{Fleet: f, Idle: idle, Lifetime: lifetime}
}

// Put stores s under s.Key.
func (f *FleetSessions) Put(ctx context.Context, s *Session) error {
	ends := s.Created.Add(f.Lifetime)
	if idle := s.LastSeen.Add(f.Idle); idle.Before(ends) {
		ends = idle
	}
	return f.Fleet.PutConsoleSession(ctx, credbroker.ConsoleSession{
		Key: s.Key, TokenID: s.TokenID, TokenName: s.TokenName, CSRF: s.CSRF, Flash: s.Flash,
		Created: s.Created, LastSeen: s.LastSeen, Ends: ends,
	})
}

// Get returns the session under key; CodeNotFound when there is none.
func (f *FleetSessions) Get(ctx context.Context, key string) (*Session, error) {
	cs, err := f.Fleet.ConsoleSession(ctx, key)
	if err != nil {
		return nil, err
	}
	return &Session{Key: cs.Key, TokenID: cs.TokenID, TokenName: cs.TokenName, CSRF: cs.CSRF, Flash: cs.Flash,
		Created: cs.Created, LastSeen: cs.LastSeen}, nil
}

// Delete removes the session under key.
func (f *FleetSessions) Delete(ctx context.Context, key string) error {
	return f.Fleet.DeleteConsoleSession(ctx, key)
}
