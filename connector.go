package credbroker

import "time"

// PrincipalType is what kind of temporary identity a connector yields.
type PrincipalType string

// The principal types a connector can have.
const (
	// PrincipalAssumedRole calls AssumeRole with the base credentials.
	PrincipalAssumedRole PrincipalType = "assumed-role"
	// PrincipalFederatedUser calls GetFederationToken.
	PrincipalFederatedUser PrincipalType = "federated-user"
	// PrincipalSession calls GetSessionToken (an IAM user's session).
	PrincipalSession PrincipalType = "session"
	// PrincipalProvided hands out the stored key pair as it is, with no STS
	// call. Long-lived keys: an STS-backed type is preferred.
	PrincipalProvided PrincipalType = "provided"
)

// Valid reports whether p is a known principal type.
func (p PrincipalType) Valid() bool {
	switch p {
	case PrincipalAssumedRole, PrincipalFederatedUser, PrincipalSession, PrincipalProvided:
		return true
	}
	return false
}

// BaseKind is where a connector's base credentials come from.
type BaseKind string

// The kinds of base credentials.
const (
	// BaseKeys is an access key pair stored encrypted with the connector.
	BaseKeys BaseKind = "keys"
	// BaseDefault is the broker host's own default AWS credential chain
	// (environment, shared config, instance profile).
	BaseDefault BaseKind = "default"
	// BaseConnector takes another connector's credentials: role chaining.
	BaseConnector BaseKind = "connector"
)

// Valid reports whether k is a known base kind.
func (k BaseKind) Valid() bool {
	switch k {
	case BaseKeys, BaseDefault, BaseConnector:
		return true
	}
	return false
}

// ScopeKind is the reach of a connector.
type ScopeKind string

// The scopes of a connector.
const (
	ScopeSystem  ScopeKind = "system"  // any plan, and builds with no plan
	ScopeProject ScopeKind = "project" // plans of one project (PROJ-*)
	ScopePlan    ScopeKind = "plan"    // one plan
)

// Scope is a connector's reach: system, or a project or plan key.
type Scope struct {
	Kind ScopeKind `json:"kind"`
	Key  string    `json:"key,omitempty"`
}

// String renders "system", "project OPS" or "plan OPS-DEPLOY".
func (s Scope) String() string {
	if s.Key == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + " " + s.Key
}

// SessionMode says how long a connector's vended session is shared.
type SessionMode string

// The session modes.
const (
	SessionPerBuild SessionMode = "build" // a fresh session per build (default)
	SessionPerPlan  SessionMode = "plan"  // one session shared by the plan's builds
)

// Connector is a centrally configured source of credentials on the broker.
// SecretAccessKey is held in memory only while the broker uses it; the
// store keeps it sealed in Secret.
type Connector struct {
	ID          string        `json:"id"`
	Name        string        `json:"name"`
	Description string        `json:"description,omitempty"`
	Principal   PrincipalType `json:"principal"`

	Base          BaseKind `json:"base"`
	BaseConnector string   `json:"base_connector,omitempty"` // ID of the base connector
	AccessKeyID   string   `json:"access_key_id,omitempty"`  // base key ID (an identifier, not a secret)
	// SecretAccessKey is the base secret key in the clear: set on create or
	// update, and after unsealing; never serialized.
	SecretAccessKey string `json:"-"`
	// Secret is SecretAccessKey sealed, as stored.
	Secret Sealed `json:"-"`

	Region        string   `json:"region"`
	RoleARN       string   `json:"role_arn,omitempty"`
	ExternalID    string   `json:"external_id,omitempty"`
	FederatedName string   `json:"federated_name,omitempty"`
	Policy        string   `json:"policy,omitempty"`
	PolicyARNs    []string `json:"policy_arns,omitempty"`

	DefaultDuration time.Duration `json:"default_duration"`
	MaxDuration     time.Duration `json:"max_duration"`

	Scope       Scope       `json:"scope"`
	AllowPlans  []string    `json:"allow_plans,omitempty"` // globs of plan keys; empty allows every plan in scope
	SessionMode SessionMode `json:"session_mode"`
	// AllowedAccountIDs, when not empty, is the connector's account
	// guard: a session of another account (by the ARN STS issued it
	// with) never leaves the broker.
	AllowedAccountIDs []string `json:"allowed_account_ids,omitempty"`

	Tags              []Tag    `json:"tags,omitempty"`
	TransitiveTagKeys []string `json:"transitive_tag_keys,omitempty"`
	DisableTags       bool     `json:"disable_tags,omitempty"`

	STSEndpoints []string  `json:"sts_endpoints,omitempty"` // first is primary, the rest fallbacks
	Retry        RetrySpec `json:"retry"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Revision increases on every update; an update names the revision it
	// read, so two concurrent edits cannot silently overwrite each other.
	Revision int64 `json:"revision"`
}

// Sealed is a secret encrypted by package seal. Blob holds the ciphertext
// and the wrapped data key; KeyVersion is the master key version that wraps
// it, kept beside the blob so rotation can find what is left to re-wrap.
type Sealed struct {
	KeyVersion int
	Blob       []byte
}

// Empty reports whether nothing is sealed.
func (s Sealed) Empty() bool { return len(s.Blob) == 0 }

// SecretRef names a sealed secret in the store. Its String form is the
// associated data the secret is sealed with, so a blob copied onto another
// record does not open.
type SecretRef struct {
	Kind string // "connector" or "variable"
	ID   string // connector ID, or "scope/name" of a variable
}

// String renders "kind/id".
func (r SecretRef) String() string { return r.Kind + "/" + r.ID }

// TokenRole is what a token may do.
type TokenRole string

// The token roles.
const (
	// RoleAdmin manages connectors, variables and tokens and reads the audit.
	RoleAdmin TokenRole = "admin"
	// RoleAgent vends credentials and reads variables, for its plans only.
	RoleAgent TokenRole = "agent"
)

// Token is an API token as stored: its secret part only as a hash.
type Token struct {
	ID   string    `json:"id"`
	Name string    `json:"name"`
	Role TokenRole `json:"role"`
	// Plans is the glob of plan keys an agent token may act for
	// ("OPS-*", "OPS-DEPLOY"); "*" for every plan.
	Plans     string    `json:"plans,omitempty"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// Identity, on a token the broker made for a caller that presented an
	// ID token, says who the caller is; such a token is never stored.
	Identity *WorkloadIdentity `json:"-"`
}

// Active reports whether the token may be used at now.
func (t *Token) Active(now time.Time) bool {
	if !t.RevokedAt.IsZero() {
		return false
	}
	return t.ExpiresAt.IsZero() || now.Before(t.ExpiresAt)
}

// Variable is a global or plan variable kept on the broker. A secret
// variable's Value is held in memory only; the store keeps it in Sealed.
type Variable struct {
	Plan      string    `json:"plan,omitempty"` // "" for a global variable
	Name      string    `json:"name"`
	Value     string    `json:"value,omitempty"`
	Secret    bool      `json:"secret"`
	Sealed    Sealed    `json:"-"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Ref is the sealed-secret reference of v.
func (v *Variable) Ref() SecretRef {
	scope := v.Plan
	if scope == "" {
		scope = "-"
	}
	return SecretRef{Kind: "variable", ID: scope + "/" + v.Name}
}

// VendRequest asks the broker for credentials from a connector. It may
// narrow the connector's permissions (a shorter duration, a policy that is
// a subset, fewer managed policies) but never widen them.
type VendRequest struct {
	Connector string `json:"connector"` // name or ID
	Plan      string `json:"plan,omitempty"`
	Build     string `json:"build,omitempty"`
	Job       string `json:"job,omitempty"`
	Task      string `json:"task,omitempty"`

	DurationSeconds     int      `json:"duration_seconds,omitempty"`
	Policy              string   `json:"policy,omitempty"`
	PolicyARNs          []string `json:"policy_arns,omitempty"`
	MinRemainingSeconds int      `json:"min_remaining_seconds,omitempty"`
	Tags                []Tag    `json:"tags,omitempty"`
}

// VendResult is the broker's answer to a vend.
type VendResult struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	SessionToken    string    `json:"session_token,omitempty"`
	Expiration      time.Time `json:"expiration,omitzero"`
	Region          string    `json:"region"`
	Partition       string    `json:"partition"`
	Connector       string    `json:"connector"`
	ConnectorID     string    `json:"connector_id"`
	RoleARN         string    `json:"role_arn,omitempty"`
	// AccountID is the account of the session, when the broker learned
	// it (from the ARN STS issued it with, or GetCallerIdentity).
	AccountID string   `json:"account_id,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

// Credentials returns the credentials of r.
func (r *VendResult) Credentials() Credentials {
	return Credentials{
		AccessKeyID:     r.AccessKeyID,
		SecretAccessKey: r.SecretAccessKey,
		SessionToken:    r.SessionToken,
		Expires:         r.Expiration,
		Source:          "connector:" + r.Connector,
		AccountID:       r.AccountID,
	}
}
