package cli

import (
	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/taskrun"
)

func (a *app) runCommand() *cobra.Command {
	var sf sourceFlags
	cmd := &cobra.Command{
		Use:   "run JOB.yaml",
		Short: "Run a job file: tasks in order, each with its own credentials",
		Long: `Run the tasks of a job file in order. Each task names its credentials
(source and fields), region, environment and command; values may reference
variables as ${bamboo.NAME} or ${NAME}.

Variables, highest precedence first:
  runtime  written by an earlier task of the job as NAME=value lines to the
           file named in $CREDBROKER_VARIABLES ("secret NAME=value" marks one)
  plan     --var NAME=VALUE, --vars FILE, the job file's variables:, then the
           broker's plan variables
  global   --global-vars FILE, then the broker's global variables

The broker's variables are fetched when $CREDBROKER_BROKER and an agent token
($CREDBROKER_TOKEN or $CREDBROKER_TOKEN_FILE) are set. Below the global ones
are Bamboo's: ${bamboo.NAME} that nothing else defines reads $bamboo_NAME.

The plan, build and job are --plan, --build and --job, else the job file's,
else $CREDBROKER_PLAN, $CREDBROKER_BUILD and $CREDBROKER_JOB, else what the CI
gives (--ci, else the job file's ci:, else auto: Bamboo, GitHub Actions,
GitLab CI, Jenkins or Buildkite, whichever runs the job).

In command: and run:, only ${bamboo.NAME} is substituted, so ${HOME} and other
shell syntax reach the shell. Output lines are prefixed with the task name and
masked. The first failing task stops the job, and its exit code is the job's.

See examples/ and the README for the job file format.`,
		Example: `  credbroker run examples/two-task-job.yaml --vars plan.vars --plan OPS-DEPLOY --build 42`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			job, err := jobfile.Load(args[0])
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			log, err := a.logger(a.hide.writer(a.io.Stderr))
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			kind, err := sf.ciKind(job.CI)
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			env, _ := cienv.Build(kind, a.getenv)
			b := job.Identity(sf.flagBuild(), env)
			// The variables, layered as vars.Sources.Load says: the
			// broker's first, when a broker and an agent token are set.
			sources := sf.varSources(a, kind)
			sources.Job = job.Variables
			var bSecrets []string
			sources.BrokerGlobal, sources.BrokerPlan, bSecrets, err = a.brokerVariables(cmd.Context(), b.Plan)
			a.hide.add(bSecrets...)
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			vs, err := sources.Load()
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			a.hide.addVars(vs)

			self, err := credentialProcess()
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			r := &taskrun.Runner{Stdout: a.io.Stdout, Stderr: a.io.Stderr, Environ: a.io.Environ, Logger: log, CredentialProcess: self}
			code, err := r.RunJob(cmd.Context(), job, taskrun.JobOptions{
				Vars: vs, Build: b, Resolve: a.resolver(), Env: a.getenv, Secrets: bSecrets,
			})
			if err != nil || code != 0 {
				return &exitError{code: code, err: err}
			}
			return nil
		},
	}
	sf.registerJob(cmd, true)
	return cmd
}
