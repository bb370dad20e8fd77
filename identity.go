package credbroker

import (
	"context"
	"log/slog"
	"time"
)

// TrustedIssuer is an OpenID Connect issuer whose ID tokens the broker
// accepts in place of an agent token: a CI system (GitHub Actions, GitLab,
// Buildkite, Jenkins) or a Kubernetes cluster. A token of the issuer acts
// only through a Binding, which says which of its tokens may act for which
// plans. An issuer holds no secret: it is verified with the keys it
// publishes.
type TrustedIssuer struct {
	// Name is the issuer's key on the broker: 1 to 64 lowercase letters,
	// digits and '-' ("github", "gitlab-internal").
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// URL is the issuer itself, compared exactly with a token's iss
	// claim ("https://token.actions.githubusercontent.com").
	URL string `json:"url"`
	// DiscoveryURL is the OpenID configuration document that names the
	// JWKS; URL + "/.well-known/openid-configuration" when both it and
	// JWKSURL are empty.
	DiscoveryURL string `json:"discovery_url,omitempty"`
	// JWKSURL names the key set directly, instead of discovery.
	JWKSURL string `json:"jwks_url,omitempty"`
	// Audiences are the aud values accepted: a token must name at least
	// one of them.
	Audiences []string `json:"audiences"`
	// Algorithms are the signature algorithms accepted, asymmetric only
	// (RS256, ES256, EdDSA, ...); DefaultIssuerAlgorithms when empty.
	Algorithms []string `json:"algorithms,omitempty"`
	// LeewaySeconds is the clock skew allowed on exp, nbf and iat;
	// DefaultIssuerLeeway when zero, at most MaxIssuerLeeway.
	LeewaySeconds int `json:"leeway_seconds,omitempty"`
	// RejectReplay requires a jti claim and accepts each token once
	// within its lifetime: once for the whole fleet when the brokers share
	// a database (Fleet.ClaimTokenID).
	RejectReplay bool `json:"reject_replay,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	// Revision increases on every update; an update names the revision it
	// read (0 on update means "whatever is stored").
	Revision int64 `json:"revision,omitempty"`
}

// Defaults and bounds of a TrustedIssuer.
const (
	DefaultIssuerLeeway = 60 * time.Second
	MaxIssuerLeeway     = 5 * time.Minute
)

// DefaultIssuerAlgorithms are the algorithms a TrustedIssuer accepts when
// it names none: what GitHub, GitLab, Buildkite, Jenkins and Kubernetes
// sign with.
var DefaultIssuerAlgorithms = []string{"RS256", "ES256"}

// Leeway is the clock skew the issuer allows.
func (i *TrustedIssuer) Leeway() time.Duration {
	if i.LeewaySeconds <= 0 {
		return DefaultIssuerLeeway
	}
	return time.Duration(i.LeewaySeconds) * time.Second
}

// Binding says which tokens of a TrustedIssuer may act for which plans, by
// their claims, and which claims flow into the session and the audit. A
// token is accepted when every rule holds: the subject pattern, and each
// claim rule (one of its values or globs matches). Globs have * (any run
// of characters, '/' and ':' included) and ? (one character); \ makes the
// next character literal. A claim is named by its top-level name, or by a
// JSON pointer into nested claims ("/ext/team").
type Binding struct {
	// Name is the binding's key: 1 to 64 letters, digits and '-', '_', '.'.
	Name string `json:"name"`
	// Issuer is the TrustedIssuer's name.
	Issuer      string `json:"issuer"`
	Description string `json:"description,omitempty"`
	// Subject is a glob the sub claim must match ("repo:acme/app:*").
	Subject string `json:"subject,omitempty"`
	// Claims are the rules on named claims.
	Claims []ClaimRule `json:"claims,omitempty"`
	// PlanTemplate derives the plan key from claims
	// ("GH-{repository_owner}-{repository}"): each {claim} is replaced by
	// its value, then the result is cleaned to a plan key (upper case, the
	// first '-' parts project and plan, any other character '_').
	PlanTemplate string `json:"plan_template,omitempty"`
	// Plans is instead a fixed plan key or a glob of them, as a token's
	// --plans ("OPS-DEPLOY", "OPS-*"). Exactly one of PlanTemplate and
	// Plans is set.
	Plans string `json:"plans,omitempty"`
	// TagClaims become session tags: tag Key takes the value of Claim.
	TagClaims []ClaimTag `json:"tag_claims,omitempty"`
	// SessionName and SourceIdentity are templates of the role session
	// name and source identity ("gh-{run_id}-{run_attempt}", "{actor}");
	// the build's when empty.
	SessionName    string `json:"session_name,omitempty"`
	SourceIdentity string `json:"source_identity,omitempty"`
	// AuditClaims are claims the audit records besides the ones the rules
	// and tags name and the well-known provenance claims (repository,
	// ref, sha, run_id, ...).
	AuditClaims []string `json:"audit_claims,omitempty"`

	CreatedAt time.Time `json:"created_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at,omitzero"`
	Revision  int64     `json:"revision,omitempty"`
}

// ClaimRule is one rule of a Binding: the claim must equal one of Values
// or match one of Globs. A claim that is a list matches when one of its
// elements does; numbers and booleans match as their JSON text.
type ClaimRule struct {
	Claim  string   `json:"claim"`
	Values []string `json:"values,omitempty"`
	Globs  []string `json:"globs,omitempty"`
}

// ClaimTag maps a claim to a session tag.
type ClaimTag struct {
	Key   string `json:"key"`
	Claim string `json:"claim"`
}

// VerifiedToken is an ID token whose signature, issuer, audience and times
// were verified (package oidc): what a Binding is matched against. Raw is
// not kept.
type VerifiedToken struct {
	// Issuer is the trusted issuer that signed it.
	Issuer *TrustedIssuer
	// Subject, Audience, ID (jti) and the times are the registered
	// claims; Expires is always set.
	Subject   string
	Audience  []string
	ID        string
	Expires   time.Time
	IssuedAt  time.Time
	NotBefore time.Time
	// Claims are all the token's claims, as JSON decodes them (numbers
	// as json.Number).
	Claims map[string]any
}

// WorkloadIdentity is what an accepted ID token makes of its caller: the
// binding that accepted it and what flows from its claims. The broker
// attaches it to the Token it authenticates the caller as.
type WorkloadIdentity struct {
	// Issuer is the trusted issuer's name; IssuerURL its iss.
	Issuer    string
	IssuerURL string
	Subject   string
	// Binding is the name of the binding that accepted the token.
	Binding string
	// Plan is the plan the template derived ("" when the binding has a
	// fixed plan pattern: the request names the plan).
	Plan string
	// Tags are the session tags from the binding's tag claims.
	Tags []Tag
	// SessionName and SourceIdentity are from the binding's templates
	// ("" for the build's).
	SessionName    string
	SourceIdentity string
	// Claims are the claims the audit records.
	Claims []Tag
	// Expires is when the token expires.
	Expires time.Time
}

// LogValue shows who the identity is, never a token.
func (w *WorkloadIdentity) LogValue() slog.Value {
	return slog.GroupValue(slog.String("issuer", w.Issuer), slog.String("subject", w.Subject), slog.String("binding", w.Binding))
}

// Audit actions of issuers and bindings, and of an ID token refused before
// it could act.
const (
	ActionIssuerCreate  = "issuer.create"
	ActionIssuerUpdate  = "issuer.update"
	ActionIssuerDelete  = "issuer.delete"
	ActionBindingCreate = "binding.create"
	ActionBindingUpdate = "binding.update"
	ActionBindingDelete = "binding.delete"
	// ActionAuthenticate records an ID token the broker refused: expired,
	// of an unknown issuer, with a bad signature, or matched by no binding.
	ActionAuthenticate = "oidc.authenticate"
)

// IdentityStore keeps trusted issuers and bindings.
type IdentityStore interface {
	// CreateIssuer inserts i at revision 1; a name or URL already taken is
	// CodeConflict.
	CreateIssuer(ctx context.Context, i *TrustedIssuer, audit *AuditRecord) error
	// GetIssuer returns the issuer name; CodeNotFound when there is none.
	GetIssuer(ctx context.Context, name string) (*TrustedIssuer, error)
	// ListIssuers returns every issuer, ordered by name.
	ListIssuers(ctx context.Context) ([]*TrustedIssuer, error)
	// UpdateIssuer replaces i if its stored revision is i.Revision,
	// storing the next revision; CodeConflict otherwise.
	UpdateIssuer(ctx context.Context, i *TrustedIssuer, audit *AuditRecord) error
	// DeleteIssuer removes the issuer name; CodeConflict while a binding
	// names it.
	DeleteIssuer(ctx context.Context, name string, audit *AuditRecord) error
	// CreateBinding inserts b at revision 1; a name taken is CodeConflict,
	// an issuer that does not exist CodeInvalid.
	CreateBinding(ctx context.Context, b *Binding, audit *AuditRecord) error
	// GetBinding returns the binding name; CodeNotFound when there is none.
	GetBinding(ctx context.Context, name string) (*Binding, error)
	// ListBindings returns every binding, ordered by name.
	ListBindings(ctx context.Context) ([]*Binding, error)
	// UpdateBinding replaces b if its stored revision is b.Revision.
	UpdateBinding(ctx context.Context, b *Binding, audit *AuditRecord) error
	// DeleteBinding removes the binding name.
	DeleteBinding(ctx context.Context, name string, audit *AuditRecord) error
	// IdentityGeneration returns a number that changes whenever an issuer
	// or a binding is created, updated or deleted, by any program on the
	// same database.
	IdentityGeneration(ctx context.Context) (int64, error)
}
