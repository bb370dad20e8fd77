package credbroker

import (
	"context"
	"time"
)

// Provider yields credentials. Implementations are safe for concurrent use;
// the caching ones (package credcache) refresh before expiry and never
// return expired credentials.
type Provider interface {
	Retrieve(ctx context.Context) (Credentials, error)
}

// ProviderFunc adapts a function to Provider.
type ProviderFunc func(ctx context.Context) (Credentials, error)

// Retrieve calls f.
func (f ProviderFunc) Retrieve(ctx context.Context) (Credentials, error) { return f(ctx) }

// SourceKind names where a task's credentials come from.
type SourceKind string

// The credential sources a task can name.
const (
	// SourceInstance takes the agent's instance profile from IMDSv2.
	SourceInstance SourceKind = "instance"
	// SourceStatic takes an access key pair (and optional session token)
	// given in the task, normally as variable references.
	SourceStatic SourceKind = "static"
	// SourceConnector asks a broker to vend credentials from a connector.
	SourceConnector SourceKind = "connector"
	// SourceWebIdentity calls AssumeRoleWithWebIdentity with an ID token:
	// a projected service account token (EKS IRSA) or the CI's own.
	SourceWebIdentity SourceKind = "web-identity"
)

// Valid reports whether k is a known source kind.
func (k SourceKind) Valid() bool {
	switch k {
	case SourceInstance, SourceStatic, SourceConnector, SourceWebIdentity:
		return true
	}
	return false
}

// Source describes a task's credentials as written in a job file or on the
// command line. String fields may hold ${...} variable references until the
// caller substitutes them (see package vars).
type Source struct {
	Kind   SourceKind
	Region string

	// Static keys.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string

	// Instance profile.
	IMDSEndpoint string // default: AWS_EC2_METADATA_SERVICE_ENDPOINT, then 169.254.169.254
	IMDSv1       bool   // allow the IMDSv1 fallback; never silent

	// Connector on a broker.
	Connector string
	Broker    string // broker URL
	Token     string // agent token value, resolved from TokenFile or an env var
	CAFile    string // PEM bundle to verify the broker's TLS certificate

	// Web identity: the ID token comes from WebIdentityTokenFile (default
	// AWS_WEB_IDENTITY_TOKEN_FILE) or from the CI named by OIDC. A
	// connector source with OIDC set presents the CI's token to the broker
	// instead of an agent token.
	WebIdentityTokenFile string
	// OIDC names where the CI's ID token comes from: "github", "gitlab",
	// "buildkite", "env:VAR" or "file:PATH" (package citoken).
	OIDC string
	// Audience is the aud the token is asked for (GitHub, Buildkite) or
	// must carry (the others).
	Audience string

	// Role, when set, is assumed with the base credentials above.
	Role RoleSpec

	// Tags are session tags a connector source asks the broker to add
	// (VendRequest.Tags); an instance or static source's tags are in
	// Role.Tags.
	Tags []Tag

	// STSEndpoint overrides the regional STS endpoint (AWS_ENDPOINT_URL_STS).
	STSEndpoint string

	// Retry bounds the retries of STS and IMDS calls.
	Retry RetrySpec

	// AllowedAccountIDs, when not empty, is the account guard: the
	// credentials must belong to one of these accounts, or the task does
	// not run (CheckAccount).
	AllowedAccountIDs []string
}

// RoleSpec names a role to assume and the limits of the session.
type RoleSpec struct {
	ARN         string
	ExternalID  string
	SessionName string        // default derived from plan and build (SessionName)
	Duration    time.Duration // 0: STS default (1 h)
	Policy      string        // inline session policy JSON
	PolicyARNs  []string      // managed session policies, at most 10
	Tags        []Tag         // session tags
	// TransitiveTagKeys lists the tag keys that survive role chaining.
	TransitiveTagKeys []string
	// NoSessionTags sends no session tags at all (neither the build's nor
	// Tags), for roles whose trust policy does not allow sts:TagSession.
	NoSessionTags bool
}

// Set reports whether a role is named.
func (r RoleSpec) Set() bool { return r.ARN != "" }

// Tag is an STS session tag.
type Tag struct {
	Key   string `json:"key" yaml:"key"`
	Value string `json:"value" yaml:"value"`
}

// RetrySpec bounds retries of upstream calls. Zero values take defaults.
type RetrySpec struct {
	MaxAttempts int           // total attempts including the first; 0: default
	MaxBackoff  time.Duration // cap of one backoff delay; 0: default
}

// Build identifies the build a task belongs to; it becomes the role
// session name and source identity, so CloudTrail leads back to it.
type Build struct {
	Plan   string // plan key, e.g. PROJ-PLAN
	Number string // build number
	Job    string // job key
	Task   string // task name
}

// Or returns b with each empty part taken from o, so that sources of a
// build's identity chain in their order of precedence:
// flags.Or(jobFile).Or(environment).
func (b Build) Or(o Build) Build {
	if b.Plan == "" {
		b.Plan = o.Plan
	}
	if b.Number == "" {
		b.Number = o.Number
	}
	if b.Job == "" {
		b.Job = o.Job
	}
	if b.Task == "" {
		b.Task = o.Task
	}
	return b
}

// Resolved is what a source yielded: the credentials provider and the facts
// that come with it.
type Resolved struct {
	Provider  Provider
	Region    string
	Partition string
	// Warnings are things the user should know (duration clamped for role
	// chaining, IMDSv1 in use); printed once on stderr.
	Warnings []string
	// Secrets, when set, returns the values besides the credentials that
	// a task's output must mask, as known at the call: the ID tokens the
	// credentials were obtained with. It is asked again for each new set
	// of credentials.
	Secrets func() []string
}
