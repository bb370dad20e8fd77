//go:build !agentonly

package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
)

func (a *app) consoleCommand() *cobra.Command {
	bf := &brokerFlags{}
	var req credbroker.ConsoleRequest
	var duration *durationFlag
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "console --connector NAME",
		Short: "Print an AWS Management Console sign-in URL for a connector",
		Long: `Vend credentials from a connector (same rules and audit as any vend) and turn
them into a federated sign-in URL for the AWS Management Console of the
connector's partition (aws, aws-cn, aws-us-gov). The URL grants console access
until it expires: open it, do not share it. --output json prints
{"url", "expiration"} instead of the URL alone.`,
		Example: `  credbroker console --connector audit --plan OPS-AUDIT`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Connector == "" {
				return credbroker.Errorf(credbroker.CodeInvalid, "--connector", "missing").WithFix("name the connector: --connector NAME")
			}
			req.Plan = firstNonEmpty(req.Plan, a.env("CREDBROKER_PLAN"))
			req.Build = firstNonEmpty(req.Build, a.env("CREDBROKER_BUILD"))
			req.DurationSeconds = int(duration.d / time.Second)
			c, err := bf.client(a)
			if err != nil {
				return err
			}
			res, err := c.Console(cmd.Context(), req)
			if err != nil {
				return err
			}
			if out.is("json") {
				return writeJSON(a.io.Stdout, res)
			}
			fmt.Fprintln(a.io.Stdout, res.URL)
			return nil
		},
	}
	bf.register(cmd)
	out = addTableOutput(cmd)
	f := cmd.Flags()
	f.StringVar(&req.Connector, "connector", "", "connector name")
	f.StringVar(&req.Plan, "plan", "", "plan key the sign-in is for (default $CREDBROKER_PLAN)")
	f.StringVar(&req.Build, "build", "", "build number (default $CREDBROKER_BUILD)")
	f.StringVar(&req.Destination, "destination", "", "console page to open (default the console home)")
	duration = addDuration(f, "duration", "console session length, 15m to 12h, e.g. 900s or 1h")
	return cmd
}
