// Package preflight is `credbroker check`: the same decisions as a run
// (credbroker run, exec), reported instead of acted on, so that a build
// does not spend twenty minutes before it finds a typo in a role ARN.
//
// Offline, it checks what needs no network call: the job file is well
// formed; every variable a task references resolves (values are never
// printed); each instance or static source's awscreds.Plan, the very
// decisions awscreds.Resolve acts on (region and partition, ARNs in the
// partition, the session policy, the duration and whether role chaining
// lowers it, session tags, the IMDSv1 warning); a connector source's
// broker URL and tags. Online, unless Options.Offline, it asks: the
// metadata service for the instance profile's role, STS for credentials
// and (where it offers GetCallerIdentity) whose they are, the broker for
// a real vend of the task's connector. Credentials obtained are thrown
// away, except that a set_variables task's fill the runtime variables of
// the tasks after it, as in a run.
//
// Each problem or success is a Finding; a Report holds them and prints
// them one per line, or as JSON. A new kind of source is one more case in
// awscreds.Decide, and one more in the online checks here.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/citoken"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/oidc"
	"github.com/credbroker/credbroker/policy"
	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
)

// EnvBroker is the environment variable naming the broker of connector
// sources, and whose variables a job run fetches.
const EnvBroker = "CREDBROKER_BROKER"

// Options configure a check.
type Options struct {
	// Offline makes no network call: only the offline checks.
	Offline bool
	// LookupEnv reads credbroker's own environment (AWS_REGION,
	// CREDBROKER_BROKER, CREDBROKER_TOKEN, ...); nil reads nothing.
	LookupEnv func(string) (string, bool)
	// BrokerVariables fetches the broker's global and plan variables for
	// plan, as credbroker run does before a job, with the values to mask
	// (the token); nil fetches none. It is called only when
	// $CREDBROKER_BROKER is set.
	BrokerVariables func(ctx context.Context, plan string) (global, planVars []vars.Var, secrets []string, err error)
	// UserAgent is sent to the broker.
	UserAgent string
	// Now is the clock an ID token's expiry is checked against; time.Now
	// when nil.
	Now func() time.Time
}

func (o *Options) env(name string) string {
	if o.LookupEnv == nil {
		return ""
	}
	v, _ := o.LookupEnv(name)
	return v
}

func (o *Options) lookupEnv(name string) (string, bool) {
	if o.LookupEnv == nil {
		return "", false
	}
	return o.LookupEnv(name)
}

// JobInput is a job file to check and what a run of it would get from
// outside the file.
type JobInput struct {
	// Path is the job file.
	Path string
	// Flags is the build identity from the command line; the job file's
	// plan:, build: and job: come next, then the environment's
	// (cienv.Build, through Options.LookupEnv).
	Flags credbroker.Build
	// CI is the CI whose environment gives the build's identity and
	// variables (--ci); "" takes the job file's ci:.
	CI cienv.Kind
	// Vars are the variables from outside the job file; the job file's
	// variables, the broker's and the CI's (cienv.Variables) are added
	// as a run adds them.
	Vars vars.Sources
}

// SourceInput is one credentials block to check, as exec would use it.
type SourceInput struct {
	Credentials *jobfile.Credentials
	Build       credbroker.Build
	// CI is what the CI's environment gave of Build, for the report.
	CI   cienv.Identity
	Vars vars.Sources
	// Names names a source field as the user wrote it (the flag that sets
	// it); nil keeps the field names.
	Names func(field string) string
}

// Job checks every task of a job file in order, as `credbroker run` would
// meet them.
func Job(ctx context.Context, in JobInput, opts Options) *Report {
	c := &checker{opts: opts, rep: &Report{}}
	c.job(ctx, in)
	return c.rep
}

// Source checks one credentials block.
func Source(ctx context.Context, in SourceInput, opts Options) *Report {
	c := &checker{opts: opts, rep: &Report{}}
	names := in.Names
	if names == nil {
		names = keep
	}
	vs, err := in.Vars.Load()
	if err != nil {
		c.addErr(SevError, "", err, names)
		return c.rep
	}
	c.identity(in.Build, in.CI)
	t := &task{names: names, x: newCheckExpander(vs, "")}
	c.source(ctx, t, in.Credentials, in.Build)
	c.flush(t)
	c.rep.secrets = append(c.rep.secrets, vs.Secrets()...)
	return c.rep
}

// identity reports the build identity a run would have, what the CI's
// environment gave of it, and the role session name it makes.
func (c *checker) identity(b credbroker.Build, id cienv.Identity) {
	if d := id.Describe(); d != "" {
		c.add(SevInfo, "", "ci", d, "")
	}
	if len(id.Others) > 0 {
		var names []string
		for _, k := range id.Others {
			names = append(names, k.Title())
		}
		c.add(SevInfo, "", "ci", fmt.Sprintf("the environment also has the marks of %s; the identity is %s's", strings.Join(names, ", "), id.CI.Title()),
			"name the CI with --ci (ci: in a job file)")
	}
	// A task (a profile's name, under --profile) names no session alone.
	if b.Plan == "" && b.Number == "" && b.Job == "" {
		c.add(SevInfo, "", "build", "no plan, build or job is known: role sessions are named credbroker, without session tags",
			"give --plan, --build and --job, or run in a CI that credbroker knows ("+cienv.Choices+")")
		return
	}
	var parts []string
	for _, p := range []struct{ what, v string }{{"plan", b.Plan}, {"build", b.Number}, {"job", b.Job}} {
		if p.v != "" {
			parts = append(parts, p.what+" "+p.v)
		}
	}
	c.add(SevInfo, "", "build", fmt.Sprintf("%s: role sessions are named %s", strings.Join(parts, ", "), credbroker.SessionName(b)), "")
}

// FromError is the report of a check that could not start: each problem
// of err (a joined error is several) is an error finding, its field named
// through names (nil keeps them).
func FromError(err error, names func(string) string) *Report {
	if names == nil {
		names = keep
	}
	c := &checker{rep: &Report{}}
	c.addErr(SevError, "", err, names)
	return c.rep
}

// checker makes the findings of one check.
type checker struct {
	opts Options
	rep  *Report
	// brokerDown holds the broker URLs already found unreachable, so that
	// one stopped broker is one finding.
	brokerDown map[string]bool
}

func (c *checker) add(sev Severity, task, field, msg, fix string) {
	c.rep.add(sev, task, field, msg, fix)
}

// addErr adds every problem in err (a joined error is several) with
// severity sev, naming fields through names.
func (c *checker) addErr(sev Severity, task string, err error, names func(string) string) {
	if err == nil {
		return
	}
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			c.addErr(sev, task, e, names)
		}
		return
	}
	if e := credbroker.AsError(err); e != nil {
		if loc := e.Location(); loc != "" {
			// A job file's problem: its field is already the path in it.
			c.add(sev, task, e.Field, loc+": "+e.Message, e.Fix)
			return
		}
		c.add(sev, task, names(e.Field), e.Message, e.Fix)
		return
	}
	c.add(sev, task, "", err.Error(), "")
}

func (c *checker) errorCount() int { return c.rep.Count(SevError) }

// task is the state of checking one task's credentials.
type task struct {
	name  string
	names func(field string) string // a source field as the user wrote it
	x     *checkExpander
}

// job checks every task of a job file in order.
func (c *checker) job(ctx context.Context, in JobInput) {
	job, err := jobfile.Load(in.Path)
	if err != nil {
		c.addErr(SevError, "", err, keep)
		return
	}
	c.add(SevOK, "", "", fmt.Sprintf("%s is well formed: %d task(s)", in.Path, len(job.Tasks)), "")
	kind := in.CI
	if kind == "" {
		kind = job.CI
	}
	env, id := cienv.Build(kind, c.opts.LookupEnv)
	b := job.Identity(in.Flags, env)
	c.identity(b, id)

	// The variables as `credbroker run` layers them.
	sources := in.Vars
	sources.Job = job.Variables
	sources.CI = cienv.Variables(kind, c.opts.LookupEnv)
	brokerUnfetched := false
	if broker := c.opts.env(EnvBroker); broker != "" {
		switch {
		case c.opts.Offline:
			brokerUnfetched = true
			c.add(SevInfo, "", EnvBroker, "the broker's variables are not fetched with --offline", "")
		case c.opts.BrokerVariables != nil:
			global, planVars, secrets, err := c.opts.BrokerVariables(ctx, b.Plan)
			if err != nil {
				c.addErr(SevError, "", err, func(string) string { return EnvBroker })
				brokerUnfetched = true
				if credbroker.ErrorCode(err) == credbroker.CodeUnavailable {
					c.brokerDown = map[string]bool{strings.TrimRight(broker, "/"): true}
				}
				break
			}
			sources.BrokerGlobal, sources.BrokerPlan = global, planVars
			c.rep.secrets = append(c.rep.secrets, secrets...)
		}
	}
	vs, err := sources.Load()
	if err != nil {
		c.addErr(SevError, "", err, keep)
		return
	}
	c.rep.secrets = append(c.rep.secrets, vs.Secrets()...)

	x := newCheckExpander(vs, "")
	x.brokerUnfetched = brokerUnfetched
	for i := range job.Tasks {
		jt := &job.Tasks[i]
		tb := b
		tb.Task = jt.Name
		x.task, x.unresolved = jt.Name, map[string]bool{}
		t := &task{name: jt.Name, x: x}
		var got *obtained
		switch {
		case len(jt.Profiles) > 0:
			for _, p := range jt.Profiles {
				// Each profile is a source of its own, checked as a run
				// resolves it.
				x.unresolved = map[string]bool{}
				pb := tb
				pb.Task = taskrun.ProfileTask(jt.Name, p.Name)
				t.names = jobField(p.Credentials, "profiles."+p.Name)
				c.source(ctx, t, p.Credentials, pb)
			}
		case jt.Credentials == nil:
			c.add(SevInfo, jt.Name, "", "no credentials block: the task runs without AWS credentials", "")
		default:
			t.names = jobField(jt.Credentials, "credentials")
			got = c.source(ctx, t, jt.Credentials, tb)
		}
		c.references(t, jt)
		c.flush(t)

		if jt.SetVariables == nil {
			x.writers = append(x.writers, jt.Name)
			continue
		}
		ns := jt.SetVariables.Namespace
		if got != nil {
			for _, v := range taskrun.CredentialVariables(ns, got.creds, got.region, got.partition) {
				vs.Set(vars.Runtime, v.Name, v.Value, v.Secret)
			}
			c.rep.secrets = append(c.rep.secrets, got.creds.Secrets()...)
			continue
		}
		for _, v := range taskrun.CredentialVariables(ns, credbroker.Credentials{}, "", "") {
			x.pending[v.Name] = jt.Name
		}
	}
	// The CI's variables that the references read.
	c.rep.secrets = append(c.rep.secrets, vs.Secrets()...)
}

// references checks the variables a task's env, command and script use.
func (c *checker) references(t *task, jt *jobfile.Task) {
	for _, e := range jt.Env {
		t.x.check("env."+e.Name, e.Value, false)
	}
	for j, arg := range jt.Command {
		t.x.check(fmt.Sprintf("command[%d]", j), arg, true)
	}
	t.x.check("run", jt.Run, true)
}

// flush moves the expander's notes about t into the findings.
func (c *checker) flush(t *task) {
	for _, f := range t.x.notes {
		if t.names != nil && !strings.HasPrefix(f.Field, "env.") && !strings.HasPrefix(f.Field, "command[") && f.Field != "run" {
			f.Field = t.names(f.Field)
		}
		c.rep.Findings = append(c.rep.Findings, f)
	}
	t.x.notes = nil
}

// obtained is what an online check of a source got: thrown away, except
// that a set_variables task's values fill the runtime variables of the
// tasks after it.
type obtained struct {
	creds             credbroker.Credentials
	region, partition string
}

// source checks one credentials block: substitution, the offline checks,
// then (unless offline) the online ones.
func (c *checker) source(ctx context.Context, t *task, raw *jobfile.Credentials, b credbroker.Build) *obtained {
	before := c.errorCount()
	src, err := taskrun.ExpandCredentials(raw, t.x, "", c.opts.lookupEnv)
	// Fields whose variables are not known yet are reported by the
	// expander, fields that could not be substituted by err; the checks
	// of either wait for the run.
	unknown := map[string]bool{}
	for f := range t.x.unresolved {
		unknown[f] = true
	}
	if err != nil {
		// What follows from an unresolved field (a missing broker URL or
		// token) is not news.
		if shown := dropFields(err, t.x.unresolved); shown != nil {
			c.addErr(SevError, t.name, shown, t.names)
		}
		markFields(err, unknown)
	}
	ready := len(t.x.unresolved) == 0 && err == nil && !t.x.hasErrors()
	c.flush(t)
	if src.Token != "" {
		c.rep.secrets = append(c.rep.secrets, src.Token)
	}
	var plan *awscreds.Plan
	switch src.Kind {
	case credbroker.SourceConnector:
		c.offlineConnector(t, src)
		if src.OIDC != "" && !unknown["oidc"] {
			c.offlineIDToken(ctx, t, src, "")
		}
	case credbroker.SourceInstance, credbroker.SourceStatic, credbroker.SourceWebIdentity:
		plan = awscreds.Decide(src, b, c.awsOptions(src), pendingIn(unknown))
		c.offlineAWS(t, src, plan)
		if src.Kind == credbroker.SourceWebIdentity && plan.WebIdentity != nil && !unknown["oidc"] && !unknown["web_identity_token_file"] {
			c.offlineIDToken(ctx, t, src, plan.WebIdentity.TokenFile)
		}
	}
	ready = ready && c.errorCount() == before
	if !ready {
		if len(t.x.unresolved) > 0 && c.errorCount() == before {
			c.add(SevInfo, t.name, t.names(""), "not obtained now: the credentials depend on variables that are only known when the job runs", "")
		}
		return nil
	}
	var res *credbroker.Resolved
	if plan != nil {
		if res = c.resolve(ctx, t, src, b, plan); res == nil {
			return nil
		}
	}
	if c.opts.Offline {
		return nil
	}
	switch src.Kind {
	case credbroker.SourceConnector:
		return c.onlineConnector(ctx, t, src, b)
	case credbroker.SourceInstance, credbroker.SourceStatic, credbroker.SourceWebIdentity:
		return c.onlineAWS(ctx, t, src, plan, res)
	}
	return nil
}

// offlineIDToken checks the ID token a source will present, when it can
// be read without a network call (a file, a variable): a well-formed
// JWT, not expired, for the audience asked. GitHub's and Buildkite's
// tokens are fetched by the online check only. file is the token file of
// a web-identity source ("" with oidc).
func (c *checker) offlineIDToken(ctx context.Context, t *task, src credbroker.Source, file string) {
	field := "oidc"
	var ts citoken.Source
	switch {
	case file != "":
		field, ts = "web_identity_token_file", citoken.File(file)
	case strings.HasPrefix(src.OIDC, "file:") || strings.HasPrefix(src.OIDC, "env:") || src.OIDC == "gitlab":
		var err error
		if ts, err = citoken.New(field, src.OIDC, src.Audience, citoken.Options{LookupEnv: c.opts.LookupEnv}); err != nil {
			c.addErr(SevError, t.name, err, t.names)
			return
		}
	case src.OIDC == "github" || src.OIDC == "buildkite":
		if _, err := citoken.New(field, src.OIDC, src.Audience, citoken.Options{}); err != nil {
			c.addErr(SevError, t.name, err, t.names)
		} else if c.opts.Offline {
			c.add(SevInfo, t.name, t.names(field), "the "+src.OIDC+" ID token is fetched when the task runs; checked online only", "")
		}
		return
	default:
		if _, err := citoken.New(field, src.OIDC, src.Audience, citoken.Options{}); err != nil {
			c.addErr(SevError, t.name, err, t.names)
		}
		return
	}
	raw, err := ts.Token(ctx)
	if err != nil {
		e := credbroker.AsError(err)
		if e != nil && e.Field != field {
			c2 := *e
			c2.Field = field
			err = &c2
		}
		c.addErr(SevError, t.name, err, t.names)
		return
	}
	c.rep.secrets = append(c.rep.secrets, raw)
	c.checkIDToken(t, field, ts.String(), raw, src.Audience)
}

// checkIDToken reports what is wrong with an ID token before it is sent.
func (c *checker) checkIDToken(t *task, field, from, raw, audience string) {
	u, err := oidc.Inspect(raw)
	if err != nil {
		c.add(SevError, t.name, t.names(field), "the ID token of "+from+" is malformed: "+err.Error(), "check that it holds the CI's ID token and nothing else")
		return
	}
	now := time.Now()
	if c.opts.Now != nil {
		now = c.opts.Now()
	}
	switch {
	case u.Expires.IsZero():
		c.add(SevError, t.name, t.names(field), "the ID token of "+from+" has no expiry (exp); STS and the broker refuse it", "")
	case !now.Before(u.Expires):
		c.add(SevError, t.name, t.names(field), fmt.Sprintf("the ID token of %s expired at %s", from, u.Expires.UTC().Format(time.RFC3339)),
			"fetch a fresh token (on Kubernetes the file is rotated; check the kubelet) and the host's clock")
		return
	}
	if audience != "" && !slices.Contains(u.Audience, audience) {
		c.add(SevError, t.name, t.names(field), fmt.Sprintf("the ID token of %s is for audience %s, not %q", from, strings.Join(quoted(u.Audience), ", "), audience),
			"ask the CI for a token of that audience (GitLab: id_tokens aud), or fix --audience")
		return
	}
	if u.Expires.IsZero() {
		return
	}
	c.add(SevOK, t.name, t.names(field), fmt.Sprintf("the ID token of %s is a JWT of issuer %s, audience %s, valid until %s",
		from, credbroker.CleanField(u.Issuer, 128), strings.Join(quoted(u.Audience), ", "), u.Expires.UTC().Format(time.RFC3339)), "")
}

// quoted renders values for a finding, escaped and bounded.
func quoted(vals []string) []string {
	out := make([]string, 0, len(vals))
	for _, v := range vals {
		out = append(out, fmt.Sprintf("%q", credbroker.CleanField(v, 96)))
	}
	return out
}

// markFields adds the fields of err's problems to fields.
func markFields(err error, fields map[string]bool) {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			markFields(e, fields)
		}
		return
	}
	if e := credbroker.AsError(err); e != nil && e.Field != "" {
		fields[e.Field] = true
	}
}

// offlineAWS reports the plan of an instance or static source: each rule
// it applied, an ok line for the decisions worth showing, its warnings.
func (c *checker) offlineAWS(t *task, src credbroker.Source, plan *awscreds.Plan) {
	shown := map[string]bool{}
	warnings := func(field string) {
		for _, w := range plan.Warnings {
			if w.Field == field && !shown[field] {
				c.add(SevWarning, t.name, t.names(w.Field), w.Message, w.Fix)
			}
		}
		shown[field] = true
	}
	for _, ch := range plan.Checks {
		if ch.Err != nil {
			c.addErr(SevError, t.name, ch.Err, t.names)
			continue
		}
		r := plan.Role
		switch ch.Field {
		case "region":
			c.add(SevOK, t.name, t.names("region"), fmt.Sprintf("region %s is in partition %s", plan.Region, plan.Partition.ID), "")
		case "role_arn":
			c.add(SevOK, t.name, t.names("role_arn"), fmt.Sprintf("role ARN %s is in partition %s", r.ARN, plan.Partition.ID), "")
		case "policy_arns":
			c.add(SevOK, t.name, t.names("policy_arns"), fmt.Sprintf("%d managed policy ARN(s), in partition %s", len(r.PolicyARNs), plan.Partition.ID), "")
		case "policy":
			c.add(SevOK, t.name, t.names("policy"), fmt.Sprintf("the session policy is valid: %d of STS's 2,048 characters", len(r.Policy)), "")
		case "duration":
			if !r.Clamped {
				c.add(SevOK, t.name, t.names("duration"), fmt.Sprintf("duration %s is within STS's limits", credbroker.FormatDuration(r.RequestedDuration)), "")
			}
		case credbroker.FieldAllowedAccounts:
			msg := "account guard: the credentials must belong to " + strings.Join(plan.AllowedAccountIDs, " or ")
			if r != nil && credbroker.AccountOfARN(r.ARN) != "" {
				msg += "; the role ARN's account " + credbroker.AccountOfARN(r.ARN) + " is allowed"
			}
			c.add(SevOK, t.name, t.names(credbroker.FieldAllowedAccounts), msg, "")
		}
		warnings(ch.Field)
	}
	for _, w := range plan.Warnings {
		warnings(w.Field)
	}
}

// resolve builds the provider of a source whose plan has no problem, and
// says what it will do.
func (c *checker) resolve(ctx context.Context, t *task, src credbroker.Source, b credbroker.Build, plan *awscreds.Plan) *credbroker.Resolved {
	res, err := awscreds.Resolve(ctx, src, b, c.awsOptions(src))
	if err != nil {
		c.addErr(SevError, t.name, err, t.names)
		return nil
	}
	what := "static keys " + credbroker.MaskKeyID(src.AccessKeyID)
	switch src.Kind {
	case credbroker.SourceInstance:
		what = "the instance profile"
	case credbroker.SourceWebIdentity:
		from := src.OIDC
		if wp := plan.WebIdentity; wp != nil && wp.TokenFile != "" {
			from = "the file " + wp.TokenFile
		}
		c.add(SevOK, t.name, t.names(""), fmt.Sprintf("the credentials are well formed: the ID token of %s, then AssumeRoleWithWebIdentity of %s as %s",
			from, plan.Role.ARN, plan.Role.SessionName), "")
		return res
	}
	if r := plan.Role; r != nil {
		tags := "with the build's session tags"
		switch {
		case src.Role.NoSessionTags:
			tags = "without session tags"
		case len(r.Tags) == 0:
			tags = "without session tags (no build identity, no tags)"
		}
		what += ", then AssumeRole " + tags
	}
	c.add(SevOK, t.name, t.names(""), "the credentials are well formed: "+what, "")
	return res
}

// onlineAWS obtains an instance or static source's credentials, then asks
// STS whose they are.
func (c *checker) onlineAWS(ctx context.Context, t *task, src credbroker.Source, plan *awscreds.Plan, res *credbroker.Resolved) *obtained {
	opts := c.awsOptions(src)
	roleName := ""
	if src.Kind == credbroker.SourceInstance {
		role, ep, err := awscreds.InstanceRole(ctx, src, opts)
		switch {
		case err != nil && src.IMDSv1:
			c.addErr(SevWarning, t.name, err, t.names)
		case err != nil:
			c.addErr(SevError, t.name, err, t.names)
			return nil
		default:
			roleName = role
			c.add(SevOK, t.name, t.names("imds_endpoint"), fmt.Sprintf("the metadata service at %s answers IMDSv2 and names role %s", ep, role), "")
		}
	}
	cr, err := res.Provider.Retrieve(ctx)
	if err != nil {
		c.addErr(SevError, t.name, err, t.names)
		return nil
	}
	c.rep.secrets = append(c.rep.secrets, cr.Secrets()...)
	expiry := ""
	if cr.CanExpire() {
		expiry = ", expiring " + cr.Expires.UTC().Format(time.RFC3339)
	}
	switch {
	case src.Kind == credbroker.SourceWebIdentity:
		c.add(SevOK, t.name, t.names("role_arn"), fmt.Sprintf("STS at %s answered AssumeRoleWithWebIdentity: credentials %s%s obtained and thrown away", plan.STSEndpoint, credbroker.MaskKeyID(cr.AccessKeyID), expiry), "")
	case src.Role.Set():
		c.add(SevOK, t.name, t.names("role_arn"), fmt.Sprintf("STS at %s answered AssumeRole: credentials %s%s obtained and thrown away", plan.STSEndpoint, credbroker.MaskKeyID(cr.AccessKeyID), expiry), "")
	case src.Kind == credbroker.SourceInstance:
		c.add(SevOK, t.name, t.names("imds_endpoint"), fmt.Sprintf("credentials of role %s %s%s obtained and thrown away", roleName, credbroker.MaskKeyID(cr.AccessKeyID), expiry), "")
	}
	c.guardPassed(t, src, cr)

	is := &awscreds.Issuer{Options: opts}
	held := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil })
	account, arn, err := is.CallerIdentity(ctx, res.Region, plan.STSEndpoint, held)
	switch {
	case err == nil:
		c.add(SevInfo, t.name, t.names(""), fmt.Sprintf("identity: %s (account %s)", arn, account), "")
		if src.Kind == credbroker.SourceStatic && !src.Role.Set() {
			c.add(SevOK, t.name, t.names("sts_endpoint"), fmt.Sprintf("STS at %s accepts the static keys", plan.STSEndpoint), "")
		}
	case errors.Is(err, awscreds.ErrIdentityUnavailable):
		msg := fmt.Sprintf("identity not available from this STS (%s offers no GetCallerIdentity)", plan.STSEndpoint)
		if src.Kind == credbroker.SourceStatic && !src.Role.Set() {
			msg += "; the static keys were not verified"
		}
		c.add(SevInfo, t.name, t.names("sts_endpoint"), msg, "")
	case src.Kind == credbroker.SourceStatic && !src.Role.Set():
		// GetCallerIdentity is the only call that tests static keys.
		c.addErr(SevError, t.name, err, t.names)
	default:
		c.addErr(SevWarning, t.name, err, t.names)
	}
	return &obtained{creds: cr, region: res.Region, partition: res.Partition}
}

// offlineConnector checks a connector source without a network call.
func (c *checker) offlineConnector(t *task, src credbroker.Source) {
	un := t.x.unresolved
	if src.Connector != "" {
		c.add(SevOK, t.name, t.names("connector"), "connector "+src.Connector, "")
	}
	if src.Broker != "" && !un["broker"] {
		w, err := httpapi.CheckBrokerURL(src.Broker)
		switch {
		case err != nil:
			c.addErr(SevError, t.name, err, t.names)
		case w != nil:
			c.add(SevWarning, t.name, t.names("broker"), w.Message, w.Fix)
		}
	}
	if len(src.Tags) > 0 && !hasPrefixField(un, "tags") {
		if err := awscreds.CheckSessionTags("tags", src.Tags, nil); err != nil {
			c.addErr(SevError, t.name, err, t.names)
		}
	}
	if !hasPrefixField(un, credbroker.FieldAllowedAccounts) {
		if err := credbroker.CheckAccountIDs(credbroker.FieldAllowedAccounts, src.AllowedAccountIDs); err != nil {
			c.addErr(SevError, t.name, err, t.names)
		}
	}
}

// onlineConnector asks the broker whether it answers, then vends.
func (c *checker) onlineConnector(ctx context.Context, t *task, src credbroker.Source, b credbroker.Build) *obtained {
	var source func(ctx context.Context) (string, error)
	if src.OIDC != "" {
		ts, err := citoken.New("oidc", src.OIDC, src.Audience, citoken.Options{LookupEnv: c.opts.LookupEnv})
		if err != nil {
			c.addErr(SevError, t.name, err, t.names)
			return nil
		}
		source = func(ctx context.Context) (string, error) {
			tok, err := ts.Token(ctx)
			if tok != "" {
				c.rep.secrets = append(c.rep.secrets, tok)
			}
			return tok, err
		}
	}
	client, err := httpapi.NewClient(src.Broker, httpapi.ClientOptions{Token: src.Token, TokenSource: source, CAFile: src.CAFile, UserAgent: c.opts.UserAgent})
	if err != nil {
		c.addErr(SevError, t.name, err, t.names)
		return nil
	}
	if c.brokerDown[strings.TrimRight(src.Broker, "/")] {
		c.add(SevInfo, t.name, t.names("broker"), fmt.Sprintf("not vended: the broker at %s is not reachable (see above)", src.Broker), "")
		return nil
	}
	if err := client.Ready(ctx); err != nil {
		c.addErr(SevError, t.name, err, t.names)
		return nil
	}
	c.add(SevOK, t.name, t.names("broker"), fmt.Sprintf("the broker at %s answers", client.BaseURL()), "")
	res, err := client.Vend(ctx, credbroker.VendRequest{
		Connector: src.Connector, Plan: b.Plan, Build: b.Number, Job: b.Job, Task: b.Task, Tags: src.Tags,
		DurationSeconds: int(src.Role.Duration / time.Second), Policy: compactPolicy(src.Role.Policy), PolicyARNs: src.Role.PolicyARNs,
	})
	if err != nil {
		c.addErr(SevError, t.name, err, func(f string) string {
			if f == "" {
				f = "connector"
			}
			return t.names(f)
		})
		return nil
	}
	cr := res.Credentials()
	c.rep.secrets = append(c.rep.secrets, cr.Secrets()...)
	plan := b.Plan
	if plan == "" {
		plan = "(none)"
	}
	expiry := ""
	if cr.CanExpire() {
		expiry = ", expiring " + cr.Expires.UTC().Format(time.RFC3339)
	}
	c.add(SevOK, t.name, t.names("connector"),
		fmt.Sprintf("connector %s vended credentials %s for plan %s in %s (partition %s)%s; thrown away, but the vend shows in the broker's audit",
			res.Connector, credbroker.MaskKeyID(cr.AccessKeyID), plan, res.Region, res.Partition, expiry), "")
	if res.RoleARN != "" {
		c.add(SevInfo, t.name, t.names("connector"), "identity: role "+res.RoleARN+" (as the broker reports it)", "")
	}
	for _, w := range res.Warnings {
		c.add(SevWarning, t.name, t.names("connector"), w, "")
	}
	guarded := awscreds.GuardAccount(credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil }),
		src.AllowedAccountIDs, res.Region, src.STSEndpoint, c.awsOptions(src))
	if cr, err = guarded.Retrieve(ctx); err != nil {
		c.addErr(SevError, t.name, err, t.names)
		return nil
	}
	c.guardPassed(t, src, cr)
	return &obtained{creds: cr, region: res.Region, partition: res.Partition}
}

// guardPassed reports that credentials obtained passed the source's
// account guard, if it has one.
func (c *checker) guardPassed(t *task, src credbroker.Source, cr credbroker.Credentials) {
	if len(src.AllowedAccountIDs) > 0 && cr.AccountID != "" {
		c.add(SevOK, t.name, t.names(credbroker.FieldAllowedAccounts),
			fmt.Sprintf("account guard: the credentials belong to account %s, an allowed one", cr.AccountID), "")
	}
}

func (c *checker) awsOptions(src credbroker.Source) awscreds.Options {
	o := awscreds.Options{LookupEnv: c.opts.LookupEnv, Retry: src.Retry}
	if src.Kind == credbroker.SourceWebIdentity && src.OIDC != "" {
		if ts, err := citoken.New("oidc", src.OIDC, src.Audience, citoken.Options{LookupEnv: c.opts.LookupEnv}); err == nil {
			o.IdentityToken = func(ctx context.Context) (string, error) {
				tok, err := ts.Token(ctx)
				if tok != "" {
					c.rep.secrets = append(c.rep.secrets, tok)
				}
				return tok, err
			}
		}
	}
	return o
}

// compactPolicy is a request's session policy without insignificant
// whitespace, as the agent sends it; the broker validates it again.
func compactPolicy(p string) string {
	if p == "" {
		return ""
	}
	if out, err := policy.Validate("policy", p); err == nil {
		return out
	}
	return p
}

func keep(f string) string { return f }
