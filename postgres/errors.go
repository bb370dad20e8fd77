package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// retryable reports whether a transaction that failed with err left
// nothing committed and may succeed if run again: a serialization failure
// or a deadlock, or a connection lost or refused before the commit.
func retryable(err error) bool {
	if credbroker.AsError(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", pe.Code == "40P01": // serialization_failure, deadlock_detected
			return true
		case errors.As(err, new(commitError)):
			// The server answered the commit with an error: nothing else
			// is known to have been committed, but only the two above are
			// worth another try.
			return false
		}
		return connectionClass(pe.Code)
	}
	if errors.As(err, new(commitError)) {
		// The connection broke during the commit: it may have been
		// committed. Trying again could store the change twice.
		return false
	}
	return !isBug(err)
}

// connectionClass reports whether SQLSTATE code says the server could
// not be reached, is shutting down or is starting up.
func connectionClass(code string) bool {
	return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03"
}

// isBug reports whether err is a mistake of this package rather than of
// the database or the network.
func isBug(err error) bool {
	var scan pgx.ScanArgError
	return errors.As(err, &scan) || errors.Is(err, pgx.ErrTooManyRows)
}

// fail turns err into a *credbroker.Error whose message is safe to show
// anyone; the driver's text stays in Err for the server log. An error that
// already is a *credbroker.Error passes unchanged.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if credbroker.AsError(err) != nil {
		return err
	}
	cause := fmt.Errorf("postgres store: %s: %w", op, err)
	mk := func(code credbroker.Code, msg string) error {
		return &credbroker.Error{Code: code, Message: msg, Err: cause}
	}
	unavailable := func(msg string) error { return mk(credbroker.CodeUnavailable, msg) }
	switch {
	case s.closed.Load():
		return unavailable("store is closed")
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err) && !errors.Is(err, context.Canceled):
		return unavailable("store is unavailable: the database did not answer in time")
	case errors.Is(err, context.Canceled):
		return unavailable("store request was canceled")
	case isBug(err):
		return mk(credbroker.CodeInternal, "store failed; the broker log has the details")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return unavailable("store is unavailable: cannot reach the database")
	}
	switch {
	case pe.Code == "23505", pe.Code == "23503": // unique_violation, foreign_key_violation
		return mk(credbroker.CodeConflict, "the change conflicts with what is stored")
	case pe.Code == "40001", pe.Code == "40P01":
		return unavailable("store is busy: concurrent changes kept colliding; try again")
	case pe.Code == "25006": // read_only_sql_transaction: a standby
		return unavailable("store is not writable: the database is read-only")
	case pe.Code == "53100":
		return unavailable("store is not writable: the database server's disk is full")
	case pe.Code == "P0001": // raised by a trigger
		return unavailable("store is not writable: the database refused the change")
	case strings.HasPrefix(pe.Code, "53"):
		return unavailable("store is unavailable: the database server is out of resources")
	case strings.HasPrefix(pe.Code, "28"):
		return unavailable("store is unavailable: the database refused the broker's credentials")
	case pe.Code == "3D000":
		return unavailable("store is unavailable: the database does not exist")
	case pe.Code == "42501":
		return unavailable("store is not writable: the database user lacks a privilege")
	case connectionClass(pe.Code), pe.Code == "57014":
		return unavailable("store is unavailable: cannot reach the database")
	}
	return mk(credbroker.CodeInternal, "store failed; the broker log has the details")
}
