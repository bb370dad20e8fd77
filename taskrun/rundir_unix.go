//go:build unix

package taskrun

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// processAlive reports whether a process with this ID exists (EPERM: it
// does, as another user's).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// checkPrivateDir refuses dir unless it is a directory (not a symbolic
// link) of this user; group and other permissions are taken away.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("run directory: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !fi.IsDir() || !ok || int(st.Uid) != os.Getuid() {
		return fmt.Errorf("run directory %s is not a directory of this user: refusing to put credentials there (remove it, or set TMPDIR)", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("run directory %s: %w", dir, err)
		}
	}
	return nil
}
