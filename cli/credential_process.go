package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/endpoint"
	"github.com/credbroker/credbroker/internal/wire"
)

func (a *app) credentialProcessCommand() *cobra.Command {
	var sf sourceFlags
	var channel, profile string
	cmd := &cobra.Command{
		Use:   "credential-process [source flags]",
		Short: "Print credentials as the JSON an AWS config file's credential_process expects",
		Long: `Print credentials for an AWS config file's credential_process setting:

  {"Version":1,"AccessKeyId":"...","SecretAccessKey":"...","SessionToken":"...","Expiration":"RFC 3339"}

The AWS CLI and SDKs run the command again when the credentials near their
Expiration. Errors go to stderr, one line, with a non-zero exit code.

Put variable references, never literal secrets, on the credential_process line:
the AWS config file and process listings are readable by others.

With --channel DIR --profile NAME, it asks the running credbroker exec or run
whose profiles live in DIR for profile NAME's current credentials: the lines
credbroker writes into a task's AWS config file when the task has profiles
(exec --profile, or profiles: in a job file). The token is read from DIR.`,
		Example: `  # ~/.aws/config
  [profile ci]
  credential_process = credbroker credential-process --region us-east-1 --role-arn arn:aws:iam::123456789012:role/ci

  [profile deploy]
  credential_process = credbroker credential-process --connector deploy --broker https://broker:8420`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if channel != "" || profile != "" {
				return a.channelProcess(cmd.Context(), cmd.Flags(), channel, profile)
			}
			res, _, _, err := sf.resolve(cmd.Context(), a)
			if err != nil {
				return err
			}
			cr, err := res.Provider.Retrieve(cmd.Context())
			if err != nil {
				return err
			}
			_, err = a.io.Stdout.Write(wire.AppendProcess(nil, cr))
			return err
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&channel, "channel", "", "the private directory of a running credbroker's profiles (written by credbroker into a task's AWS config file)")
	cmd.Flags().StringVar(&profile, "profile", "", "with --channel: the profile whose credentials to print")
	return cmd
}

// channelProcess prints the credentials of profile from the channel in
// dir, the other end of a task's profile.
func (a *app) channelProcess(ctx context.Context, fs *pflag.FlagSet, dir, profile string) error {
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		if bad == nil && f.Name != "channel" && f.Name != "profile" && !strings.HasPrefix(f.Name, "log-") {
			bad = credbroker.Errorf(credbroker.CodeInvalid, "--"+f.Name, "not used with --channel: the running credbroker has the profile's source").
				WithFix("drop the flag")
		}
	})
	switch {
	case bad != nil:
		return bad
	case dir == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "--channel", "missing with --profile").WithFix("give the directory the task's AWS config file names")
	case profile == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "--profile", "missing with --channel").WithFix("name the profile: --profile NAME")
	}
	body, err := endpoint.FetchProfile(ctx, dir, profile)
	if err != nil {
		return err
	}
	_, err = a.io.Stdout.Write(body)
	return err
}
