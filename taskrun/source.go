package taskrun

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/vars"
)

// Expander substitutes ${...} references in one field.
type Expander interface {
	Expand(field, text string) (string, error)
}

// Env looks up an environment variable of credbroker's own process.
type Env func(string) (string, bool)

// maxFile bounds the policy and token files read for a source.
const maxFile = 64 << 10

// ExpandCredentials turns a credentials block, as written in a job file or
// built from command-line flags, into a credbroker.Source: every field is
// substituted (field names in errors are prefixed with path), the role's
// duration is parsed, the account guard's values are split at commas and
// spaces (credbroker.SplitAccountIDs), and the policy and token files it
// names are read.
// env supplies CREDBROKER_BROKER, CREDBROKER_TOKEN and CREDBROKER_TOKEN_FILE
// for connector sources (none is needed with oidc). A connector source's
// duration, policy and policy ARNs, the narrowing its vend asks for, go
// into src.Role, whose other fields it does not use.
func ExpandCredentials(c *jobfile.Credentials, x Expander, path string, env Env) (credbroker.Source, error) {
	var src credbroker.Source
	var errs []error
	ex := func(field, v string) string {
		if v == "" {
			return ""
		}
		out, err := x.Expand(join(path, field), v)
		if err != nil {
			errs = append(errs, err)
		}
		return out
	}
	src.Kind = credbroker.SourceKind(ex("source", c.Source))
	src.Region = ex("region", c.Region)
	src.AccessKeyID = ex("access_key_id", c.AccessKeyID)
	src.SecretAccessKey = ex("secret_access_key", c.SecretAccessKey)
	src.SessionToken = ex("session_token", c.SessionToken)
	src.IMDSEndpoint = ex("imds_endpoint", c.IMDSEndpoint)
	src.IMDSv1 = c.IMDSv1
	src.Connector = ex("connector", c.Connector)
	src.Broker = ex("broker", c.Broker)
	src.CAFile = ex("ca_file", c.CAFile)
	src.STSEndpoint = ex("sts_endpoint", c.STSEndpoint)
	if c.Retries > 0 {
		src.Retry.MaxAttempts = c.Retries + 1
	}
	src.Retry.MaxBackoff = c.MaxBackoff
	tokenFile := ex("token_file", c.TokenFile)
	src.WebIdentityTokenFile = ex("web_identity_token_file", c.WebIdentityTokenFile)
	src.OIDC = ex("oidc", c.OIDC)
	src.Audience = ex("audience", c.Audience)
	// narrow reads a duration, a policy (inline or from a file) and
	// policy ARNs, the fields under prefix ("" or "role."), into src.Role.
	narrow := func(prefix, duration, policy, policyFile string, arns []string) {
		if d := ex(prefix+"duration", duration); d != "" {
			dur, err := jobfile.ParseDuration(d)
			if err != nil || dur <= 0 {
				errs = append(errs, credbroker.Errorf(credbroker.CodeInvalid, join(path, prefix+"duration"), "invalid duration").
					WithFix("write a duration such as 900s, 30m or 1h"))
			}
			src.Role.Duration = dur
		}
		src.Role.Policy = ex(prefix+"policy", policy)
		if f := ex(prefix+"policy_file", policyFile); f != "" {
			b, err := readSmall(f)
			if err != nil {
				errs = append(errs, credbroker.Errorf(credbroker.CodeInvalid, join(path, prefix+"policy_file"), "cannot read policy file %s: %s", f, err).
					WithFix("check the path; it is relative to the job file"))
			}
			src.Role.Policy = string(b)
		}
		for i, a := range arns {
			src.Role.PolicyARNs = append(src.Role.PolicyARNs, ex(fmt.Sprintf("%spolicy_arns[%d]", prefix, i), a))
		}
	}
	if c.Duration != "" || c.Policy != "" || c.PolicyFile != "" || len(c.PolicyARNs) > 0 {
		// A connector source's narrowing: what the vend asks of the broker.
		narrow("", c.Duration, c.Policy, c.PolicyFile, c.PolicyARNs)
	}

	if r := c.Role; r != nil {
		ex2 := func(field, v string) string { return ex("role."+field, v) }
		src.Role.ARN = ex2("arn", r.ARN)
		src.Role.ExternalID = ex2("external_id", r.ExternalID)
		src.Role.SessionName = ex2("session_name", r.SessionName)
		narrow("role.", r.Duration, r.Policy, r.PolicyFile, r.PolicyARNs)
		for _, tg := range r.Tags {
			src.Role.Tags = append(src.Role.Tags, credbroker.Tag{Key: ex2("tags."+tg.Key, tg.Key), Value: ex2("tags."+tg.Key, tg.Value)})
		}
		src.Role.TransitiveTagKeys = append(src.Role.TransitiveTagKeys, r.TransitiveTagKeys...)
		src.Role.NoSessionTags = r.NoSessionTags
	}
	for _, tg := range c.Tags {
		src.Tags = append(src.Tags, credbroker.Tag{Key: ex("tags."+tg.Key, tg.Key), Value: ex("tags."+tg.Key, tg.Value)})
	}
	for i, id := range c.AllowedAccountIDs {
		src.AllowedAccountIDs = append(src.AllowedAccountIDs, credbroker.SplitAccountIDs(ex(fmt.Sprintf("%s[%d]", credbroker.FieldAllowedAccounts, i), id))...)
	}

	if src.Kind == credbroker.SourceConnector {
		if src.CAFile == "" {
			src.CAFile, _ = env("CREDBROKER_CA_FILE")
		}
		if src.Broker == "" {
			src.Broker, _ = env("CREDBROKER_BROKER")
		}
		if src.Broker == "" {
			errs = append(errs, credbroker.Errorf(credbroker.CodeInvalid, join(path, "broker"), "no broker URL").
				WithFix("set broker: in the job file, --broker, or CREDBROKER_BROKER"))
		}
		// The task's token_file (or --token-file), then $CREDBROKER_TOKEN,
		// then $CREDBROKER_TOKEN_FILE; none with oidc, whose CI token the
		// resolver fetches at each vend.
		if src.OIDC != "" {
			// no agent token
		} else if t, ok := env("CREDBROKER_TOKEN"); ok && t != "" && tokenFile == "" {
			src.Token = strings.TrimSpace(t)
		} else if tokenFile == "" {
			tokenFile, _ = env("CREDBROKER_TOKEN_FILE")
		}
		if tokenFile != "" {
			tok, err := ReadTokenFile(join(path, "token_file"), tokenFile)
			if err != nil {
				errs = append(errs, err)
			}
			src.Token = tok
		}
		if src.Token == "" && src.OIDC == "" && len(errs) == 0 {
			errs = append(errs, credbroker.Errorf(credbroker.CodeUnauthorized, join(path, "token_file"), "no agent token").
				WithFix("set CREDBROKER_TOKEN, CREDBROKER_TOKEN_FILE, --token-file or token_file: (create one with `credbroker token create --role agent`)"))
		}
	}
	if len(errs) > 0 {
		return src, errors.Join(errs...)
	}
	if !src.Kind.Valid() {
		return src, credbroker.Errorf(credbroker.CodeInvalid, join(path, "source"), "unknown source %q", src.Kind).
			WithFix("use instance, static, web-identity or connector")
	}
	return src, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, pe.Err
		}
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxFile+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, err
	}
	if n > maxFile {
		return nil, fmt.Errorf("larger than %d bytes", maxFile)
	}
	return b[:n], nil
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// CredentialVariables are the runtime variables a set_variables task sets,
// under its namespace: NS.accessKeyId, NS.secretAccessKey (secret),
// NS.sessionToken (secret), NS.expiration, NS.region, NS.partition.
func CredentialVariables(ns string, cr credbroker.Credentials, region, partition string) []vars.Var {
	exp := ""
	if cr.CanExpire() {
		exp = cr.Expires.UTC().Format(time.RFC3339)
	}
	return []vars.Var{
		{Name: ns + ".accessKeyId", Value: cr.AccessKeyID},
		{Name: ns + ".secretAccessKey", Value: cr.SecretAccessKey, Secret: true},
		{Name: ns + ".sessionToken", Value: cr.SessionToken, Secret: true},
		{Name: ns + ".expiration", Value: exp},
		{Name: ns + ".region", Value: region},
		{Name: ns + ".partition", Value: partition},
	}
}
