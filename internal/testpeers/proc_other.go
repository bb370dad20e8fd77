//go:build !linux

package testpeers

import (
	"os"
	"os/exec"
)

// setProcessGroup does nothing outside Linux: the peers are only supported
// there, and the process is stopped directly.
func setProcessGroup(cmd *exec.Cmd) {}

// terminate asks the child to stop.
func terminate(cmd *exec.Cmd) {
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		_ = cmd.Process.Kill()
	}
}

// kill stops the child at once.
func kill(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
}
