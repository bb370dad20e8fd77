//go:build !agentonly

package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
)

func (a *app) variableCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "variable",
		Aliases: []string{"variables", "var"},
		Short:   "Global and plan variables kept on the broker (admin token)",
		Long: `Variables on the broker are served to agents for ${...} substitution: global
ones to every plan, plan ones to that plan's builds. Secret variables (marked
--secret, or named like *password*, *secret*, *passphrase*, *sshKey*, *token*)
are stored encrypted, masked in task output and never shown by list.`,
	}
	bf := &brokerFlags{}
	bf.register(cmd)
	cmd.AddCommand(a.variableSet(bf), a.variableList(bf), a.variableDelete(bf))
	return cmd
}

func (a *app) variableSet(bf *brokerFlags) *cobra.Command {
	var plan, value, valueFile string
	var secret bool
	cmd := &cobra.Command{
		Use:   "set NAME (--value VALUE | --value-file FILE|-) [--plan KEY] [--secret]",
		Short: "Set a variable",
		Example: `  credbroker variable set deployConnector --plan OPS-DEPLOY --value deploy-prod
  credbroker variable set dbPassword --secret --value-file - < db.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("value") == (valueFile != "") {
				return credbroker.Errorf(credbroker.CodeInvalid, "--value", "give exactly one of --value and --value-file").
					WithFix("secret values belong in --value-file FILE or --value-file - (stdin)")
			}
			if valueFile != "" {
				v, err := readSecret(a, valueFile, "--value-file")
				if err != nil {
					return err
				}
				value = v
			}
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.SetVariable(cmd.Context(), credbroker.Variable{Plan: plan, Name: args[0], Value: value, Secret: secret}); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "set variable %s (%s)\n", args[0], scopeName(plan))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&plan, "plan", "", "plan key; none for a global variable")
	f.StringVar(&value, "value", "", "the value (visible in process listings: use --value-file for secrets)")
	f.StringVar(&valueFile, "value-file", "", "file holding the value, or - for stdin")
	f.BoolVar(&secret, "secret", false, "mark it secret (stored encrypted, masked)")
	return cmd
}

func scopeName(plan string) string {
	if plan == "" {
		return "global"
	}
	return "plan " + plan
}

func (a *app) variableList(bf *brokerFlags) *cobra.Command {
	var out *outputFlag
	var plan string
	cmd := &cobra.Command{
		Use:   "list [--plan KEY]",
		Short: "List variables; secret values are not shown",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			vs, err := c.ListVariables(cmd.Context(), plan)
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, vs)
			}
			var rows [][]string
			for _, v := range vs {
				val := v.Value
				if v.Secret {
					val = "********"
				}
				rows = append(rows, []string{scopeName(v.Plan), v.Name, val})
			}
			return table(a.io.Stdout, []string{"SCOPE", "NAME", "VALUE"}, rows)
		},
	}
	out = addTableOutput(cmd)
	cmd.Flags().StringVar(&plan, "plan", "", "only global variables and those of this plan")
	return cmd
}

func (a *app) variableDelete(bf *brokerFlags) *cobra.Command {
	var plan string
	cmd := &cobra.Command{
		Use:   "delete NAME [--plan KEY]",
		Short: "Delete a variable",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			if err := c.DeleteVariable(cmd.Context(), plan, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.io.Stdout, "deleted variable %s (%s)\n", args[0], scopeName(plan))
			return nil
		},
	}
	cmd.Flags().StringVar(&plan, "plan", "", "plan key; none for a global variable")
	return cmd
}
