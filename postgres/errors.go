package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/jackc/pgx/v5/pgconn"
)

// retryable reports whether a transaction that failed with err left
// nothing committed and may succeed if run again: a serialization failure
// or a deadlock, or a connection lost or refused before the commit. commit
// says that err came from the commit.
func retryable(err error, commit bool) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01": // serialization_failure, deadlock_detected
			return true
		case commit:
			// The server answered the commit with an error: nothing else
			// is known to have been committed, but only the two above are
			// worth another try.
			return false
		}
		return connectionClass(pe.Code)
	}
	// A connection that broke during the commit may have committed:
	// trying again could store the change twice.
	return !commit
}

// connectionClass reports whether SQLSTATE code says the server could
// not be reached, is shutting down or is starting up.
func connectionClass(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// classify says what err means to a caller: its code, and a message safe
// to show anyone (the driver's text stays in the error's cause, for the
// server log).
func classify(err error) (credbroker.Code, string) {
	const unavailable = credbroker.CodeUnavailable
	switch {
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err) && !errors.Is(err, context.Canceled):
		return unavailable, "store is unavailable: the database did not answer in time"
	case errors.Is(err, context.Canceled):
		return unavailable, "store request was canceled"
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return unavailable, "store is unavailable: cannot reach the database"
	}
	switch {
	case pe.Code == "23505", pe.Code == "23503": // unique_violation, foreign_key_violation
		return credbroker.CodeConflict, "the change conflicts with what is stored"
	case pe.Code == "40001", pe.Code == "40P01":
		return unavailable, "store is busy: concurrent changes kept colliding; try again"
	case pe.Code == "25006": // read_only_sql_transaction: a standby
		return unavailable, "store is not writable: the database is read-only"
	case pe.Code == "53100":
		return unavailable, "store is not writable: the database server's disk is full"
	case pe.Code == "P0001": // raised by a trigger
		return unavailable, "store is not writable: the database refused the change"
	case strings.HasPrefix(pe.Code, "53"):
		return unavailable, "store is unavailable: the database server is out of resources"
	case strings.HasPrefix(pe.Code, "28"):
		return unavailable, "store is unavailable: the database refused the broker's credentials"
	case pe.Code == "3D000":
		return unavailable, "store is unavailable: the database does not exist"
	case pe.Code == "42501":
		return unavailable, "store is not writable: the database user lacks a privilege"
	case connectionClass(pe.Code), pe.Code == "57014":
		return unavailable, "store is unavailable: cannot reach the database"
	}
	return credbroker.CodeInternal, "store failed; the broker log has the details"
}
