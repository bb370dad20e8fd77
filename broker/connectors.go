package broker

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync/atomic"
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

// connEntry is a connector as read from the store, with its secret opened,
// and when the store last confirmed that it still holds this revision.
type connEntry struct {
	c       *credbroker.Connector
	checked atomic.Int64 // the broker clock's UnixNano at the last confirmation
	// gen is a connector generation read before a confirmation of this
	// revision (noGeneration when none is known): while the store's
	// generation is still gen, the entry is still current.
	gen atomic.Int64
}

// noGeneration is the generation of an entry confirmed before the broker
// ever read one; it matches no generation a store returns.
const noGeneration = -1

func newConnEntry(c *credbroker.Connector, now time.Time, gen int64) *connEntry {
	e := &connEntry{c: c}
	e.checked.Store(now.UnixNano())
	e.gen.Store(gen)
	return e
}

// fresh reports whether the entry was confirmed less than ttl before now.
func (e *connEntry) fresh(now time.Time, ttl time.Duration) bool {
	return now.UnixNano()-e.checked.Load() <= int64(ttl)
}

// confirm records that the store held the entry's revision at time at,
// and a generation read before that.
func (e *connEntry) confirm(at time.Time, gen int64) {
	e.gen.Store(gen)
	t := at.UnixNano()
	for {
		old := e.checked.Load()
		if old >= t || e.checked.CompareAndSwap(old, t) {
			return
		}
	}
}

// generation is the store's connector generation n as read at time at
// (the broker clock before the query was sent).
type generation struct {
	n  int64
	at time.Time
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
	c.SessionMode = spec.SessionMode
	if c.SessionMode == "" {
		c.SessionMode = credbroker.SessionPerBuild
	}
	if c.SessionMode != credbroker.SessionPerBuild && c.SessionMode != credbroker.SessionPerPlan {
		return nil, invalid("session_mode", "use build (a fresh session per build) or plan (one per plan)", "unknown session mode %q", c.SessionMode)
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
	req := s.issueRequest(c, credbroker.Build{Plan: "PLAN-KEY", Number: "1"}, c.DefaultDuration, c.Policy, c.PolicyARNs, nil, c.Base == credbroker.BaseConnector)
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

// seal seals the connector's secret, if it has one in the clear.
func (s *Service) sealConnector(c *credbroker.Connector) error {
	if c.SecretAccessKey == "" {
		return nil
	}
	sealed, err := s.opts.Keys.Seal(credbroker.SecretRef{Kind: "connector", ID: c.ID}, []byte(c.SecretAccessKey))
	if err != nil {
		return err
	}
	c.Secret = sealed
	return nil
}

func (s *Service) info(c *credbroker.Connector) credbroker.ConnectorInfo {
	part, _ := s.opts.Partition(c.Region)
	in := c.Info(part)
	if c.BaseConnector != "" {
		if e := s.cachedConnector(c.BaseConnector); e != nil {
			in.BaseConnector = e.c.Name
		}
	}
	return in
}

// CreateConnector validates spec, seals its secret and stores it.
func (s *Service) CreateConnector(ctx context.Context, tok *credbroker.Token, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	c, err := s.connectorFromSpec(ctx, spec, nil)
	if err != nil {
		return nil, err
	}
	if c.ID, err = newID("con_"); err != nil {
		return nil, err
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt, c.Revision = now, now, 1
	if err := s.sealConnector(c); err != nil {
		return nil, err
	}
	stored := *c
	stored.SecretAccessKey = ""
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorCreate, "connector "+c.ID)
	rec.Connector, rec.RoleARN = c.Name, c.RoleARN
	if err := s.opts.Store.CreateConnector(ctx, &stored, rec); err != nil {
		return nil, err
	}
	in := s.info(&stored)
	return &in, nil
}

// UpdateConnector replaces a connector's settings; spec.Revision must be
// the revision the caller read.
func (s *Service) UpdateConnector(ctx context.Context, tok *credbroker.Token, ref string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	prev, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return nil, err
	}
	if spec.Revision != 0 && spec.Revision != prev.Revision {
		return nil, credbroker.Errorf(credbroker.CodeConflict, "revision",
			"connector %s is at revision %d, not %d: someone changed it since you read it", prev.Name, prev.Revision, spec.Revision).
			WithFix("read it again and reapply your change")
	}
	if spec.Revision == 0 {
		spec.Revision = prev.Revision
	}
	c, err := s.connectorFromSpec(ctx, spec, prev)
	if err != nil {
		return nil, err
	}
	c.ID, c.CreatedAt, c.UpdatedAt, c.Revision = prev.ID, prev.CreatedAt, s.now().UTC(), spec.Revision
	if err := s.sealConnector(c); err != nil {
		return nil, err
	}
	stored := *c
	stored.SecretAccessKey = ""
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorUpdate, "connector "+c.ID)
	rec.Connector, rec.RoleARN = c.Name, c.RoleARN
	if err := s.opts.Store.UpdateConnector(ctx, &stored, rec); err != nil {
		return nil, err
	}
	s.forgetConnector(prev)
	in := s.info(&stored)
	return &in, nil
}

// GetConnector shows a connector; never its secret.
func (s *Service) GetConnector(ctx context.Context, tok *credbroker.Token, ref string) (*credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return nil, err
	}
	in := s.info(c)
	return &in, nil
}

// ListConnectors lists connectors, ordered by name.
func (s *Service) ListConnectors(ctx context.Context, tok *credbroker.Token) ([]credbroker.ConnectorInfo, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	cs, err := s.opts.Store.ListConnectors(ctx)
	if err != nil {
		return nil, err
	}
	byID := map[string]string{}
	for _, c := range cs {
		byID[c.ID] = c.Name
	}
	out := make([]credbroker.ConnectorInfo, 0, len(cs))
	for _, c := range cs {
		part, _ := s.opts.Partition(c.Region)
		in := c.Info(part)
		if n, ok := byID[c.BaseConnector]; ok {
			in.BaseConnector = n
		}
		out = append(out, in)
	}
	return out, nil
}

// DeleteConnector removes a connector.
func (s *Service) DeleteConnector(ctx context.Context, tok *credbroker.Token, ref string) error {
	if err := requireAdmin(tok); err != nil {
		return err
	}
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		return err
	}
	rec := s.adminRecord(tok.ID, credbroker.ActionConnectorDelete, "connector "+c.ID)
	rec.Connector = c.Name
	if err := s.opts.Store.DeleteConnector(ctx, c.ID, rec); err != nil {
		return err
	}
	s.forgetConnector(c)
	return nil
}

func (s *Service) cachedConnector(ref string) *connEntry {
	s.connMu.RLock()
	defer s.connMu.RUnlock()
	return s.conns[ref]
}

func (s *Service) forgetConnector(c *credbroker.Connector) {
	s.connMu.Lock()
	delete(s.conns, c.ID)
	delete(s.conns, c.Name)
	s.connMu.Unlock()
}

// noConnector is the vend's answer for a connector the store does not have.
func noConnector(ref string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector %q", ref).
		WithFix("check the name (credbroker connector list), or the variable that holds it")
}

// connector returns the connector ref (ID or name) with its secret opened.
// The opened connector is kept in memory. Once the store last confirmed it
// is more than ConnectorTTL ago, the broker reads the store's connector
// generation (one read per ConnectorTTL for all connectors): unchanged, it
// confirms every connector held. Otherwise the store is asked for the
// revision that ref now names (an indexed read of two columns), and only a
// different ID or revision reads and opens the connector again. So a change
// made on another broker shows within ConnectorTTL, and a deleted
// connector stops vending within it, as if it were read every time.
func (s *Service) connector(ctx context.Context, ref string) (*credbroker.Connector, error) {
	now := s.now()
	e := s.cachedConnector(ref)
	if e != nil {
		ttl := s.opts.ConnectorTTL
		if e.fresh(now, ttl) {
			return e.c, nil
		}
		if g, ok := s.generation(ctx, now); ok && g.n == e.gen.Load() {
			e.confirm(g.at, g.n)
			return e.c, nil
		}
		known := s.knownGeneration()
		id, rev, err := s.opts.Store.ConnectorRevision(ctx, ref)
		switch {
		case err == nil && id == e.c.ID && rev == e.c.Revision:
			e.confirm(now, known)
			return e.c, nil
		case credbroker.ErrorCode(err) == credbroker.CodeNotFound:
			s.forgetRef(ref, e)
			return nil, noConnector(ref)
		case err != nil:
			return nil, err
		}
		// Another ID or revision: read it in full below.
	}
	known := s.knownGeneration()
	c, err := s.opts.Store.GetConnector(ctx, ref)
	if err != nil {
		if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
			return nil, noConnector(ref)
		}
		return nil, err
	}
	if !c.Secret.Empty() {
		ref := credbroker.SecretRef{Kind: "connector", ID: c.ID}
		plain, err := s.opts.Keys.Open(ref, c.Secret)
		if err != nil {
			if rl, ok := s.opts.Keys.(Reloader); ok && rl.Reload() == nil {
				plain, err = s.opts.Keys.Open(ref, c.Secret)
			}
		}
		if err != nil {
			s.log.Error("cannot open a connector's sealed secret", "connector", c.Name, "err", err)
			return nil, credbroker.Errorf(credbroker.CodeUnavailable, "connector",
				"the stored secret of connector %s cannot be opened", c.Name).
				WithFix("an administrator should check the broker log and its master key")
		}
		c.SecretAccessKey = string(plain)
	}
	e = newConnEntry(c, now, known)
	s.connMu.Lock()
	if old, ok := s.conns[c.ID]; ok && old.c.Name != c.Name && s.conns[old.c.Name] == old {
		delete(s.conns, old.c.Name)
	}
	s.conns[c.ID] = e
	s.conns[c.Name] = e
	s.connMu.Unlock()
	return c, nil
}

// knownGeneration is the last connector generation read, noGeneration
// before the first read. A confirmation records the one known before it
// asked the store.
func (s *Service) knownGeneration() int64 {
	if g := s.gen.Load(); g != nil {
		return g.n
	}
	return noGeneration
}

// generation returns the store's connector generation as read at most
// ConnectorTTL before now, reading it again when the last read is older;
// one read at a time, which concurrent callers share. false when the
// store cannot tell.
func (s *Service) generation(ctx context.Context, now time.Time) (generation, bool) {
	ttl := s.opts.ConnectorTTL
	if g := s.gen.Load(); g != nil && now.Sub(g.at) <= ttl {
		return *g, true
	}
	s.genMu.Lock()
	defer s.genMu.Unlock()
	if g := s.gen.Load(); g != nil && now.Sub(g.at) <= ttl {
		return *g, true
	}
	at := s.now()
	n, err := s.opts.Store.ConnectorGeneration(ctx)
	if err != nil {
		return generation{}, false
	}
	g := &generation{n: n, at: at}
	s.gen.Store(g)
	return *g, true
}

// forgetRef drops e, which ref no longer finds in the store, from the
// cache under ref and its own ID and name, unless a newer entry replaced
// it there meanwhile.
func (s *Service) forgetRef(ref string, e *connEntry) {
	s.connMu.Lock()
	for _, k := range []string{ref, e.c.ID, e.c.Name} {
		if s.conns[k] == e {
			delete(s.conns, k)
		}
	}
	s.connMu.Unlock()
}
