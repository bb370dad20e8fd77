package broker

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/identity"
)

// TokenVerifier verifies ID tokens (package oidc's Verifier). find returns
// the trusted issuer whose URL is iss, or nil.
type TokenVerifier interface {
	Verify(ctx context.Context, raw string, find func(iss string) *credbroker.TrustedIssuer) (*credbroker.VerifiedToken, error)
}

// keyForgetter is a TokenVerifier that caches keys per issuer, which an
// update or deletion of the issuer must drop.
type keyForgetter interface {
	Forget(name string)
}

// The bounds of the caches of ID tokens: verified tokens (by a hash of
// the token) and the jti of tokens of issuers that reject replays. When
// full, expired entries are dropped; a new token that still does not fit
// is verified but not cached (or, for a replay check, refused with 503).
const (
	maxVerifiedTokens = 10000
	maxSeenIDs        = 100000
)

// idState is what the broker holds of its issuers and bindings: read from
// the store and compiled, confirmed every IdentityTTL by the store's
// identity generation.
type idState struct {
	gen     int64
	checked time.Time
	byURL   map[string]*credbroker.TrustedIssuer
	rules   map[string][]*identity.Rule // by issuer name, in name order
}

// find is idState's lookup for the verifier.
func (st *idState) find(iss string) *credbroker.TrustedIssuer { return st.byURL[iss] }

// verifiedEntry is an accepted ID token: the agent token it acts as,
// until the token expires or the bindings change. raw is the token
// itself, which a presented token must equal (compared in constant time)
// to be served from the entry: the map key is a 64-bit keyed hash, fast
// enough for every request but not a proof.
type verifiedEntry struct {
	raw string
	tok *credbroker.Token
	exp time.Time
	gen int64
}

// idTokens holds the broker's ID-token state.
type idTokens struct {
	loadMu sync.Mutex // one store read of issuers and bindings at a time
	mu     sync.RWMutex
	state  *idState
	seed   maphash.Seed // of the cache's keys, random per broker
	cache  map[uint64]verifiedEntry
	seenMu sync.Mutex
	seen   map[string]time.Time // issuer name + jti -> token expiry
}

// looksLikeJWT reports whether a bearer value is shaped as a JWT (three
// dot-separated parts starting with a JSON object's base64url) rather
// than an agent token (tok_ID.secret).
func looksLikeJWT(s string) bool {
	return strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2
}

// identities returns the issuers and bindings as the store held them at
// most IdentityTTL ago.
func (s *Service) identities(ctx context.Context) (*idState, error) {
	now := s.now()
	s.ids.mu.RLock()
	st := s.ids.state
	s.ids.mu.RUnlock()
	if st != nil && now.Sub(st.checked) < s.opts.IdentityTTL {
		return st, nil
	}
	s.ids.loadMu.Lock()
	defer s.ids.loadMu.Unlock()
	s.ids.mu.RLock()
	st = s.ids.state
	s.ids.mu.RUnlock()
	if st != nil && now.Sub(st.checked) < s.opts.IdentityTTL {
		return st, nil
	}
	gen, err := s.opts.Store.IdentityGeneration(ctx)
	if err != nil {
		return nil, err
	}
	if st != nil && st.gen == gen {
		next := *st
		next.checked = now
		s.setIdentities(&next)
		return &next, nil
	}
	issuers, err := s.opts.Store.ListIssuers(ctx)
	if err != nil {
		return nil, err
	}
	bindings, err := s.opts.Store.ListBindings(ctx)
	if err != nil {
		return nil, err
	}
	next := &idState{gen: gen, checked: now, byURL: map[string]*credbroker.TrustedIssuer{}, rules: map[string][]*identity.Rule{}}
	for _, i := range issuers {
		if err := identity.CheckIssuer(i); err != nil {
			s.log.Error("a stored issuer does not pass the checks; its tokens are refused", "issuer", i.Name, "err", err)
			continue
		}
		next.byURL[i.URL] = i
	}
	for _, b := range bindings {
		r, err := identity.Compile(b)
		if err != nil {
			s.log.Error("a stored binding does not compile; it accepts no token", "binding", b.Name, "err", err)
			continue
		}
		next.rules[b.Issuer] = append(next.rules[b.Issuer], r)
	}
	s.setIdentities(next)
	return next, nil
}

func (s *Service) setIdentities(st *idState) {
	s.ids.mu.Lock()
	s.ids.state = st
	s.ids.mu.Unlock()
}

// forgetIdentities makes the next request read the issuers and bindings
// again, after a change made here.
func (s *Service) forgetIdentities(issuer string) {
	s.ids.mu.Lock()
	s.ids.state = nil
	s.ids.mu.Unlock()
	if f, ok := s.opts.Verifier.(keyForgetter); ok && issuer != "" {
		f.Forget(issuer)
	}
}

// authenticateJWT accepts an ID token in place of an agent token: verified
// by its issuer's keys, then matched by one of the issuer's bindings. The
// caller acts as an agent token for the binding's plan, carrying the
// binding's WorkloadIdentity. Accepted tokens are cached by a hash of the
// token until they expire (unless the issuer rejects replays), so that
// a CI job's repeated vends cost one verification. Every refusal is
// audited (ActionAuthenticate).
func (s *Service) authenticateJWT(ctx context.Context, raw string) (*credbroker.Token, error) {
	if s.opts.Verifier == nil {
		return nil, credbroker.Errorf(credbroker.CodeUnauthorized, "token", "this broker accepts no ID tokens").
			WithFix("present an agent token")
	}
	now := s.now()
	st, err := s.identities(ctx)
	if err != nil {
		return nil, err
	}
	key := maphash.String(s.ids.seed, raw)
	s.ids.mu.RLock()
	e, hit := s.ids.cache[key]
	s.ids.mu.RUnlock()
	if hit && now.Before(e.exp) && e.gen == st.gen && subtle.ConstantTimeCompare([]byte(e.raw), []byte(raw)) == 1 {
		t := *e.tok
		return &t, nil
	}
	vt, err := s.opts.Verifier.Verify(ctx, raw, st.find)
	if err != nil {
		s.auditIDRefusal(ctx, raw, nil, err)
		return nil, err
	}
	if vt.Issuer.RejectReplay {
		if err := s.once(ctx, vt, now); err != nil {
			s.auditIDRefusal(ctx, raw, vt, err)
			return nil, err
		}
	}
	id, err := identity.Accept(st.rules[vt.Issuer.Name], vt)
	if err != nil {
		s.auditIDRefusal(ctx, raw, vt, err)
		return nil, err
	}
	var plans string
	if id.Plan != "" {
		plans = id.Plan
	} else if rules := st.rules[vt.Issuer.Name]; len(rules) > 0 {
		for _, r := range rules {
			if r.Binding().Name == id.Binding {
				plans = r.Binding().Plans
			}
		}
	}
	tok := &credbroker.Token{
		ID: "oidc:" + id.Binding, Name: id.Binding, Role: credbroker.RoleAgent, Plans: plans,
		CreatedAt: vt.IssuedAt, ExpiresAt: vt.Expires, Identity: id,
	}
	if !vt.Issuer.RejectReplay {
		s.cacheVerified(key, verifiedEntry{raw: raw, tok: tok, exp: vt.Expires, gen: st.gen}, now)
	}
	t := *tok
	return &t, nil
}

// cacheVerified keeps an accepted token, dropping expired ones when the
// cache is full.
func (s *Service) cacheVerified(key uint64, e verifiedEntry, now time.Time) {
	s.ids.mu.Lock()
	defer s.ids.mu.Unlock()
	if len(s.ids.cache) >= maxVerifiedTokens {
		for k, old := range s.ids.cache {
			if !now.Before(old.exp) {
				delete(s.ids.cache, k)
			}
		}
		if len(s.ids.cache) >= maxVerifiedTokens {
			return
		}
	}
	s.ids.cache[key] = e
}

// once accepts a token of an issuer that rejects replays only the first
// time its jti is seen, within the token's lifetime and the issuer's
// leeway. The broker keeps the IDs it accepted; with a fleet
// (Options.Fleet) every broker on the database also claims each ID there
// first, so a token used at one broker is refused at all of them. When
// the fleet cannot be asked, the token is refused: nothing says it was
// not used elsewhere.
func (s *Service) once(ctx context.Context, vt *credbroker.VerifiedToken, now time.Time) error {
	if vt.ID == "" {
		return credbroker.Errorf(credbroker.CodeUnauthorized, "token", "issuer %s rejects replayed tokens, and this token has no jti", vt.Issuer.Name).
			WithFix("the issuer must give each token an ID (jti), or an administrator turns replay protection off")
	}
	key := vt.Issuer.Name + "\x00" + vt.ID
	used := credbroker.Errorf(credbroker.CodeUnauthorized, "token", "this token (jti %q) of issuer %s was already used; it is accepted once",
		credbroker.CleanField(vt.ID, 64), vt.Issuer.Name).WithFix("fetch a fresh token from the CI for each request")
	s.ids.seenMu.Lock()
	if exp, ok := s.ids.seen[key]; ok && now.Before(exp.Add(vt.Issuer.Leeway())) {
		s.ids.seenMu.Unlock()
		return used
	}
	if len(s.ids.seen) >= maxSeenIDs {
		s.sweepSeen(now)
		if len(s.ids.seen) >= maxSeenIDs {
			s.ids.seenMu.Unlock()
			return credbroker.Errorf(credbroker.CodeUnavailable, "token", "the broker tracks too many token IDs to check this one for replay").
				WithFix("retry in a few minutes")
		}
	}
	f := s.opts.Fleet
	if f == nil {
		s.ids.seen[key] = vt.Expires
		s.ids.seenMu.Unlock()
		return nil
	}
	// The fleet's claim is one statement, so the lock is not held over
	// it: of two requests with one token, here or at another broker, the
	// database lets one through.
	s.ids.seenMu.Unlock()
	sum := sha256.Sum256([]byte(key))
	first, err := f.ClaimTokenID(ctx, hex.EncodeToString(sum[:]), vt.Expires.Add(vt.Issuer.Leeway()))
	if err != nil {
		s.log.Warn("the fleet's record of used token IDs cannot be read; the token is refused", "issuer", vt.Issuer.Name, "err", err)
		return credbroker.Errorf(credbroker.CodeUnavailable, "token", "issuer %s rejects replayed tokens, and the brokers' record of used tokens cannot be read", vt.Issuer.Name).
			WithFix("retry in a few seconds; if it persists, check the broker's database")
	}
	s.ids.seenMu.Lock()
	s.ids.seen[key] = vt.Expires
	s.ids.seenMu.Unlock()
	if !first {
		return used
	}
	return nil
}

// sweepSeen drops the jti records of tokens past their expiry and leeway;
// seenMu is held.
func (s *Service) sweepSeen(now time.Time) {
	for k, exp := range s.ids.seen {
		if now.After(exp.Add(credbroker.MaxIssuerLeeway)) {
			delete(s.ids.seen, k)
		}
	}
}

// sweepIDTokens drops expired verified tokens and jti records; the
// sweeper calls it.
func (s *Service) sweepIDTokens() {
	now := s.now()
	s.ids.mu.Lock()
	for k, e := range s.ids.cache {
		if !now.Before(e.exp) {
			delete(s.ids.cache, k)
		}
	}
	s.ids.mu.Unlock()
	s.ids.seenMu.Lock()
	s.sweepSeen(now)
	s.ids.seenMu.Unlock()
}

// knowsIDToken reports whether bearer is an ID token this broker accepted
// and still holds (by its hash), for TokenKnower.
func (s *Service) knowsIDToken(bearer string) bool {
	key := maphash.String(s.ids.seed, bearer)
	s.ids.mu.RLock()
	e, ok := s.ids.cache[key]
	s.ids.mu.RUnlock()
	return ok && s.now().Before(e.exp) && subtle.ConstantTimeCompare([]byte(e.raw), []byte(bearer)) == 1
}

// auditIDRefusal records a refused ID token: the issuer and subject it
// claims (verified when vt is set, as the token says otherwise: escaped
// and cut), why it was refused, never the token.
func (s *Service) auditIDRefusal(ctx context.Context, raw string, vt *credbroker.VerifiedToken, err error) {
	rec := &credbroker.AuditRecord{Time: s.now(), Action: credbroker.ActionAuthenticate, TokenID: "oidc"}
	if vt != nil {
		rec.TokenID = "oidc:" + vt.Issuer.Name
		rec.Issuer, rec.Subject = vt.Issuer.URL, credbroker.CleanField(vt.Subject, credbroker.MaxFieldLen)
	} else if u := s.peek(raw); u.Issuer != "" || u.Subject != "" {
		rec.Issuer, rec.Subject = credbroker.CleanField(u.Issuer, credbroker.MaxFieldLen), credbroker.CleanField(u.Subject, credbroker.MaxFieldLen)
	}
	s.auditRefusal(ctx, rec, err)
}

// peek reads what a refused token claims, when the verifier can tell.
func (s *Service) peek(raw string) struct{ Issuer, Subject string } {
	type peeker interface {
		PeekClaims(raw string) (issuer, subject string)
	}
	if p, ok := s.opts.Verifier.(peeker); ok {
		iss, sub := p.PeekClaims(raw)
		return struct{ Issuer, Subject string }{iss, sub}
	}
	return struct{ Issuer, Subject string }{}
}
