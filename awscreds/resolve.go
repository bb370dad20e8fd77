package awscreds

import (
	"context"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/ec2rolecreds"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/policy"
)

// Resolve turns a task's credential source into a credentials provider on
// the agent. It first checks everything that can be checked offline: the
// region and its partition, the partition of the role and policy ARNs, the
// session policy (policy.Validate), the duration, the external ID, the
// session name (default credbroker.SessionName(b)) and the tags. Only then
// does it build the provider chain:
//
//   - the base: static keys (credentials.NewStaticCredentialsProvider), or
//     the instance profile (ec2rolecreds over an IMDSv2-only imds client,
//     unless src.IMDSv1 allows the v1 fallback, which is then a warning);
//   - then, when src.Role is set, AssumeRole (stscreds) with those base
//     credentials, the external ID, session name, duration, policies,
//     the build as source identity (unless Options.NoSourceIdentity), and
//     session tags: the build's (BuildTags: credbroker:plan,
//     credbroker:build, credbroker:job) followed by the role's own, with
//     its transitive keys, unless src.Role.NoSessionTags turns tagging
//     off for a role whose trust policy lacks sts:TagSession. When STS
//     refuses an AssumeRole that carried tags, the error's fix names that
//     switch. Instance profile credentials and static
//     keys with a session token are role sessions, so AssumeRole is role
//     chaining and a duration over one hour is lowered to one hour, with a
//     warning.
//
// The region is src.Region, else AWS_REGION, else AWS_DEFAULT_REGION; the
// STS endpoint src.STSEndpoint, else AWS_ENDPOINT_URL_STS, else
// AWS_ENDPOINT_URL, else the regional endpoint of the partition; the
// metadata service src.IMDSEndpoint, else
// AWS_EC2_METADATA_SERVICE_ENDPOINT, else DefaultIMDSEndpoint. The
// environment is read through Options.LookupEnv only.
//
// The returned provider calls STS or IMDS on every Retrieve: the caller
// caches (package credcache). No network call is made by Resolve itself.
// A connector source is not resolved here: the broker client vends it.
// Errors are *credbroker.Error values naming the source field at fault.
func Resolve(ctx context.Context, src credbroker.Source, b credbroker.Build, opts Options) (*credbroker.Resolved, error) {
	_ = ctx // no network call happens here; kept for the I/O signature
	switch src.Kind {
	case credbroker.SourceInstance, credbroker.SourceStatic:
	case credbroker.SourceConnector:
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "source",
			"a connector source is vended by the broker; awscreds.Resolve handles the instance and static sources only").
			WithFix("the caller wires connector sources to the broker client")
	default:
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "source", "unknown credential source %q", src.Kind).
			WithFix(`use "instance", "static" or "connector"`)
	}
	var warnings []string

	region := src.Region
	if region == "" {
		region = opts.env(EnvRegion)
	}
	if region == "" {
		region = opts.env(EnvDefaultRegion)
	}
	endpoint, endpointField := src.STSEndpoint, "sts_endpoint"
	if endpoint == "" {
		endpoint, endpointField = opts.envSTSEndpoint()
	}
	if endpoint != "" {
		if err := checkEndpoint(endpointField, endpoint); err != nil {
			return nil, err
		}
	}
	p, warning, err := ResolveRegion(region, endpoint)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		warnings = append(warnings, warning)
	}

	role, err := checkRole(src.Role, b, p, opts)
	if err != nil {
		return nil, err
	}

	var base aws.CredentialsProvider
	var chaining bool
	baseOrigin := origin{field: string(src.Kind), region: region, partition: p.ID}
	switch src.Kind {
	case credbroker.SourceStatic:
		if err := checkStatic(src); err != nil {
			return nil, err
		}
		base = credentials.NewStaticCredentialsProvider(src.AccessKeyID, src.SecretAccessKey, src.SessionToken)
		chaining = src.SessionToken != ""
	case credbroker.SourceInstance:
		ep := src.IMDSEndpoint
		epField := "imds_endpoint"
		if ep == "" {
			ep, epField = opts.env(EnvIMDSEndpoint), EnvIMDSEndpoint
		}
		if ep == "" {
			ep = DefaultIMDSEndpoint
		}
		if err := checkEndpoint(epField, ep); err != nil {
			return nil, err
		}
		fallback := aws.FalseTernary
		if src.IMDSv1 {
			fallback = aws.TrueTernary
			warnings = append(warnings, "the IMDSv1 fallback is allowed: if the metadata service refuses an IMDSv2 token, "+
				"credentials are read without one, which SSRF attacks can exploit; require IMDSv2 on the instance and turn the fallback off")
		}
		client := imds.New(imds.Options{
			Endpoint:          ep,
			EnableFallback:    fallback,
			ClientEnableState: imds.ClientEnabled,
			Retryer:           newRetryer(opts.retrySpecWith(src.Retry, DefaultIMDSMaxAttempts), false),
		})
		base = ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client })
		baseOrigin.imds, baseOrigin.endpoint = true, ep
		chaining = true // instance profile credentials are a role session
	}
	baseProvider := &sdkProvider{p: base, source: string(src.Kind), origin: baseOrigin, now: opts.now}
	res := &credbroker.Resolved{Provider: baseProvider, Region: region, Partition: p.ID}
	if !src.Role.Set() {
		res.Warnings = warnings
		return res, nil
	}

	duration, warning := roleDuration(src.Role.Duration, chaining)
	if warning != "" {
		warnings = append(warnings, warning)
	}
	if endpoint == "" {
		endpoint = p.STSEndpoint()
	}
	client := opts.stsClient(stsConfig{
		Region:   region,
		Endpoint: endpoint,
		Creds:    awsProvider{baseProvider},
		Retry:    src.Retry,
	})
	assume := stscreds.NewAssumeRoleProvider(client, src.Role.ARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = role.sessionName
		o.Duration = duration
		if src.Role.ExternalID != "" {
			o.ExternalID = aws.String(src.Role.ExternalID)
		}
		if role.policy != "" {
			o.Policy = aws.String(role.policy)
		}
		o.PolicyARNs = policyDescriptors(src.Role.PolicyARNs)
		o.Tags = stsTags(role.tags)
		o.TransitiveTagKeys = role.transitive
		if role.sourceIdentity != "" {
			o.SourceIdentity = aws.String(role.sourceIdentity)
		}
	})
	o := origin{
		field: "role_arn", credField: string(src.Kind), endpoint: endpoint,
		op: "AssumeRole", region: region, partition: p.ID,
	}
	if len(role.tags) > 0 {
		o.tagSwitch = agentTagSwitch
	}
	res.Provider = &sdkProvider{p: assume, source: "assume-role", origin: o, now: opts.now}
	res.Warnings = warnings
	return res, nil
}

// checkedRole is what checkRole derived from a RoleSpec.
type checkedRole struct {
	policy         string // compact
	sessionName    string
	sourceIdentity string
	tags           []credbroker.Tag // the build's, then the role's own
	transitive     []string
}

func checkRole(r credbroker.RoleSpec, b credbroker.Build, p Partition, opts Options) (checkedRole, error) {
	var out checkedRole
	if !r.Set() {
		var set []string
		if r.ExternalID != "" {
			set = append(set, "external_id")
		}
		if r.SessionName != "" {
			set = append(set, "session_name")
		}
		if r.Duration != 0 {
			set = append(set, "duration")
		}
		if r.Policy != "" {
			set = append(set, "policy")
		}
		if len(r.PolicyARNs) > 0 {
			set = append(set, "policy_arns")
		}
		if len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0 {
			set = append(set, "tags")
		}
		if len(set) > 0 {
			return out, credbroker.Errorf(credbroker.CodeInvalid, "role_arn",
				"%s is set, but no role to assume", strings.Join(set, ", ")).
				WithFix("set role_arn, or remove the settings that only apply to a role")
		}
		return out, nil
	}
	if err := CheckRoleARN("role_arn", r.ARN, p); err != nil {
		return out, err
	}
	if err := CheckPolicyARNs("policy_arns", r.PolicyARNs, p); err != nil {
		return out, err
	}
	if r.Policy != "" {
		compact, err := policy.Validate("policy", r.Policy)
		if err != nil {
			return out, err
		}
		out.policy = compact
	}
	if err := CheckDuration("duration", credbroker.PrincipalAssumedRole, r.Duration); err != nil {
		return out, err
	}
	if err := checkExternalID("external_id", r.ExternalID); err != nil {
		return out, err
	}
	out.sessionName = r.SessionName
	if out.sessionName == "" {
		out.sessionName = credbroker.SessionName(b)
	} else if err := checkSessionName("session_name", out.sessionName); err != nil {
		return out, err
	}
	var err error
	if out.tags, out.transitive, err = sessionTags(r, b); err != nil {
		return out, err
	}
	if !opts.NoSourceIdentity {
		out.sourceIdentity = buildIdentity(b)
	}
	return out, nil
}

// buildIdentity is the source identity of a build: its session name, when
// the build is known at all.
func buildIdentity(b credbroker.Build) string {
	if b.Plan == "" && b.Job == "" && b.Number == "" {
		return ""
	}
	return credbroker.CleanSTSName(credbroker.SessionName(b), maxSourceIdentity)
}

// checkStatic checks static keys without repeating them in errors.
func checkStatic(src credbroker.Source) error {
	if err := checkSecretText("access_key_id", "the access key ID", src.AccessKeyID, true); err != nil {
		return err
	}
	if err := checkSecretText("secret_access_key", "the secret access key", src.SecretAccessKey, true); err != nil {
		return err
	}
	return checkSecretText("session_token", "the session token", src.SessionToken, false)
}

func checkSecretText(field, what, v string, required bool) error {
	switch {
	case v == "" && required:
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%s is missing", what).
			WithFix("static keys need both access_key_id and secret_access_key, usually as variable references")
	case strings.Contains(v, "${"):
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%s holds a variable reference that was not substituted", what).
			WithFix("define the variable, or check its name")
	case strings.ContainsAny(v, " \t\r\n"):
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%s contains whitespace", what).
			WithFix("remove the whitespace (often a trailing newline from a file)")
	}
	return nil
}

func policyDescriptors(arns []string) []ststypes.PolicyDescriptorType {
	if len(arns) == 0 {
		return nil
	}
	out := make([]ststypes.PolicyDescriptorType, len(arns))
	for i, a := range arns {
		out[i] = ststypes.PolicyDescriptorType{Arn: aws.String(a)}
	}
	return out
}

func stsTags(tags []credbroker.Tag) []ststypes.Tag {
	if len(tags) == 0 {
		return nil
	}
	out := make([]ststypes.Tag, len(tags))
	for i, t := range tags {
		out[i] = ststypes.Tag{Key: aws.String(t.Key), Value: aws.String(t.Value)}
	}
	return out
}

func durationSeconds(d time.Duration) *int32 {
	if d == 0 {
		return nil
	}
	return aws.Int32(int32(d / time.Second))
}
