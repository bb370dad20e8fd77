//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

// journalSupported says whether this system has the file locks the audit
// journal needs; without them the store appends to its table directly.
const journalSupported = false

func lockFile(*os.File) error { return errors.New("no file locks on this system") }

func unlockFile(*os.File) {}
