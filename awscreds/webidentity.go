package awscreds

import (
	"context"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/credbroker/credbroker"
)

// The environment of the IRSA contract (EKS IAM roles for service
// accounts), which the SDKs read too.
const (
	EnvWebIdentityTokenFile = "AWS_WEB_IDENTITY_TOKEN_FILE"
	EnvRoleARN              = "AWS_ROLE_ARN"
	EnvRoleSessionName      = "AWS_ROLE_SESSION_NAME"
)

// WebIdentityPlan is where a web-identity source's ID token comes from.
type WebIdentityPlan struct {
	// TokenFile is the file read at each call; TokenFileFrom is
	// "web_identity_token_file" or EnvWebIdentityTokenFile. Empty when
	// OIDC is set.
	TokenFile, TokenFileFrom string
	// OIDC names the CI token source (package citoken), and Audience what
	// it is asked for.
	OIDC, Audience string
	// RoleARNFrom is "role_arn" or EnvRoleARN; SessionNameFrom is
	// "session_name", EnvRoleSessionName or "build".
	RoleARNFrom, SessionNameFrom string
}

// decideWebIdentity decides the AssumeRoleWithWebIdentity of a
// web-identity source: the role and session name (the source's, else the
// IRSA environment's, else the build's name), the policies and duration
// as for AssumeRole, and where the token comes from. STS takes no session
// tags, external ID or source identity on this call (they come from the
// token's claims, if at all), so asking for them is an error.
func (p *Plan) decideWebIdentity(src credbroker.Source, b credbroker.Build, opts Options, pending func(string) bool) {
	wp := &WebIdentityPlan{OIDC: src.OIDC, Audience: src.Audience, RoleARNFrom: "role_arn", SessionNameFrom: "session_name"}
	p.WebIdentity = wp
	r := src.Role
	if r.ARN == "" && !pending("role_arn") {
		r.ARN, wp.RoleARNFrom = opts.env(EnvRoleARN), EnvRoleARN
	}
	if r.SessionName == "" && !pending("session_name") {
		if r.SessionName = opts.env(EnvRoleSessionName); r.SessionName == "" {
			wp.SessionNameFrom = "build"
		} else {
			wp.SessionNameFrom = EnvRoleSessionName
		}
	}
	if r.ARN == "" && !pending("role_arn") {
		p.check("role_arn", credbroker.Errorf(credbroker.CodeInvalid, "role_arn", "no role to assume with the ID token").
			WithFix("set role_arn (--role-arn), or $AWS_ROLE_ARN as EKS does for a service account's role"))
		return
	}
	if r.ExternalID != "" {
		p.check("external_id", credbroker.Errorf(credbroker.CodeInvalid, "external_id", "AssumeRoleWithWebIdentity takes no external ID").
			WithFix("remove it: the role's trust policy checks the token's issuer, audience and subject instead"))
	}
	if len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0 {
		p.check("tags", credbroker.Errorf(credbroker.CodeInvalid, "tags",
			"AssumeRoleWithWebIdentity takes no session tags: STS takes them from the token's https://aws.amazon.com/tags claim").
			WithFix("remove the tags; to tag sessions from CI claims, use a broker connector with a binding's --tag-claim"))
	}
	tagless := r
	tagless.Tags, tagless.TransitiveTagKeys, tagless.NoSessionTags = nil, nil, true
	noSource := opts
	noSource.NoSourceIdentity = true
	p.decideRole(tagless, b, noSource, pending)
	if p.Role != nil {
		p.Role.Tags, p.Role.TransitiveTagKeys = nil, nil
	}

	file := src.WebIdentityTokenFile
	from := "web_identity_token_file"
	switch {
	case src.OIDC != "" && file != "":
		p.check("oidc", credbroker.Errorf(credbroker.CodeInvalid, "oidc", "both an ID token file and a CI token source are given").
			WithFix("keep one of web_identity_token_file (--web-identity-token-file) and oidc (--oidc)"))
		return
	case src.OIDC != "" || pending("oidc"):
		return
	case file == "" && !pending("web_identity_token_file"):
		file, from = opts.env(EnvWebIdentityTokenFile), EnvWebIdentityTokenFile
	}
	if file == "" && !pending("web_identity_token_file") {
		p.check("web_identity_token_file", credbroker.Errorf(credbroker.CodeInvalid, "web_identity_token_file", "no ID token to assume the role with").
			WithFix("set --web-identity-token-file (or $AWS_WEB_IDENTITY_TOKEN_FILE, as EKS does), or --oidc github|gitlab|buildkite|env:VAR|file:PATH"))
		return
	}
	wp.TokenFile, wp.TokenFileFrom = file, from
}

// resolveWebIdentity builds the provider of a web-identity plan: the
// SDK's WebIdentityRoleProvider over an unsigned STS client, asking the
// token of opts.IdentityToken (or reading the plan's token file) at every
// Retrieve, so that each refresh sends a token that is still valid.
func resolveWebIdentity(plan *Plan, opts Options) (*credbroker.Resolved, error) {
	role, wp := plan.Role, plan.WebIdentity
	client := opts.stsClient(stsConfig{
		Region:   plan.Region,
		Endpoint: plan.STSEndpoint,
		Creds:    aws.AnonymousCredentials{},
		Retry:    plan.Retry,
	})
	get := opts.IdentityToken
	if get == nil {
		file := wp.TokenFile
		get = func(context.Context) (string, error) { return readTokenFile(wp.TokenFileFrom, file) }
	}
	if seen := opts.IdentityTokenRead; seen != nil {
		inner := get
		get = func(ctx context.Context) (string, error) {
			tok, err := inner(ctx)
			if err == nil {
				seen(tok)
			}
			return tok, err
		}
	}
	prov := stscreds.NewWebIdentityRoleProvider(client, role.ARN, tokenRetriever{get: get, timeout: tokenTimeout}, func(o *stscreds.WebIdentityRoleOptions) {
		o.RoleSessionName = role.SessionName
		o.Duration = role.Duration
		if role.Policy != "" {
			o.Policy = aws.String(role.Policy)
		}
		o.PolicyARNs = policyDescriptors(role.PolicyARNs)
	})
	o := origin{field: "role_arn", credField: "oidc", endpoint: plan.STSEndpoint, op: "AssumeRoleWithWebIdentity", region: plan.Region, partition: plan.Partition.ID}
	return &credbroker.Resolved{
		Provider:  &sdkProvider{p: prov, source: string(credbroker.SourceWebIdentity), origin: o, now: opts.now},
		Region:    plan.Region,
		Partition: plan.Partition.ID,
		Warnings:  plan.WarningTexts(),
	}, nil
}

// tokenTimeout bounds the fetch of one ID token.
const tokenTimeout = 15 * time.Second

// tokenRetriever adapts a token function to the SDK, whose
// GetIdentityToken takes no context: each call is bounded by timeout.
type tokenRetriever struct {
	get     func(ctx context.Context) (string, error)
	timeout time.Duration
}

// GetIdentityToken implements stscreds.IdentityTokenRetriever.
func (t tokenRetriever) GetIdentityToken() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	tok, err := t.get(ctx)
	if err != nil {
		return nil, err
	}
	return []byte(tok), nil
}

// maxTokenFile bounds an ID token file.
const maxTokenFile = 64 << 10

// readTokenFile reads an ID token file; field names where its path came
// from. Errors name the file, never its contents.
func readTokenFile(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "cannot read the ID token file %s: %s", path, unwrapPath(err)).
			WithFix("check the path; on EKS, that the pod's service account has a role (eks.amazonaws.com/role-arn)")
	}
	if len(b) > maxTokenFile {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "the ID token file %s is larger than %d bytes", path, maxTokenFile)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "the ID token file %s is empty", path)
	}
	return tok, nil
}

func unwrapPath(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
