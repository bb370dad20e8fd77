//go:build !agentonly

package cli

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
)

// connectorFlags are the settings of a connector on the command line.
type connectorFlags struct {
	description     string
	principal       string
	base            string
	baseConnector   string
	accessKeyID     string
	secretFile      string
	region          string
	roleARN         string
	externalID      string
	federatedName   string
	policyFile      string
	policyARNs      []string
	defaultDuration time.Duration
	maxDuration     time.Duration
	scope           string
	allowPlans      []string
	allowedAccounts []string
	sessionMode     string
	tags            []string
	transitive      []string
	disableTags     bool
	stsEndpoints    []string
	retries         int
	maxBackoff      time.Duration
}

func (f *connectorFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVar(&f.principal, "principal", "assumed-role", "what it yields: assumed-role (AssumeRole), federated-user (GetFederationToken), session (GetSessionToken) or provided (the stored keys as they are: long-lived, prefer an STS type)")
	fl.StringVar(&f.region, "region", "", "AWS region; gives the partition and STS endpoint")
	fl.StringVar(&f.roleARN, "role-arn", "", "assumed-role: the role to assume")
	fl.StringVar(&f.externalID, "external-id", "", "assumed-role: the external ID its trust policy requires")
	fl.StringVar(&f.federatedName, "federated-name", "", "federated-user: the federated user's name (default derived from the build)")
	fl.StringVar(&f.base, "base", "", "base credentials: keys (stored encrypted), default (the broker host's own chain, instance profile included) or connector (another connector: role chaining); default keys")
	fl.StringVar(&f.accessKeyID, "access-key-id", "", "base keys: access key ID")
	fl.StringVar(&f.secretFile, "secret-access-key-file", "", "base keys: file holding the secret key, or - for stdin (default $CREDBROKER_SECRET_ACCESS_KEY); never give it on the command line")
	fl.StringVar(&f.baseConnector, "base-connector", "", "base connector: the connector whose credentials assume this role")
	fl.StringVar(&f.policyFile, "policy-file", "", "session policy JSON limiting the connector's permissions (at most 2,048 characters without whitespace)")
	fl.StringArrayVar(&f.policyARNs, "policy-arn", nil, "managed policy ARN limiting the connector's permissions (repeatable, at most 10)")
	fl.DurationVar(&f.defaultDuration, "default-duration", 0, "session duration when a vend asks for none (default 1h)")
	fl.DurationVar(&f.maxDuration, "max-duration", 0, "longest session a vend may ask for (default the default duration, at least 1h)")
	fl.StringVar(&f.scope, "scope", "system", `who may use it: "system" (any plan, and builds with no plan), "project KEY" or "plan KEY"`)
	fl.StringArrayVar(&f.allowPlans, "allow-plan", nil, "plan key glob allowed to use it, e.g. 'OPS-*' (repeatable; none allows every plan in scope)")
	fl.StringArrayVar(&f.allowedAccounts, "allowed-account-id", nil, "account guard: the 12-digit AWS accounts its sessions may belong to; a session STS issues in another is refused (repeatable, or comma-separated; '' for no guard)")
	fl.StringVar(&f.sessionMode, "session-mode", "build", "build: a fresh session per build; plan: one session shared by the plan's builds")
	fl.StringArrayVar(&f.tags, "tag", nil, "session tag KEY=VALUE added to every session (repeatable)")
	fl.StringArrayVar(&f.transitive, "transitive-tag-key", nil, "session tag key kept through role chaining (repeatable)")
	fl.BoolVar(&f.disableTags, "disable-tags", false, "send no session tags, for roles whose trust policy lacks sts:TagSession")
	fl.StringArrayVar(&f.stsEndpoints, "sts-endpoint", nil, "STS endpoint URL; repeat for fallbacks tried in order (default the region's endpoint)")
	fl.IntVar(&f.retries, "retries", 0, "retries of a throttled or failed STS call (default 7)")
	fl.DurationVar(&f.maxBackoff, "max-backoff", 0, "longest wait between two retries (default 20s)")
	fl.StringVar(&f.description, "description", "", "free text shown by list and show")
}

// apply writes the flags the user gave into spec; on create every flag
// counts, on update only those changed.
func (f *connectorFlags) apply(a *app, cmd *cobra.Command, spec *credbroker.ConnectorSpec, create bool) error {
	set := func(name string) bool { return create || cmd.Flags().Changed(name) }
	if set("description") {
		spec.Description = f.description
	}
	if set("principal") {
		spec.Principal = credbroker.PrincipalType(f.principal)
	}
	if set("base") {
		spec.Base = credbroker.BaseKind(f.base)
	}
	if set("base-connector") {
		spec.BaseConnector = f.baseConnector
		if !create && f.baseConnector != "" && !cmd.Flags().Changed("base") {
			spec.Base = credbroker.BaseConnector
		}
	}
	spec.AccessKeyID = ""
	if cmd.Flags().Changed("access-key-id") {
		spec.AccessKeyID = f.accessKeyID
	}
	switch {
	case f.secretFile != "":
		s, err := readSecret(a, f.secretFile, "--secret-access-key-file")
		if err != nil {
			return err
		}
		spec.SecretAccessKey = s
	case a.env("CREDBROKER_SECRET_ACCESS_KEY") != "" && (create || cmd.Flags().Changed("access-key-id")):
		spec.SecretAccessKey = a.env("CREDBROKER_SECRET_ACCESS_KEY")
	}
	if create && spec.Base == "" && spec.BaseConnector == "" && spec.AccessKeyID == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "--base", "no base credentials").
			WithFix("give --access-key-id with --secret-access-key-file, or --base default, or --base-connector NAME")
	}
	if set("region") {
		spec.Region = f.region
	}
	if set("role-arn") {
		spec.RoleARN = f.roleARN
	}
	if set("external-id") {
		spec.ExternalID = f.externalID
	}
	if set("federated-name") {
		spec.FederatedName = f.federatedName
	}
	if set("policy-file") {
		spec.Policy = ""
		if f.policyFile != "" {
			b, err := os.ReadFile(f.policyFile)
			if err != nil {
				return credbroker.Errorf(credbroker.CodeInvalid, "--policy-file", "cannot read %s: %s", f.policyFile, pathErr(err))
			}
			spec.Policy = string(b)
		}
	}
	if set("policy-arn") {
		spec.PolicyARNs = f.policyARNs
	}
	if set("default-duration") {
		spec.DefaultDurationSeconds = int(f.defaultDuration / time.Second)
	}
	if set("max-duration") {
		spec.MaxDurationSeconds = int(f.maxDuration / time.Second)
	}
	if set("scope") {
		sc, err := parseScope(f.scope)
		if err != nil {
			return err
		}
		spec.Scope = sc
	}
	if set("allow-plan") {
		spec.AllowPlans = f.allowPlans
	}
	if set("allowed-account-id") {
		spec.AllowedAccountIDs = nil
		for _, v := range f.allowedAccounts {
			spec.AllowedAccountIDs = append(spec.AllowedAccountIDs, credbroker.SplitAccountIDs(v)...)
		}
	}
	if set("session-mode") {
		spec.SessionMode = credbroker.SessionMode(f.sessionMode)
	}
	if set("tag") {
		spec.Tags = nil
		for _, t := range f.tags {
			k, v, ok := strings.Cut(t, "=")
			if !ok || k == "" {
				return credbroker.Errorf(credbroker.CodeInvalid, "--tag", "expected KEY=VALUE").WithFix("write --tag team=ops")
			}
			spec.Tags = append(spec.Tags, credbroker.Tag{Key: k, Value: v})
		}
	}
	if set("transitive-tag-key") {
		spec.TransitiveTagKeys = f.transitive
	}
	if set("disable-tags") {
		spec.DisableTags = f.disableTags
	}
	if set("sts-endpoint") {
		spec.STSEndpoints = f.stsEndpoints
	}
	if set("retries") {
		spec.Retries = f.retries
	}
	if set("max-backoff") {
		spec.MaxBackoffSeconds = int(f.maxBackoff / time.Second)
	}
	return nil
}

// parseScope reads "system", "project KEY" or "plan KEY".
func parseScope(s string) (credbroker.Scope, error) {
	fields := strings.Fields(s)
	if len(fields) == 0 || len(fields) > 2 {
		return credbroker.Scope{}, credbroker.Errorf(credbroker.CodeInvalid, "--scope", "expected system, project KEY or plan KEY").
			WithFix(`write --scope system, --scope "project OPS" or --scope "plan OPS-DEPLOY"`)
	}
	sc := credbroker.Scope{Kind: credbroker.ScopeKind(fields[0])}
	if len(fields) == 2 {
		sc.Key = fields[1]
	}
	return sc, nil
}

func (a *app) connectorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "connector",
		Aliases: []string{"connectors"},
		Short:   "Create, list, show, update and delete connectors (admin token)",
		Long: `A connector is a credentials source configured once on the broker: base
credentials (stored encrypted), the principal type, region, role, and the limits
of what it hands out (session policy, managed policy ARNs, durations, scope and
allowed plans). Build tasks name it: credbroker exec --connector NAME.

Secrets are read from a file or stdin, never from the command line, and never
shown again.`,
	}
	bf := &brokerFlags{}
	bf.register(cmd)
	cmd.AddCommand(a.connectorCreate(bf), a.connectorList(bf), a.connectorShow(bf), a.connectorUpdate(bf), a.connectorDelete(bf))
	return cmd
}

func (a *app) connectorCreate(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	var cf connectorFlags
	cmd := &cobra.Command{
		Use:   "create NAME [flags]",
		Short: "Create a connector",
		Example: `  # AssumeRole with stored keys, read-only on one bucket, for the OPS project
  credbroker connector create deploy --region us-east-1 \
      --role-arn arn:aws:iam::123456789012:role/deploy --external-id ops-7f3a \
      --access-key-id AKIAIOSFODNN7EXAMPLE --secret-access-key-file - \
      --policy-file read-artifacts.json --scope "project OPS" --allow-plan 'OPS-*' < secret.txt

  # The broker host's instance profile, assuming a cross-account role
  credbroker connector create audit --base default --region eu-west-1 \
      --role-arn arn:aws:iam::210987654321:role/audit-reader

  # Provided keys: handed out as they are, no STS call (prefer an STS type)
  credbroker connector create legacy --principal provided --region us-east-1 \
      --access-key-id AKIA... --secret-access-key-file legacy.secret`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := credbroker.ConnectorSpec{Name: args[0]}
			if err := cf.apply(a, cmd, &spec, true); err != nil {
				return err
			}
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			info, err := c.CreateConnector(cmd.Context(), spec)
			if err != nil {
				return err
			}
			if info.Principal == credbroker.PrincipalProvided {
				fmt.Fprintln(a.io.Stderr, "credbroker: warning: a provided connector hands out its long-lived keys as they are, with no STS session; an STS-backed principal (assumed-role, federated-user, session) is preferred")
			}
			return a.printConnector(out, info)
		},
	}
	out = addTableOutput(cmd)
	cf.register(cmd)
	return cmd
}

func (a *app) connectorUpdate(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	var cf connectorFlags
	cmd := &cobra.Command{
		Use:   "update NAME [flags]",
		Short: "Change a connector's settings; flags not given keep their values",
		Example: `  credbroker connector update deploy --max-duration 2h --allow-plan 'OPS-*' --allow-plan 'INFRA-DEPLOY'
  credbroker connector update deploy --access-key-id AKIA... --secret-access-key-file -   # rotate base keys`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			cur, err := c.GetConnector(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			spec := cur.ConnectorSpec
			if err := cf.apply(a, cmd, &spec, false); err != nil {
				return err
			}
			info, err := c.UpdateConnector(cmd.Context(), cur.ID, spec)
			if err != nil {
				return err
			}
			return a.printConnector(out, info)
		},
	}
	out = addTableOutput(cmd)
	cf.register(cmd)
	return cmd
}

func (a *app) connectorList(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List connectors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			list, err := c.ListConnectors(cmd.Context())
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, list)
			}
			var rows [][]string
			for _, in := range list {
				rows = append(rows, []string{in.Name, string(in.Principal), in.Region, in.Scope.String(), strings.Join(in.AllowPlans, ","), dash(in.RoleARN)})
			}
			return table(a.io.Stdout, []string{"NAME", "PRINCIPAL", "REGION", "SCOPE", "ALLOWED PLANS", "ROLE"}, rows)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) connectorShow(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: "Show a connector (never its secret)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			info, err := c.GetConnector(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return a.printConnector(out, info)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) connectorDelete(bf *brokerFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a connector",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.DeleteConnector(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "deleted connector %s\n", args[0])
			return nil
		},
	}
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (a *app) printConnector(out *outputFlag, in *credbroker.ConnectorInfo) error {
	if out.is("json") {
		return writeJSON(a.io.Stdout, in)
	}
	w := a.io.Stdout
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%-20s %s\n", k+":", credbroker.EscapeText(v))
		}
	}
	line("name", in.Name)
	line("id", in.ID)
	line("description", in.Description)
	line("principal", string(in.Principal))
	base := string(in.Base)
	switch in.Base {
	case credbroker.BaseKeys:
		base += " " + in.AccessKeyID
		if in.HasSecret {
			base += " (secret stored encrypted)"
		}
	case credbroker.BaseConnector:
		base += " " + in.BaseConnector
	}
	line("base", base)
	line("region", in.Region+" ("+in.Partition+")")
	line("role", in.RoleARN)
	line("external id", in.ExternalID)
	line("federated name", in.FederatedName)
	if in.Policy != "" {
		line("session policy", fmt.Sprintf("%d characters", len(in.Policy)))
	}
	line("policy arns", strings.Join(in.PolicyARNs, ", "))
	if in.Principal != credbroker.PrincipalProvided {
		line("durations", fmt.Sprintf("default %s, max %s", time.Duration(in.DefaultDurationSeconds)*time.Second, time.Duration(in.MaxDurationSeconds)*time.Second))
	}
	line("scope", in.Scope.String())
	line("allowed plans", strings.Join(in.AllowPlans, ", "))
	line("allowed accounts", strings.Join(in.AllowedAccountIDs, ", "))
	line("session mode", string(in.SessionMode))
	var tags []string
	for _, t := range in.Tags {
		tags = append(tags, t.Key+"="+t.Value)
	}
	line("tags", strings.Join(tags, ", "))
	if in.DisableTags {
		line("session tags", "off")
	}
	line("sts endpoints", strings.Join(in.STSEndpoints, ", "))
	line("revision", fmt.Sprint(in.Revision))
	line("updated", in.UpdatedAt.UTC().Format(time.RFC3339))
	return nil
}
