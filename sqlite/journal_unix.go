//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// journalSupported says whether this system has the file locks the audit
// journal needs; without them the store appends to its table directly.
const journalSupported = true

// lockFile takes an exclusive flock on f, waiting for other processes.
func lockFile(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}

// unlockFile releases lockFile's lock.
func unlockFile(f *os.File) { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
