//go:build !agentonly

package cli

import "github.com/spf13/cobra"

// buildName is how `credbroker --version` names this build: the full one,
// broker and agent commands.
const buildName = ""

// buildNote ends the root command's help of a build without the broker's
// commands; empty in the full build.
const buildNote = ""

// brokerCommands are the broker's commands, which the agent build
// (commands_agent.go) leaves out.
func (a *app) brokerCommands() []*cobra.Command {
	return []*cobra.Command{
		a.serveCommand(), a.connectorCommand(), a.tokenCommand(), a.variableCommand(),
		a.auditCommand(), a.keyCommand(), a.consoleCommand(), a.issuerCommand(), a.bindingCommand(),
	}
}
