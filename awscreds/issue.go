package awscreds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/policy"
)

// Issuer carries out credbroker.IssueRequests on the broker: one STS call
// signed with a connector's base credentials (or, for provided keys, none).
// The zero value is usable; Options configures the HTTP client, the
// environment lookup, retries, clock and logger. An Issuer is safe for
// concurrent use.
type Issuer struct {
	Options
}

// prepared is an IssueRequest after the offline checks.
type prepared struct {
	region        string
	partition     Partition
	endpoints     []string
	policy        string // compact
	duration      time.Duration
	sessionName   string
	sourceID      string
	federatedName string
	warnings      []string
}

// Check runs every check Issue makes before calling STS, without calling
// it, and returns the warnings an Issue of req would have: the duration
// lowered for role chaining, a federated user with no session policy, an
// unknown region accepted because of an explicit endpoint. The broker calls
// it when a connector is saved, and on a vend to report the warnings.
func (is *Issuer) Check(req credbroker.IssueRequest) (warnings []string, err error) {
	p, err := is.prepare(req)
	if err != nil {
		return nil, err
	}
	return p.warnings, nil
}

func (is *Issuer) prepare(req credbroker.IssueRequest) (*prepared, error) {
	if !req.Principal.Valid() {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "principal", "unknown principal type %q", req.Principal).
			WithFix(`use "assumed-role", "federated-user", "session" or "provided"`)
	}
	out := &prepared{}
	out.endpoints = req.STSEndpoints
	for i, ep := range out.endpoints {
		if err := checkEndpoint(fmt.Sprintf("sts_endpoints[%d]", i), ep); err != nil {
			return nil, err
		}
	}
	if len(out.endpoints) == 0 {
		if ep, field := is.envSTSEndpoint(); ep != "" {
			if err := checkEndpoint(field, ep); err != nil {
				return nil, err
			}
			out.endpoints = []string{ep}
		}
	}
	first := ""
	if len(out.endpoints) > 0 {
		first = out.endpoints[0]
	}
	p, warning, err := ResolveRegion(req.Region, first)
	if err != nil {
		return nil, err
	}
	if warning != "" {
		out.warnings = append(out.warnings, warning)
	}
	out.region, out.partition = req.Region, p
	if len(out.endpoints) == 0 {
		out.endpoints = []string{p.STSEndpoint()}
	}
	if req.Principal == credbroker.PrincipalProvided {
		return out, nil
	}
	if err := CheckDuration("duration", req.Principal, req.Duration); err != nil {
		return nil, err
	}
	out.duration = req.Duration
	if req.Principal == credbroker.PrincipalAssumedRole {
		if err := CheckRoleARN("role_arn", req.RoleARN, p); err != nil {
			return nil, err
		}
	}

	hasPolicy := req.Policy != "" || len(req.PolicyARNs) > 0
	if req.Policy != "" {
		if out.policy, err = policy.Validate("policy", req.Policy); err != nil {
			return nil, err
		}
	}
	if err := CheckPolicyARNs("policy_arns", req.PolicyARNs, p); err != nil {
		return nil, err
	}

	switch req.Principal {
	case credbroker.PrincipalAssumedRole:
		if err := checkExternalID("external_id", req.ExternalID); err != nil {
			return nil, err
		}
		out.sessionName = req.SessionName
		if out.sessionName == "" {
			out.sessionName = "credbroker"
		} else if err := checkSessionName("session_name", out.sessionName); err != nil {
			return nil, err
		}
		if req.SourceIdentity != "" {
			out.sourceID = credbroker.CleanSTSName(req.SourceIdentity, maxSourceIdentity)
			if err := checkSourceIdentity("source_identity", out.sourceID); err != nil {
				return nil, err
			}
		}
		if err := checkTags("tags", req.Tags, req.TransitiveTagKeys); err != nil {
			return nil, err
		}
		d, warning := roleDuration(req.Duration, req.BaseIsRoleSession)
		out.duration = d
		if warning != "" {
			out.warnings = append(out.warnings, warning)
		}
	case credbroker.PrincipalFederatedUser:
		if req.BaseIsRoleSession {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "principal",
				"GetFederationToken needs an IAM user's long-term keys, but the base credentials are a role session").
				WithFix("use an IAM user's access key as the base, or the assumed-role principal type")
		}
		if err := checkTags("tags", req.Tags, nil); err != nil {
			return nil, err
		}
		name := req.FederatedName
		if name == "" {
			name = req.SessionName
		}
		if name == "" {
			name = "credbroker"
		}
		out.federatedName = credbroker.CleanSTSName(name, maxFederatedName)
		if !hasPolicy {
			out.warnings = append(out.warnings,
				"the federated user gets no session policy, so it has no permissions except those resource-based policies grant to it by name")
		}
	case credbroker.PrincipalSession:
		if req.BaseIsRoleSession {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "principal",
				"GetSessionToken needs an IAM user's long-term keys, but the base credentials are a role session").
				WithFix("use an IAM user's access key as the base, or the assumed-role principal type")
		}
		switch {
		case hasPolicy:
			field := "policy"
			if req.Policy == "" {
				field = "policy_arns"
			}
			return nil, credbroker.Errorf(credbroker.CodeInvalid, field, "GetSessionToken takes no session policy").
				WithFix("remove the policy, or use the assumed-role or federated-user principal type to limit permissions")
		case len(req.Tags) > 0:
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "tags", "GetSessionToken takes no session tags").
				WithFix("remove the tags, or use another principal type")
		}
	}
	return out, nil
}

// Issue makes one set of credentials for req. It checks req offline first
// (as Check does); then it calls AssumeRole (with the session name, source
// identity, external ID, policies and tags), GetFederationToken (Name is
// req.FederatedName cleaned to STS's 2 to 32 characters, with the policies,
// duration and tags) or GetSessionToken (duration only), signed with
// req.Base. For PrincipalProvided it returns req.Base's credentials
// unchanged and calls nothing.
//
// The STS endpoints are req.STSEndpoints, else the environment's
// (Options.LookupEnv), else the regional endpoint of the region's
// partition. When an endpoint cannot be reached (no connection, or no
// response), the next one is tried at once; an answer from STS, even an
// error, is final. Under role chaining (req.BaseIsRoleSession) an
// AssumeRole duration over one hour is lowered to one hour: Check reports
// that as a warning. Errors are *credbroker.Error values.
func (is *Issuer) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	if req.Base == nil {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeInvalid, "base", "no base credentials are given")
	}
	p, err := is.prepare(req)
	if err != nil {
		return credbroker.Credentials{}, err
	}
	if req.Principal == credbroker.PrincipalProvided {
		c, err := req.Base.Retrieve(ctx)
		if err != nil {
			return credbroker.Credentials{}, translate(err, origin{field: "base", op: "retrieve", region: p.region, partition: p.partition.ID})
		}
		return is.withAccount(ctx, c, req, p.region, p.endpoints[0])
	}
	parent := ctx
	ctx, cancel := is.withDeadline(ctx)
	defer cancel()
	var lastErr error
	var skipped []string
	for i, ep := range p.endpoints {
		last := i == len(p.endpoints)-1
		attempts := &attemptLog{}
		client := is.stsClient(stsConfig{
			Region:        p.region,
			Endpoint:      ep,
			Creds:         awsProvider{req.Base},
			Retry:         req.Retry,
			FailFast:      !last,
			BeforeAttempt: req.BeforeAttempt,
			Attempts:      attempts,
		})
		began := is.now()
		c, op, err := is.call(ctx, client, req, p)
		if req.AfterCall != nil {
			req.AfterCall(op, ep, translate(err, origin{field: "sts", endpoint: ep, op: op, region: p.region, partition: p.partition.ID}), is.now().Sub(began))
		}
		if err == nil {
			return is.withAccount(ctx, c, req, p.region, ep)
		}
		if derr := is.deadlineError(parent, ctx, err, attempts, op, ep); derr != nil {
			return credbroker.Credentials{}, alsoUnreachable(derr, skipped)
		}
		if !last && isSendError(err) && ctx.Err() == nil {
			is.logger().WarnContext(ctx, "STS endpoint not reachable; trying the next one",
				"endpoint", ep, "next", p.endpoints[i+1], "op", op)
			lastErr = err
			skipped = append(skipped, ep)
			continue
		}
		field := "sts"
		if req.Principal == credbroker.PrincipalAssumedRole {
			field = "role_arn"
		}
		o := origin{
			field: field, credField: "base", endpoint: ep, op: op,
			region: p.region, partition: p.partition.ID,
		}
		if len(req.Tags) > 0 {
			o.tagSwitch = connectorTagSwitch
		}
		o.timeout = is.AttemptTimeout
		o.attempts, _ = attempts.get()
		return credbroker.Credentials{}, alsoUnreachable(translate(err, o), skipped)
	}
	return credbroker.Credentials{}, translate(lastErr, origin{field: "sts"})
}

// withAccount fills in the account of c, when req needs it and the STS
// answer did not name it, with GetCallerIdentity at the endpoint that
// issued c.
func (is *Issuer) withAccount(ctx context.Context, c credbroker.Credentials, req credbroker.IssueRequest, region, endpoint string) (credbroker.Credentials, error) {
	if !req.NeedAccount || c.AccountID != "" {
		return c, nil
	}
	account, err := is.learnAccount(ctx, c, region, endpoint, req.BeforeAttempt)
	if err != nil {
		return credbroker.Credentials{}, err
	}
	c.AccountID = account
	return c, nil
}

// call makes the one STS call of req. The credentials carry the account
// of the ARN STS issued them with (the assumed role's session, the
// federated user), when it names one.
func (is *Issuer) call(ctx context.Context, client stsAPI, req credbroker.IssueRequest, p *prepared) (credbroker.Credentials, string, error) {
	var (
		op    string
		creds *ststypes.Credentials
		arn   string
	)
	switch req.Principal {
	case credbroker.PrincipalAssumedRole:
		op = "AssumeRole"
		in := &sts.AssumeRoleInput{
			RoleArn:           aws.String(req.RoleARN),
			RoleSessionName:   aws.String(p.sessionName),
			DurationSeconds:   durationSeconds(p.duration),
			PolicyArns:        policyDescriptors(req.PolicyARNs),
			Tags:              stsTags(req.Tags),
			TransitiveTagKeys: req.TransitiveTagKeys,
		}
		if req.ExternalID != "" {
			in.ExternalId = aws.String(req.ExternalID)
		}
		if p.policy != "" {
			in.Policy = aws.String(p.policy)
		}
		if p.sourceID != "" {
			in.SourceIdentity = aws.String(p.sourceID)
		}
		out, err := client.AssumeRole(ctx, in)
		if err != nil {
			return credbroker.Credentials{}, op, err
		}
		creds = out.Credentials
		if out.AssumedRoleUser != nil {
			arn = aws.ToString(out.AssumedRoleUser.Arn)
		}
	case credbroker.PrincipalFederatedUser:
		op = "GetFederationToken"
		in := &sts.GetFederationTokenInput{
			Name:            aws.String(p.federatedName),
			DurationSeconds: durationSeconds(p.duration),
			PolicyArns:      policyDescriptors(req.PolicyARNs),
			Tags:            stsTags(req.Tags),
		}
		if p.policy != "" {
			in.Policy = aws.String(p.policy)
		}
		out, err := client.GetFederationToken(ctx, in)
		if err != nil {
			return credbroker.Credentials{}, op, err
		}
		creds = out.Credentials
		if out.FederatedUser != nil {
			arn = aws.ToString(out.FederatedUser.Arn)
		}
	case credbroker.PrincipalSession:
		op = "GetSessionToken"
		out, err := client.GetSessionToken(ctx, &sts.GetSessionTokenInput{DurationSeconds: durationSeconds(p.duration)})
		if err != nil {
			return credbroker.Credentials{}, op, err
		}
		creds = out.Credentials
	}
	c, err := fromSTS(creds, string(req.Principal), is.now(), p.duration)
	if err == nil {
		c.AccountID = credbroker.AccountOfARN(arn)
	}
	return c, op, err
}

// fromSTS converts the credentials of an STS answer, refusing incomplete
// ones, and expired or nearly expired ones (clock skew: checkLifetime);
// asked is the session duration asked for.
func fromSTS(c *ststypes.Credentials, source string, now time.Time, asked time.Duration) (credbroker.Credentials, error) {
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUpstream, "sts", "STS answered without complete credentials")
	}
	out := credbroker.Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: aws.ToString(c.SecretAccessKey),
		SessionToken:    aws.ToString(c.SessionToken),
		Expires:         aws.ToTime(c.Expiration),
		Source:          source,
	}
	if err := checkLifetime(out, now, "sts", "STS", asked); err != nil {
		return credbroker.Credentials{}, err
	}
	return out, nil
}

// ErrIdentityUnavailable is in the chain of the error CallerIdentity
// returns when the STS endpoint does not offer GetCallerIdentity at all
// (MinIO's STS, for one), as opposed to refusing the credentials: test it
// with errors.Is.
var ErrIdentityUnavailable = errors.New("the STS endpoint does not offer GetCallerIdentity")

// identityUnsupported recognises an STS that does not know the
// GetCallerIdentity action: AWS's query protocol says InvalidAction, MinIO
// says InvalidParameterValue "Unsupported action GetCallerIdentity", other
// servers NotImplemented or HTTP 501.
func identityUnsupported(err error) bool {
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "InvalidAction", "NotImplemented", "UnknownOperationException", "UnsupportedOperation":
			return true
		case codeInvalidParameter:
			msg := strings.ToLower(api.ErrorMessage())
			return strings.Contains(msg, "unsupported action") || strings.Contains(msg, "getcalleridentity")
		}
	}
	return httpStatus(err) == http.StatusNotImplemented
}

// CallerIdentity asks STS (GetCallerIdentity) whom base's credentials
// belong to, in region, at endpoint ("" for the regional endpoint). The
// broker uses it to test a connector's base credentials, and `credbroker
// check` to show whose credentials a task gets. An STS that does not offer
// the call gives an error holding ErrIdentityUnavailable.
func (is *Issuer) CallerIdentity(ctx context.Context, region, endpoint string, base credbroker.Provider) (account, arn string, err error) {
	return is.callerIdentity(ctx, region, endpoint, base, nil)
}

// callerIdentity is CallerIdentity with a hook before each attempt
// (IssueRequest.BeforeAttempt).
func (is *Issuer) callerIdentity(ctx context.Context, region, endpoint string, base credbroker.Provider, before func(context.Context) error) (account, arn string, err error) {
	if base == nil {
		return "", "", credbroker.Errorf(credbroker.CodeInvalid, "base", "no base credentials are given")
	}
	p, _, err := ResolveRegion(region, endpoint)
	if err != nil {
		return "", "", err
	}
	if endpoint == "" {
		endpoint = p.STSEndpoint()
	}
	client := is.stsClient(stsConfig{Region: region, Endpoint: endpoint, Creds: awsProvider{base}, BeforeAttempt: before})
	out, err := client.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if identityUnsupported(err) {
			return "", "", credbroker.Errorf(credbroker.CodeUpstream, "sts", "the STS at %s does not offer GetCallerIdentity", endpoint).
				WithCause(fmt.Errorf("%w: %w", ErrIdentityUnavailable, err))
		}
		return "", "", translate(err, origin{
			field: "base", endpoint: endpoint, op: "GetCallerIdentity", region: region, partition: p.ID,
		})
	}
	return aws.ToString(out.Account), aws.ToString(out.Arn), nil
}
