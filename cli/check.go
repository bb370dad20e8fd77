package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/preflight"
)

func (a *app) checkCommand() *cobra.Command {
	var sf sourceFlags
	var pf profileFlags
	var offline bool
	var out *outputFlag
	cmd := &cobra.Command{
		Use:   "check [JOB.yaml] [source flags]",
		Short: "Verify a job's credentials before a build spends time on them",
		Long: `Verify the credentials of a job file's tasks (check JOB.yaml), or of the
source the flags describe (check [source flags], as for exec), without running
any command. Checks run offline first, then online unless --offline is given.

Offline: the job file is well formed; every variable a task references
resolves (values are never printed); regions are known; role and policy ARNs
parse and belong to the region's partition; session policies are valid JSON
within 2,048 characters; at most 10 policy ARNs; durations are within STS's
limits (a role assumed with instance profile credentials or a session token is
role chaining, and a duration over 1h is lowered to 1h: a warning); session
tags are within STS's limits.

Online: the instance metadata service answers IMDSv2 and names a role; the STS
endpoint answers and credentials can be obtained; the identity is shown where
the STS offers GetCallerIdentity (MinIO's does not: an info line says so). For
a connector source, the broker answers and a real vend is made with the task's
plan, build and job, which proves the token's plan may use the connector: the
credentials are thrown away, but the vend is a vend like any other and shows
in the broker's audit. Runtime variables that a set_variables task sets are
filled for the tasks after it with what its check obtained.

Each finding is one line: severity (error, warning, ok, info), the task, the
field, what was found, and the fix. The exit code is 1 when any finding is an
error, 0 otherwise. --output json prints an array of {severity, task, field,
message, fix} instead (--output table, the default, is also spelled text).`,
		Example: `  # A job file, offline only: no network call at all
  credbroker check --offline examples/two-task-job.yaml --vars plan.vars

  # A job file, then the metadata service, STS and the broker
  credbroker check deploy.yaml --plan OPS-DEPLOY --build 42

  # One source, as exec would use it
  credbroker check --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/deploy --duration 2h

  # For a pipeline step
  credbroker check deploy.yaml --output json | jq '.[] | select(.severity == "error")'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := preflight.Options{
				Offline: offline, LookupEnv: a.getenv, BrokerVariables: a.brokerVariables, UserAgent: userAgent(),
			}
			var rep *preflight.Report
			switch {
			case len(args) == 1:
				if err := jobModeFlags(cmd.Flags()); err != nil {
					return err
				}
				kind := cienv.Kind("") // the job file's ci:
				if sf.ci != "" {
					k, err := cienv.ParseKind("--ci", sf.ci)
					if err != nil {
						rep = preflight.FromError(err, flagField)
						break
					}
					kind = k
				}
				rep = preflight.Job(cmd.Context(), preflight.JobInput{
					Path: args[0], Flags: sf.flagBuild(), CI: kind, Vars: sf.varSources(a, cienv.None),
				}, opts)
			case pf.given():
				rep = a.checkProfiles(cmd, &sf, &pf, opts)
			default:
				raw := sf.credentials()
				kind, err := sf.ciKind("")
				if err == nil {
					err = sf.check(raw)
				}
				if err != nil {
					rep = preflight.FromError(err, flagField)
					break
				}
				b, id := sf.buildInfo(a, kind)
				rep = preflight.Source(cmd.Context(), preflight.SourceInput{
					Credentials: raw, Build: b, CI: id, Vars: sf.varSources(a, kind), Names: flagField,
				}, opts)
			}
			if err := rep.Write(a.io.Stdout, out.is("json")); err != nil {
				return err
			}
			if rep.Failed() {
				return &exitError{code: 1, err: credbroker.Errorf(credbroker.CodeUnprocessable, "check", "%s", rep.Summary()).
					WithFix("fix the errors above, then check again")}
			}
			fmt.Fprintf(a.io.Stderr, "credbroker: check: %s\n", rep.Summary())
			return nil
		},
	}
	sf.register(cmd)
	pf.register(cmd)
	cmd.Flags().BoolVar(&offline, "offline", false, "make no network call: only the offline checks")
	out = addOutput(cmd, []string{"table", "json"}, map[string]string{"text": "table"}, "output format: table (one line per finding; also spelled text) or json")
	return cmd
}

// jobModeFlags refuses source flags next to a job file, whose tasks name
// their own sources.
func jobModeFlags(fs *pflag.FlagSet) error {
	allowed := map[string]bool{"vars": true, "global-vars": true, "var": true, "plan": true, "build": true, "job": true, "ci": true, "offline": true, "output": true}
	var bad error
	fs.Visit(func(f *pflag.Flag) {
		if bad == nil && !allowed[f.Name] && f.Name != "help" && !strings.HasPrefix(f.Name, "log-") {
			bad = credbroker.Errorf(credbroker.CodeInvalid, "--"+f.Name, "not used with a job file: its tasks name their own credentials").
				WithFix("drop the flag, or check one source without a job file")
		}
	})
	return bad
}
