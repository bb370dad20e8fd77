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
)

// Resolve turns a task's credential source into a credentials provider on
// the agent. It first makes the source's Plan (Decide), which checks
// everything that can be checked offline: the region and its partition,
// the partition of the role and policy ARNs, the session policy
// (policy.Validate), the duration, the external ID, the session name
// (default credbroker.SessionName(b)) and the tags; the first problem is
// Resolve's error. Then it builds the provider chain the plan describes:
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
//     warning;
//   - then, when src.AllowedAccountIDs is set, the account guard
//     (GuardAccount): credentials of another account, or of one that
//     cannot be learned, are refused. The plan has already refused a
//     role ARN of another account.
//
// The returned provider calls STS or IMDS on every Retrieve: the caller
// caches (package credcache). No network call is made by Resolve itself.
// A connector source is not resolved here: the broker client vends it.
// Errors are *credbroker.Error values naming the source field at fault.
func Resolve(ctx context.Context, src credbroker.Source, b credbroker.Build, opts Options) (*credbroker.Resolved, error) {
	_ = ctx // no network call happens here; kept for the I/O signature
	plan := Decide(src, b, opts, nil)
	if err := plan.Err(); err != nil {
		return nil, err
	}
	if src.Kind == credbroker.SourceWebIdentity {
		return resolveWebIdentity(plan, opts)
	}
	var base aws.CredentialsProvider
	baseOrigin := origin{field: string(src.Kind), region: plan.Region, partition: plan.Partition.ID}
	switch src.Kind {
	case credbroker.SourceStatic:
		base = credentials.NewStaticCredentialsProvider(src.AccessKeyID, src.SecretAccessKey, src.SessionToken)
	case credbroker.SourceInstance:
		client := newIMDSClient(plan.IMDSEndpoint, plan.IMDSv1, plan.Retry, opts)
		base = ec2rolecreds.New(func(o *ec2rolecreds.Options) { o.Client = client })
		baseOrigin.imds, baseOrigin.endpoint = true, plan.IMDSEndpoint
	}
	baseProvider := &sdkProvider{p: base, source: string(src.Kind), origin: baseOrigin, now: opts.now}
	guard := func(p credbroker.Provider) credbroker.Provider {
		return GuardAccount(p, src.AllowedAccountIDs, plan.Region, plan.STSEndpoint, opts)
	}
	res := &credbroker.Resolved{Provider: guard(baseProvider), Region: plan.Region, Partition: plan.Partition.ID, Warnings: plan.WarningTexts()}
	role := plan.Role
	if role == nil {
		return res, nil
	}
	client := opts.stsClient(stsConfig{
		Region:   plan.Region,
		Endpoint: plan.STSEndpoint,
		Creds:    awsProvider{baseProvider},
		Retry:    plan.Retry,
	})
	assume := stscreds.NewAssumeRoleProvider(client, role.ARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = role.SessionName
		o.Duration = role.Duration
		if role.ExternalID != "" {
			o.ExternalID = aws.String(role.ExternalID)
		}
		if role.Policy != "" {
			o.Policy = aws.String(role.Policy)
		}
		o.PolicyARNs = policyDescriptors(role.PolicyARNs)
		o.Tags = stsTags(role.Tags)
		o.TransitiveTagKeys = role.TransitiveTagKeys
		if role.SourceIdentity != "" {
			o.SourceIdentity = aws.String(role.SourceIdentity)
		}
	})
	o := origin{
		field: "role_arn", credField: string(src.Kind), endpoint: plan.STSEndpoint,
		op: "AssumeRole", region: plan.Region, partition: plan.Partition.ID,
	}
	if len(role.Tags) > 0 {
		o.tagSwitch = agentTagSwitch
	}
	res.Provider = guard(&sdkProvider{p: assume, source: "assume-role", origin: o, now: opts.now})
	return res, nil
}

// newIMDSClient is the metadata service client of an instance source:
// IMDSv2 only unless v1 allows the fallback, with the retries of retry.
func newIMDSClient(endpoint string, v1 bool, retry credbroker.RetrySpec, opts Options) *imds.Client {
	fallback := aws.FalseTernary
	if v1 {
		fallback = aws.TrueTernary
	}
	return imds.New(imds.Options{
		Endpoint:          endpoint,
		EnableFallback:    fallback,
		ClientEnableState: imds.ClientEnabled,
		Retryer:           newRetryer(opts.retrySpecWith(retry, DefaultIMDSMaxAttempts), false),
	})
}

// buildIdentity is the source identity of a build: its session name, when
// the build is known at all.
func buildIdentity(b credbroker.Build) string {
	if b.Plan == "" && b.Job == "" && b.Number == "" {
		return ""
	}
	return credbroker.CleanSTSName(credbroker.SessionName(b), maxSourceIdentity)
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
