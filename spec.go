package credbroker

import "time"

// ConnectorSpec is a connector as an administrator writes it: the body of
// a create or update. Durations are whole seconds. SecretAccessKey is
// write-only: it is never returned, and on update an empty value keeps the
// stored key.
type ConnectorSpec struct {
	Name          string        `json:"name"`
	Description   string        `json:"description,omitempty"`
	Principal     PrincipalType `json:"principal"`
	Base          BaseKind      `json:"base"`
	BaseConnector string        `json:"base_connector,omitempty"` // name or ID
	AccessKeyID   string        `json:"access_key_id,omitempty"`
	//nolint:gosec // write-only field of a request body
	SecretAccessKey string `json:"secret_access_key,omitempty"`

	Region        string   `json:"region"`
	RoleARN       string   `json:"role_arn,omitempty"`
	ExternalID    string   `json:"external_id,omitempty"`
	FederatedName string   `json:"federated_name,omitempty"`
	Policy        string   `json:"policy,omitempty"`
	PolicyARNs    []string `json:"policy_arns,omitempty"`

	DefaultDurationSeconds int `json:"default_duration_seconds,omitempty"`
	MaxDurationSeconds     int `json:"max_duration_seconds,omitempty"`

	Scope       Scope       `json:"scope"`
	AllowPlans  []string    `json:"allow_plans,omitempty"`
	SessionMode SessionMode `json:"session_mode,omitempty"`
	// AllowedAccountIDs is the account guard: the 12-digit accounts a
	// session of the connector may belong to; none for no guard.
	AllowedAccountIDs []string `json:"allowed_account_ids,omitempty"`

	Tags              []Tag    `json:"tags,omitempty"`
	TransitiveTagKeys []string `json:"transitive_tag_keys,omitempty"`
	DisableTags       bool     `json:"disable_tags,omitempty"`

	STSEndpoints      []string `json:"sts_endpoints,omitempty"`
	Retries           int      `json:"retries,omitempty"`
	MaxBackoffSeconds int      `json:"max_backoff_seconds,omitempty"`

	// Revision, on update, is the revision the change is based on; the
	// update is refused with CodeConflict if the connector moved since.
	Revision int64 `json:"revision,omitempty"`
}

// ConnectorInfo is a connector as the API shows it: the spec without the
// secret, and the facts the broker keeps.
type ConnectorInfo struct {
	ConnectorSpec
	ID        string    `json:"id"`
	HasSecret bool      `json:"has_secret"`
	Partition string    `json:"partition"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Info returns what the API shows of c: no secret, the base key ID masked.
func (c *Connector) Info(partition string) ConnectorInfo {
	spec := ConnectorSpec{
		Name: c.Name, Description: c.Description, Principal: c.Principal,
		Base: c.Base, BaseConnector: c.BaseConnector, AccessKeyID: MaskKeyID(c.AccessKeyID),
		Region: c.Region, RoleARN: c.RoleARN, ExternalID: c.ExternalID, FederatedName: c.FederatedName,
		Policy: c.Policy, PolicyARNs: c.PolicyARNs,
		DefaultDurationSeconds: int(c.DefaultDuration / time.Second),
		MaxDurationSeconds:     int(c.MaxDuration / time.Second),
		Scope:                  c.Scope, AllowPlans: c.AllowPlans, SessionMode: c.SessionMode, AllowedAccountIDs: c.AllowedAccountIDs,
		Tags: c.Tags, TransitiveTagKeys: c.TransitiveTagKeys, DisableTags: c.DisableTags,
		STSEndpoints: c.STSEndpoints, Revision: c.Revision,
	}
	if c.Retry.MaxAttempts > 0 {
		spec.Retries = c.Retry.MaxAttempts - 1
	}
	spec.MaxBackoffSeconds = int(c.Retry.MaxBackoff / time.Second)
	return ConnectorInfo{
		ConnectorSpec: spec, ID: c.ID, HasSecret: !c.Secret.Empty() || c.SecretAccessKey != "",
		Partition: partition, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
}

// TokenSpec asks for a new API token.
type TokenSpec struct {
	Name  string    `json:"name"`
	Role  TokenRole `json:"role"`
	Plans string    `json:"plans,omitempty"` // agent tokens: glob of plan keys
	// ExpiresInSeconds, when positive, limits the token's life.
	ExpiresInSeconds int `json:"expires_in_seconds,omitempty"`
}

// NewToken is a token just created: Secret is shown this once and never
// again; the broker keeps only its hash.
type NewToken struct {
	Token
	Secret string `json:"token"`
}

// ConsoleRequest asks for an AWS Management Console sign-in URL.
type ConsoleRequest struct {
	Connector       string `json:"connector"`
	Plan            string `json:"plan,omitempty"`
	Build           string `json:"build,omitempty"`
	Destination     string `json:"destination,omitempty"`
	DurationSeconds int    `json:"duration_seconds,omitempty"`
}

// ConsoleResult is a sign-in URL; it grants console access until it
// expires, so treat it as a secret.
type ConsoleResult struct {
	URL        string    `json:"url"`
	Expiration time.Time `json:"expiration,omitzero"`
}

// AuditReport is the result of verifying the audit chain.
type AuditReport struct {
	Records  int64          `json:"records"`
	HeadSeq  int64          `json:"head_seq"`
	HeadHash string         `json:"head_hash"`
	Problems []AuditProblem `json:"problems,omitempty"`
}

// OK reports whether the chain verified.
func (r *AuditReport) OK() bool { return len(r.Problems) == 0 }
