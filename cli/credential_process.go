package cli

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"
)

// processOutput is the credential_process JSON the AWS SDKs read.
type processOutput struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	Expiration      string `json:"Expiration,omitempty"`
}

func (a *app) credentialProcessCommand() *cobra.Command {
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "credential-process [source flags]",
		Short: "Print credentials as the JSON an AWS config file's credential_process expects",
		Long: `Print credentials for an AWS config file's credential_process setting:

  {"Version":1,"AccessKeyId":"...","SecretAccessKey":"...","SessionToken":"...","Expiration":"RFC 3339"}

The AWS CLI and SDKs run the command again when the credentials near their
Expiration. Errors go to stderr, one line, with a non-zero exit code.

Put variable references, never literal secrets, on the credential_process line:
the AWS config file and process listings are readable by others.`,
		Example: `  # ~/.aws/config
  [profile ci]
  credential_process = credbroker credential-process --region us-east-1 --role-arn arn:aws:iam::123456789012:role/ci

  [profile deploy]
  credential_process = credbroker credential-process --connector deploy --broker https://broker:8420`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			res, _, _, err := sf.resolve(cmd.Context(), a)
			if err != nil {
				return err
			}
			cr, err := res.Provider.Retrieve(cmd.Context())
			if err != nil {
				return err
			}
			out := processOutput{Version: 1, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken}
			if cr.CanExpire() {
				out.Expiration = cr.Expires.UTC().Format(time.RFC3339)
			}
			enc := json.NewEncoder(a.io.Stdout)
			return enc.Encode(out)
		},
	}
	sf.register(cmd)
	return cmd
}
