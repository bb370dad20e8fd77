// Package oidc verifies the ID tokens that CI systems and Kubernetes issue,
// for the broker: the one importer of go-jose. A token is parsed as a
// compact JWS with the asymmetric algorithms only, its issuer found among
// the trusted ones by its iss claim (compared exactly), its signature
// checked with the issuer's published key of the token's kid, and its
// registered claims checked: aud required and one of the issuer's
// audiences, exp required and not past, nbf and iat not in the future,
// each with the issuer's small leeway. Nothing here is hand-written JOSE:
// go-jose parses and verifies; this package decides which keys and claims
// to trust.
//
// Keys come from the issuer's JWKS, found through its discovery document
// or named directly, fetched with a timeout and a size bound, cached, and
// fetched again when a token names a kid the cache lacks (at most once per
// Options.RefreshInterval per issuer, so a stream of forged kids cannot
// make the broker hammer an issuer) or when they are older than
// Options.KeyTTL. An issuer that cannot be reached is CodeUnavailable with
// the reason: the broker answers 503, never hangs.
//
// Errors never hold the token: they name what was wrong with it.
package oidc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/credbroker/credbroker"
)

// MaxTokenBytes is the largest ID token accepted: GitHub's are about
// 1,300 bytes, Kubernetes' about 1,000; 8 KiB leaves room for large claim
// sets and keeps a hostile token from costing more than a small parse.
const MaxTokenBytes = 8 << 10

// Defaults of Options.
const (
	DefaultFetchTimeout    = 5 * time.Second
	DefaultRefreshInterval = 10 * time.Second
	DefaultKeyTTL          = time.Hour
	// maxDocument bounds a discovery document or key set.
	maxDocument = 1 << 20
)

// Options configure a Verifier. The zero value works.
type Options struct {
	// HTTPClient fetches discovery documents and key sets; a client of
	// its own, which follows no redirect, when nil.
	HTTPClient *http.Client
	// FetchTimeout bounds one fetch of a document; DefaultFetchTimeout.
	FetchTimeout time.Duration
	// RefreshInterval is the least time between two fetches of one
	// issuer's keys for a kid the cache lacks; DefaultRefreshInterval.
	RefreshInterval time.Duration
	// KeyTTL is how long fetched keys are used before they are fetched
	// again; DefaultKeyTTL.
	KeyTTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger; discards when nil.
	Logger *slog.Logger
	// Observer, when set, is told of each fetch of an issuer's keys, for
	// metrics.
	Observer FetchObserver
}

// FetchObserver is told of each fetch of a trusted issuer's key set (its
// discovery document included, when the issuer is found through one):
// result is FetchOK or FetchError, d how long the fetch took by
// Options.Now. It is called from the goroutine of the fetch, never with
// an issuer's name or URL; it must be quick and safe for concurrent use.
// Package metrics implements it.
type FetchObserver interface {
	JWKSFetch(result string, d time.Duration)
}

// Results of a fetch told to a FetchObserver.
const (
	FetchOK    = "ok"
	FetchError = "error"
)

// Verifier verifies ID tokens. It is safe for concurrent use.
type Verifier struct {
	o    Options
	mu   sync.Mutex
	sets map[string]*keySet // by issuer name
}

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = DefaultFetchTimeout
	}
	if o.RefreshInterval <= 0 {
		o.RefreshInterval = DefaultRefreshInterval
	}
	if o.KeyTTL <= 0 {
		o.KeyTTL = DefaultKeyTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Verifier{o: o, sets: map[string]*keySet{}}
}

// allAsymmetric are the algorithms a token may be parsed with at all;
// each issuer narrows them.
var allAsymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// refused is the error of a token that is not accepted.
func refused(format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeUnauthorized, "token", format, args...)
}

// Unverified is what can be read of a token before its signature is
// checked: for messages, the audit of a refusal and the agent's offline
// checks only.
type Unverified struct {
	Issuer, Subject string
	Audience        []string
	// Expires is the zero time when the token has no exp.
	Expires time.Time
}

// Inspect reads the claims of a token without verifying it, for the
// agent's offline checks of the token it will send (well formed, not
// expired, for the audience asked). The error says what is malformed,
// never the token.
func Inspect(raw string) (Unverified, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > MaxTokenBytes {
		return Unverified{}, fmt.Errorf("the token is %d bytes, more than the %d an ID token may have", len(raw), MaxTokenBytes)
	}
	if strings.Count(raw, ".") != 2 {
		return Unverified{}, errors.New("not a JWT: an ID token is three base64url parts joined by dots")
	}
	sig, err := jose.ParseSignedCompact(raw, allAsymmetric)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return Unverified{}, fmt.Errorf("the token is signed with algorithm %q, which no broker or STS accepts", credbroker.CleanField(string(alg.Got), 32))
		}
		return Unverified{}, errors.New("not a well-formed JWT (compact JWS, base64url parts)")
	}
	var c jwt.Claims
	if err := json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &c); err != nil {
		return Unverified{}, errors.New("the token's payload is not a JSON claim set")
	}
	u := Unverified{Issuer: c.Issuer, Subject: c.Subject, Audience: []string(c.Audience)}
	if c.Expiry != nil {
		u.Expires = c.Expiry.Time()
	}
	return u, nil
}

// Peek reads the issuer and subject of a token without verifying it, for
// the audit record of a refusal; empty when they cannot be read.
func Peek(raw string) Unverified {
	if len(raw) > MaxTokenBytes {
		return Unverified{}
	}
	sig, err := jose.ParseSignedCompact(raw, allAsymmetric)
	if err != nil {
		return Unverified{}
	}
	var c jwt.Claims
	if json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &c) != nil {
		return Unverified{}
	}
	return Unverified{Issuer: c.Issuer, Subject: c.Subject}
}

// PeekClaims is Peek for the broker, which declares the method it needs.
func (v *Verifier) PeekClaims(raw string) (issuer, subject string) {
	u := Peek(raw)
	return u.Issuer, u.Subject
}

// Verify verifies raw and returns its claims. find returns the trusted
// issuer whose URL is iss, or nil when none is. Errors are
// CodeUnauthorized for a token that is not accepted (malformed, oversized,
// of an unknown issuer, a disallowed algorithm, an unknown kid, a bad
// signature, a wrong audience, expired, not yet valid), CodeUnavailable
// when the issuer's keys cannot be fetched.
func (v *Verifier) Verify(ctx context.Context, raw string, find func(iss string) *credbroker.TrustedIssuer) (*credbroker.VerifiedToken, error) {
	if len(raw) > MaxTokenBytes {
		return nil, refused("the ID token is %d bytes; this broker accepts tokens of at most %d", len(raw), MaxTokenBytes).
			WithFix("ask the CI for a token with fewer claims")
	}
	if strings.Count(raw, ".") != 2 {
		return nil, refused("not a JWT: an ID token is three base64url parts joined by dots").
			WithFix("pass the CI's ID token as it is, or an agent token")
	}
	sig, err := jose.ParseSignedCompact(raw, allAsymmetric)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return nil, refused("the token is signed with algorithm %q; only asymmetric algorithms are accepted (none and HMAC never are)", credbroker.CleanField(string(alg.Got), 32))
		}
		return nil, refused("not a well-formed JWT (compact JWS, base64url parts)").WithCause(err)
	}
	if len(sig.Signatures) != 1 {
		return nil, refused("the token has %d signatures; an ID token has one", len(sig.Signatures))
	}
	var unsafe jwt.Claims
	if err := json.Unmarshal(sig.UnsafePayloadWithoutVerification(), &unsafe); err != nil {
		return nil, refused("the token's payload is not a JSON claim set").WithCause(err)
	}
	iss := find(unsafe.Issuer)
	if iss == nil {
		return nil, refused("issuer %q is not trusted by this broker", credbroker.CleanField(unsafe.Issuer, 128)).
			WithFix("an administrator adds it with credbroker issuer create, or the CI is asked for a token of a trusted issuer")
	}
	h := sig.Signatures[0].Protected
	if !slices.Contains(iss.Algorithms, h.Algorithm) {
		return nil, refused("the token is signed with %s, which issuer %s does not allow (%s)", h.Algorithm, iss.Name, strings.Join(iss.Algorithms, ", "))
	}
	key, err := v.key(ctx, iss, credbroker.CleanField(h.KeyID, 128), h.Algorithm)
	if err != nil {
		return nil, err
	}
	payload, err := sig.Verify(key)
	if err != nil {
		return nil, refused("the token's signature does not verify with issuer %s's key %s: it was altered or not signed by the issuer", iss.Name, keyName(key)).WithCause(err)
	}
	return v.claims(iss, payload)
}

// keyName names a key in a message.
func keyName(k *jose.JSONWebKey) string {
	if k.KeyID == "" {
		return "(no kid)"
	}
	return fmt.Sprintf("%q", credbroker.CleanField(k.KeyID, 64))
}

// claims checks the registered claims of a verified payload.
func (v *Verifier) claims(iss *credbroker.TrustedIssuer, payload []byte) (*credbroker.VerifiedToken, error) {
	var std jwt.Claims
	if err := json.Unmarshal(payload, &std); err != nil {
		return nil, refused("the token's registered claims are malformed").WithCause(err)
	}
	all := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&all); err != nil {
		return nil, refused("the token's claims are not a JSON object").WithCause(err)
	}
	switch {
	case std.Issuer != iss.URL:
		return nil, refused("the token's issuer is not %s", iss.URL) // cannot happen: found by it
	case len(std.Audience) == 0:
		return nil, refused("the token names no audience (aud); issuer %s's tokens must name one of %s", iss.Name, strings.Join(iss.Audiences, ", ")).
			WithFix("ask the CI for a token with that audience")
	case std.Expiry == nil:
		return nil, refused("the token has no expiry (exp)")
	case std.Subject == "":
		return nil, refused("the token has no subject (sub)")
	}
	now := v.o.Now()
	err := std.ValidateWithLeeway(jwt.Expected{AnyAudience: iss.Audiences, Time: now}, iss.Leeway())
	switch {
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, refused("the token's audience %s is not one issuer %s accepts (%s)", quoteList(std.Audience), iss.Name, strings.Join(iss.Audiences, ", ")).
			WithFix("ask the CI for a token with that audience: --audience, or GitLab's id_tokens aud")
	case errors.Is(err, jwt.ErrExpired):
		return nil, refused("the token expired at %s", std.Expiry.Time().UTC().Format(time.RFC3339)).
			WithFix("fetch a fresh token from the CI; if it was just issued, check this host's clock")
	case errors.Is(err, jwt.ErrNotValidYet):
		return nil, refused("the token is not valid before %s", std.NotBefore.Time().UTC().Format(time.RFC3339)).
			WithFix("check the clocks of the CI and of the broker (NTP)")
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return nil, refused("the token was issued in the future, at %s", std.IssuedAt.Time().UTC().Format(time.RFC3339)).
			WithFix("check the clocks of the CI and of the broker (NTP)")
	case err != nil:
		return nil, refused("the token's claims are not valid").WithCause(err)
	}
	out := &credbroker.VerifiedToken{
		Issuer: iss, Subject: std.Subject, Audience: []string(std.Audience), ID: std.ID,
		Expires: std.Expiry.Time(), Claims: all,
	}
	if std.IssuedAt != nil {
		out.IssuedAt = std.IssuedAt.Time()
	}
	if std.NotBefore != nil {
		out.NotBefore = std.NotBefore.Time()
	}
	return out, nil
}

// quoteList renders audiences for a message, escaped and bounded.
func quoteList(list []string) string {
	var parts []string
	for i, s := range list {
		if i == 3 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, fmt.Sprintf("%q", credbroker.CleanField(s, 64)))
	}
	return strings.Join(parts, ", ")
}

// Forget drops the cached keys of the issuer name (after it was updated
// or deleted).
func (v *Verifier) Forget(name string) {
	v.mu.Lock()
	delete(v.sets, name)
	v.mu.Unlock()
}

// set returns the key cache of iss, a new one when the issuer's key
// location changed.
func (v *Verifier) set(iss *credbroker.TrustedIssuer) *keySet {
	v.mu.Lock()
	defer v.mu.Unlock()
	ks := v.sets[iss.Name]
	if ks == nil || ks.discovery != iss.DiscoveryURL || ks.jwks != iss.JWKSURL || ks.issuer != iss.URL {
		ks = &keySet{issuer: iss.URL, discovery: iss.DiscoveryURL, jwks: iss.JWKSURL}
		v.sets[iss.Name] = ks
	}
	return ks
}
