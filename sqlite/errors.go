package sqlite

import (
	"context"
	"errors"

	"github.com/credbroker/credbroker"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// classify says what err, an error of the store at path, means to a
// caller: its code, and a message safe to show anyone (the driver's own
// text stays in the error's cause, for the server log).
func classify(path string, err error) (credbroker.Code, string) {
	const unavailable = credbroker.CodeUnavailable
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return unavailable, "store request was canceled or timed out"
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return credbroker.CodeInternal, "store failed; the broker log has the details"
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM:
		// SQLite's code does not always tell why a write failed (a
		// read-only file system is an I/O error to it): ask the file
		// system first.
		if why := writeProblem(path); why != "" {
			return unavailable, "store is not writable: " + why
		}
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_READONLY:
		return unavailable, "store is not writable: the database file is read-only"
	case sqlite3.SQLITE_FULL:
		return unavailable, "store is not writable: the disk is full"
	case sqlite3.SQLITE_IOERR:
		return unavailable, "store is not writable: a disk input/output error occurred"
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH:
		return unavailable, "store is unavailable: the database file cannot be opened"
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return unavailable, "store is busy: another process holds the database; try again"
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return unavailable, "store is damaged: the database file is corrupt or not a credbroker store"
	case sqlite3.SQLITE_INTERRUPT:
		return unavailable, "store request was canceled or timed out"
	case sqlite3.SQLITE_CONSTRAINT:
		if se.Code() == sqlite3.SQLITE_CONSTRAINT_TRIGGER {
			return unavailable, "store is not writable: the database refused the change"
		}
		return credbroker.CodeConflict, "the change conflicts with what is stored"
	}
	return credbroker.CodeInternal, "store failed; the broker log has the details"
}
