package broker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/policy"
)

// vendEntry is one cached session: the credentials of one connector
// revision for one plan (and build, per-build) and one set of parameters.
type vendEntry struct {
	cache    *credcache.Cache
	lastUsed time.Time
	warnings []string

	// handedOut is the access key ID of the last session of the entry
	// that a vend handed out: a vend that gets another one is the first
	// to hand it out, and its record says "issued" (or "shared session"
	// when shared, the key ID of the last session the fleet gave the
	// entry, is that session: another broker of the fleet got it).
	mu        sync.Mutex
	handedOut string
	shared    string
}

// handout notes that a vend hands out keyID, a session of e, and returns
// what its audit record says of the session: "issued" or "shared session"
// the first time, "cached session" after.
func (e *vendEntry) handout(keyID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.handedOut == keyID:
		return "cached session"
	case e.shared == keyID:
		e.handedOut = keyID
		return "shared session"
	}
	e.handedOut = keyID
	return "issued"
}

// noteShared notes that keyID came from the fleet's shared sessions.
func (e *vendEntry) noteShared(keyID string) {
	e.mu.Lock()
	e.shared = keyID
	e.mu.Unlock()
}

// vendParams is what a vend asks of STS after the narrowing rules.
type vendParams struct {
	duration   time.Duration
	policy     string
	policyARNs []string
	tags       []credbroker.Tag
	// sessionName and sourceIdentity, when set, replace the build's: the
	// templates of the binding that accepted the caller's ID token.
	sessionName, sourceIdentity string
}

// checkScope refuses a plan that the connector's scope or allow-list
// does not admit, naming the rule.
func checkScope(c *credbroker.Connector, plan string) error {
	refuse := func(format string, args ...any) error {
		return credbroker.Errorf(credbroker.CodeForbidden, "connector", format, args...).
			WithFix("use a connector this plan may use, or ask an administrator to change the connector's scope or allowed plans")
	}
	switch c.Scope.Kind {
	case credbroker.ScopeSystem:
	case credbroker.ScopeProject:
		if plan == "" {
			return refuse("connector %s is scoped to project %s; a build with no plan may use only system-scoped connectors", c.Name, c.Scope.Key)
		}
		if !strings.HasPrefix(plan, c.Scope.Key+"-") {
			return refuse("connector %s is scoped to project %s; plan %s is not in it", c.Name, c.Scope.Key, plan)
		}
	case credbroker.ScopePlan:
		if plan != c.Scope.Key {
			shown := plan
			if shown == "" {
				shown = "(none)"
			}
			return refuse("connector %s is scoped to plan %s; plan %s may not use it", c.Name, c.Scope.Key, shown)
		}
	default:
		return refuse("connector %s has an unknown scope", c.Name)
	}
	if len(c.AllowPlans) > 0 {
		if plan == "" {
			return refuse("connector %s allows only plans %s; the request names no plan", c.Name, strings.Join(c.AllowPlans, ", "))
		}
		for _, g := range c.AllowPlans {
			if globMatch(g, plan) {
				return nil
			}
		}
		return refuse("plan %s matches none of connector %s's allowed plans (%s)", plan, c.Name, strings.Join(c.AllowPlans, ", "))
	}
	return nil
}

// checkAccount is the connector's account guard: a session of an account
// it does not allow (by the ARN STS issued it with, or GetCallerIdentity)
// is refused, naming both, before it leaves the broker.
func checkAccount(c *credbroker.Connector, cr credbroker.Credentials) error {
	e := credbroker.AsError(credbroker.CheckAccount(credbroker.FieldAllowedAccounts, c.AllowedAccountIDs, cr.AccountID, "connector "+c.Name+"'s session"))
	if e == nil {
		return nil
	}
	e.Fix = "an administrator should check connector " + c.Name + "'s role and base credentials, or its allowed accounts; the audit has this refusal"
	return e
}

// narrow applies the request's narrowing to the connector's limits.
func narrow(c *credbroker.Connector, req *credbroker.VendRequest) (vendParams, error) {
	p := vendParams{duration: c.DefaultDuration}
	if c.Principal == credbroker.PrincipalProvided {
		if req.DurationSeconds != 0 || req.Policy != "" || len(req.PolicyARNs) > 0 {
			return p, credbroker.Errorf(credbroker.CodeUnprocessable, "policy",
				"connector %s hands out its stored keys as they are; a vend cannot shorten or limit them", c.Name).
				WithFix("drop the duration and policy from the request, or use an STS-backed connector")
		}
		return p, nil
	}
	if err := checkSeconds("duration_seconds", req.DurationSeconds); err != nil {
		return p, err
	}
	if req.DurationSeconds > 0 {
		d := seconds(req.DurationSeconds)
		if d > c.MaxDuration {
			return p, credbroker.Errorf(credbroker.CodeForbidden, "duration_seconds",
				"%s is longer than connector %s's maximum of %s: a request may narrow a connector's permissions but never widen them",
				d, c.Name, c.MaxDuration).WithFix(fmt.Sprintf("ask for at most %d seconds", int(c.MaxDuration/time.Second)))
		}
		p.duration = d
	}
	if c.Principal == credbroker.PrincipalSession && (req.Policy != "" || len(req.PolicyARNs) > 0) {
		return p, credbroker.Errorf(credbroker.CodeUnprocessable, "policy",
			"connector %s yields GetSessionToken sessions, which take no session policy", c.Name).
			WithFix("drop the policy, or use an assumed-role or federated-user connector")
	}
	set, err := policy.Narrow(policy.Set{Policy: c.Policy, ARNs: c.PolicyARNs}, policy.Set{Policy: req.Policy, ARNs: req.PolicyARNs})
	if err != nil {
		return p, err
	}
	p.policy, p.policyARNs = set.Policy, set.ARNs
	return p, nil
}

// buildTags are the session tags a vend sends: the build's identity, the
// connector's own tags and those of the caller's ID token claims (claims),
// then the request's, which may not override any of those.
func buildTags(c *credbroker.Connector, b credbroker.Build, claims, extra []credbroker.Tag) ([]credbroker.Tag, error) {
	if c.DisableTags || c.Principal == credbroker.PrincipalSession || c.Principal == credbroker.PrincipalProvided {
		if len(extra) > 0 && c.DisableTags {
			return nil, credbroker.Errorf(credbroker.CodeUnprocessable, "tags", "connector %s has session tags turned off", c.Name).
				WithFix("drop the tags, or turn tagging on for the connector (its role's trust policy must allow sts:TagSession)")
		}
		return nil, nil
	}
	var tags []credbroker.Tag
	seen := map[string]bool{}
	add := func(k, v string, fixed bool) error {
		if v == "" {
			return nil
		}
		lk := strings.ToLower(k)
		if seen[lk] {
			if fixed {
				return nil
			}
			return credbroker.Errorf(credbroker.CodeForbidden, "tags", "tag %q is set by the broker or the connector and cannot be replaced", k).
				WithFix("use another tag key")
		}
		seen[lk] = true
		tags = append(tags, credbroker.Tag{Key: k, Value: v})
		return nil
	}
	for _, t := range credbroker.BuildTags(b) {
		add(t.Key, t.Value, true)
	}
	for _, t := range c.Tags {
		add(t.Key, t.Value, true)
	}
	for _, t := range claims {
		add(t.Key, t.Value, true)
	}
	for _, t := range extra {
		if err := add(t.Key, t.Value, false); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// transitiveKeys are the connector's transitive tag keys, sent only when
// the request carries tags: with tagging off they would still be a
// tagging request, which a role without sts:TagSession refuses.
func transitiveKeys(c *credbroker.Connector, tags []credbroker.Tag) []string {
	if c.DisableTags || len(tags) == 0 {
		return nil
	}
	return c.TransitiveTagKeys
}

// issueRequest builds the STS request of a vend.
func (s *Service) issueRequest(c *credbroker.Connector, b credbroker.Build, p vendParams, chained bool) credbroker.IssueRequest {
	ident := b
	if c.SessionMode == credbroker.SessionPerPlan {
		ident = credbroker.Build{Plan: b.Plan}
	}
	name := credbroker.SessionName(ident)
	source := name
	if p.sessionName != "" {
		name = p.sessionName
	}
	if p.sourceIdentity != "" {
		source = p.sourceIdentity
	}
	d, pol, arns, tags := p.duration, p.policy, p.policyARNs, p.tags
	fed := c.FederatedName
	if fed == "" && c.Principal == credbroker.PrincipalFederatedUser {
		fed = credbroker.CleanSTSName(name, 32)
	}
	return credbroker.IssueRequest{
		Principal:         c.Principal,
		Region:            c.Region,
		STSEndpoints:      c.STSEndpoints,
		BaseIsRoleSession: chained,
		RoleARN:           c.RoleARN,
		ExternalID:        c.ExternalID,
		SessionName:       name,
		SourceIdentity:    source,
		FederatedName:     fed,
		Duration:          d,
		Policy:            pol,
		PolicyARNs:        arns,
		Tags:              tags,
		TransitiveTagKeys: transitiveKeys(c, tags),
		Retry:             c.Retry,
		// The account guard needs the session's account.
		NeedAccount: len(c.AllowedAccountIDs) > 0,
	}
}

// cacheKey identifies a session that may be shared.
func cacheKey(c *credbroker.Connector, b credbroker.Build, p vendParams) string {
	// Each part is written as its length, a colon and its bytes, so that
	// no two different lists of parts hash alike; one buffer, one hash.
	var stack [512]byte
	buf := stack[:0]
	part := func(ss ...string) {
		n := 0
		for _, s := range ss {
			n += len(s)
		}
		buf = strconv.AppendInt(buf, int64(n), 10)
		buf = append(buf, ':')
		for _, s := range ss {
			buf = append(buf, s...)
		}
	}
	part(c.ID)
	part(strconv.FormatInt(c.Revision, 10))
	part(b.Plan)
	if c.SessionMode != credbroker.SessionPerPlan {
		part(b.Number)
		part(b.Job)
	}
	part(p.duration.String())
	part(p.policy)
	part(strings.Join(p.policyARNs, "\x00"))
	for _, t := range p.tags {
		// Key and value each as a part of their own: "team=" "ops" and
		// "team" "=ops" are different tags and different sessions.
		part(t.Key)
		part(t.Value)
	}
	// A session named after an ID token's claims is that caller's alone.
	part(p.sessionName)
	part(p.sourceIdentity)
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

// identityOf is the workload identity of a caller that presented an ID
// token; nil for an agent token.
func identityOf(tok *credbroker.Token) *credbroker.WorkloadIdentity {
	if tok == nil {
		return nil
	}
	return tok.Identity
}

// Vend returns credentials of a connector for a build, after the token,
// scope and allow-list checks and the narrowing rules, and writes the
// audit record: granted or refused. If the record cannot be written, the
// vend is refused and no credentials leave the broker.
//
// A vend does not depend on its caller staying: its work goes on when ctx
// is cancelled (within VendTimeout), so that what it did is recorded, a
// refusal or a session STS issued meanwhile ("issued", even if no one
// received it; a later cache hit on it is a record of its own).
func (s *Service) Vend(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error) {
	ctx, cancel := detach(ctx, s.opts.VendTimeout)
	defer cancel()
	rec := s.requestRecord(credbroker.ActionVend, tok, req.Plan, req.Build, req.Job, req.Task)
	res, detail, err := s.vend(ctx, tok, &req, rec)
	if err != nil {
		s.auditRefusal(ctx, rec, err)
		return nil, err
	}
	rec.Outcome, rec.Detail = credbroker.OutcomeGranted, detail
	rec.AccessKeyID, rec.Expiration = res.AccessKeyID, res.Expiration
	if err := s.appendAudit(ctx, rec); err != nil {
		s.log.Error("audit record could not be written; vend refused", "connector", res.Connector, "err", err)
		reason := ""
		if e := credbroker.AsError(err); e != nil && e.Code == credbroker.CodeUnavailable {
			reason = " (" + e.Message + ")"
		}
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "audit", "the audit record could not be written%s, so no credentials were handed out", reason).
			WithFix("an administrator should check the store (disk space, permissions); retry later")
	}
	return res, nil
}

func (s *Service) vend(ctx context.Context, tok *credbroker.Token, req *credbroker.VendRequest, rec *credbroker.AuditRecord) (*credbroker.VendResult, string, error) {
	if err := checkVendRequest(req); err != nil {
		return nil, "", err
	}
	id := identityOf(tok)
	if req.Plan == "" && id != nil && id.Plan != "" {
		// The binding derived the plan from the token's claims.
		req.Plan = id.Plan
		rec.Plan = id.Plan
	}
	if err := requireAgentFor(tok, req.Plan); err != nil {
		return nil, "", err
	}
	c, err := s.connector(ctx, req.Connector)
	if credbroker.ErrorCode(err) == credbroker.CodeNotFound {
		return nil, "", connectorUnavailable(req.Plan, nil)
	}
	if err != nil {
		return nil, "", err
	}
	rec.Connector, rec.RoleARN = c.Name, c.RoleARN
	if err := checkScope(c, req.Plan); err != nil {
		return nil, "", connectorUnavailable(req.Plan, err)
	}
	params, err := narrow(c, req)
	if err != nil {
		return nil, "", err
	}
	b := credbroker.Build{Plan: req.Plan, Number: req.Build, Job: req.Job}
	if c.SessionMode == credbroker.SessionPerPlan {
		// One session serves the plan's builds: it carries the plan only.
		b = credbroker.Build{Plan: req.Plan}
	}
	var claimTags []credbroker.Tag
	if id != nil {
		claimTags = id.Tags
		params.sessionName, params.sourceIdentity = id.SessionName, id.SourceIdentity
	}
	if params.tags, err = buildTags(c, b, claimTags, req.Tags); err != nil {
		return nil, "", err
	}
	minRemaining := s.opts.DefaultMinRemaining
	if req.MinRemainingSeconds > 0 {
		minRemaining = seconds(req.MinRemainingSeconds)
	}
	if c.Principal != credbroker.PrincipalProvided && minRemaining >= params.duration {
		return nil, "", credbroker.Errorf(credbroker.CodeInvalid, "min_remaining_seconds",
			"the minimum remaining lifetime %s is not shorter than the session duration %s", minRemaining, params.duration).
			WithFix("ask for a shorter minimum or a longer duration")
	}

	e, _, err := s.entry(ctx, c, b, params, 0)
	if err != nil {
		return nil, "", err
	}
	// The cache decides: a fresh session is served; in the advisory window
	// the session is served while one refresh runs in the background; in
	// the mandatory window (or below minRemaining) the vend waits for it.
	cr, err := e.cache.RetrieveMin(ctx, minRemaining)
	if err != nil {
		return nil, "", err
	}
	if err := checkAccount(c, cr); err != nil {
		return nil, "", err
	}
	part, _ := s.opts.Partition(c.Region)
	res := &credbroker.VendResult{
		AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken,
		Expiration: cr.Expires, Region: c.Region, Partition: part, Connector: c.Name, ConnectorID: c.ID,
		RoleARN: c.RoleARN, AccountID: cr.AccountID, Warnings: e.warnings,
	}
	rec.Tags = params.tags
	return res, e.handout(cr.AccessKeyID), nil
}

// entry finds or makes the cache entry of a session. The second result
// says whether it already existed.
func (s *Service) entry(ctx context.Context, c *credbroker.Connector, b credbroker.Build, p vendParams, depth int) (*vendEntry, bool, error) {
	key := cacheKey(c, b, p)
	now := s.now()
	s.vendMu.Lock()
	e, ok := s.vends[key]
	if ok {
		e.lastUsed = now
		s.vendMu.Unlock()
		return e, true, nil
	}
	s.vendMu.Unlock()

	base, chained, err := s.baseProvider(ctx, c, b, depth)
	if err != nil {
		return nil, false, err
	}
	req := s.issueRequest(c, b, p, chained)
	warnings, err := s.opts.Issuer.Check(req)
	if err != nil {
		return nil, false, err
	}
	issuer := s.opts.Issuer
	src := "connector:" + c.Name
	// Every STS attempt of this session takes a turn in the budget of the
	// identity that signs it.
	gate := s.budget.gate(s.budgetID(ctx, c, 0), c.Region)
	prov := credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
		r := req
		r.Base = base
		r.BeforeAttempt = gate
		if c.Base == credbroker.BaseDefault && !r.BaseIsRoleSession {
			// The host's own credentials: a session token means a role
			// session (an instance profile), so AssumeRole is chaining.
			bc, err := base.Retrieve(ctx)
			if err != nil {
				return credbroker.Credentials{}, err
			}
			r.BaseIsRoleSession = bc.SessionToken != "" && c.Principal == credbroker.PrincipalAssumedRole
			r.Base = credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return bc, nil })
		}
		cr, err := issuer.Issue(ctx, r)
		cr.Source = src
		return cr, err
	})
	e = &vendEntry{lastUsed: now, warnings: warnings}
	var cached credbroker.Provider = prov
	if c.Principal != credbroker.PrincipalProvided {
		// Stored keys handed out as they are need no sharing.
		cached = s.fleetProvider(key, c.Name, e, prov)
	}
	e.cache = credcache.New(cached, credcache.Options{Now: s.opts.Now})
	s.vendMu.Lock()
	if prev, ok := s.vends[key]; ok {
		// Another request made it meanwhile; share it so there is one STS call.
		e = prev
		ok = true
		s.vendMu.Unlock()
		return e, true, nil
	}
	s.vends[key] = e
	s.vendMu.Unlock()
	return e, false, nil
}

// baseProvider returns the credentials a connector's STS call is signed
// with, and whether they are a role session (role chaining).
func (s *Service) baseProvider(ctx context.Context, c *credbroker.Connector, b credbroker.Build, depth int) (credbroker.Provider, bool, error) {
	switch c.Base {
	case credbroker.BaseKeys:
		cr := credbroker.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Source: "connector:" + c.Name}
		return credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil }), false, nil
	case credbroker.BaseDefault:
		p, err := s.hostChain(ctx)
		return p, false, err
	case credbroker.BaseConnector:
		if depth >= maxChainDepth {
			return nil, false, credbroker.Errorf(credbroker.CodeUnprocessable, "base_connector", "connector chain deeper than %d", maxChainDepth)
		}
		bc, err := s.connector(ctx, c.BaseConnector)
		if err != nil {
			return nil, false, err
		}
		bp := vendParams{duration: bc.DefaultDuration, policy: bc.Policy, policyARNs: bc.PolicyARNs}
		// The base session is shared by the plan's vends of this connector.
		e, _, err := s.entry(ctx, bc, credbroker.Build{Plan: b.Plan}, bp, depth+1)
		if err != nil {
			return nil, false, err
		}
		chained := bc.Principal == credbroker.PrincipalAssumedRole
		return credbroker.ProviderFunc(func(ctx context.Context) (credbroker.Credentials, error) {
			return e.cache.RetrieveMin(ctx, 5*time.Minute)
		}), chained, nil
	}
	return nil, false, credbroker.Errorf(credbroker.CodeInternal, "base", "unknown base %q", c.Base)
}

// hostChain loads the broker host's own credential chain once it works;
// a failure is not kept, so the next vend tries again.
func (s *Service) hostChain(ctx context.Context) (credbroker.Provider, error) {
	s.defaultMu.Lock()
	defer s.defaultMu.Unlock()
	if s.defaultChain != nil {
		return s.defaultChain, nil
	}
	if s.opts.DefaultChain == nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "base", "this broker has no default credential chain")
	}
	p, err := s.opts.DefaultChain(ctx)
	if err != nil {
		return nil, err
	}
	s.defaultChain = p
	return p, nil
}

// sweep drops cache entries whose credentials expired and that were not
// used for a while, so per-build sessions do not pile up.
func (s *Service) sweep() {
	now := s.now()
	s.budget.sweep()
	s.sweepFleet()
	s.flushRefusals(false)
	s.sweepIDTokens()
	s.vendMu.Lock()
	defer s.vendMu.Unlock()
	for k, e := range s.vends {
		cr, have := e.cache.Peek()
		idle := now.Sub(e.lastUsed)
		if (!have && idle > 10*time.Minute) || (have && cr.CanExpire() && now.After(cr.Expires)) || (have && !cr.CanExpire() && idle > time.Hour) {
			delete(s.vends, k)
		}
	}
}

// CachedSessions returns how many sessions the vend cache holds.
func (s *Service) CachedSessions() int {
	s.vendMu.Lock()
	defer s.vendMu.Unlock()
	return len(s.vends)
}
