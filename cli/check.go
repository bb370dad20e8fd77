package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/mask"
	"github.com/credbroker/credbroker/policy"
	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
)

// The severities of a check finding.
const (
	sevError   = "error"
	sevWarning = "warning"
	sevOK      = "ok"
	sevInfo    = "info"
)

// finding is one line of `credbroker check`: how bad, where (task and
// field) and what, with the fix. It never holds a secret value.
type finding struct {
	Severity string `json:"severity"`
	Task     string `json:"task"`
	Field    string `json:"field"`
	Message  string `json:"message"`
	Fix      string `json:"fix"`
}

// String renders the finding on one line.
func (f finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s ", f.Severity)
	if f.Task != "" {
		fmt.Fprintf(&b, "[%s] ", f.Task)
	}
	if f.Field != "" {
		b.WriteString(f.Field)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(f.Message))
	if f.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(oneLine(f.Fix))
	}
	return b.String()
}

// oneLine folds line breaks and runs of spaces, so a finding stays one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (a *app) checkCommand() *cobra.Command {
	var sf sourceFlags
	var offline bool
	var output string
	cmd := &cobra.Command{
		Use:   "check [JOB.yaml] [source flags]",
		Short: "Verify a job's credentials before a build spends time on them",
		Long: `Verify the credentials of a job file's tasks (check JOB.yaml), or of the
source the flags describe (check [source flags], as for exec), without running
any command. Checks run offline first, then online unless --offline is given.

Offline: the job file is well formed; every variable a task references
resolves (values are never printed); regions are known; role and policy ARNs
parse and belong to the region's partition; session policies are valid JSON
within 2,048 characters; at most 10 policy ARNs; durations are within STS's
limits (a role assumed with instance profile credentials or a session token is
role chaining, and a duration over 1h is lowered to 1h: a warning); session
tags are within STS's limits.

Online: the instance metadata service answers IMDSv2 and names a role; the STS
endpoint answers and credentials can be obtained; the identity is shown where
the STS offers GetCallerIdentity (MinIO's does not: an info line says so). For
a connector source, the broker answers and a real vend is made with the task's
plan, build and job, which proves the token's plan may use the connector: the
credentials are thrown away, but the vend is a vend like any other and shows
in the broker's audit. Runtime variables that a set_variables task sets are
filled for the tasks after it with what its check obtained.

Each finding is one line: severity (error, warning, ok, info), the task, the
field, what was found, and the fix. The exit code is 1 when any finding is an
error, 0 otherwise. --output json prints an array of {severity, task, field,
message, fix} instead.`,
		Example: `  # A job file, offline only: no network call at all
  credbroker check --offline examples/two-task-job.yaml --vars plan.vars

  # A job file, then the metadata service, STS and the broker
  credbroker check deploy.yaml --plan OPS-DEPLOY --build 42

  # One source, as exec would use it
  credbroker check --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/deploy --duration 2h

  # For a pipeline step
  credbroker check deploy.yaml --output json | jq '.[] | select(.severity == "error")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return credbroker.Errorf(credbroker.CodeInvalid, "--output", "unknown format %q", output).WithFix("use text or json")
			}
			c := &checker{a: a, offline: offline}
			if len(args) == 1 {
				if err := jobModeFlags(cmd.Flags()); err != nil {
					return err
				}
				c.job(cmd.Context(), args[0], &sf)
			} else {
				c.flags(cmd.Context(), &sf)
			}
			if err := c.write(a.io.Stdout, output); err != nil {
				return err
			}
			counts := map[string]int{}
			for _, f := range c.findings {
				counts[f.Severity]++
			}
			summary := fmt.Sprintf("%d error(s), %d warning(s), %d ok", counts[sevError], counts[sevWarning], counts[sevOK])
			if counts[sevError] > 0 {
				return &exitError{code: 1, err: credbroker.Errorf(credbroker.CodeUnprocessable, "check", "%s", summary).
					WithFix("fix the errors above, then check again")}
			}
			fmt.Fprintf(a.io.Stderr, "credbroker: check: %s\n", summary)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&offline, "offline", false, "make no network call: only the offline checks")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text (one line per finding) or json")
	return cmd
}

// jobModeFlags refuses source flags next to a job file, whose tasks name
// their own sources.
func jobModeFlags(fs *pflag.FlagSet) error {
	allowed := map[string]bool{"vars": true, "global-vars": true, "var": true, "plan": true, "build": true, "job": true, "offline": true, "output": true}
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		if bad == nil && !allowed[f.Name] && f.Name != "help" && !strings.HasPrefix(f.Name, "log-") {
			bad = credbroker.Errorf(credbroker.CodeInvalid, "--"+f.Name, "not used with a job file: its tasks name their own credentials").
				WithFix("drop the flag, or check one source without a job file")
		}
	})
	return bad
}

// checker collects the findings of one check.
type checker struct {
	a        *app
	offline  bool
	findings []finding
	// secrets are masked in the output besides the variables' own, as a
	// second guard: no finding is built from a secret value.
	secrets []string
	// brokerDown holds the broker URLs already found unreachable, so that
	// one stopped broker is one finding.
	brokerDown map[string]bool
}

func (c *checker) add(sev, task, field, msg, fix string) {
	c.findings = append(c.findings, finding{Severity: sev, Task: task, Field: field, Message: msg, Fix: fix})
}

// addErr adds every problem in err (a joined error is several) with
// severity sev, naming fields through names.
func (c *checker) addErr(sev, task string, err error, names func(string) string) {
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

func (c *checker) write(w io.Writer, output string) error {
	m := mask.New(w, mask.Options{Secrets: c.secrets})
	var err error
	if output == "json" {
		out := c.findings
		if out == nil {
			out = []finding{}
		}
		err = writeJSON(m, out)
	} else {
		for _, f := range c.findings {
			if _, err = fmt.Fprintln(m, f.String()); err != nil {
				break
			}
		}
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// task is the state of checking one task's credentials.
type task struct {
	name  string
	names func(field string) string // a source field as the user wrote it
	x     *checkExpander
}

// flags checks the source the command-line flags describe.
func (c *checker) flags(ctx context.Context, sf *sourceFlags) {
	names := func(f string) string { return flagField(f) }
	raw := sf.credentials(c.a)
	if err := sf.check(raw); err != nil {
		c.addErr(sevError, "", err, names)
		return
	}
	vs, err := sf.variables()
	if err != nil {
		c.addErr(sevError, "", err, names)
		return
	}
	c.secrets = append(c.secrets, vs.Secrets()...)
	t := &task{names: names, x: newCheckExpander(vs, "")}
	c.source(ctx, t, raw, sf.buildInfo(c.a))
	c.flush(t)
}

// job checks every task of a job file in order, as `credbroker run` would
// meet them.
func (c *checker) job(ctx context.Context, path string, sf *sourceFlags) {
	job, err := jobfile.Load(path)
	if err != nil {
		c.addErr(sevError, "", err, keep)
		return
	}
	c.add(sevOK, "", "", fmt.Sprintf("%s is well formed: %d task(s)", path, len(job.Tasks)), "")

	b := sf.buildInfo(c.a)
	b.Plan = firstNonEmpty(sf.plan, job.Plan, b.Plan)
	b.Number = firstNonEmpty(sf.build, job.Build, b.Number)
	b.Job = firstNonEmpty(sf.job, job.JobKey, b.Job)

	// The variables as `credbroker run` layers them.
	vs := vars.New()
	brokerUnfetched := false
	if c.a.env("CREDBROKER_BROKER") != "" {
		if c.offline {
			brokerUnfetched = true
			c.add(sevInfo, "", "CREDBROKER_BROKER", "the broker's variables are not fetched with --offline", "")
		} else {
			global, planVars, secrets, err := c.a.brokerVariables(ctx, b.Plan)
			if err != nil {
				c.addErr(sevError, "", err, func(string) string { return "CREDBROKER_BROKER" })
				brokerUnfetched = true
				if credbroker.ErrorCode(err) == credbroker.CodeUnavailable {
					c.brokerDown = map[string]bool{strings.TrimRight(c.a.env("CREDBROKER_BROKER"), "/"): true}
				}
			} else {
				vs.Load(vars.Global, global)
				vs.Load(vars.Plan, planVars)
				c.secrets = append(c.secrets, secrets...)
			}
		}
	}
	if err := loadVarFiles(vs, vars.Global, sf.globalVarsFiles); err != nil {
		c.addErr(sevError, "", err, keep)
		return
	}
	for _, v := range job.Variables {
		vs.Set(vars.Plan, v.Name, v.Value, v.Secret)
	}
	if err := sf.planVariables(vs); err != nil {
		c.addErr(sevError, "", err, keep)
		return
	}
	c.secrets = append(c.secrets, vs.Secrets()...)

	x := newCheckExpander(vs, "")
	x.brokerUnfetched = brokerUnfetched
	for i := range job.Tasks {
		jt := &job.Tasks[i]
		tb := b
		tb.Task = jt.Name
		x.task, x.unresolved = jt.Name, map[string]bool{}
		t := &task{name: jt.Name, x: x}
		var got *obtained
		if jt.Credentials == nil {
			c.add(sevInfo, jt.Name, "", "no credentials block: the task runs without AWS credentials", "")
		} else {
			t.names = jobField(jt.Credentials)
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
			c.secrets = append(c.secrets, got.creds.Secrets()...)
			continue
		}
		for _, v := range taskrun.CredentialVariables(ns, credbroker.Credentials{}, "", "") {
			x.pending[v.Name] = jt.Name
		}
	}
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
		c.findings = append(c.findings, f)
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
	src, err := taskrun.ExpandCredentials(raw, t.x, "", c.a.getenv)
	if err != nil {
		// Fields whose variables are not known yet are reported by the
		// expander; what follows from them (a missing token) is not news.
		c.addErr(sevError, t.name, dropFields(err, t.x.unresolved), t.names)
	}
	ready := len(t.x.unresolved) == 0 && err == nil && !t.x.hasErrors()
	c.flush(t)
	if src.Token != "" {
		c.secrets = append(c.secrets, src.Token)
	}
	var res *credbroker.Resolved
	switch src.Kind {
	case credbroker.SourceConnector:
		c.offlineConnector(t, src)
	case credbroker.SourceInstance, credbroker.SourceStatic:
		res = c.offlineAWS(ctx, t, raw, src, b, ready && c.errorCount() == before)
	}
	ready = ready && c.errorCount() == before
	if !ready {
		if len(t.x.unresolved) > 0 && c.errorCount() == before {
			c.add(sevInfo, t.name, t.names(""), "not obtained now: the credentials depend on variables that are only known when the job runs", "")
		}
		return nil
	}
	if c.offline {
		return nil
	}
	switch src.Kind {
	case credbroker.SourceConnector:
		return c.onlineConnector(ctx, t, src, b)
	case credbroker.SourceInstance, credbroker.SourceStatic:
		if res != nil {
			return c.onlineAWS(ctx, t, src, res)
		}
	}
	return nil
}

func (c *checker) errorCount() int {
	n := 0
	for _, f := range c.findings {
		if f.Severity == sevError {
			n++
		}
	}
	return n
}

// offlineAWS checks an instance or static source without a network call.
// With resolve, it ends with awscreds.Resolve, which checks the rest
// (static keys, names, tags, external ID) and builds the provider the
// online checks use.
func (c *checker) offlineAWS(ctx context.Context, t *task, raw *jobfile.Credentials, src credbroker.Source, b credbroker.Build, resolve bool) *credbroker.Resolved {
	un := t.x.unresolved
	errs := c.errorCount()
	region := firstNonEmpty(src.Region, c.a.env(awscreds.EnvRegion), c.a.env(awscreds.EnvDefaultRegion))
	endpoint := firstNonEmpty(src.STSEndpoint, c.stsEndpointFromEnv())
	var p awscreds.Partition
	known := false
	if !un["region"] && !un["sts_endpoint"] {
		var warning string
		var err error
		p, warning, err = awscreds.ResolveRegion(region, endpoint)
		switch {
		case err != nil:
			c.addErr(sevError, t.name, err, t.names)
		default:
			known = true
			c.add(sevOK, t.name, t.names("region"), fmt.Sprintf("region %s is in partition %s", region, p.ID), "")
			if warning != "" {
				c.add(sevWarning, t.name, t.names("region"), warning, "")
			}
		}
	}
	if src.Kind == credbroker.SourceInstance && src.IMDSv1 {
		c.add(sevWarning, t.name, t.names("imds_v1"), "the IMDSv1 fallback is allowed: if the metadata service refuses an IMDSv2 token, credentials are read without one, which SSRF attacks can exploit",
			"require IMDSv2 on the instance and remove imds_v1 (--imds-v1)")
	}
	r := src.Role
	if r.Set() && known {
		if !un["role.arn"] {
			if err := awscreds.CheckRoleARN("role_arn", r.ARN, p); err != nil {
				c.addErr(sevError, t.name, err, t.names)
			} else {
				c.add(sevOK, t.name, t.names("role_arn"), fmt.Sprintf("role ARN %s is in partition %s", r.ARN, p.ID), "")
			}
		}
		if len(r.PolicyARNs) > 0 && !hasPrefixField(un, "role.policy_arns") {
			if err := awscreds.CheckPolicyARNs("policy_arns", r.PolicyARNs, p); err != nil {
				c.addErr(sevError, t.name, err, t.names)
			} else {
				c.add(sevOK, t.name, t.names("policy_arns"), fmt.Sprintf("%d managed policy ARN(s), in partition %s", len(r.PolicyARNs), p.ID), "")
			}
		}
	}
	if r.Set() {
		if r.Policy != "" && !un["role.policy"] && !un["role.policy_file"] {
			if compact, err := policy.Validate("policy", r.Policy); err != nil {
				c.addErr(sevError, t.name, err, t.names)
			} else {
				c.add(sevOK, t.name, t.names("policy"), fmt.Sprintf("the session policy is valid: %d of STS's 2,048 characters", len(compact)), "")
			}
		}
		if !un["role.duration"] && r.Duration != 0 {
			if err := awscreds.CheckDuration("duration", credbroker.PrincipalAssumedRole, r.Duration); err != nil {
				c.addErr(sevError, t.name, err, t.names)
			} else {
				chaining := src.Kind == credbroker.SourceInstance || raw.SessionToken != ""
				if chaining && r.Duration > awscreds.MaxChainedDuration {
					c.add(sevWarning, t.name, t.names("duration"),
						fmt.Sprintf("duration %s will be lowered to 1h: the base credentials are a role session, and STS caps role chaining at one hour", shortDuration(r.Duration)),
						"ask for 1h or less")
				} else {
					c.add(sevOK, t.name, t.names("duration"), fmt.Sprintf("duration %s is within STS's limits", shortDuration(r.Duration)), "")
				}
			}
		}
	}
	if !resolve || c.errorCount() != errs {
		return nil
	}
	res, err := awscreds.Resolve(ctx, src, b, c.awsOptions(src))
	if err != nil {
		c.addErr(sevError, t.name, err, t.names)
		return nil
	}
	what := "static keys " + credbroker.MaskKeyID(src.AccessKeyID)
	if src.Kind == credbroker.SourceInstance {
		what = "the instance profile"
	}
	if r.Set() {
		tags := "with the build's session tags"
		switch {
		case r.NoSessionTags:
			tags = "without session tags"
		case len(awscreds.BuildTags(b))+len(r.Tags) == 0:
			tags = "without session tags (no build identity, no tags)"
		}
		what += ", then AssumeRole " + tags
	}
	c.add(sevOK, t.name, t.names(""), "the credentials are well formed: "+what, "")
	return res
}

// onlineAWS obtains an instance or static source's credentials, then asks
// STS whose they are.
func (c *checker) onlineAWS(ctx context.Context, t *task, src credbroker.Source, res *credbroker.Resolved) *obtained {
	opts := c.awsOptions(src)
	roleName := ""
	if src.Kind == credbroker.SourceInstance {
		role, ep, err := awscreds.InstanceRole(ctx, src, opts)
		switch {
		case err != nil && src.IMDSv1:
			c.addErr(sevWarning, t.name, err, t.names)
		case err != nil:
			c.addErr(sevError, t.name, err, t.names)
			return nil
		default:
			roleName = role
			c.add(sevOK, t.name, t.names("imds_endpoint"), fmt.Sprintf("the metadata service at %s answers IMDSv2 and names role %s", ep, role), "")
		}
	}
	cr, err := res.Provider.Retrieve(ctx)
	if err != nil {
		c.addErr(sevError, t.name, err, t.names)
		return nil
	}
	c.secrets = append(c.secrets, cr.Secrets()...)
	endpoint := firstNonEmpty(src.STSEndpoint, c.stsEndpointFromEnv())
	shown := endpoint
	if shown == "" {
		if p, _, err := awscreds.ResolveRegion(res.Region, ""); err == nil {
			shown = p.STSEndpoint()
		}
	}
	expiry := ""
	if cr.CanExpire() {
		expiry = ", expiring " + cr.Expires.UTC().Format(time.RFC3339)
	}
	switch {
	case src.Role.Set():
		c.add(sevOK, t.name, t.names("role_arn"), fmt.Sprintf("STS at %s answered AssumeRole: credentials %s%s obtained and thrown away", shown, credbroker.MaskKeyID(cr.AccessKeyID), expiry), "")
	case src.Kind == credbroker.SourceInstance:
		c.add(sevOK, t.name, t.names("imds_endpoint"), fmt.Sprintf("credentials of role %s %s%s obtained and thrown away", roleName, credbroker.MaskKeyID(cr.AccessKeyID), expiry), "")
	}

	is := &awscreds.Issuer{Options: opts}
	held := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return cr, nil })
	account, arn, err := is.CallerIdentity(ctx, res.Region, endpoint, held)
	switch {
	case err == nil:
		c.add(sevInfo, t.name, t.names(""), fmt.Sprintf("identity: %s (account %s)", arn, account), "")
		if src.Kind == credbroker.SourceStatic && !src.Role.Set() {
			c.add(sevOK, t.name, t.names("sts_endpoint"), fmt.Sprintf("STS at %s accepts the static keys", shown), "")
		}
	case errors.Is(err, awscreds.ErrIdentityUnavailable):
		msg := fmt.Sprintf("identity not available from this STS (%s offers no GetCallerIdentity)", shown)
		if src.Kind == credbroker.SourceStatic && !src.Role.Set() {
			msg += "; the static keys were not verified"
		}
		c.add(sevInfo, t.name, t.names("sts_endpoint"), msg, "")
	case src.Kind == credbroker.SourceStatic && !src.Role.Set():
		// GetCallerIdentity is the only call that tests static keys.
		c.addErr(sevError, t.name, err, t.names)
	default:
		c.addErr(sevWarning, t.name, err, t.names)
	}
	return &obtained{creds: cr, region: res.Region, partition: res.Partition}
}

// offlineConnector checks a connector source without a network call.
func (c *checker) offlineConnector(t *task, src credbroker.Source) {
	un := t.x.unresolved
	if src.Connector != "" {
		c.add(sevOK, t.name, t.names("connector"), "connector "+src.Connector, "")
	}
	if src.Broker != "" && !un["broker"] {
		u, err := url.Parse(src.Broker)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			c.add(sevError, t.name, t.names("broker"), fmt.Sprintf("%q is not an http or https URL", src.Broker), "write the broker URL like https://broker.example.com:8420")
		case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
			c.add(sevWarning, t.name, t.names("broker"), fmt.Sprintf("the broker URL %s is plain http to another host: credentials cross the network unencrypted", u.Redacted()),
				"serve the broker with --tls-cert and use https")
		}
	}
	if len(src.Tags) > 0 && !hasPrefixField(un, "tags") {
		if err := awscreds.CheckSessionTags("tags", src.Tags, nil); err != nil {
			c.addErr(sevError, t.name, err, t.names)
		}
	}
}

// onlineConnector asks the broker whether it answers, then vends.
func (c *checker) onlineConnector(ctx context.Context, t *task, src credbroker.Source, b credbroker.Build) *obtained {
	client, err := httpapi.NewClient(src.Broker, httpapi.ClientOptions{Token: src.Token, CAFile: src.CAFile, UserAgent: "credbroker/" + Version})
	if err != nil {
		c.addErr(sevError, t.name, err, t.names)
		return nil
	}
	if c.brokerDown[strings.TrimRight(src.Broker, "/")] {
		c.add(sevInfo, t.name, t.names("broker"), fmt.Sprintf("not vended: the broker at %s is not reachable (see above)", src.Broker), "")
		return nil
	}
	if err := client.Ready(ctx); err != nil {
		c.addErr(sevError, t.name, err, t.names)
		return nil
	}
	c.add(sevOK, t.name, t.names("broker"), fmt.Sprintf("the broker at %s answers", client.BaseURL()), "")
	res, err := client.Vend(ctx, credbroker.VendRequest{
		Connector: src.Connector, Plan: b.Plan, Build: b.Number, Job: b.Job, Task: b.Task, Tags: src.Tags,
	})
	if err != nil {
		c.addErr(sevError, t.name, err, func(f string) string { return t.names(firstNonEmpty(f, "connector")) })
		return nil
	}
	cr := res.Credentials()
	c.secrets = append(c.secrets, cr.Secrets()...)
	plan := b.Plan
	if plan == "" {
		plan = "(none)"
	}
	expiry := ""
	if cr.CanExpire() {
		expiry = ", expiring " + cr.Expires.UTC().Format(time.RFC3339)
	}
	c.add(sevOK, t.name, t.names("connector"),
		fmt.Sprintf("connector %s vended credentials %s for plan %s in %s (partition %s)%s; thrown away, but the vend shows in the broker's audit",
			res.Connector, credbroker.MaskKeyID(cr.AccessKeyID), plan, res.Region, res.Partition, expiry), "")
	if res.RoleARN != "" {
		c.add(sevInfo, t.name, t.names("connector"), "identity: role "+res.RoleARN+" (as the broker reports it)", "")
	}
	for _, w := range res.Warnings {
		c.add(sevWarning, t.name, t.names("connector"), w, "")
	}
	return &obtained{creds: cr, region: res.Region, partition: res.Partition}
}

func (c *checker) awsOptions(src credbroker.Source) awscreds.Options {
	return awscreds.Options{LookupEnv: c.a.getenv, Retry: src.Retry}
}

// stsEndpointFromEnv is the STS endpoint the environment names, the way
// awscreds reads it.
func (c *checker) stsEndpointFromEnv() string {
	if strings.EqualFold(c.a.env(awscreds.EnvIgnoreEndpoint), "true") {
		return ""
	}
	return firstNonEmpty(c.a.env(awscreds.EnvSTSEndpoint), c.a.env(awscreds.EnvEndpoint))
}

// checkExpander substitutes variables for a check. A reference it cannot
// resolve now is a finding, not a failure: an error when nothing can
// define the variable, a warning when an earlier task or the broker might,
// information when an earlier set_variables task will. The field is then
// left empty and marked unresolved, and the checks that need it are
// skipped.
type checkExpander struct {
	vs   *vars.Set
	task string
	// pending maps runtime variables that an earlier set_variables task
	// sets, and whose values this check did not obtain, to that task.
	pending map[string]string
	// writers are the earlier tasks that run a command, which may write
	// runtime variables to $CREDBROKER_VARIABLES.
	writers []string
	// brokerUnfetched says the broker's variables were not fetched.
	brokerUnfetched bool
	unresolved      map[string]bool
	notes           []finding
}

func newCheckExpander(vs *vars.Set, task string) *checkExpander {
	return &checkExpander{vs: vs, task: task, pending: map[string]string{}, unresolved: map[string]bool{}}
}

// Expand implements taskrun.Expander.
func (x *checkExpander) Expand(field, text string) (string, error) {
	if !x.check(field, text, false) {
		x.unresolved[field] = true
		return "", nil
	}
	return x.vs.Expand(field, text)
}

// check reports the references of text that do not resolve now, and says
// whether all of them do. In a command or script (scriptOnly), only
// ${bamboo.NAME} is a reference.
func (x *checkExpander) check(field, text string, scriptOnly bool) bool {
	ok := true
	seen := map[string]bool{}
	for _, ref := range vars.References(text) {
		if scriptOnly && !strings.HasPrefix(ref, "bamboo.") {
			continue
		}
		name := vars.Canonical(ref)
		if seen[name] || vars.CheckName("", name) != nil {
			continue // said already, or a syntax error that vars.Expand reports
		}
		seen[name] = true
		if _, defined := x.vs.Lookup(name); defined {
			continue
		}
		ok = false
		switch {
		case x.pending[name] != "":
			x.note(sevInfo, field, fmt.Sprintf("variable %q is set when task %s runs", name, x.pending[name]), "")
		case len(x.writers) > 0:
			x.note(sevWarning, field, fmt.Sprintf("variable %q is not defined now; an earlier task (%s) must write it to $CREDBROKER_VARIABLES", name, strings.Join(x.writers, ", ")),
				fmt.Sprintf("define %s, or make sure the earlier task writes it", name))
		case x.brokerUnfetched:
			x.note(sevWarning, field, fmt.Sprintf("variable %q is not defined here; it may be one of the broker's variables, which were not fetched", name),
				fmt.Sprintf("check without --offline, or define %s", name))
		default:
			x.note(sevError, field, fmt.Sprintf("undefined variable %q", name),
				fmt.Sprintf("define it with --var %s=VALUE, in a --vars file, in the job file's variables:, or on the broker", name))
		}
	}
	return ok
}

// hasErrors reports whether a reference could not resolve at all.
func (x *checkExpander) hasErrors() bool {
	for _, n := range x.notes {
		if n.Severity == sevError {
			return true
		}
	}
	return false
}

func (x *checkExpander) note(sev, field, msg, fix string) {
	x.notes = append(x.notes, finding{Severity: sev, Task: x.task, Field: field, Message: msg, Fix: fix})
}

// dropFields removes from err the problems of fields in skip.
func dropFields(err error, skip map[string]bool) error {
	if len(skip) == 0 {
		return err
	}
	var keepErrs []error
	var walk func(error)
	walk = func(e error) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, m := range multi.Unwrap() {
				walk(m)
			}
			return
		}
		if de := credbroker.AsError(e); de != nil && skip[de.Field] {
			return
		}
		keepErrs = append(keepErrs, e)
	}
	walk(err)
	return errors.Join(keepErrs...)
}

func hasPrefixField(fields map[string]bool, prefix string) bool {
	for f := range fields {
		if f == prefix || strings.HasPrefix(f, prefix+".") || strings.HasPrefix(f, prefix+"[") {
			return true
		}
	}
	return false
}

func keep(f string) string { return f }

// shortDuration renders 2h rather than 2h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// renameField replaces the longest key of table that prefixes field at a
// boundary ('.' or '[') with its value.
func renameField(field string, table map[string]string) (string, bool) {
	best := ""
	for k := range table {
		if len(k) > len(best) && (field == k || strings.HasPrefix(field, k+".") || strings.HasPrefix(field, k+"[")) {
			best = k
		}
	}
	if best == "" {
		return field, false
	}
	return table[best] + field[len(best):], true
}

// flagField names a source field by the flag that sets it.
func flagField(f string) string {
	if out, ok := renameField(f, fieldFlags); ok {
		return out
	}
	switch f {
	case "instance", "static", "base", "":
		return "--source"
	case "sts":
		return "--sts-endpoint"
	}
	return f
}

// jobField returns the namer of a task's source fields: the path in the
// job file, such as credentials.role.arn. awscreds names fields by their
// own short names (role_arn, policy, duration); they are mapped here.
func jobField(raw *jobfile.Credentials) func(string) string {
	policyField := "role.policy"
	if raw.Role != nil && raw.Role.PolicyFile != "" {
		policyField = "role.policy_file"
	}
	tags := "role.tags"
	if raw.Source == string(credbroker.SourceConnector) {
		tags = "tags"
	}
	table := map[string]string{
		"role_arn": "role.arn", "policy": policyField, "policy_arns": "role.policy_arns", "duration": "role.duration",
		"external_id": "role.external_id", "session_name": "role.session_name", "source_identity": "role",
		"tags": tags, "transitive_tag_keys": "role.transitive_tag_keys", "sts": "sts_endpoint",
		"instance": "", "static": "", "base": "",
	}
	return func(f string) string {
		if f != "" && strings.ToUpper(f) == f {
			return f // an environment variable, such as AWS_REGION
		}
		if strings.HasPrefix(f, "credentials") {
			return f
		}
		out, _ := renameField(f, table)
		out = strings.TrimPrefix(out, ".")
		if out == "" {
			return "credentials"
		}
		return "credentials." + out
	}
}
