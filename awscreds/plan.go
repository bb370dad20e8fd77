package awscreds

import (
	"fmt"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/policy"
)

// Where a decision of a Plan came from, besides a source field (such as
// "region") or an environment variable (such as EnvRegion), which are
// named as they are.
const (
	// FromPartition: the regional STS endpoint of the region's partition.
	FromPartition = "partition"
	// FromDefault: this package's default (DefaultIMDSEndpoint).
	FromDefault = "default"
)

// Plan is everything Resolve decides about an instance or static source
// before it makes any call: the region and where it came from, the
// partition, the STS and metadata endpoints and where they came from,
// whether the base credentials are a role session, the AssumeRole that
// follows (its duration as asked and as it will be asked of STS), the
// warnings, and every rule applied to the source with its outcome.
// Resolve acts on a Plan; `credbroker check` (package preflight) reports
// one. Decide makes them; a Plan holds no secret.
type Plan struct {
	// Kind is the source's kind.
	Kind credbroker.SourceKind

	// Region is the region of the STS calls; RegionFrom is "region" (the
	// source), EnvRegion or EnvDefaultRegion, or "" when none is set.
	Region, RegionFrom string
	// Partition is the region's partition; its ID is "" when the region
	// is not known (a problem in Checks, or a pending field).
	Partition Partition
	// STSEndpoint is where STS calls go; STSEndpointFrom is
	// "sts_endpoint", EnvSTSEndpoint, EnvEndpoint or FromPartition.
	STSEndpoint, STSEndpointFrom string
	// IMDSEndpoint is the instance metadata service of an instance
	// source; IMDSEndpointFrom is "imds_endpoint", EnvIMDSEndpoint or
	// FromDefault.
	IMDSEndpoint, IMDSEndpointFrom string
	// IMDSv1 says the IMDSv1 fallback is allowed (a warning says why
	// that is less safe).
	IMDSv1 bool
	// RoleSession says the base credentials are themselves a role
	// session (the instance profile, or static keys with a session
	// token), so that AssumeRole is role chaining.
	RoleSession bool
	// Role is the AssumeRole made with the base credentials; nil when
	// the source names no role. For a web-identity source it is the
	// AssumeRoleWithWebIdentity (no tags, no source identity).
	Role *RolePlan
	// WebIdentity is where a web-identity source's token comes from; nil
	// for the other sources.
	WebIdentity *WebIdentityPlan
	// Retry bounds the retries of the STS and metadata calls.
	Retry credbroker.RetrySpec
	// AllowedAccountIDs is the source's account guard: the accounts the
	// credentials may belong to; none for no guard.
	AllowedAccountIDs []string
	// Warnings are what the user should know before the calls are made.
	Warnings []Warning
	// Checks are the rules applied to the source's fields, in the order
	// Resolve applies them; Resolve fails with the first problem.
	Checks []Check
}

// RolePlan is the AssumeRole a Plan makes.
type RolePlan struct {
	// ARN is the role assumed; ExternalID is what its trust policy asks.
	ARN        string
	ExternalID string
	// SessionName is the RoleSessionName: the source's, or one derived
	// from the build (credbroker.SessionName).
	SessionName string
	// SourceIdentity is the build's identity, "" when the build is not
	// known or Options.NoSourceIdentity is set.
	SourceIdentity string
	// Policy is the session policy without insignificant whitespace;
	// PolicyARNs are the managed session policies.
	Policy     string
	PolicyARNs []string
	// RequestedDuration is the duration the source asks for (0: STS's
	// default); Duration is what is asked of STS: the default filled in,
	// and lowered to MaxChainedDuration under role chaining (Clamped).
	RequestedDuration, Duration time.Duration
	Clamped                     bool
	// Tags are the session tags sent: the build's, then the role's own;
	// TransitiveTagKeys are the keys that survive role chaining.
	Tags              []credbroker.Tag
	TransitiveTagKeys []string
}

// Warning is something the user should know about a source: what, about
// which field, and what would avoid it.
type Warning struct {
	// Field is the source field concerned (as in Check.Field, or
	// "imds_v1").
	Field   string
	Message string
	Fix     string
}

// String renders the warning on one line: "message; fix".
func (w Warning) String() string {
	if w.Fix == "" {
		return w.Message
	}
	return w.Message + "; " + w.Fix
}

// Check is one rule of a Plan applied to one field of the source.
type Check struct {
	// Field is the source field the rule is about: "source", "region",
	// "sts_endpoint", "imds_endpoint", "role_arn", "policy_arns",
	// "policy", "duration", "external_id", "session_name", "tags",
	// "access_key_id", "secret_access_key", "session_token" or
	// "allowed_account_ids" (the guard's list, and the role ARN's account
	// in it: that error names "role_arn"). The
	// error's own field may be more precise ("policy_arns[2]", or the
	// environment variable an endpoint came from).
	Field string
	// Err is the problem, a *credbroker.Error; nil when the field passed.
	Err error
}

// Err returns the first problem of the plan, nil when there is none.
func (p *Plan) Err() error {
	for _, c := range p.Checks {
		if c.Err != nil {
			return c.Err
		}
	}
	return nil
}

// Passed reports whether the rule about field was applied and passed.
func (p *Plan) Passed(field string) bool {
	applied := false
	for _, c := range p.Checks {
		if c.Field == field {
			if c.Err != nil {
				return false
			}
			applied = true
		}
	}
	return applied
}

// WarningTexts returns the warnings as lines, as credbroker.Resolved
// carries them.
func (p *Plan) WarningTexts() []string {
	var out []string
	for _, w := range p.Warnings {
		out = append(out, w.String())
	}
	return out
}

func (p *Plan) check(field string, err error) {
	p.Checks = append(p.Checks, Check{Field: field, Err: err})
}

func (p *Plan) warn(field, msg, fix string) {
	p.Warnings = append(p.Warnings, Warning{Field: field, Message: msg, Fix: fix})
}

// Decide makes the Plan of an instance, static or web-identity source for
// build b: the
// decisions Resolve acts on, without any network call. The region is
// src.Region, else AWS_REGION, else AWS_DEFAULT_REGION; the STS endpoint
// src.STSEndpoint, else AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL
// (unless AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true), else the regional
// endpoint of the partition; the metadata service src.IMDSEndpoint, else
// AWS_EC2_METADATA_SERVICE_ENDPOINT, else DefaultIMDSEndpoint. The
// environment is read through Options.LookupEnv only.
//
// pending, when not nil, names the source fields (as in Check.Field)
// whose values are not known yet, such as a variable an earlier task of
// the job will set: they count as given, but no rule looks at their
// value, nor at what depends on it (the partition, with a pending region
// or STS endpoint, and the ARN checks with it). Resolve passes nil.
//
// A new kind of source is one more case in Decide.
func Decide(src credbroker.Source, b credbroker.Build, opts Options, pending func(field string) bool) *Plan {
	if pending == nil {
		pending = func(string) bool { return false }
	}
	p := &Plan{Kind: src.Kind, Retry: src.Retry}
	switch src.Kind {
	case credbroker.SourceInstance, credbroker.SourceStatic:
	case credbroker.SourceWebIdentity:
		p.decideRegion(src, opts, pending)
		p.decideWebIdentity(src, b, opts, pending)
		return p
	case credbroker.SourceConnector:
		p.check("source", credbroker.Errorf(credbroker.CodeInvalid, "source",
			"a connector source is vended by the broker; awscreds.Resolve handles the instance and static sources only").
			WithFix("the caller wires connector sources to the broker client"))
		return p
	default:
		p.check("source", credbroker.Errorf(credbroker.CodeInvalid, "source", "unknown credential source %q", src.Kind).
			WithFix(`use "instance", "static", "web-identity" or "connector"`))
		return p
	}

	p.decideRegion(src, opts, pending)
	if src.Kind == credbroker.SourceInstance && src.IMDSv1 {
		p.IMDSv1 = true
		p.warn("imds_v1", "the IMDSv1 fallback is allowed: if the metadata service refuses an IMDSv2 token, credentials are read without one, which SSRF attacks can exploit",
			"require IMDSv2 on the instance and remove imds_v1 (--imds-v1)")
	}
	switch src.Kind {
	case credbroker.SourceStatic:
		p.RoleSession = src.SessionToken != "" || pending("session_token")
	case credbroker.SourceInstance:
		p.RoleSession = true // instance profile credentials are a role session
	}
	p.decideRole(src.Role, b, opts, pending)
	p.decideGuard(src.AllowedAccountIDs, pending)

	switch src.Kind {
	case credbroker.SourceStatic:
		for _, k := range []struct {
			field, what, value string
			required           bool
		}{
			{"access_key_id", "the access key ID", src.AccessKeyID, true},
			{"secret_access_key", "the secret access key", src.SecretAccessKey, true},
			{"session_token", "the session token", src.SessionToken, false},
		} {
			if !pending(k.field) {
				p.check(k.field, checkSecretText(k.field, k.what, k.value, k.required))
			}
		}
	case credbroker.SourceInstance:
		if !pending("imds_endpoint") {
			p.IMDSEndpoint, p.IMDSEndpointFrom = imdsEndpoint(src, opts)
			field := p.IMDSEndpointFrom
			if field == FromDefault {
				field = "imds_endpoint"
			}
			p.check("imds_endpoint", checkEndpoint(field, p.IMDSEndpoint))
		}
	}
	return p
}

// decideGuard checks the account guard's list and, when the role ARN is
// known and valid, that its account is in it: a role of another account
// is refused before any call, and the guard checks again the account STS
// names for the session (GuardAccount).
func (p *Plan) decideGuard(allowed []string, pending func(string) bool) {
	if pending(credbroker.FieldAllowedAccounts) || len(allowed) == 0 {
		return
	}
	err := credbroker.CheckAccountIDs(credbroker.FieldAllowedAccounts, allowed)
	if err == nil {
		p.AllowedAccountIDs = allowed
		if p.Role != nil && !pending("role_arn") && p.Passed("role_arn") {
			if account := credbroker.AccountOfARN(p.Role.ARN); account != "" {
				err = credbroker.CheckAccount("role_arn", allowed, account, "role ARN "+p.Role.ARN)
			}
		}
	}
	p.check(credbroker.FieldAllowedAccounts, err)
}

// decideRegion decides the region, the STS endpoint and the partition.
func (p *Plan) decideRegion(src credbroker.Source, opts Options, pending func(string) bool) {
	known := !pending("region") && !pending("sts_endpoint")
	if !pending("region") {
		p.Region, p.RegionFrom = src.Region, "region"
		for _, env := range []string{EnvRegion, EnvDefaultRegion} {
			if p.Region == "" {
				p.Region, p.RegionFrom = opts.env(env), env
			}
		}
		if p.Region == "" {
			p.RegionFrom = ""
		}
	}
	if !pending("sts_endpoint") {
		p.STSEndpoint, p.STSEndpointFrom = src.STSEndpoint, "sts_endpoint"
		if p.STSEndpoint == "" {
			p.STSEndpoint, p.STSEndpointFrom = opts.envSTSEndpoint()
		}
		if p.STSEndpoint != "" {
			err := checkEndpoint(p.STSEndpointFrom, p.STSEndpoint)
			p.check("sts_endpoint", err)
			known = known && err == nil
		}
	}
	if !known {
		return
	}
	part, warning, err := ResolveRegion(p.Region, p.STSEndpoint)
	p.check("region", err)
	if err != nil {
		return
	}
	p.Partition = part
	if warning != "" {
		p.warn("region", warning, "")
	}
	if p.STSEndpoint == "" {
		p.STSEndpoint, p.STSEndpointFrom = part.STSEndpoint(), FromPartition
	}
}

// decideRole decides the AssumeRole of r, if any: every setting checked
// against STS's rules, the session name and source identity from the
// build, the session tags, and the duration clamped under role chaining.
func (p *Plan) decideRole(r credbroker.RoleSpec, b credbroker.Build, opts Options, pending func(string) bool) {
	if r.ARN == "" && !pending("role_arn") {
		var set []string
		for _, s := range []struct {
			field string
			given bool
		}{
			{"external_id", r.ExternalID != ""}, {"session_name", r.SessionName != ""}, {"duration", r.Duration != 0},
			{"policy", r.Policy != ""}, {"policy_arns", len(r.PolicyARNs) > 0}, {"tags", len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0},
		} {
			if s.given || pending(s.field) {
				set = append(set, s.field)
			}
		}
		if len(set) > 0 {
			p.check("role_arn", credbroker.Errorf(credbroker.CodeInvalid, "role_arn",
				"%s is set, but no role to assume", strings.Join(set, ", ")).
				WithFix("set role_arn, or remove the settings that only apply to a role"))
		}
		return
	}
	rp := &RolePlan{ARN: r.ARN, ExternalID: r.ExternalID, PolicyARNs: r.PolicyARNs, RequestedDuration: r.Duration}
	p.Role = rp
	if p.Partition.ID != "" {
		if !pending("role_arn") {
			p.check("role_arn", CheckRoleARN("role_arn", r.ARN, p.Partition))
		}
		if len(r.PolicyARNs) > 0 && !pending("policy_arns") {
			p.check("policy_arns", CheckPolicyARNs("policy_arns", r.PolicyARNs, p.Partition))
		}
	}
	if r.Policy != "" && !pending("policy") {
		compact, err := policy.Validate("policy", r.Policy)
		p.check("policy", err)
		rp.Policy = compact
	}
	if !pending("duration") {
		err := CheckDuration("duration", credbroker.PrincipalAssumedRole, r.Duration)
		if r.Duration != 0 {
			p.check("duration", err)
		}
		if err == nil {
			var warning string
			rp.Duration, warning = roleDuration(r.Duration, p.RoleSession)
			if warning != "" {
				rp.Clamped = true
				p.warn("duration", warning, fmt.Sprintf("ask for %s or less", credbroker.FormatDuration(MaxChainedDuration)))
			}
		}
	}
	if r.ExternalID != "" && !pending("external_id") {
		p.check("external_id", checkExternalID("external_id", r.ExternalID))
	}
	if !pending("session_name") {
		rp.SessionName = r.SessionName
		if rp.SessionName == "" {
			rp.SessionName = credbroker.SessionName(b)
		} else {
			p.check("session_name", checkSessionName("session_name", rp.SessionName))
		}
	}
	if !pending("tags") && !pending("transitive_tag_keys") {
		var err error
		rp.Tags, rp.TransitiveTagKeys, err = sessionTags(r, b)
		if len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0 || err != nil {
			p.check("tags", err)
		}
	}
	if !opts.NoSourceIdentity {
		rp.SourceIdentity = buildIdentity(b)
	}
}

// imdsEndpoint is the metadata service of an instance source, and where
// it came from.
func imdsEndpoint(src credbroker.Source, opts Options) (endpoint, from string) {
	if src.IMDSEndpoint != "" {
		return src.IMDSEndpoint, "imds_endpoint"
	}
	if ep := opts.env(EnvIMDSEndpoint); ep != "" {
		return ep, EnvIMDSEndpoint
	}
	return DefaultIMDSEndpoint, FromDefault
}
