package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
)

// Dialect is what differs between the databases the store runs on. Each
// field says what SQLite and PostgreSQL need.
type Dialect struct {
	// Name names the database in the causes of errors ("sqlite store:
	// ..."), which reach the server log only.
	Name string
	// Migrations holds the numbered schema files, NNNN_name.sql, at its
	// root (package internal/migrate reads and orders them).
	Migrations fs.FS
	// Placeholder is the marker of parameter n in a statement whose
	// parameters all come in order, each once: the lists the store
	// generates (the values of a row, the rows of an audit batch, the
	// conditions of a filter). PostgreSQL takes $n. SQLite takes ? (by
	// position): it looks up a $n by name, in a linear scan at every bind,
	// which makes a 64-row audit insert (over 1,000 values) bind in
	// quadratic time. The store's hand-written statements, which may use
	// a parameter twice, keep $n: both databases take it.
	Placeholder func(n int) string
	// SchemaVersionDDL creates the table of applied migrations if it is
	// missing: schema_version (version INTEGER PRIMARY KEY, applied_at).
	SchemaVersionDDL string
	// LockMigrations runs first in the migration transaction, to keep two
	// programs from migrating at once: PostgreSQL takes an advisory lock;
	// empty for SQLite, whose write transaction already holds the file.
	LockMigrations string
	// MarkVersion, when set, returns a statement that the migration
	// transaction runs last on every read-write open, even when nothing is
	// applied. SQLite writes PRAGMA user_version: SQLite opens a file it
	// may not write read-only without a word, and this write makes the
	// open fail instead of every write after it.
	MarkVersion func(version int) string
	// ByteOrder follows a text column in ORDER BY so that both databases
	// sort by bytes: ` COLLATE "C"` for PostgreSQL, whose default collation
	// may follow a locale; empty for SQLite, whose default is binary.
	ByteOrder string
	// ForUpdate follows a SELECT of a row that the transaction goes on to
	// change, to lock the row until the transaction ends: " FOR UPDATE" for
	// PostgreSQL, where transactions on other connections run at the same
	// time; empty for SQLite, whose write transaction locks the whole file
	// from its start (BEGIN IMMEDIATE).
	ForUpdate string
	// ForNoKeyUpdate is ForUpdate for a change that leaves the row's keys
	// alone, so that it does not block another transaction's foreign-key
	// check: " FOR NO KEY UPDATE" for PostgreSQL; empty for SQLite.
	ForNoKeyUpdate string
	// WritableCTE says that the database runs an UPDATE inside WITH
	// (PostgreSQL): the audit head then moves in the statement that
	// inserts the last records, saving a round trip while the head is
	// locked. SQLite moves it in a statement of its own.
	WritableCTE bool
	// Now is the database's clock, an SQL expression of unix
	// microseconds: brokers whose own clocks disagree compare the times
	// they share (a shared session's expiry, a budget bucket's refill) by
	// this one. clock_timestamp() for PostgreSQL, unixepoch('subsec') for
	// SQLite.
	Now string
	// TryLock and Unlock take (when no one holds it) and release a lock
	// named by the 64-bit integer $1 that every connection to the
	// database sees and that the connection holding it keeps until it
	// releases it or ends; each answers one boolean, whether it did.
	// PostgreSQL's session-level advisory locks. Empty for SQLite, which
	// serves one broker: the store then has no Fleet.
	TryLock, Unlock string
	// Retryable reports whether a transaction or read that failed with
	// err left nothing committed and may pass if run again; commit says
	// that err came from the commit itself, whose outcome may be unknown.
	// It is asked only when Options.Retries is above zero, and never about
	// a *credbroker.Error or an ended context.
	Retryable func(err error, commit bool) bool
	// Classify turns an error of the driver into the code and the message
	// a caller sees; the message must be safe to show anyone (no database
	// text, no path). The store has already dealt with nil, with
	// *credbroker.Error values and with a closed store.
	Classify func(err error) (credbroker.Code, string)
}

// Options hand a database to the store and say how to use it.
type Options struct {
	// Writer runs every write transaction and the migrations.
	Writer *sql.DB
	// Reader runs the reads outside transactions; Writer when nil.
	Reader *sql.DB
	// ReadOnly opens a store that never writes: the migrations are only
	// checked to be all applied.
	ReadOnly bool
	// Retries is how many more times an operation is tried after an error
	// that Dialect.Retryable accepts, with a jittered exponential backoff
	// from 25 ms; none when zero.
	Retries int
	// Timeout bounds each operation, its tries and the waits between them
	// included; none when zero.
	Timeout time.Duration
	// Locks runs the dialect's TryLock and Unlock on its one connection,
	// which holds the fleet's session locks for as long as it lives, apart
	// from the pool of Writer; nil when the store has no Fleet.
	Locks *sql.DB
	// AuditGate, when set, is entered before every write transaction
	// that appends audit records and left after it (SQLite's audit
	// journal: it moves what it holds into the table first).
	AuditGate AuditGate
}

// AuditGate is held around the store's write transactions that append
// audit records, so that a journal in front of the table can move its
// records in first and learn that the trail moved on.
type AuditGate interface {
	// Enter is called before the transaction; an error fails the write.
	// leave is called after it, committed or not.
	Enter(ctx context.Context) (leave func(), err error)
}

// Store is credbroker.Store over a database/sql database. Its methods are
// safe for concurrent use.
type Store struct {
	d       Dialect
	w, r    *sql.DB
	locks   *sql.DB
	retries int
	timeout time.Duration
	gate    AuditGate
	closed  atomic.Bool
	once    sync.Once

	// insertConnector and updateConnector are generated with the
	// dialect's placeholders.
	insertConnector, updateConnector string
	// takeTurn is the statement of TakeTurn, with the dialect's clock.
	takeTurn string

	stmts sync.Map // stmtKey -> *sql.Stmt
	// audit[h][n] inserts n audit rows, and moves the head too when h is 1.
	audit [2][auditChunk + 1]atomic.Pointer[sql.Stmt]
}

var _ credbroker.Store = (*Store)(nil)

// stmtKey names a prepared statement: its text on one database handle.
type stmtKey struct {
	db    *sql.DB
	query string
}

// Open migrates the schema (or, with o.ReadOnly, checks it) and returns the
// store. The store owns o.Writer, o.Reader and o.Locks from then on and
// closes them in Close, also when Open fails.
func Open(ctx context.Context, d Dialect, o Options) (*Store, error) {
	s := &Store{d: d, w: o.Writer, r: o.Reader, locks: o.Locks, retries: max(o.Retries, 0), timeout: o.Timeout, gate: o.AuditGate}
	if s.r == nil {
		s.r = s.w
	}
	s.insertConnector, s.updateConnector = s.connectorWrites()
	s.takeTurn = s.takeTurnSQL()
	if err := s.migrate(ctx, o.ReadOnly); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the store's statements and databases; later calls fail
// with CodeUnavailable. Closing twice is harmless.
func (s *Store) Close() error {
	var errs []error
	s.once.Do(func() {
		s.closed.Store(true)
		s.stmts.Range(func(_, v any) bool {
			errs = append(errs, v.(*sql.Stmt).Close())
			return true
		})
		for h := range s.audit {
			for n := range s.audit[h] {
				if st := s.audit[h][n].Load(); st != nil {
					errs = append(errs, st.Close())
				}
			}
		}
		if s.r != s.w {
			errs = append(errs, s.r.Close())
		}
		if s.locks != nil {
			errs = append(errs, s.locks.Close())
		}
		errs = append(errs, s.w.Close())
	})
	if err := errors.Join(errs...); err != nil {
		return s.fail("close", err)
	}
	return nil
}

// prepared returns query prepared on db, preparing it on first use. It
// must not be called inside a transaction on db (see the package doc).
func (s *Store) prepared(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	key := stmtKey{db, query}
	if st, ok := s.stmts.Load(key); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(key, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	if s.closed.Load() {
		// Close may have run between the check and the store.
		s.stmts.Delete(key)
		st.Close()
		return nil, sql.ErrConnDone
	}
	return st, nil
}

// readOne runs query, prepared, on the readers and scans its one row
// with scan. When there is no row, the error is missing(), or, with
// missing nil, sql.ErrNoRows through fail.
func readOne[T any](ctx context.Context, s *Store, op, query string, missing func() error, scan func(scanner) (T, error), args ...any) (T, error) {
	var v T
	err := s.read(ctx, op, func(ctx context.Context) error {
		st, err := s.prepared(ctx, s.r, query)
		if err != nil {
			return err
		}
		v, err = scan(st.QueryRowContext(ctx, args...))
		if missing != nil && isNoRows(err) {
			return missing()
		}
		return err
	})
	return v, err
}

// readAll runs query on the readers and scans every row with scan.
func readAll[T any](ctx context.Context, s *Store, op, query string, scan func(scanner) (T, error), args ...any) ([]T, error) {
	var out []T
	err := s.read(ctx, op, func(ctx context.Context) error {
		rows, err := s.r.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, scan)
		return err
	})
	return out, err
}

// commitError marks a failed commit, whose outcome may be unknown.
type commitError struct{ err error }

// Error says the commit failed, and why.
func (e commitError) Error() string { return "commit: " + e.err.Error() }

// Unwrap returns the cause.
func (e commitError) Unwrap() error { return e.err }

// read runs fn, trying it again after a failure that may pass. fn gets
// the operation's bounded context and must use it.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	return s.retry(ctx, op, fn)
}

// tx runs fn in a transaction on the writer, trying it again after a
// failure that left nothing committed and may pass. fn gets the
// operation's bounded context and must use it.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.retry(ctx, op, func(ctx context.Context) error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return commitError{err}
		}
		return nil
	})
}

// write runs fn in one write transaction and, when audit holds records,
// chains and appends them in that same transaction: the change and its
// audit records are stored together or not at all. On failure the records
// are left unchained.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error, audit ...*credbroker.AuditRecord) error {
	if len(audit) > 0 && s.gate != nil {
		leave, err := s.gate.Enter(ctx)
		if err != nil {
			unchain(audit)
			return err
		}
		defer leave()
	}
	err := s.writeAudit(ctx, op, fn, false, audit)
	if err != nil {
		unchain(audit)
	}
	return err
}

// writeAudit is write without the gate. With chained, the records carry
// their Seq, PrevHash and Hash already and must continue the trail.
func (s *Store) writeAudit(ctx context.Context, op string, fn func(ctx context.Context, tx *sql.Tx) error, chained bool, audit []*credbroker.AuditRecord) error {
	var plan *auditPlan
	if len(audit) > 0 {
		var err error
		if plan, err = s.planAudit(ctx, len(audit)); err != nil {
			return s.fail(op, err)
		}
	}
	return s.tx(ctx, op, func(ctx context.Context, tx *sql.Tx) error {
		if fn != nil {
			if err := fn(ctx, tx); err != nil {
				return err
			}
		}
		if plan != nil {
			return s.appendTx(ctx, tx, plan, audit, chained)
		}
		return nil
	})
}

// retry calls attempt until it succeeds, fails for good, or has been
// tried 1+s.retries times, with a jittered exponential backoff between
// tries; all within s.timeout when it is set. The error it returns has
// been through fail.
func (s *Store) retry(ctx context.Context, op string, attempt func(ctx context.Context) error) error {
	parent := ctx
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	fail := func(err error) error {
		if s.timeout > 0 && parent.Err() == nil && ctx.Err() != nil && !s.closed.Load() && credbroker.AsError(err) == nil {
			return &credbroker.Error{Code: credbroker.CodeUnavailable,
				Message: fmt.Sprintf("store is unavailable: the database did not answer within %s", s.timeout),
				Err:     fmt.Errorf("%s store: %s: %w", s.d.Name, op, err)}
		}
		return s.fail(op, err)
	}
	backoff := 25 * time.Millisecond
	for n := 0; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if n >= s.retries || s.closed.Load() || ctx.Err() != nil || !s.retryable(err) {
			return fail(err)
		}
		wait := backoff/2 + rand.N(backoff)
		backoff *= 2
		select {
		case <-ctx.Done():
			return fail(err)
		case <-time.After(wait):
		}
	}
}

// retryable asks the dialect about err, after ruling out what is never
// worth another try.
func (s *Store) retryable(err error) bool {
	if credbroker.AsError(err) != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || isBug(err) {
		return false
	}
	return s.d.Retryable(err, errors.As(err, new(commitError)))
}

// isBug reports whether err is a mistake of this package rather than of
// the database: a row that does not fit the values it is scanned into.
// database/sql gives these as text only.
func isBug(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "sql: Scan error") || strings.Contains(msg, "sql: expected ") && strings.Contains(msg, "destination arguments in Scan")
}

// fail turns err into a *credbroker.Error whose message is safe to show
// anyone; the driver's own text stays in Err for the server log. An error
// that already is a *credbroker.Error passes unchanged.
func (s *Store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if credbroker.AsError(err) != nil {
		return err
	}
	code, msg := credbroker.CodeUnavailable, "store is closed"
	switch {
	case s.closed.Load():
	case isBug(err):
		code, msg = credbroker.CodeInternal, "store failed; the broker log has the details"
	default:
		code, msg = s.d.Classify(err)
	}
	return &credbroker.Error{Code: code, Message: msg, Err: fmt.Errorf("%s store: %s: %w", s.d.Name, op, err)}
}

// auditOf turns an optional audit record into the list write takes.
func auditOf(rec *credbroker.AuditRecord) []*credbroker.AuditRecord {
	if rec == nil {
		return nil
	}
	return []*credbroker.AuditRecord{rec}
}

// unchain clears what Chain set on records that were not stored.
func unchain(recs []*credbroker.AuditRecord) {
	for _, r := range recs {
		r.Seq, r.PrevHash, r.Hash = 0, "", ""
	}
}

// isNoRows reports whether err says a query found no row.
func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
