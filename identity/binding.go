// Package identity holds the rules of workload identity on the broker:
// the checks of a trusted issuer's settings, and the bindings that say
// which ID tokens of an issuer may act for which plans. A binding is
// compiled once (Compile, which also validates it, naming the field at
// fault) and matched against each verified token (Rule.Match, Accept),
// giving the caller's credbroker.WorkloadIdentity: its plan, the session
// tags, session name and source identity its claims make, and the claims
// the audit records. The package is the standard library only; verifying
// a token's signature is package oidc's.
package identity

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// Bounds of a binding. Everything a binding holds ends up in memory on
// every broker and is matched at every request: it is kept small.
const (
	maxRules       = 20
	maxPatterns    = 50
	maxPatternLen  = 512
	maxTemplateLen = 256
	maxTagClaims   = 20
	maxAuditClaims = 20
	maxDescription = 256
	// maxAuditValue bounds a claim value the audit records.
	maxAuditValue = 256
	// maxAudit bounds how many claims the audit records.
	maxAudit = 24
)

// ProvenanceClaims are the claims the audit records whenever a token has
// them, whatever the binding names: what leads from a session back to the
// commit and the run on GitHub, GitLab, Buildkite and Jenkins.
var ProvenanceClaims = []string{
	"repository", "repository_owner", "ref", "sha", "run_id", "run_attempt", "workflow", "job_workflow_ref", "environment", "actor",
	"project_path", "namespace_path", "pipeline_id", "job_id",
	"organization_slug", "pipeline_slug", "build_number", "build_branch", "build_commit", "step_key",
}

// Rule is a compiled binding.
type Rule struct {
	b            credbroker.Binding
	plan         *template // nil with a fixed plan pattern
	fixedPlan    string    // Plans when it names one plan, no wildcard
	session      *template
	source       *template
	auditClaims  []string
	ruleClaimSet map[string]bool
}

// Binding returns the binding the rule was compiled from.
func (r *Rule) Binding() *credbroker.Binding { return &r.b }

func invalid(field, fix, format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeInvalid, field, format, args...).WithFix(fix)
}

// Compile validates b and compiles it. Errors are CodeInvalid and name the
// field at fault ("claims[1].globs[0]").
func Compile(b *credbroker.Binding) (*Rule, error) {
	if b == nil {
		return nil, invalid("binding", "send a binding", "no binding given")
	}
	r := &Rule{b: *b, ruleClaimSet: map[string]bool{}}
	if !validBindingName(b.Name) {
		return nil, invalid("name", "use 1 to 64 letters, digits, '_', '.' or '-': gh-deploy-main", "invalid binding name %q", credbroker.CleanField(b.Name, 80))
	}
	if b.Issuer == "" {
		return nil, invalid("issuer", "name the trusted issuer whose tokens this binding accepts (credbroker issuer list)", "missing")
	}
	if err := credbroker.CheckField("description", b.Description, maxDescription); err != nil {
		return nil, err
	}
	restricts := false
	if b.Subject != "" {
		if err := checkPattern("subject", b.Subject); err != nil {
			return nil, err
		}
		if matchesAll(b.Subject) {
			return nil, invalid("subject", "write what the subject must look like (repo:acme/app:ref:refs/heads/main), or drop it", "the pattern %q matches every subject", b.Subject)
		}
		restricts = true
	}
	if len(b.Claims) > maxRules {
		return nil, invalid("claims", "keep the rules that matter", "%d claim rules; at most %d", len(b.Claims), maxRules)
	}
	for i, c := range b.Claims {
		field := fmt.Sprintf("claims[%d]", i)
		if err := checkClaimPath(c.Claim); err != nil {
			return nil, invalid(field+".claim", "name a claim of the token (repository, ref, /nested/path)", "%s", err)
		}
		if len(c.Values)+len(c.Globs) == 0 {
			return nil, invalid(field, "give the values or globs the claim must match", "claim rule %s has no value and no glob", c.Claim)
		}
		if len(c.Values)+len(c.Globs) > maxPatterns {
			return nil, invalid(field, "split the rule, or use globs", "claim rule %s has more than %d values and globs", c.Claim, maxPatterns)
		}
		for j, v := range c.Values {
			if err := credbroker.CheckField(fmt.Sprintf("%s.values[%d]", field, j), v, maxPatternLen); err != nil {
				return nil, err
			}
		}
		all := len(c.Values) == 0
		for j, g := range c.Globs {
			gf := fmt.Sprintf("%s.globs[%d]", field, j)
			if err := checkPattern(gf, g); err != nil {
				return nil, err
			}
			if matchesAll(g) {
				return nil, invalid(gf, "write a pattern that says which values are accepted, or drop the rule", "the glob %q matches every value of claim %s", g, c.Claim)
			}
			all = false
		}
		if all {
			continue
		}
		restricts = true
		r.ruleClaimSet[c.Claim] = true
	}
	if !restricts {
		return nil, invalid("claims", "bind the claims that say whose token it is: repository_owner and repository (GitHub), namespace_path or project_path (GitLab), organization_slug and pipeline_slug (Buildkite), or a subject pattern",
			"the binding has no subject pattern and no claim rule, so it would accept every token of its issuer")
	}

	switch {
	case b.PlanTemplate != "" && b.Plans != "":
		return nil, invalid("plans", "keep one of plan_template and plans", "both a plan template and a plan pattern are set")
	case b.PlanTemplate != "":
		t, err := compileTemplate("plan_template", b.PlanTemplate)
		if err != nil {
			return nil, err
		}
		if len(t.claims()) == 0 {
			return nil, invalid("plan_template", "use plans for a fixed plan, or name claims in braces: GH-{repository}", "the template names no claim")
		}
		if _, ok := CleanPlanKey(t.renderWith("X")); !ok {
			return nil, invalid("plan_template", "start with a project key and a '-': GH-{repository}", "the template %q cannot make a plan key PROJECT-PLAN", b.PlanTemplate)
		}
		r.plan = t
	case b.Plans != "":
		if err := credbroker.CheckField("plans", b.Plans, maxPatternLen); err != nil {
			return nil, err
		}
		for _, p := range strings.Split(b.Plans, ",") {
			p = strings.TrimSpace(p)
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return nil, invalid("plans", "use plan keys with * and ? wildcards, separated by commas: OPS-*", "malformed plan pattern %q", p)
			}
		}
		if !strings.ContainsAny(b.Plans, "*?[,") {
			// One plan, no wildcard: the plan of every token the binding
			// accepts, so it must be a plan key a vend can name.
			fixed := strings.TrimSpace(b.Plans)
			if k, ok := CleanPlanKey(fixed); !ok || k != fixed {
				return nil, invalid("plans", "a plan key is PROJECT-PLAN in capitals, digits and _ (OPS-DEPLOY), or a pattern with * and ? (OPS-*)",
					"%q is no plan key", credbroker.CleanField(fixed, 64))
			}
			r.fixedPlan = fixed
		}
	default:
		return nil, invalid("plans", "set plans (OPS-DEPLOY, OPS-*) or plan_template (GH-{repository_owner}-{repository})", "the binding names no plan")
	}

	if len(b.TagClaims) > maxTagClaims {
		return nil, invalid("tag_claims", "keep at most 20", "%d tag claims; at most %d", len(b.TagClaims), maxTagClaims)
	}
	seen := map[string]bool{}
	for i, tc := range b.TagClaims {
		field := fmt.Sprintf("tag_claims[%d]", i)
		if err := checkClaimPath(tc.Claim); err != nil {
			return nil, invalid(field+".claim", "name a claim of the token", "%s", err)
		}
		if err := checkTagKey(field+".key", tc.Key); err != nil {
			return nil, err
		}
		if seen[strings.ToLower(tc.Key)] {
			return nil, invalid(field+".key", "use each tag key once", "tag key %q given twice", tc.Key)
		}
		seen[strings.ToLower(tc.Key)] = true
	}
	var err error
	if b.SessionName != "" {
		if r.session, err = compileTemplate("session_name", b.SessionName); err != nil {
			return nil, err
		}
	}
	if b.SourceIdentity != "" {
		if r.source, err = compileTemplate("source_identity", b.SourceIdentity); err != nil {
			return nil, err
		}
	}
	if len(b.AuditClaims) > maxAuditClaims {
		return nil, invalid("audit_claims", "keep at most 20", "%d audit claims; at most %d", len(b.AuditClaims), maxAuditClaims)
	}
	for i, c := range b.AuditClaims {
		if err := checkClaimPath(c); err != nil {
			return nil, invalid(fmt.Sprintf("audit_claims[%d]", i), "name a claim of the token", "%s", err)
		}
	}
	r.auditClaims = r.audited()
	return r, nil
}

// checkPattern refuses a glob that is too long, not printable, or
// malformed.
func checkPattern(field, p string) error {
	if err := credbroker.CheckField(field, p, maxPatternLen); err != nil {
		return err
	}
	if err := checkGlob(p); err != nil {
		return invalid(field, `write * for any run of characters, ? for one, \* for a literal star`, "the glob %s", err)
	}
	return nil
}

// compileTemplate parses a template field.
func compileTemplate(field, s string) (*template, error) {
	if err := credbroker.CheckField(field, s, maxTemplateLen); err != nil {
		return nil, err
	}
	t, err := parseTemplate(s)
	if err != nil {
		return nil, invalid(field, "name claims in braces: GH-{repository}; write {{ and }} for literal braces", "%s", err)
	}
	return t, nil
}

// checkTagKey refuses a tag key STS would refuse, or one credbroker keeps
// for the build's tags.
func checkTagKey(field, k string) error {
	if k == "" || len(k) > 128 {
		return invalid(field, "use 1 to 128 characters", "a tag key of %d bytes", len(k))
	}
	for _, r := range k {
		if !credbroker.TagRune(r) {
			return invalid(field, "use letters, digits, spaces and _.:/=+-@", "tag key %q holds %q, which STS refuses", credbroker.CleanField(k, 128), r)
		}
	}
	if credbroker.ReservedTagKey(k) {
		return invalid(field, "use another key; credbroker:plan, :build and :job are the broker's", "tag key %q starts with %q", k, credbroker.TagKeyPrefix)
	}
	return nil
}

// audited is the list of claims the audit records for this binding: the
// provenance claims, then every claim the binding names.
func (r *Rule) audited() []string {
	out := slices.Clone(ProvenanceClaims)
	add := func(c string) {
		if c != "sub" && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	for _, c := range r.b.Claims {
		add(c.Claim)
	}
	for _, tc := range r.b.TagClaims {
		add(tc.Claim)
	}
	for _, t := range []*template{r.plan, r.session, r.source} {
		if t != nil {
			for _, c := range t.claims() {
				add(c)
			}
		}
	}
	for _, c := range r.b.AuditClaims {
		add(c)
	}
	return out
}

// refuse is the error of a token the binding does not accept: it names
// the binding and the claim, and shows the token's value of it (which the
// caller has anyway), never the token itself.
func (r *Rule) refuse(format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeForbidden, "token", "binding %s: %s", r.b.Name, fmt.Sprintf(format, args...))
}

// shown is a claim value as an error shows it: escaped and cut.
func shown(v string) string { return fmt.Sprintf("%q", credbroker.CleanField(v, 96)) }

// Match checks tok against the binding and returns the caller's identity;
// CodeForbidden naming the binding and the claim when it does not match.
// tok must be verified and of the binding's issuer.
func (r *Rule) Match(tok *credbroker.VerifiedToken) (*credbroker.WorkloadIdentity, error) {
	if tok == nil || tok.Issuer == nil || tok.Issuer.Name != r.b.Issuer {
		return nil, r.refuse("the token is not of issuer %s", r.b.Issuer)
	}
	if r.b.Subject != "" && !Match(r.b.Subject, tok.Subject) {
		return nil, r.refuse("subject %s does not match the binding's subject pattern", shown(tok.Subject))
	}
	for _, c := range r.b.Claims {
		v, ok := lookup(tok.Claims, c.Claim)
		if !ok {
			return nil, r.refuse("claim %s is missing from the token", c.Claim)
		}
		vals := values(v)
		if !matchRule(c, vals) {
			if len(vals) == 1 {
				return nil, r.refuse("claim %s (%s) matches none of the binding's values", c.Claim, shown(vals[0]))
			}
			return nil, r.refuse("claim %s matches none of the binding's values", c.Claim)
		}
	}
	id := &credbroker.WorkloadIdentity{
		Issuer: tok.Issuer.Name, IssuerURL: tok.Issuer.URL, Subject: tok.Subject, Binding: r.b.Name, Expires: tok.Expires,
	}
	if r.plan != nil {
		raw, err := r.plan.render(tok.Claims)
		if err != nil {
			return nil, r.refuse("the plan template cannot be filled: %s", err)
		}
		key, ok := CleanPlanKey(raw)
		if !ok {
			return nil, r.refuse("the plan template gives %s, which is no plan key", shown(raw))
		}
		id.Plan = key
	} else {
		id.Plan = r.fixedPlan
	}
	for _, tc := range r.b.TagClaims {
		v, ok := lookup(tok.Claims, tc.Claim)
		if !ok {
			continue // a tag of a claim the token lacks is not sent
		}
		s, ok := scalar(v)
		if !ok {
			s = strings.Join(values(v), ",")
		}
		if s = credbroker.CleanTagValue(s); s != "" {
			id.Tags = append(id.Tags, credbroker.Tag{Key: tc.Key, Value: s})
		}
	}
	var err error
	if id.SessionName, err = r.name("session name", r.session, tok.Claims); err != nil {
		return nil, err
	}
	if id.SourceIdentity, err = r.name("source identity", r.source, tok.Claims); err != nil {
		return nil, err
	}
	for _, c := range r.auditClaims {
		if len(id.Claims) == maxAudit {
			break
		}
		v, ok := lookup(tok.Claims, c)
		if !ok {
			continue
		}
		s, ok := scalar(v)
		if !ok {
			s = strings.Join(values(v), ",")
		}
		id.Claims = append(id.Claims, credbroker.Tag{Key: c, Value: credbroker.CleanField(s, maxAuditValue)})
	}
	return id, nil
}

// name renders a session name or source identity template, cleaned to
// what STS accepts (64 characters of [\w+=,.@-]).
func (r *Rule) name(what string, t *template, claims map[string]any) (string, error) {
	if t == nil {
		return "", nil
	}
	s, err := t.render(claims)
	if err != nil {
		return "", r.refuse("the %s template cannot be filled: %s", what, err)
	}
	return credbroker.CleanSTSName(s, 64), nil
}

// matchRule reports whether one of vals equals one of the rule's values
// or matches one of its globs.
func matchRule(c credbroker.ClaimRule, vals []string) bool {
	for _, v := range vals {
		if slices.Contains(c.Values, v) {
			return true
		}
		for _, g := range c.Globs {
			if Match(g, v) {
				return true
			}
		}
	}
	return false
}

// Accept matches tok against rules (the bindings of its issuer, in name
// order) and returns the identity of the first that accepts it. When none
// does, the CodeForbidden error names each binding tried and why it
// refused (at most three).
func Accept(rules []*Rule, tok *credbroker.VerifiedToken) (*credbroker.WorkloadIdentity, error) {
	var why []string
	for _, r := range rules {
		id, err := r.Match(tok)
		if err == nil {
			return id, nil
		}
		if len(why) < 3 {
			why = append(why, credbroker.AsError(err).Message)
		}
	}
	name := "?"
	if tok != nil && tok.Issuer != nil {
		name = tok.Issuer.Name
	}
	if len(rules) == 0 {
		return nil, credbroker.Errorf(credbroker.CodeForbidden, "token", "issuer %s has no binding, so none of its tokens may act", name).
			WithFix("an administrator binds the issuer's tokens to plans: credbroker binding create")
	}
	more := ""
	if len(rules) > len(why) {
		more = fmt.Sprintf("; and %d more", len(rules)-len(why))
	}
	return nil, credbroker.Errorf(credbroker.CodeForbidden, "token", "no binding of issuer %s accepts this token: %s%s", name, strings.Join(why, "; "), more).
		WithFix("check the workflow's repository, branch and environment against the bindings (credbroker binding list), or ask an administrator to add one")
}

// Issuer bounds.
const (
	maxAudiences = 10
	maxURL       = 1024
)

// asymmetric are the signature algorithms an issuer may name: RSA,
// RSA-PSS, ECDSA and EdDSA. none and HMAC (HS256, ...) are refused: an
// HMAC key is a shared secret, and a verifier that takes one can be
// fooled with the public key used as the secret.
var asymmetric = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Asymmetric reports whether alg is one of the algorithms an issuer may
// accept.
func Asymmetric(alg string) bool { return slices.Contains(asymmetric, alg) }

// CheckIssuer validates a trusted issuer's settings and fills in the
// defaults (discovery URL, algorithms). Issuer and key URLs must be https,
// or http to a loopback address (for tests and local issuers). Errors are
// CodeInvalid naming the field.
func CheckIssuer(i *credbroker.TrustedIssuer) error {
	if !validIssuerName(i.Name) {
		return invalid("name", "use 1 to 64 lowercase letters, digits and '-': github, gitlab-internal", "invalid issuer name %q", credbroker.CleanField(i.Name, 80))
	}
	if err := credbroker.CheckField("description", i.Description, maxDescription); err != nil {
		return err
	}
	if err := checkURL("url", i.URL, false); err != nil {
		return err
	}
	if i.DiscoveryURL != "" && i.JWKSURL != "" {
		return invalid("jwks_url", "give the discovery document or the key set, not both", "both discovery_url and jwks_url are set")
	}
	for _, u := range []struct{ field, v string }{{"discovery_url", i.DiscoveryURL}, {"jwks_url", i.JWKSURL}} {
		if u.v != "" {
			if err := checkURL(u.field, u.v, true); err != nil {
				return err
			}
		}
	}
	if i.DiscoveryURL == "" && i.JWKSURL == "" {
		i.DiscoveryURL = strings.TrimSuffix(i.URL, "/") + "/.well-known/openid-configuration"
	}
	if len(i.Audiences) == 0 {
		return invalid("audiences", "name the audience your CI asks its tokens for: --audience credbroker (GitHub: the audience input; GitLab: id_tokens aud)", "an issuer needs at least one audience: a token for another service must not be accepted here")
	}
	if len(i.Audiences) > maxAudiences {
		return invalid("audiences", "keep at most 10", "%d audiences; at most %d", len(i.Audiences), maxAudiences)
	}
	for n, a := range i.Audiences {
		if err := credbroker.CheckField(fmt.Sprintf("audiences[%d]", n), a, maxPatternLen); err != nil {
			return err
		}
		if a == "" {
			return invalid(fmt.Sprintf("audiences[%d]", n), "name the audience", "an empty audience")
		}
	}
	if len(i.Algorithms) == 0 {
		i.Algorithms = slices.Clone(credbroker.DefaultIssuerAlgorithms)
	}
	for n, a := range i.Algorithms {
		if !Asymmetric(a) {
			return invalid(fmt.Sprintf("algorithms[%d]", n), "use asymmetric algorithms: "+strings.Join(asymmetric, ", "),
				"algorithm %q is refused: none and HMAC (HS256, HS384, HS512) tokens can be forged by anyone who knows the issuer's public key", credbroker.CleanField(a, 32))
		}
	}
	if i.LeewaySeconds < 0 || time.Duration(i.LeewaySeconds)*time.Second > credbroker.MaxIssuerLeeway {
		return invalid("leeway_seconds", "allow a small clock skew: 0 (the default, 60 s) to 300", "leeway %d s is out of range", i.LeewaySeconds)
	}
	return nil
}

// CheckKeyURL refuses a key set or discovery URL that is not https (or
// http to a loopback address), as CheckIssuer does: for the jwks_uri a
// discovery document names.
func CheckKeyURL(field, raw string) error { return checkURL(field, raw, true) }

// checkURL refuses a URL that is not absolute https (or http to a
// loopback host), has user information, or a fragment. The issuer URL is
// compared with iss exactly, so it is not normalized.
func checkURL(field, raw string, keys bool) error {
	if err := credbroker.CheckField(field, raw, maxURL); err != nil {
		return err
	}
	u, err := parseURL(raw)
	what := "the issuer's URL, as its tokens' iss claim says it: https://token.actions.githubusercontent.com"
	if keys {
		what = "an https URL"
	}
	if err != nil {
		return invalid(field, "give "+what, "%q is not a URL", credbroker.CleanField(raw, 120))
	}
	switch {
	case u.scheme != "https" && !(u.scheme == "http" && u.loopback):
		return invalid(field, "use https (http only to a loopback address, for tests)", "%q is not https", credbroker.CleanField(raw, 120))
	case u.userinfo:
		return invalid(field, "remove the user name and password", "%q holds user information", credbroker.CleanField(raw, 120))
	case u.fragment:
		return invalid(field, "remove the #fragment", "%q has a fragment", credbroker.CleanField(raw, 120))
	}
	return nil
}
