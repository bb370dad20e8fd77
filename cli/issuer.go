//go:build !agentonly

package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
)

func (a *app) issuerCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "issuer",
		Aliases: []string{"issuers"},
		Short:   "Trust the OIDC issuers of CI systems, whose ID tokens may replace agent tokens",
		Long: `A trusted issuer is a CI system (GitHub Actions, GitLab, Buildkite, Jenkins)
or a Kubernetes cluster whose ID tokens the broker accepts in place of an
agent token. Its tokens act only through a binding (credbroker binding),
which says which of them may act for which plans.

The broker verifies a token with the keys the issuer publishes (found
through its discovery document, or --jwks-url): the issuer exact, the
audience one of --audience, exp, nbf and iat within --leeway, the
signature by an asymmetric algorithm (none and HMAC are refused).`,
	}
	bf := &brokerFlags{}
	bf.register(cmd)
	cmd.AddCommand(a.issuerCreate(bf, false), a.issuerCreate(bf, true), a.issuerList(bf), a.issuerShow(bf), a.issuerDelete(bf))
	return cmd
}

// issuerFlags are the settings of an issuer on the command line.
type issuerFlags struct {
	spec       credbroker.TrustedIssuer
	algorithms []string
	leeway     time.Duration
}

func (f *issuerFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.spec.URL, "url", "", "the issuer, exactly as its tokens' iss claim says it (https://token.actions.githubusercontent.com)")
	fs.StringVar(&f.spec.DiscoveryURL, "discovery-url", "", "its OpenID configuration (default URL/.well-known/openid-configuration)")
	fs.StringVar(&f.spec.JWKSURL, "jwks-url", "", "its key set, instead of discovery")
	fs.StringArrayVar(&f.spec.Audiences, "audience", nil, "an audience (aud) its tokens must name (repeatable; at least one)")
	fs.StringArrayVar(&f.algorithms, "algorithm", nil, "a signature algorithm accepted (repeatable; default RS256 and ES256; asymmetric only)")
	fs.DurationVar(&f.leeway, "leeway", 0, "clock skew allowed on exp, nbf and iat (default 60s, at most 5m)")
	fs.BoolVar(&f.spec.RejectReplay, "reject-replay", false, "require a jti and accept each token once (once for all the brokers on a PostgreSQL database)")
	fs.StringVar(&f.spec.Description, "description", "", "what the issuer is")
}

// apply copies the flags that were given onto spec (all of them on create).
func (f *issuerFlags) apply(fs *pflag.FlagSet, spec *credbroker.TrustedIssuer, all bool) {
	set := func(name string) bool { return all || fs.Changed(name) }
	if set("url") {
		spec.URL = f.spec.URL
	}
	if set("discovery-url") {
		spec.DiscoveryURL = f.spec.DiscoveryURL
		if f.spec.DiscoveryURL != "" {
			spec.JWKSURL = ""
		}
	}
	if set("jwks-url") {
		spec.JWKSURL = f.spec.JWKSURL
		if f.spec.JWKSURL != "" {
			spec.DiscoveryURL = ""
		}
	}
	if set("audience") {
		spec.Audiences = f.spec.Audiences
	}
	if set("algorithm") {
		spec.Algorithms = f.algorithms
	}
	if set("leeway") {
		spec.LeewaySeconds = int(f.leeway / time.Second)
	}
	if set("reject-replay") {
		spec.RejectReplay = f.spec.RejectReplay
	}
	if set("description") {
		spec.Description = f.spec.Description
	}
}

func (a *app) issuerCreate(bf *brokerFlags, update bool) *cobra.Command {
	var f issuerFlags
	var out *outputFlag
	use, short := "create NAME --url URL --audience AUD [flags]", "Trust an issuer"
	example := `  # GitHub Actions: tokens asked for the audience "credbroker"
  credbroker issuer create github --url https://token.actions.githubusercontent.com --audience credbroker

  # A GitLab instance; GitLab's id_tokens name the audience
  credbroker issuer create gitlab --url https://gitlab.example.com --audience https://broker.example.com

  # Kubernetes (EKS IRSA's projected token), keys named directly
  credbroker issuer create eks --url https://oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLE --audience credbroker`
	if update {
		use, short = "update NAME [flags]", "Change an issuer; only the flags given change"
		example = `  credbroker issuer update github --audience credbroker --audience https://broker.example.com`
	}
	cmd := &cobra.Command{
		Use: use, Short: short, Example: example, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			var res *credbroker.TrustedIssuer
			if update {
				cur, err := c.GetIssuer(cmd.Context(), args[0])
				if err != nil {
					return issuerFlagNames(err)
				}
				f.apply(cmd.Flags(), cur, false)
				res, err = c.UpdateIssuer(cmd.Context(), args[0], *cur)
				if err != nil {
					return issuerFlagNames(err)
				}
			} else {
				spec := credbroker.TrustedIssuer{Name: args[0]}
				f.apply(cmd.Flags(), &spec, true)
				if res, err = c.CreateIssuer(cmd.Context(), spec); err != nil {
					return issuerFlagNames(err)
				}
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, res)
			}
			return issuerTable(a, res)
		},
	}
	out = addTableOutput(cmd)
	f.register(cmd.Flags())
	return cmd
}

// issuerFlagNames names the flag of an issuer field in an error.
func issuerFlagNames(err error) error {
	return renameFields(err, map[string]string{
		"url": "--url", "discovery_url": "--discovery-url", "jwks_url": "--jwks-url", "audiences": "--audience",
		"algorithms": "--algorithm", "leeway_seconds": "--leeway", "description": "--description", "name": "NAME",
	})
}

// renameFields rewrites the field of a domain error by its prefix (an
// indexed field such as audiences[1] keeps its index).
func renameFields(err error, names map[string]string) error {
	e := credbroker.AsError(err)
	if e == nil {
		return err
	}
	field, rest := e.Field, ""
	if i := strings.IndexAny(field, "[."); i >= 0 {
		field, rest = field[:i], field[i:]
	}
	flag, ok := names[field]
	if !ok {
		return err
	}
	c := *e
	c.Field = flag + rest
	return &c
}

func issuerTable(a *app, i *credbroker.TrustedIssuer) error {
	keys := i.DiscoveryURL
	if i.JWKSURL != "" {
		keys = i.JWKSURL
	}
	rows := [][]string{
		{"name", i.Name}, {"url", i.URL}, {"keys", keys}, {"audiences", strings.Join(i.Audiences, ", ")},
		{"algorithms", strings.Join(i.Algorithms, ", ")}, {"leeway", i.Leeway().String()},
		{"reject replay", strconv.FormatBool(i.RejectReplay)}, {"description", dash(i.Description)},
		{"revision", strconv.FormatInt(i.Revision, 10)},
	}
	return table(a.io.Stdout, []string{"FIELD", "VALUE"}, rows)
}

func (a *app) issuerList(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use: "list", Short: "List the trusted issuers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			list, err := c.ListIssuers(cmd.Context())
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, list)
			}
			var rows [][]string
			for _, i := range list {
				rows = append(rows, []string{i.Name, i.URL, strings.Join(i.Audiences, ","), strings.Join(i.Algorithms, ","), strconv.FormatBool(i.RejectReplay)})
			}
			return table(a.io.Stdout, []string{"NAME", "URL", "AUDIENCES", "ALGORITHMS", "REJECT-REPLAY"}, rows)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) issuerShow(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	cmd := &cobra.Command{
		Use: "show NAME", Short: "Show an issuer", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			i, err := c.GetIssuer(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, i)
			}
			return issuerTable(a, i)
		},
	}
	out = addTableOutput(cmd)
	return cmd
}

func (a *app) issuerDelete(bf *brokerFlags) *cobra.Command {
	return &cobra.Command{
		Use: "delete NAME", Short: "Stop trusting an issuer (its bindings must be deleted first)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.DeleteIssuer(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "deleted issuer %s\n", args[0])
			return nil
		},
	}
}
