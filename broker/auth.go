package broker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"path"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// A token, as a caller presents it, is "tok_<16 hex>.<43 base64url>": the
// ID, by which the broker finds the stored hash, and the 256-bit secret.
const tokenPrefix = "tok_"

// validTokenID reports whether id has the form of a token ID,
// tok_ and 16 lowercase hex digits.
func validTokenID(id string) bool {
	if len(id) != 20 || id[:4] != "tok_" {
		return false
	}
	for i := 4; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// TokenID returns the token ID that ref names: ref itself when it is a
// token ID, or the ID part of a whole token "ID.secret". It reports false
// for anything else.
func TokenID(ref string) (string, bool) {
	id, _, _ := strings.Cut(strings.TrimSpace(ref), ".")
	return id, validTokenID(id)
}

type tokenEntry struct {
	tok     *credbroker.Token
	fetched time.Time
}

func newID(prefix string) (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b), nil
}

// hashToken binds the secret to the token's ID.
func hashToken(id, secret string) []byte {
	h := tokenHash(id, secret)
	return h[:]
}

// tokenHash is hashToken without an allocation, for Authenticate.
func tokenHash(id, secret string) [sha256.Size]byte {
	const prefix = "credbroker-token-v1\x00"
	var stack [128]byte
	b := append(append(append(append(stack[:0], prefix...), id...), 0), secret...)
	return sha256.Sum256(b)
}

func unauthorized(msg string) error {
	return credbroker.Errorf(credbroker.CodeUnauthorized, "token", "%s", msg).
		WithFix("pass a valid token (credbroker token create makes one)")
}

// Authenticate finds the token a caller presented and checks it: known,
// secret right (compared in constant time), not revoked, not expired. An
// ID token (a JWT) of a trusted issuer is accepted in its place when a
// binding accepts it: the caller then acts as an agent token of the
// binding's plans, carrying its identity (credbroker.Token.Identity).
func (s *Service) Authenticate(ctx context.Context, bearer string) (*credbroker.Token, error) {
	if looksLikeJWT(bearer) {
		return s.authenticateJWT(ctx, bearer)
	}
	id, secret, ok := strings.Cut(strings.TrimSpace(bearer), ".")
	if !ok || !validTokenID(id) || len(secret) != 43 {
		s.obs.AuthFailure("malformed")
		return nil, unauthorized("malformed token")
	}
	now := s.now()
	e, err := s.tokenEntry(ctx, id, now)
	if err != nil {
		if credbroker.ErrorCode(err) == credbroker.CodeUnauthorized {
			s.obs.AuthFailure("unknown")
		}
		return nil, err
	}
	if h := tokenHash(id, secret); subtle.ConstantTimeCompare(h[:], e.tok.Hash) != 1 {
		s.obs.AuthFailure("wrong_secret")
		return nil, unauthorized("unknown or wrong token")
	}
	t, err := activeToken(e, id, now)
	if err != nil {
		kind := "expired"
		if !e.tok.RevokedAt.IsZero() {
			kind = "revoked"
		}
		s.obs.AuthFailure(kind)
	}
	return t, err
}

// tokenEntry returns the token id as the store held it at most TokenTTL
// before now, reading it again when the cached copy is older.
func (s *Service) tokenEntry(ctx context.Context, id string, now time.Time) (tokenEntry, error) {
	s.tokMu.RLock()
	e, hit := s.tokens[id]
	s.tokMu.RUnlock()
	if hit && now.Sub(e.fetched) <= s.opts.TokenTTL {
		return e, nil
	}
	t, err := s.opts.Store.GetToken(ctx, id)
	if err != nil {
		if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
			return tokenEntry{}, unauthorized("unknown or wrong token")
		}
		s.obs.StoreError(StoreOpToken)
		return tokenEntry{}, err
	}
	e = tokenEntry{tok: t, fetched: now}
	s.tokMu.Lock()
	s.tokens[id] = e
	s.tokMu.Unlock()
	return e, nil
}

// activeToken returns a copy of the entry's token unless it is revoked or
// expired at now.
func activeToken(e tokenEntry, id string, now time.Time) (*credbroker.Token, error) {
	if !e.tok.RevokedAt.IsZero() {
		return nil, unauthorized("token " + id + " was revoked")
	}
	if !e.tok.Active(now) {
		return nil, unauthorized("token " + id + " expired at " + e.tok.ExpiresAt.UTC().Format(time.RFC3339))
	}
	t := *e.tok
	return &t, nil
}

// KnowsToken reports whether the token bearer names (by its ID) is one
// this broker has looked up before and holds in memory; the secret is not
// checked. The HTTP server serves such tokens from an address it limits
// for failed authentications (httpapi.TokenKnower).
func (s *Service) KnowsToken(bearer string) bool {
	if looksLikeJWT(bearer) {
		return s.knowsIDToken(bearer)
	}
	id, _, ok := strings.Cut(strings.TrimSpace(bearer), ".")
	if !ok || !validTokenID(id) {
		return false
	}
	s.tokMu.RLock()
	_, known := s.tokens[id]
	s.tokMu.RUnlock()
	return known
}

func (s *Service) forgetToken(id string) {
	s.tokMu.Lock()
	delete(s.tokens, id)
	s.tokMu.Unlock()
}

// requireAdmin refuses a token that is not an admin token.
func requireAdmin(tok *credbroker.Token) error {
	if tok == nil || tok.Role != credbroker.RoleAdmin {
		return credbroker.Errorf(credbroker.CodeForbidden, "token", "this needs an admin token").
			WithFix("use a token created with --role admin")
	}
	return nil
}

// AuthorizeMetrics lets metrics and admin tokens read the broker's
// metrics (httpapi.MetricsAuthorizer).
func (s *Service) AuthorizeMetrics(tok *credbroker.Token) error {
	if tok == nil || (tok.Role != credbroker.RoleMetrics && tok.Role != credbroker.RoleAdmin) {
		return credbroker.Errorf(credbroker.CodeForbidden, "token", "this needs a metrics or admin token").
			WithFix("scrape with a token created with --role metrics")
	}
	return nil
}

// requireAgentFor refuses a token that may not act for plan.
func requireAgentFor(tok *credbroker.Token, plan string) error {
	if tok == nil || tok.Role != credbroker.RoleAgent {
		return credbroker.Errorf(credbroker.CodeForbidden, "token", "this needs an agent token").
			WithFix("use a token created with --role agent --plans PATTERN")
	}
	pattern := tok.Plans
	if pattern == "" || pattern == "*" {
		return nil
	}
	if plan == "" {
		return credbroker.Errorf(credbroker.CodeForbidden, "plan",
			"token %s is bound to plans %q and the request names no plan", tok.ID, pattern).
			WithFix("name the build's plan key (--plan)")
	}
	if !globMatch(pattern, plan) {
		fix := "use a token of that plan, or widen the token's --plans"
		if tok.Identity != nil {
			fix = "name a plan of binding " + tok.Identity.Binding + " (its --plans or --plan-template), or change the binding"
		}
		return credbroker.Errorf(credbroker.CodeForbidden, "plan",
			"token %s is bound to plans %q; plan %s is outside it", tok.ID, pattern, plan).WithFix(fix)
	}
	return nil
}

// globMatch matches plan keys against a glob; a malformed glob matches
// nothing. Several patterns may be given, separated by commas.
func globMatch(pattern, s string) bool {
	for _, p := range strings.Split(pattern, ",") {
		if ok, err := path.Match(strings.TrimSpace(p), s); err == nil && ok {
			return true
		}
	}
	return false
}

// CreateToken makes a new token and returns its secret, shown this once.
func (s *Service) CreateToken(ctx context.Context, tok *credbroker.Token, spec credbroker.TokenSpec) (*credbroker.NewToken, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return s.createToken(ctx, tok.ID, spec)
}

// CreateTokenLocal makes a token without an admin token, for the first
// admin token of a new broker (`credbroker token create --local`, which
// needs direct access to the store and its key).
func (s *Service) CreateTokenLocal(ctx context.Context, spec credbroker.TokenSpec) (*credbroker.NewToken, error) {
	return s.createToken(ctx, "local", spec)
}

func (s *Service) createToken(ctx context.Context, actor string, spec credbroker.TokenSpec) (*credbroker.NewToken, error) {
	if !validTokenName(spec.Name) {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "name", "a token needs a name of 1 to 64 letters, digits, spaces or _.@-").
			WithFix("say who or what uses it: --name bamboo-agents")
	}
	switch spec.Role {
	case credbroker.RoleAdmin:
		if spec.Plans != "" {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "plans", "admin tokens are not bound to plans").
				WithFix("drop --plans, or use --role agent")
		}
	case credbroker.RoleMetrics:
		if spec.Plans != "" {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "plans", "metrics tokens are not bound to plans").
				WithFix("drop --plans, or use --role agent")
		}
	case credbroker.RoleAgent:
		if spec.Plans == "" {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "plans", "an agent token must be bound to a project or plan pattern").
				WithFix(`pass --plans "OPS-*" (a project), --plans OPS-DEPLOY (a plan) or --plans "*" (every plan)`)
		}
		for _, p := range strings.Split(spec.Plans, ",") {
			if _, err := path.Match(strings.TrimSpace(p), ""); err != nil || strings.TrimSpace(p) == "" {
				return nil, credbroker.Errorf(credbroker.CodeInvalid, "plans", "malformed plan pattern %q", p).
					WithFix("use plan keys with * and ? wildcards, separated by commas")
			}
		}
	default:
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "role", "unknown role %q", spec.Role).WithFix("use admin, agent or metrics")
	}
	const maxTokenLife = 10 * 366 * 24 * 3600 // ten years, in seconds
	if spec.ExpiresInSeconds < 0 || spec.ExpiresInSeconds > maxTokenLife {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "expires_in_seconds", "must be between 0 (no expiry) and %d (ten years)", maxTokenLife)
	}
	id, err := newID(tokenPrefix)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now().UTC()
	t := credbroker.Token{ID: id, Name: spec.Name, Role: spec.Role, Plans: spec.Plans, Hash: hashToken(id, secret), CreatedAt: now}
	if spec.ExpiresInSeconds > 0 {
		t.ExpiresAt = now.Add(time.Duration(spec.ExpiresInSeconds) * time.Second)
	}
	rec := s.adminRecord(actor, credbroker.ActionTokenCreate, "token "+id+" ("+string(spec.Role)+")")
	if err := s.opts.Store.CreateToken(ctx, &t, rec); err != nil {
		return nil, err
	}
	return &credbroker.NewToken{Token: t, Secret: id + "." + secret}, nil
}

// ListTokens lists tokens (hashes never leave the store).
func (s *Service) ListTokens(ctx context.Context, tok *credbroker.Token) ([]*credbroker.Token, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return s.opts.Store.ListTokens(ctx)
}

// RevokeToken revokes a token at once on this broker, and within TokenTTL
// on the others. ref is the token's ID, or the whole token (ID.secret),
// which is revoked by its ID: pasting a token where its ID belongs is
// common, and revoking it is what was meant (its secret is neither kept
// nor repeated). Anything else is refused without being repeated.
func (s *Service) RevokeToken(ctx context.Context, tok *credbroker.Token, ref string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	id, ok := TokenID(ref)
	if !ok {
		return credbroker.Errorf(credbroker.CodeInvalid, "id", "not a token ID").
			WithFix("give the ID that `credbroker token list` shows: tok_ and 16 hexadecimal digits")
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionTokenRevoke, "token "+id)
	if err := s.opts.Store.RevokeToken(ctx, id, s.now().UTC(), rec); err != nil {
		return err
	}
	s.forgetToken(id)
	return nil
}

func (s *Service) adminRecord(actor, action, detail string) *credbroker.AuditRecord {
	return &credbroker.AuditRecord{Time: s.now(), Action: action, TokenID: actor, Outcome: credbroker.OutcomeGranted, Detail: detail}
}
