package cli

import (
	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/taskrun"
)

func (a *app) execCommand() *cobra.Command {
	var sf sourceFlags
	var pf profileFlags
	var delivery string
	cmd := &cobra.Command{
		Use:   "exec [source flags] -- COMMAND [ARG...]",
		Short: "Run a command with AWS credentials, its output masked",
		Long: `Run COMMAND with AWS credentials from one source, delivered as:

  env       AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
            AWS_CREDENTIAL_EXPIRATION (default)
  endpoint  a container-credentials endpoint on 127.0.0.1 for the life of the
            command (AWS_CONTAINER_CREDENTIALS_FULL_URI and
            AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE); it refreshes credentials
            before they expire, so long commands keep working
  profile   a private shared-credentials file, removed afterwards
            (AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, AWS_PROFILE)

AWS_REGION and AWS_DEFAULT_REGION are set from --region. Credentials already in
the environment (AWS_ACCESS_KEY_ID, AWS_PROFILE, ...) and credbroker's own token
are removed from the command's environment. Every secret value (secret key,
session token, secret variables, and their base64 and URL-encoded forms) is
replaced by ******** in the command's output; access key IDs show as ****WXYZ.

Several accounts in one command: each --profile NAME=FLAG=VALUE,... names a
profile and its source flags (without their dashes; the source flags given
outside --profile apply to every profile). The command gets them all in one
private AWS config file (AWS_CONFIG_FILE): a [profile NAME] each, and
[default] (--default-profile, else the profile named default, else the first).
Each profile's credential_process asks this credbroker for its current
credentials, so each refreshes on its own; AWS_REGION is not set, each profile
has its region. The directory is removed when the command ends (after a kill -9,
by the next run).

The exit code is the command's; 125 when credbroker itself fails, 126 when the
command cannot run, 127 when it is not found, 128+N when it dies of signal N.
Signals (INT, TERM, HUP, QUIT) are forwarded to the command.`,
		Example: `  # Instance profile, assuming a role with a read-only session policy
  credbroker exec --region us-east-1 --role-arn arn:aws:iam::123456789012:role/ci \
      --policy-file read-only.json -- aws s3 ls s3://artifacts

  # Static keys from secret variables; session token set by an earlier task
  credbroker exec --vars plan.vars --access-key-id '${bamboo.awsAccessKeyId}' \
      --secret-access-key '${bamboo.awsSecretKeyPassword}' \
      --session-token '${bamboo.awsSessionTokenPassword}' -- ./deploy.sh

  # A connector on the broker, through a refreshing endpoint
  CREDBROKER_TOKEN_FILE=/etc/credbroker/agent.token \
  credbroker exec --broker https://broker:8420 --connector deploy --plan OPS-DEPLOY \
      --build 42 --delivery endpoint -- terraform apply

  # Two accounts: read with the instance profile's role, write with a connector
  credbroker exec --region eu-west-1 \
      --profile 'source=role-arn=arn:aws:iam::111111111111:role/reader' \
      --profile 'target=connector=deploy' -- \
      sh -c 'aws s3 cp s3://src/build.zip - --profile source | aws s3 cp - s3://dst/build.zip --profile target'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 0 {
				return &exitError{code: taskrun.ExitOwnFailure, err: credbroker.Errorf(credbroker.CodeInvalid, "command", "put the command after --").
					WithFix("write: credbroker exec [flags] -- " + args[0] + " ...")}
			}
			if pf.given() {
				return a.execProfiles(cmd, &sf, &pf, args)
			}
			d := taskrun.Delivery(delivery)
			switch d {
			case taskrun.DeliverEnv, taskrun.DeliverEndpoint, taskrun.DeliverProfile:
			default:
				return &exitError{code: taskrun.ExitOwnFailure, err: credbroker.Errorf(credbroker.CodeInvalid, "--delivery", "unknown delivery %q", delivery).
					WithFix("use env, endpoint or profile")}
			}
			log, err := a.logger(a.hide.writer(a.io.Stderr))
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			res, _, secrets, err := sf.resolve(cmd.Context(), a)
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			r := &taskrun.Runner{Stdout: a.io.Stdout, Stderr: a.io.Stderr, Environ: a.io.Environ, Logger: log}
			code, err := r.Run(cmd.Context(), &taskrun.Command{
				Argv:     args,
				Creds:    res,
				Delivery: d,
				Stdin:    a.io.Stdin,
				Secrets:  secrets,
			})
			if err != nil || code != 0 {
				// The account guard and the refreshes speak of source
				// fields: name them by their flags.
				return &exitError{code: code, err: flagNames(err)}
			}
			return nil
		},
	}
	sf.register(cmd)
	pf.register(cmd)
	cmd.Flags().StringVar(&delivery, "delivery", "env", "how the command receives credentials: env, endpoint or profile")
	return cmd
}
