package broker

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

const (
	defaultDuration = time.Hour
	maxChainDepth   = 5
)

// validPlanKey reports whether s is a plan key, PROJECT-PLAN:
// ^[A-Z][A-Z0-9_]*-[A-Z0-9_]+$ (checked on every vend, so by hand rather
// than by a regular expression).
func validPlanKey(s string) bool {
	dash := strings.IndexByte(s, '-')
	if dash < 1 || dash == len(s)-1 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if i != dash && !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func invalid(field, fix, format string, args ...any) error {
	return credbroker.Errorf(credbroker.CodeInvalid, field, format, args...).WithFix(fix)
}

// connectorFromSpec validates spec and builds the connector it describes.
// prev is the stored connector on update (nil on create).
func (s *Service) connectorFromSpec(ctx context.Context, spec credbroker.ConnectorSpec, prev *credbroker.Connector) (*credbroker.Connector, error) {
	c := &credbroker.Connector{}
	if prev != nil {
		*c = *prev
	}
	if !validConnectorName(spec.Name) || strings.HasPrefix(spec.Name, "con_") {
		return nil, invalid("name", "use 1 to 64 letters, digits, '_', '.' or '-', not starting with con_", "invalid connector name %q", spec.Name)
	}
	c.Name = spec.Name
	if len(spec.Description) > 1024 {
		return nil, invalid("description", "keep it under 1,024 characters", "description too long")
	}
	c.Description = spec.Description
	if spec.Principal == "" {
		spec.Principal = credbroker.PrincipalAssumedRole
	}
	if !spec.Principal.Valid() {
		return nil, invalid("principal", "use assumed-role, federated-user, session or provided", "unknown principal type %q", spec.Principal)
	}
	c.Principal = spec.Principal
	if spec.Base == "" {
		spec.Base = credbroker.BaseKeys
		if spec.BaseConnector != "" {
			spec.Base = credbroker.BaseConnector
		}
	}
	if !spec.Base.Valid() {
		return nil, invalid("base", "use keys, default or connector", "unknown base %q", spec.Base)
	}
	c.Base = spec.Base

	// Base credentials.
	c.BaseConnector = ""
	switch c.Base {
	case credbroker.BaseKeys:
		if spec.AccessKeyID == "" && prev != nil && prev.Base == credbroker.BaseKeys {
			spec.AccessKeyID = prev.AccessKeyID
		}
		if spec.AccessKeyID == "" {
			return nil, invalid("access_key_id", "give the base access key ID (--access-key-id)", "missing for base keys")
		}
		if len(spec.AccessKeyID) < 16 || len(spec.AccessKeyID) > 128 || strings.ContainsAny(spec.AccessKeyID, " \t\r\n") {
			return nil, invalid("access_key_id", "paste the access key ID exactly", "does not look like an access key ID")
		}
		keyChanged := prev == nil || prev.Base != credbroker.BaseKeys || prev.AccessKeyID != spec.AccessKeyID
		if spec.SecretAccessKey == "" && keyChanged {
			return nil, invalid("secret_access_key", "give the secret key (read from a file or stdin, never a command-line argument)", "missing for base keys")
		}
		// A provided connector hands its stored key out as it is: turning a
		// connector into one takes the key again, or an admin token could
		// read any stored key that way.
		if spec.SecretAccessKey == "" && spec.Principal == credbroker.PrincipalProvided && prev != nil && prev.Principal != credbroker.PrincipalProvided {
			return nil, invalid("secret_access_key", "give the secret key again (--secret-access-key-file) to hand it out as it is",
				"a connector that becomes provided needs its secret key given again")
		}
		c.AccessKeyID = spec.AccessKeyID
		if spec.SecretAccessKey != "" {
			if len(spec.SecretAccessKey) < 16 || len(spec.SecretAccessKey) > 256 || strings.ContainsAny(spec.SecretAccessKey, " \t\r\n") {
				return nil, invalid("secret_access_key", "paste the secret key exactly, without spaces or newlines", "does not look like a secret access key")
			}
			c.SecretAccessKey = spec.SecretAccessKey
			c.Secret = credbroker.Sealed{} // sealed again on save
		}
	case credbroker.BaseDefault, credbroker.BaseConnector:
		if spec.AccessKeyID != "" || spec.SecretAccessKey != "" {
			return nil, invalid("access_key_id", "drop the keys, or use base keys", "keys are only for base keys")
		}
		c.AccessKeyID, c.SecretAccessKey, c.Secret = "", "", credbroker.Sealed{}
		if c.Base == credbroker.BaseConnector {
			if spec.BaseConnector == "" {
				return nil, invalid("base_connector", "name the connector whose credentials are the base", "missing for base connector")
			}
			base, err := s.opts.Store.GetConnector(ctx, spec.BaseConnector)
			if err != nil {
				if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
					return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector", "no connector %q", spec.BaseConnector).
						WithFix("create the base connector first")
				}
				return nil, err
			}
			if prev != nil && base.ID == prev.ID {
				return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector", "a connector cannot be its own base")
			}
			if base.Principal == credbroker.PrincipalFederatedUser {
				return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector",
					"connector %s yields federated-user sessions, which STS does not let call AssumeRole", base.Name).
					WithFix("chain from an assumed-role, session or provided connector")
			}
			if err := s.checkChain(ctx, base, prev); err != nil {
				return nil, err
			}
			c.BaseConnector = base.ID
		}
	}
	switch c.Principal {
	case credbroker.PrincipalProvided:
		if c.Base != credbroker.BaseKeys {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base", "a provided connector hands out its own stored keys").
				WithFix("use base keys with principal provided")
		}
	case credbroker.PrincipalFederatedUser, credbroker.PrincipalSession:
		if c.Base == credbroker.BaseConnector {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "base",
				"%s sessions need an IAM user's long-term keys, not another connector's session", c.Principal).
				WithFix("use base keys (or default, where the broker host runs with IAM user keys)")
		}
	}

	c.Region = spec.Region
	if c.Region == "" {
		return nil, invalid("region", "give the connector's region, e.g. --region us-east-1", "missing")
	}
	c.RoleARN, c.ExternalID, c.FederatedName = spec.RoleARN, spec.ExternalID, spec.FederatedName
	c.Policy, c.PolicyARNs = spec.Policy, slices.Clone(spec.PolicyARNs)
	switch c.Principal {
	case credbroker.PrincipalAssumedRole:
		if c.RoleARN == "" {
			return nil, invalid("role_arn", "give the role to assume: --role-arn arn:aws:iam::ACCOUNT:role/NAME", "missing for principal assumed-role")
		}
		if c.FederatedName != "" {
			return nil, invalid("federated_name", "drop it", "only for principal federated-user")
		}
	case credbroker.PrincipalFederatedUser, credbroker.PrincipalSession, credbroker.PrincipalProvided:
		if c.RoleARN != "" || c.ExternalID != "" {
			return nil, invalid("role_arn", "drop the role, or use principal assumed-role", "a role is only for principal assumed-role")
		}
		if c.Principal != credbroker.PrincipalFederatedUser && c.FederatedName != "" {
			return nil, invalid("federated_name", "drop it", "only for principal federated-user")
		}
		if (c.Principal == credbroker.PrincipalSession || c.Principal == credbroker.PrincipalProvided) && (c.Policy != "" || len(c.PolicyARNs) > 0) {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "policy", "principal %s cannot carry a session policy", c.Principal).
				WithFix("use assumed-role or federated-user to limit permissions")
		}
	}

	// Durations.
	c.DefaultDuration = time.Duration(spec.DefaultDurationSeconds) * time.Second
	c.MaxDuration = time.Duration(spec.MaxDurationSeconds) * time.Second
	if spec.DefaultDurationSeconds < 0 || spec.MaxDurationSeconds < 0 {
		return nil, invalid("default_duration_seconds", "use positive durations", "negative duration")
	}
	if c.Principal == credbroker.PrincipalProvided {
		if c.DefaultDuration != 0 || c.MaxDuration != 0 {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "default_duration_seconds", "provided keys do not expire; a duration means nothing for them").
				WithFix("drop the durations")
		}
	} else {
		if c.DefaultDuration == 0 {
			c.DefaultDuration = defaultDuration
			if c.MaxDuration > 0 && c.MaxDuration < c.DefaultDuration {
				c.DefaultDuration = c.MaxDuration
			}
		}
		if c.MaxDuration == 0 {
			c.MaxDuration = max(c.DefaultDuration, defaultDuration)
		}
		if c.DefaultDuration > c.MaxDuration {
			return nil, invalid("default_duration_seconds", "make the default at most the maximum", "default duration %s is longer than the maximum %s", c.DefaultDuration, c.MaxDuration)
		}
	}

	// Scope and allow-list.
	c.Scope = spec.Scope
	if c.Scope.Kind == "" {
		c.Scope.Kind = credbroker.ScopeSystem
	}
	switch c.Scope.Kind {
	case credbroker.ScopeSystem:
		if c.Scope.Key != "" {
			return nil, invalid("scope", "write --scope system without a key", "a system scope has no key")
		}
	case credbroker.ScopeProject:
		if !validProjectKey(c.Scope.Key) {
			return nil, invalid("scope", "write --scope 'project OPS' with the project key in capitals", "invalid project key %q", c.Scope.Key)
		}
	case credbroker.ScopePlan:
		if !validPlanKey(c.Scope.Key) {
			return nil, invalid("scope", "write --scope 'plan OPS-DEPLOY' with a plan key PROJECT-PLAN", "invalid plan key %q", c.Scope.Key)
		}
	default:
		return nil, invalid("scope", "use system, project KEY or plan KEY", "unknown scope %q", c.Scope.Kind)
	}
	c.AllowPlans = nil
	for i, g := range spec.AllowPlans {
		g = strings.TrimSpace(g)
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return nil, invalid(fmt.Sprintf("allow_plans[%d]", i), "use plan keys with * and ? wildcards", "malformed plan pattern %q", g)
		}
		c.AllowPlans = append(c.AllowPlans, g)
	}
	if err := setAllowedAccounts(c, spec.AllowedAccountIDs); err != nil {
		return nil, err
	}
	c.SessionMode = spec.SessionMode
	if c.SessionMode == "" {
		c.SessionMode = credbroker.SessionPerBuild
	}
	if c.SessionMode != credbroker.SessionPerBuild && c.SessionMode != credbroker.SessionPerPlan {
		return nil, invalid("session_mode", "use build (a fresh session per build) or plan (one per plan)", "unknown session mode %q", c.SessionMode)
	}
	// The tags that name the build are the broker's to set: a connector's
	// credbroker:job would stand in for every build without a job, and a
	// role's policy on aws:PrincipalTag/credbroker:job would trust it.
	for i, t := range spec.Tags {
		if credbroker.ReservedTagKey(t.Key) {
			return nil, invalid(fmt.Sprintf("tags[%d].key", i), "use another tag key; the broker sets credbroker:plan, credbroker:build and credbroker:job itself",
				"tag key %q starts with %q, which credbroker keeps for the tags that name the build", credbroker.CleanField(t.Key, 128), credbroker.TagKeyPrefix)
		}
	}
	c.Tags, c.TransitiveTagKeys, c.DisableTags = slices.Clone(spec.Tags), slices.Clone(spec.TransitiveTagKeys), spec.DisableTags
	c.STSEndpoints = slices.Clone(spec.STSEndpoints)
	c.Retry = credbroker.RetrySpec{MaxBackoff: time.Duration(spec.MaxBackoffSeconds) * time.Second}
	if spec.Retries < 0 || spec.Retries > 20 || spec.MaxBackoffSeconds < 0 {
		return nil, invalid("retries", "use 0 to 20 retries and a non-negative backoff", "out of range")
	}
	if spec.Retries > 0 {
		c.Retry.MaxAttempts = spec.Retries + 1
	}

	// Everything STS would check, offline: region and partition, ARNs,
	// policy, duration limits, tags, endpoints.
	if _, err := s.opts.Partition(c.Region); err != nil && len(c.STSEndpoints) == 0 {
		return nil, err
	}
	req := s.issueRequest(c, credbroker.Build{Plan: "PLAN-KEY", Number: "1"},
		vendParams{duration: c.DefaultDuration, policy: c.Policy, policyARNs: c.PolicyARNs}, c.Base == credbroker.BaseConnector)
	if _, err := s.opts.Issuer.Check(req); err != nil {
		return nil, err
	}
	req.Duration = c.MaxDuration
	if _, err := s.opts.Issuer.Check(req); err != nil {
		if e := credbroker.AsError(err); e != nil && strings.Contains(e.Field, "duration") {
			c2 := *e
			c2.Field = "max_duration_seconds"
			return nil, &c2
		}
		return nil, err
	}
	return c, nil
}

// setAllowedAccounts sets the connector's account guard: 12-digit
// accounts, among which the role's own, so that a role ARN mistyped into
// another account is refused when it is saved, not first at a vend.
func setAllowedAccounts(c *credbroker.Connector, ids []string) error {
	if err := credbroker.CheckAccountIDs(credbroker.FieldAllowedAccounts, ids); err != nil {
		return err
	}
	c.AllowedAccountIDs = slices.Clone(ids)
	if c.Principal != credbroker.PrincipalAssumedRole {
		return nil
	}
	if account := credbroker.AccountOfARN(c.RoleARN); account != "" {
		if e := credbroker.AsError(credbroker.CheckAccount("role_arn", ids, account, "role ARN "+c.RoleARN)); e != nil {
			e.Code = credbroker.CodeUnprocessable
			return e
		}
	}
	return nil
}

// checkChain refuses a base that leads back to self or goes too deep.
func (s *Service) checkChain(ctx context.Context, base, self *credbroker.Connector) error {
	cur := base
	for depth := 1; ; depth++ {
		if depth > maxChainDepth {
			return credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector", "connector chain deeper than %d", maxChainDepth).
				WithFix("chain fewer connectors")
		}
		if cur.Base != credbroker.BaseConnector {
			return nil
		}
		if self != nil && cur.BaseConnector == self.ID {
			return credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector", "connector %s leads back to this one: a cycle", cur.Name).
				WithFix("break the cycle")
		}
		next, err := s.opts.Store.GetConnector(ctx, cur.BaseConnector)
		if err != nil {
			return err
		}
		cur = next
	}
}
