//go:build agentonly

package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// buildName is how `credbroker --version` names this build.
const buildName = " (agent build: build-task commands only)"

// buildNote ends the root command's help of a build without the broker's
// commands; empty in the full build.
var buildNote = "This is credbroker's agent build: the build-task commands only. The broker's\n" +
	"commands (" + strings.Join(brokerCommandNames, ", ") + ") are in the full build."

// brokerCommands, in the agent build, are hidden stand-ins that say where
// the broker's commands are instead of cobra's "unknown command".
func (a *app) brokerCommands() []*cobra.Command {
	out := make([]*cobra.Command, 0, len(brokerCommandNames))
	for _, name := range brokerCommandNames {
		out = append(out, &cobra.Command{
			Use:                name,
			Hidden:             true,
			DisableFlagParsing: true,
			RunE: func(*cobra.Command, []string) error {
				return fmt.Errorf("%q is a broker command, and this is credbroker's agent build, which holds the build-task commands only "+
					"(%s); run it with the full build (go build ./cmd/credbroker)", name, strings.Join(agentCommandNames(), ", "))
			},
		})
	}
	return out
}
