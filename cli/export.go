package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
)

func (a *app) exportCommand() *cobra.Command {
	var sf sourceFlags
	var profile string
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "export --output env|json|ini [source flags]",
		Short: "Print credentials as shell exports, JSON, or a shared-credentials profile",
		Long: `Print credentials once, for tools that take them another way:

  env   export AWS_ACCESS_KEY_ID=... lines for eval in a POSIX shell,
        including AWS_REGION, AWS_DEFAULT_REGION and AWS_CREDENTIAL_EXPIRATION
  json  {"AccessKeyId","SecretAccessKey","SessionToken","Expiration","Region","Partition"}
  ini   a [profile] section for an AWS shared-credentials file

(--format is the older spelling of --output, and still accepted.)

The output holds secrets: pipe it where it is needed, never into a build log.
Prefer 'credbroker exec', which masks output and refreshes credentials.`,
		Example: `  eval "$(credbroker export --output env --region us-east-1)"
  credbroker export --output ini --profile ci --connector deploy > "$HOME/.aws/credentials"
  credbroker export -o json --connector deploy | jq .Expiration`,
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
			exp := ""
			if cr.CanExpire() {
				exp = cr.Expires.UTC().Format(time.RFC3339)
			}
			w := a.io.Stdout
			switch out.value {
			case "env":
				line := func(k, v string) {
					if v != "" {
						fmt.Fprintf(w, "export %s=%s\n", k, shellQuote(v))
					}
				}
				line("AWS_ACCESS_KEY_ID", cr.AccessKeyID)
				line("AWS_SECRET_ACCESS_KEY", cr.SecretAccessKey)
				line("AWS_SESSION_TOKEN", cr.SessionToken)
				line("AWS_CREDENTIAL_EXPIRATION", exp)
				line("AWS_REGION", res.Region)
				line("AWS_DEFAULT_REGION", res.Region)
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]string{
					"AccessKeyId": cr.AccessKeyID, "SecretAccessKey": cr.SecretAccessKey,
					"SessionToken": cr.SessionToken, "Expiration": exp,
					"Region": res.Region, "Partition": res.Partition,
				})
			case "ini":
				for _, v := range []string{profile, cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, res.Region} {
					if strings.ContainsAny(v, "\r\n[]") {
						return credbroker.Errorf(credbroker.CodeInvalid, "--profile", "a profile name or credential holds a line break or bracket, which would break the credentials file").
							WithFix("use a profile name of letters, digits and -_")
					}
				}
				fmt.Fprintf(w, "[%s]\n", profile)
				fmt.Fprintf(w, "aws_access_key_id = %s\n", cr.AccessKeyID)
				fmt.Fprintf(w, "aws_secret_access_key = %s\n", cr.SecretAccessKey)
				if cr.SessionToken != "" {
					fmt.Fprintf(w, "aws_session_token = %s\n", cr.SessionToken)
				}
				if res.Region != "" {
					fmt.Fprintf(w, "region = %s\n", res.Region)
				}
				if exp != "" {
					fmt.Fprintf(w, "# expires %s\n", exp)
				}
			}
			return nil
		},
	}
	out = addOutput(cmd, []string{"env", "json", "ini"}, nil, "output format: env, json or ini")
	out.addAlias(cmd, "format")
	cmd.Flags().StringVar(&profile, "profile", "default", "ini: profile (section) name")
	sf.register(cmd)
	return cmd
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
