package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
)

// sourceFlags are the flags that describe a task's credentials on the
// command line. Their values may hold ${...} references, substituted from
// the variables of --vars, --global-vars and --var.
type sourceFlags struct {
	source          string
	region          string
	accessKeyID     string
	secretAccessKey string
	sessionToken    string
	imdsEndpoint    string
	imdsV1          bool
	connector       string
	broker          string
	tokenFile       string
	caFile          string
	webIDTokenFile  string
	oidc            string
	audience        string
	roleARN         string
	externalID      string
	sessionName     string
	duration        durationFlag
	policyFile      string
	policyARNs      []string
	tags            []string
	transitiveTags  []string
	noSessionTags   bool
	stsEndpoint     string
	retries         int
	maxBackoff      time.Duration
	minRemaining    time.Duration
	allowedAccounts []string

	varsFiles       []string
	globalVarsFiles []string
	varAssignments  []string

	plan, build, job string
	ci               string
}

func (s *sourceFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.SortFlags = false
	f.StringVar(&s.source, "source", "", "credentials source: instance, static, web-identity or connector (default: connector when --connector is set, static when --access-key-id is set, web-identity with --oidc or --web-identity-token-file, else instance)")
	f.StringVar(&s.region, "region", "", "AWS region; picks the partition and STS endpoint (default $AWS_REGION, then $AWS_DEFAULT_REGION)")
	f.StringVar(&s.accessKeyID, "access-key-id", "", "static: access key ID, usually a variable reference such as '${bamboo.awsAccessKeyId}'")
	f.StringVar(&s.secretAccessKey, "secret-access-key", "", "static: secret access key as a variable reference, e.g. '${bamboo.awsSecretKeyPassword}' (a literal value shows in process listings)")
	f.StringVar(&s.sessionToken, "session-token", "", "static: optional session token, e.g. '${bamboo.awsSessionTokenPassword}' set by an earlier task")
	f.StringVar(&s.imdsEndpoint, "imds-endpoint", "", "instance: metadata service URL (default $AWS_EC2_METADATA_SERVICE_ENDPOINT, then http://169.254.169.254)")
	f.BoolVar(&s.imdsV1, "imds-v1", false, "instance: allow the IMDSv1 fallback when the IMDSv2 token is refused (never done silently)")
	f.StringVar(&s.connector, "connector", "", "connector: name or ID of the broker's connector, may be a variable reference like '${bamboo.deployConnector}'")
	f.StringVar(&s.broker, "broker", "", "connector: broker URL (default $CREDBROKER_BROKER)")
	f.StringVar(&s.tokenFile, "token-file", "", "connector: file holding the agent token (default $CREDBROKER_TOKEN_FILE, or the token in $CREDBROKER_TOKEN)")
	f.StringVar(&s.caFile, "ca-file", "", "connector: PEM file of the CA that signed the broker's TLS certificate")
	f.StringVar(&s.webIDTokenFile, "web-identity-token-file", "", "web-identity: file of the ID token, read at each refresh (default $AWS_WEB_IDENTITY_TOKEN_FILE; the role then defaults to $AWS_ROLE_ARN)")
	f.StringVar(&s.oidc, "oidc", "", "the CI's ID token: github, gitlab, buildkite, env:VAR or file:PATH; web-identity: assume the role with it; connector: present it to the broker instead of an agent token")
	f.StringVar(&s.audience, "audience", "", "the audience the CI's ID token is asked for (--oidc github, buildkite) or must carry")
	f.StringVar(&s.roleARN, "role-arn", "", "assume this role with the base credentials (cross-account roles)")
	f.StringVar(&s.externalID, "external-id", "", "external ID the role's trust policy requires")
	f.StringVar(&s.sessionName, "role-session-name", "", "role session name (default derived from plan, job and build number)")
	f.Var(&s.duration, "duration", "role session duration, 15m to 12h (1h when role chaining), e.g. 900s, 30m or 1h")
	f.StringVar(&s.policyFile, "policy-file", "", "JSON session policy limiting the role session (at most 2,048 characters without whitespace)")
	f.StringArrayVar(&s.policyARNs, "policy-arn", nil, "managed policy ARN limiting the role session (repeatable, at most 10)")
	f.StringArrayVar(&s.tags, "tag", nil, "session tag KEY=VALUE on AssumeRole, after credbroker:plan, :build and :job; for a connector, asked of the broker (repeatable)")
	f.StringArrayVar(&s.transitiveTags, "transitive-tag-key", nil, "session tag key that survives role chaining (repeatable)")
	f.BoolVar(&s.noSessionTags, "no-session-tags", false, "send no session tags on AssumeRole, for roles whose trust policy lacks sts:TagSession")
	f.StringVar(&s.stsEndpoint, "sts-endpoint", "", "STS endpoint URL (default $AWS_ENDPOINT_URL_STS, then the region's regional endpoint)")
	f.IntVar(&s.retries, "retries", 0, "retries of STS and IMDS calls (default 7 with backoff up to 20s, about a minute in all)")
	f.DurationVar(&s.maxBackoff, "max-backoff", 0, "longest wait between two retries")
	f.StringArrayVar(&s.allowedAccounts, "allowed-account-id", nil, "account guard: the command runs only if the credentials belong to this 12-digit AWS account (repeatable, or comma-separated)")
	s.registerJob(cmd, false)
}

// registerJob adds the flags that give a build's variables and identity,
// which exec, run and check share; jobFile says the command reads a job
// file, whose plan:, build: and job: come before the environment's.
func (s *sourceFlags) registerJob(cmd *cobra.Command, jobFile bool) {
	def := func(field, env, bamboo string) string {
		d := "$" + env + ", then the CI's, such as $" + bamboo
		if jobFile {
			d = "the job file's " + field + ", " + d
		}
		return " (default " + d + ")"
	}
	ciDefault := "auto"
	if jobFile {
		ciDefault = "the job file's ci:, else auto"
	}
	f := cmd.Flags()
	f.StringArrayVar(&s.varsFiles, "vars", nil, "plan variables file of NAME=VALUE lines; `secret NAME=VALUE` marks a secret (repeatable)")
	f.StringArrayVar(&s.globalVarsFiles, "global-vars", nil, "global variables file, below plan variables in precedence (repeatable)")
	f.StringArrayVar(&s.varAssignments, "var", nil, "plan variable NAME=VALUE (repeatable); secrets belong in files, not in process listings")
	f.StringVar(&s.plan, "plan", "", "plan key, e.g. OPS-DEPLOY"+def("plan:", "CREDBROKER_PLAN", "bamboo_planKey"))
	f.StringVar(&s.build, "build", "", "build number"+def("build:", "CREDBROKER_BUILD", "bamboo_buildNumber"))
	f.StringVar(&s.job, "job", "", "job key"+def("job:", "CREDBROKER_JOB", "bamboo_shortJobKey"))
	f.StringVar(&s.ci, "ci", "", "whose environment gives the plan, build and job that nothing else names, and Bamboo's bamboo_NAME variables: "+
		cienv.Choices+" (default "+ciDefault+")")
}

// ciKind is the CI to read: --ci, else jobFile (the job file's ci:, ""
// when there is none), else auto.
func (s *sourceFlags) ciKind(jobFile cienv.Kind) (cienv.Kind, error) {
	if s.ci == "" && jobFile != "" {
		return jobFile, nil
	}
	return cienv.ParseKind("--ci", s.ci)
}

// credentials builds the raw credentials block from the flags.
func (s *sourceFlags) credentials() *jobfile.Credentials {
	c := &jobfile.Credentials{
		Source:          s.source,
		Region:          s.region,
		AccessKeyID:     s.accessKeyID,
		SecretAccessKey: s.secretAccessKey,
		SessionToken:    s.sessionToken,
		IMDSEndpoint:    s.imdsEndpoint,
		IMDSv1:          s.imdsV1,
		Connector:       s.connector,
		Broker:          s.broker,
		TokenFile:       s.tokenFile,
		CAFile:          s.caFile,
		STSEndpoint:     s.stsEndpoint,
		Retries:         s.retries,
		MaxBackoff:      s.maxBackoff,
		OIDC:            s.oidc,
		Audience:        s.audience,

		WebIdentityTokenFile: s.webIDTokenFile,
		AllowedAccountIDs:    s.allowedAccounts,
	}
	if c.Source == "" {
		switch {
		case c.Connector != "":
			c.Source = string(credbroker.SourceConnector)
		case c.AccessKeyID != "" || c.SecretAccessKey != "":
			c.Source = string(credbroker.SourceStatic)
		case c.OIDC != "" || c.WebIdentityTokenFile != "":
			c.Source = string(credbroker.SourceWebIdentity)
		default:
			c.Source = string(credbroker.SourceInstance)
		}
	}
	var tags []jobfile.Tag
	for _, t := range s.tags {
		k, v, _ := strings.Cut(t, "=")
		tags = append(tags, jobfile.Tag{Key: k, Value: v})
	}
	policyFile, policyARNs, duration := s.policyFile, s.policyARNs, s.duration.String()
	if c.Source == string(credbroker.SourceConnector) {
		// A connector's role is on the broker; tags are asked of it, and
		// the duration and policies narrow what the broker vends.
		c.Tags, tags = tags, nil
		c.Duration, c.PolicyFile, c.PolicyARNs = duration, policyFile, policyARNs
		policyFile, policyARNs, duration = "", nil, ""
	}
	if s.roleARN != "" || s.externalID != "" || policyFile != "" || len(policyARNs) > 0 || duration != "" || s.sessionName != "" ||
		len(tags) > 0 || len(s.transitiveTags) > 0 || s.noSessionTags {
		r := &jobfile.Role{
			ARN:               s.roleARN,
			ExternalID:        s.externalID,
			SessionName:       s.sessionName,
			Duration:          duration,
			PolicyFile:        policyFile,
			PolicyARNs:        policyARNs,
			Tags:              tags,
			TransitiveTagKeys: s.transitiveTags,
			NoSessionTags:     s.noSessionTags,
		}
		c.Role = r
	}
	return c
}

// check reports flag combinations that cannot work, before anything runs.
func (s *sourceFlags) check(c *jobfile.Credentials) error {
	bad := func(flag, fix string) error {
		return credbroker.Errorf(credbroker.CodeInvalid, "--"+flag, "not used by --source %s", c.Source).WithFix(fix)
	}
	notWebIdentity := func() error {
		switch {
		case c.OIDC != "":
			return bad("oidc", "use --source web-identity, or --source connector to present the token to the broker")
		case c.WebIdentityTokenFile != "":
			return bad("web-identity-token-file", "use --source web-identity")
		case c.Audience != "":
			return bad("audience", "--audience goes with --oidc")
		}
		return nil
	}
	switch credbroker.SourceKind(c.Source) {
	case credbroker.SourceInstance:
		if c.AccessKeyID != "" || c.SecretAccessKey != "" || c.SessionToken != "" {
			return bad("access-key-id", "use --source static for keys")
		}
		if c.Connector != "" {
			return bad("connector", "use --source connector")
		}
		if err := notWebIdentity(); err != nil {
			return err
		}
	case credbroker.SourceWebIdentity:
		switch {
		case c.AccessKeyID != "" || c.SecretAccessKey != "" || c.SessionToken != "":
			return bad("access-key-id", "the ID token is the proof; use --source static for keys")
		case c.Connector != "":
			return bad("connector", "use --source connector --oidc ... to present the token to the broker")
		case c.IMDSEndpoint != "" || c.IMDSv1:
			return bad("imds-endpoint", "the metadata service is for --source instance")
		case c.OIDC != "" && c.WebIdentityTokenFile != "":
			return credbroker.Errorf(credbroker.CodeInvalid, "--oidc", "both --oidc and --web-identity-token-file are given").
				WithFix("keep one: --oidc fetches the CI's token, --web-identity-token-file reads a file")
		}
		if r := c.Role; r != nil {
			switch {
			case r.ExternalID != "":
				return bad("external-id", "AssumeRoleWithWebIdentity takes no external ID; the role's trust policy checks the token")
			case len(r.Tags) > 0:
				return bad("tag", "AssumeRoleWithWebIdentity takes no session tags: STS takes them from the token's https://aws.amazon.com/tags claim")
			case len(r.TransitiveTagKeys) > 0:
				return bad("transitive-tag-key", "AssumeRoleWithWebIdentity takes no session tags")
			}
		}
	case credbroker.SourceStatic:
		if c.AccessKeyID == "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--access-key-id", "missing for --source static").
				WithFix("pass it, usually as a variable reference: --access-key-id '${bamboo.awsAccessKeyId}'")
		}
		if c.SecretAccessKey == "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--secret-access-key", "missing for --source static").
				WithFix("pass a variable reference: --secret-access-key '${bamboo.awsSecretKeyPassword}'")
		}
		if c.IMDSEndpoint != "" || c.IMDSv1 {
			return bad("imds-endpoint", "the metadata service is for --source instance")
		}
		if err := notWebIdentity(); err != nil {
			return err
		}
	case credbroker.SourceConnector:
		if c.Connector == "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--connector", "missing for --source connector").
				WithFix("name the broker's connector: --connector deploy")
		}
		if c.Role != nil {
			flag := "role-arn"
			switch {
			case c.Role.NoSessionTags:
				flag = "no-session-tags"
			case len(c.Role.TransitiveTagKeys) > 0:
				flag = "transitive-tag-key"
			case c.Role.ExternalID != "":
				flag = "external-id"
			case c.Role.SessionName != "":
				flag = "role-session-name"
			}
			return bad(flag, "a connector's role, and whether it takes session tags, is configured on the broker (connector update --disable-tags); --duration, --policy-file and --policy-arn narrow what it vends")
		}
		if c.AccessKeyID != "" || c.SecretAccessKey != "" {
			return bad("access-key-id", "a connector's keys live on the broker")
		}
		if c.WebIdentityTokenFile != "" {
			return bad("web-identity-token-file", "present a CI token to the broker with --oidc file:PATH")
		}
		if c.OIDC != "" && c.TokenFile != "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--oidc", "both --oidc and --token-file are given").
				WithFix("keep one: --oidc presents the CI's ID token, --token-file an agent token")
		}
	default:
		return credbroker.Errorf(credbroker.CodeInvalid, "--source", "unknown source %q", c.Source).
			WithFix("use instance, static, web-identity or connector")
	}
	for _, t := range s.tags {
		if k, _, ok := strings.Cut(t, "="); !ok || k == "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--tag", "expected KEY=VALUE").WithFix("write --tag team=ops")
		}
	}
	return nil
}

// varSources are the variables from outside a job file: --global-vars,
// --vars, --var, the runtime variables of the task this credbroker runs
// in ($CREDBROKER_VARIABLES) and, as the CI kind says, the CI's own
// (Bamboo's bamboo_NAME).
func (s *sourceFlags) varSources(a *app, kind cienv.Kind) vars.Sources {
	return vars.Sources{
		GlobalFiles: s.globalVarsFiles,
		PlanFiles:   s.varsFiles,
		Assignments: s.varAssignments,
		RuntimeFile: a.env(vars.EnvRuntimeFile),
		CI:          cienv.Variables(kind, a.getenv),
	}
}

// flagBuild is the build identity the flags give.
func (s *sourceFlags) flagBuild() credbroker.Build {
	return credbroker.Build{Plan: s.plan, Number: s.build, Job: s.job}
}

// buildInfo returns the build identity from the flags and the
// environment (cienv.Build), and what the CI gave.
func (s *sourceFlags) buildInfo(a *app, kind cienv.Kind) (credbroker.Build, cienv.Identity) {
	env, id := cienv.Build(kind, a.getenv)
	return s.flagBuild().Or(env), id
}

// resolve turns the flags into a resolved, cached credentials provider.
func (s *sourceFlags) resolve(ctx context.Context, a *app) (*credbroker.Resolved, *vars.Set, []string, error) {
	c := s.credentials()
	if err := s.check(c); err != nil {
		return nil, nil, nil, err
	}
	kind, err := s.ciKind("")
	if err != nil {
		return nil, nil, nil, err
	}
	vs, err := s.varSources(a, kind).Load()
	if err != nil {
		return nil, nil, nil, err
	}
	a.hide.addVars(vs)
	src, err := taskrun.ExpandCredentials(c, vs, "", a.getenv)
	a.hide.add(src.Token)
	if err != nil {
		return nil, nil, nil, flagNames(err)
	}
	secrets := vs.Secrets()
	if src.Token != "" {
		secrets = append(secrets, src.Token)
	}
	b, _ := s.buildInfo(a, kind)
	res, err := a.resolver()(ctx, src, b)
	if err != nil {
		return nil, nil, nil, flagNames(err)
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.hide.writer(a.io.Stderr), "credbroker: warning: %s\n", w)
	}
	return res, vs, secrets, nil
}

// flagNames rewrites field names of source errors into flag names, so a
// command-line user reads "--secret-access-key: undefined variable".
func flagNames(err error) error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range multi.Unwrap() {
			out = append(out, flagNames(e))
		}
		return errors.Join(out...)
	}
	if e := credbroker.AsError(err); e != nil {
		if field, ok := jobfile.RenameField(e.Field, fieldFlags); ok {
			c := *e
			c.Field = field
			return &c
		}
	}
	return err
}

// fieldFlags maps source field names to the flags that set them.
var fieldFlags = map[string]string{
	"source": "--source", "region": "--region", "access_key_id": "--access-key-id",
	"secret_access_key": "--secret-access-key", "session_token": "--session-token",
	"imds_endpoint": "--imds-endpoint", "connector": "--connector", "broker": "--broker",
	"token_file": "--token-file", "ca_file": "--ca-file", "sts_endpoint": "--sts-endpoint",
	"role.arn": "--role-arn", "role_arn": "--role-arn", "role.external_id": "--external-id",
	"role.session_name": "--role-session-name", "role.duration": "--duration", "duration": "--duration",
	"role.policy_file": "--policy-file", "role.policy": "--policy-file", "policy": "--policy-file",
	"role.policy_arns": "--policy-arn", "policy_arns": "--policy-arn",
	"tags": "--tag", "role.tags": "--tag", "transitive_tag_keys": "--transitive-tag-key",
	"role.transitive_tag_keys": "--transitive-tag-key", "role.session_tags": "--no-session-tags",
	"imds_v1": "--imds-v1", "oidc": "--oidc", "audience": "--audience",
	"web_identity_token_file": "--web-identity-token-file", "policy_file": "--policy-file",
	"session_name": "--role-session-name", "external_id": "--external-id",
	"allowed_account_ids": "--allowed-account-id",
}

// flagField names a source field by the flag that sets it: the names of
// `credbroker check`'s findings about the flags form.
func flagField(f string) string {
	if out, ok := jobfile.RenameField(f, fieldFlags); ok {
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

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func pathErr(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
