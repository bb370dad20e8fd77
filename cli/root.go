// Package cli is credbroker's command line: one file per command, the flags
// and configuration, and the wiring of the other packages into a program.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Version is set at build time with -ldflags "-X .../cli.Version=...".
var Version = "dev"

// IO is the process's outside world, injected so tests can drive the CLI
// in process.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Environ is the process environment (os.Environ()).
	Environ []string
}

// app holds what every command shares.
type app struct {
	io      IO
	logOpts logOptions
	hide    hider // secrets masked in credbroker's own messages
}

// getenv looks a variable up in the injected environment.
func (a *app) getenv(name string) (string, bool) {
	for i := len(a.io.Environ) - 1; i >= 0; i-- {
		k, v, ok := strings.Cut(a.io.Environ[i], "=")
		if ok && k == name {
			return v, true
		}
	}
	return "", false
}

func (a *app) env(name string) string {
	v, _ := a.getenv(name)
	return v
}

// exitError carries an exit code out of a command: a task's own exit code,
// or credbroker's when it failed itself.
type exitError struct {
	code int
	err  error // nil when the task's failure was already reported
}

func (e *exitError) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitError) Unwrap() error { return e.err }

// Main runs credbroker with args (without the program name) and returns
// the exit code. It never panics on user input and prints failures as one
// line per problem on stderr, without a stack trace or a secret.
func Main(ctx context.Context, args []string, io IO) int {
	a := &app{io: io}
	root := a.rootCommand(args...)
	root.SetArgs(args)
	root.SetIn(io.Stdin)
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		err = ee.err
	}
	if err != nil {
		a.printError(err)
	}
	return code
}

// printError writes err as "credbroker: ..." lines.
func (a *app) printError(err error) {
	// One problem per line (errors.Join, and a job file's Errors, give
	// several); prefix each, masked.
	for _, line := range strings.Split(a.hide.text(err.Error()), "\n") {
		if line != "" {
			fmt.Fprintf(a.io.Stderr, "credbroker: %s\n", line)
		}
	}
}

// brokerCommandNames are the broker's commands, which the agent build
// (commands_agent.go) leaves out with the server side they would link
// (the store drivers, the metrics, the console, the SDK's config loader).
// TestBrokerCommandNames holds it to the full build's brokerCommands.
var brokerCommandNames = []string{"serve", "connector", "token", "variable", "audit", "key", "console", "issuer", "binding"}

// agentCommand is one of the build-task commands, which every build holds.
type agentCommand struct {
	name  string
	build func() *cobra.Command
}

// agentCommands are the build-task commands, in the order of the help.
// Their builders are not called here, so a nil *app may ask for the names.
func (a *app) agentCommands() []agentCommand {
	return []agentCommand{
		{"exec", a.execCommand}, {"run", a.runCommand}, {"check", a.checkCommand},
		{"credential-process", a.credentialProcessCommand}, {"export", a.exportCommand},
	}
}

// agentCommandNames are the names of agentCommands.
func agentCommandNames() []string {
	var names []string
	for _, c := range (*app)(nil).agentCommands() {
		names = append(names, c.name)
	}
	return names
}

// rootCommand builds the command tree. When args name one of the agent's
// commands, the tree holds that command alone: they run on every build,
// credential-process once per profile of each AWS call, and building the
// whole tree (some 30 commands and 300 flags) would cost each of them a
// third of a millisecond. Help and errors of that command are the same
// either way (TestLeanTreeHelpIsTheSame).
func (a *app) rootCommand(args ...string) *cobra.Command {
	root := &cobra.Command{
		Use:   "credbroker",
		Short: "AWS credentials for CI build tasks: safely, quickly, and with a trail",
		Long: `credbroker gives build tasks AWS security credentials.

A task's credentials come from one of three sources:
  connector  a connector on a credbroker broker (credbroker serve): centrally
             configured, encrypted at rest, scoped and allow-listed, yielding
             fresh STS credentials at each execution (recommended)
  instance   the agent's instance profile (IMDSv2), optionally assuming a role
  static     an access key pair given as variable references, with an optional
             session token from a runtime variable

and reach the task as environment variables, a refreshing container-credentials
endpoint, a private profile, or a credential_process. Every secret is masked in
the task's output.`,
		Example: `  # Run the AWS CLI with the instance profile, assuming a role, output masked
  credbroker exec --region eu-west-1 --role-arn arn:aws:iam::123456789012:role/deploy -- aws s3 ls

  # Run a job file: tasks in order, each with its own credentials
  credbroker run examples/two-task-job.yaml

  # Use from an AWS config file
  [profile ci]
  credential_process = credbroker credential-process --region us-east-1 --role-arn arn:aws:iam::123456789012:role/ci`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetVersionTemplate("credbroker {{.Version}}" + buildName + "\n")
	a.logOpts.register(root)
	root.AddGroup(&cobra.Group{ID: "agent", Title: "Build tasks (agent side):"})
	if buildNote == "" {
		root.AddGroup(&cobra.Group{ID: "broker", Title: "The broker:"})
	} else {
		root.Long += "\n\n" + buildNote
	}
	agent := a.agentCommands()
	only := ""
	for _, c := range agent {
		if len(args) > 0 && args[0] == c.name {
			only = c.name
		}
	}
	for _, c := range agent {
		if only == "" || c.name == only {
			cmd := c.build()
			cmd.GroupID = "agent"
			root.AddCommand(cmd)
		}
	}
	if only == "" {
		for _, c := range a.brokerCommands() {
			if !c.Hidden {
				c.GroupID = "broker"
			}
			root.AddCommand(c)
		}
	}
	root.SetFlagErrorFunc(flagError)
	return root
}
