package cli

import (
	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
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
  plan     --var NAME=VALUE, --vars FILE, then the job file's variables:
  global   --global-vars FILE

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
			b := sf.buildInfo(a)
			b.Plan = firstNonEmpty(sf.plan, job.Plan, b.Plan)
			b.Number = firstNonEmpty(sf.build, job.Build, b.Number)
			b.Job = firstNonEmpty(sf.job, job.JobKey, b.Job)

			// Precedence, lowest first: the broker's global variables, the
			// global files; the broker's plan variables, the job file's,
			// the --vars files and --var; then the tasks' runtime ones.
			vs := vars.New()
			a.hide.addVars(vs)
			bGlobal, bPlan, bSecrets, err := a.brokerVariables(cmd.Context(), b.Plan)
			a.hide.add(bSecrets...)
			if err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			vs.Load(vars.Global, bGlobal)
			if err := loadVarFiles(vs, vars.Global, sf.globalVarsFiles); err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}
			vs.Load(vars.Plan, bPlan)
			for _, v := range job.Variables {
				vs.Set(vars.Plan, v.Name, v.Value, v.Secret)
			}
			if err := sf.planVariables(vs); err != nil {
				return &exitError{code: taskrun.ExitOwnFailure, err: err}
			}

			r := &taskrun.Runner{Stdout: a.io.Stdout, Stderr: a.io.Stderr, Environ: a.io.Environ, Logger: log}
			code, err := r.RunJob(cmd.Context(), job, taskrun.JobOptions{
				Vars: vs, Build: b, Resolve: a.resolver(), Env: a.getenv, Secrets: bSecrets,
			})
			if err != nil || code != 0 {
				return &exitError{code: code, err: err}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&sf.varsFiles, "vars", nil, "plan variables file of NAME=VALUE lines (repeatable)")
	f.StringArrayVar(&sf.globalVarsFiles, "global-vars", nil, "global variables file (repeatable)")
	f.StringArrayVar(&sf.varAssignments, "var", nil, "plan variable NAME=VALUE (repeatable)")
	f.StringVar(&sf.plan, "plan", "", "plan key (default: the job file's plan:, $CREDBROKER_PLAN, $bamboo_planKey)")
	f.StringVar(&sf.build, "build", "", "build number (default: the job file's build:, $CREDBROKER_BUILD, $bamboo_buildNumber)")
	f.StringVar(&sf.job, "job", "", "job key (default: the job file's job:, $CREDBROKER_JOB)")
	return cmd
}
