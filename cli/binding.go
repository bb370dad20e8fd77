//go:build !agentonly

package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
)

func (a *app) bindingCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "binding",
		Aliases: []string{"bindings"},
		Short:   "Bind the ID tokens of a trusted issuer to plans, by their claims",
		Long: `A binding says which ID tokens of a trusted issuer may act for which plans:
every rule must hold (the subject pattern, and each claim rule, where one of
its values or globs must match). The token then acts as an agent token of the
binding's plan: the plan its template makes of the claims, or its fixed plan
pattern; connector scopes and allowed plans apply as for any agent token.

Globs have * (any run of characters, / and : included) and ? (one
character); \ makes the next character literal. A claim is named by its
name, or by a JSON pointer into nested claims (/ext/team).

Chosen claims become session tags (--tag-claim), and the role session name
and source identity can be made of them (--session-name, --source-identity),
so that CloudTrail leads back to the repository, the commit and the run. The
audit records the issuer, the subject and the provenance claims (repository,
ref, sha, run_id, ...) of every vend.

Bind the claims that say whose token it is: GitHub's and Buildkite's issuers
are shared by every user of the service.`,
	}
	bf := &brokerFlags{}
	bf.register(cmd)
	cmd.AddCommand(a.bindingCreate(bf, false), a.bindingCreate(bf, true), a.bindingList(bf), a.bindingShow(bf), a.bindingDelete(bf))
	return cmd
}

// bindingFlags are the settings of a binding on the command line.
type bindingFlags struct {
	spec        credbroker.Binding
	claims      []string
	globs       []string
	tagClaims   []string
	auditClaims []string
}

func (f *bindingFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.spec.Issuer, "issuer", "", "the trusted issuer whose tokens it binds")
	fs.StringVar(&f.spec.Subject, "subject", "", "a glob the token's sub must match (repo:acme/app:ref:refs/heads/main)")
	fs.StringArrayVar(&f.claims, "claim", nil, "CLAIM=VALUE: the claim must be VALUE; repeat a claim for alternatives (repeatable)")
	fs.StringArrayVar(&f.globs, "claim-glob", nil, "CLAIM=GLOB: the claim must match GLOB (repeatable)")
	fs.StringVar(&f.spec.PlanTemplate, "plan-template", "", "make the plan key of claims: GH-{repository_owner}-{repository} (cleaned to a plan key)")
	fs.StringVar(&f.spec.Plans, "plans", "", "or a fixed plan key or glob of them: OPS-DEPLOY, OPS-*")
	fs.StringArrayVar(&f.tagClaims, "tag-claim", nil, "[KEY=]CLAIM: a session tag KEY (default the claim's name) with the claim's value (repeatable)")
	fs.StringVar(&f.spec.SessionName, "session-name", "", "role session name template: gh-{run_id}-{run_attempt} (default from the build)")
	fs.StringVar(&f.spec.SourceIdentity, "source-identity", "", "source identity template: {actor} (default from the build)")
	fs.StringArrayVar(&f.auditClaims, "audit-claim", nil, "another claim the audit records (repeatable)")
	fs.StringVar(&f.spec.Description, "description", "", "what the binding is for")
}

// parse turns the list flags into the binding's rules.
func (f *bindingFlags) parse() error {
	f.spec.Claims = nil
	index := map[string]int{}
	add := func(flag, v string, glob bool) error {
		name, val, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return credbroker.Errorf(credbroker.CodeInvalid, "--"+flag, "expected CLAIM=VALUE").WithFix("write --" + flag + " repository=acme/app")
		}
		i, seen := index[name]
		if !seen {
			i = len(f.spec.Claims)
			index[name] = i
			f.spec.Claims = append(f.spec.Claims, credbroker.ClaimRule{Claim: name})
		}
		if glob {
			f.spec.Claims[i].Globs = append(f.spec.Claims[i].Globs, val)
		} else {
			f.spec.Claims[i].Values = append(f.spec.Claims[i].Values, val)
		}
		return nil
	}
	for _, v := range f.claims {
		if err := add("claim", v, false); err != nil {
			return err
		}
	}
	for _, v := range f.globs {
		if err := add("claim-glob", v, true); err != nil {
			return err
		}
	}
	f.spec.TagClaims = nil
	for _, v := range f.tagClaims {
		key, claim, ok := strings.Cut(v, "=")
		if !ok {
			key, claim = v, v
		}
		f.spec.TagClaims = append(f.spec.TagClaims, credbroker.ClaimTag{Key: key, Claim: claim})
	}
	f.spec.AuditClaims = f.auditClaims
	return nil
}

// apply copies the flags that were given onto spec (all on create).
func (f *bindingFlags) apply(fs *pflag.FlagSet, spec *credbroker.Binding, all bool) {
	set := func(names ...string) bool {
		for _, n := range names {
			if all || fs.Changed(n) {
				return true
			}
		}
		return false
	}
	if set("issuer") {
		spec.Issuer = f.spec.Issuer
	}
	if set("subject") {
		spec.Subject = f.spec.Subject
	}
	if set("claim", "claim-glob") {
		spec.Claims = f.spec.Claims
	}
	if set("plan-template") {
		spec.PlanTemplate = f.spec.PlanTemplate
		if f.spec.PlanTemplate != "" && !fs.Changed("plans") {
			spec.Plans = ""
		}
	}
	if set("plans") {
		spec.Plans = f.spec.Plans
		if f.spec.Plans != "" && !fs.Changed("plan-template") {
			spec.PlanTemplate = ""
		}
	}
	if set("tag-claim") {
		spec.TagClaims = f.spec.TagClaims
	}
	if set("session-name") {
		spec.SessionName = f.spec.SessionName
	}
	if set("source-identity") {
		spec.SourceIdentity = f.spec.SourceIdentity
	}
	if set("audit-claim") {
		spec.AuditClaims = f.spec.AuditClaims
	}
	if set("description") {
		spec.Description = f.spec.Description
	}
}

func (a *app) bindingCreate(bf *brokerFlags, update bool) *cobra.Command {
	var f bindingFlags
	var out *outputFlag
	use, short := "create NAME --issuer ISSUER (--plan-template T | --plans P) [rules]", "Bind an issuer's tokens to plans"
	example := `  # GitHub: acme's deploy workflow on main, one plan per repository
  credbroker binding create gh-deploy --issuer github \
      --claim repository_owner=acme --subject 'repo:acme/*:ref:refs/heads/main' \
      --plan-template 'GH-{repository_owner}-{repository}' \
      --tag-claim repository --tag-claim sha --session-name 'gh-{run_id}-{run_attempt}' --source-identity '{actor}'

  # GitLab: protected branches of the platform group, one fixed plan
  credbroker binding create gl-platform --issuer gitlab \
      --claim namespace_path=platform --claim ref_protected=true --plans GL-DEPLOY

  # Buildkite: always bind the organisation (the issuer is shared)
  credbroker binding create bk-deploy --issuer buildkite --claim organization_slug=acme \
      --claim-glob 'pipeline_slug=deploy-*' --plan-template 'BK-{pipeline_slug}'`
	if update {
		use, short = "update NAME [flags]", "Change a binding; only the flags given change (a list flag replaces its list)"
		example = `  credbroker binding update gh-deploy --claim-glob 'ref=refs/heads/release/*' --claim ref=refs/heads/main`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.parse(); err != nil {
				return err
			}
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			var res *credbroker.Binding
			if update {
				cur, err := c.GetBinding(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				f.apply(cmd.Flags(), cur, false)
				if res, err = c.UpdateBinding(cmd.Context(), args[0], *cur); err != nil {
					return bindingFlagNames(err)
				}
			} else {
				spec := credbroker.Binding{Name: args[0]}
				f.apply(cmd.Flags(), &spec, true)
				if res, err = c.CreateBinding(cmd.Context(), spec); err != nil {
					return bindingFlagNames(err)
				}
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, res)
			}
			return bindingTable(a, res)
		},
	}
	out = addTableOutput(cmd)
	f.register(cmd.Flags())
	return cmd
}

// bindingFlagNames names the flag of a binding field in an error.
func bindingFlagNames(err error) error {
	return renameFields(err, map[string]string{
		"issuer": "--issuer", "subject": "--subject", "claims": "--claim", "plan_template": "--plan-template",
		"plans": "--plans", "tag_claims": "--tag-claim", "session_name": "--session-name",
		"source_identity": "--source-identity", "audit_claims": "--audit-claim", "description": "--description", "name": "NAME",
	})
}

// rulesText renders a binding's claim rules on one line.
func rulesText(b *credbroker.Binding) string {
	var parts []string
	for _, c := range b.Claims {
		var alts []string
		alts = append(alts, c.Values...)
		alts = append(alts, c.Globs...)
		parts = append(parts, c.Claim+"="+strings.Join(alts, "|"))
	}
	return strings.Join(parts, " ")
}

func bindingTable(a *app, b *credbroker.Binding) error {
	var tags []string
	for _, t := range b.TagClaims {
		tags = append(tags, t.Key+"="+t.Claim)
	}
	plan := b.Plans
	if b.PlanTemplate != "" {
		plan = b.PlanTemplate + " (template)"
	}
	rows := [][]string{
		{"name", b.Name}, {"issuer", b.Issuer}, {"subject", dash(b.Subject)}, {"claims", dash(rulesText(b))},
		{"plan", plan}, {"tag claims", dash(strings.Join(tags, ", "))}, {"session name", dash(b.SessionName)},
		{"source identity", dash(b.SourceIdentity)}, {"audit claims", dash(strings.Join(b.AuditClaims, ", "))},
		{"description", dash(b.Description)}, {"revision", strconv.FormatInt(b.Revision, 10)},
	}
	return table(a.io.Stdout, []string{"FIELD", "VALUE"}, rows)
}

func (a *app) bindingList(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use: "list", Short: "List the bindings", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			list, err := c.ListBindings(cmd.Context())
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, list)
			}
			var rows [][]string
			for i := range list {
				b := &list[i]
				plan := b.Plans
				if b.PlanTemplate != "" {
					plan = b.PlanTemplate
				}
				rows = append(rows, []string{b.Name, b.Issuer, dash(b.Subject), dash(rulesText(b)), plan})
			}
			return table(a.io.Stdout, []string{"NAME", "ISSUER", "SUBJECT", "CLAIMS", "PLAN"}, rows)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) bindingShow(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use: "show NAME", Short: "Show a binding", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			b, err := c.GetBinding(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, b)
			}
			return bindingTable(a, b)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) bindingDelete(bf *brokerFlags) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Delete a binding", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.DeleteBinding(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "deleted binding %s\n", args[0])
			return nil
		},
	}
}
