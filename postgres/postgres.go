// Package postgres is the store for sites where several brokers serve one
// database: PostgreSQL through pgx and its connection pool, implementing
// credbroker.Store.
//
// Concurrency: every broker appends to one audit chain. An appender locks
// the single row of audit_head (SELECT ... FOR UPDATE) before it reads the
// head, chains its records after it and moves it, all in one transaction;
// appenders on any number of brokers therefore queue on that row and the
// chain has no fork and no gap. An admin change takes the lock last, after
// its own rows, so lock order is the same in every transaction.
//
// Failures: the pool replaces broken connections by itself. A transaction
// that fails on a serialization failure, a deadlock or a lost connection
// before its commit is run again, a bounded number of times; a commit
// whose outcome is unknown never is. Every operation, its tries included,
// is bounded in time (Options.Timeout), so a database that stops answering
// (a network partition drops packets; nothing refuses or resets) fails
// requests instead of holding them. What still fails is CodeUnavailable.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/migrate"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options tune a store. The zero value is what a broker wants.
type Options struct {
	// MaxConns caps the connection pool; when zero, the DSN's
	// pool_max_conns or pgxpool's default (the greater of 4 and the number
	// of CPUs).
	MaxConns int32
	// Retries is how many more times a transaction is tried after a
	// serialization failure, a deadlock or a lost connection; 4 when zero,
	// none when negative.
	Retries int
	// ConnectTimeout bounds each new connection when the DSN sets no
	// connect_timeout; 5 s when zero.
	ConnectTimeout time.Duration
	// Timeout bounds each operation of the store, its tries and the
	// waits between them included; 5 s when zero. An operation still
	// running then fails with CodeUnavailable and its connection is
	// closed.
	Timeout time.Duration
}

// Store is a credbroker.Store kept in a PostgreSQL database. Its methods
// are safe for concurrent use, and any number of stores, in any number of
// processes, may share one database.
type Store struct {
	pool    *pgxpool.Pool
	retries int
	timeout time.Duration
	closed  atomic.Bool
	once    sync.Once
}

var _ credbroker.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock that lets one broker at a time
// migrate the schema ("credbrok" in ASCII).
const migrationLock int64 = 0x6372656462726f6b

// Open connects to the database dsn (a postgres:// URL or key=value
// string, as libpq takes) and migrates its schema as needed.
func Open(ctx context.Context, dsn string, optFns ...func(*Options)) (*Store, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Retries == 0 {
		o.Retries = 4
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's message hides the password, but it stays out of the
		// message all the same.
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "dsn", "the PostgreSQL connection string is malformed").WithCause(err)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "dsn", "the PostgreSQL connection string is not usable").WithCause(err)
	}
	s := &Store{pool: pool, retries: max(o.Retries, 0), timeout: o.Timeout}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool; later calls fail with CodeUnavailable. Closing
// twice is harmless.
func (s *Store) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		s.pool.Close()
	})
	return nil
}

// migrations returns the embedded migrations in order of their numbers
// (package migrate: numbers may be missing, and a database gets every one
// it has not had yet).
func migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations/*.sql")
}

// migrate brings the schema up to date in one transaction that holds an
// advisory lock, so brokers starting together on a new database apply each
// migration once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	return s.tx(ctx, "migrate", func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version    INTEGER     NOT NULL PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_version`)
		if err != nil {
			return err
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			return err
		}
		pending, err := migrate.Pending(ms, applied)
		if err != nil {
			return credbroker.Errorf(credbroker.CodeUnavailable, "", "%s", err).WithFix("run a newer credbroker")
		}
		for _, m := range pending {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %d: %w", m.Version, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
				return err
			}
		}
		return nil
	})
}

// querier is what reads need of a pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// commitError marks a failed commit, whose outcome may be unknown.
type commitError struct{ err error }

// Error says the commit failed, and why.
func (e commitError) Error() string { return "commit: " + e.err.Error() }

// Unwrap returns the cause.
func (e commitError) Unwrap() error { return e.err }

// tx runs fn in a transaction, trying it again after a failure that left
// nothing committed and may pass (see retryable). fn gets the operation's
// bounded context and must use it.
func (s *Store) tx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.retry(ctx, op, func(ctx context.Context) error {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := tx.Commit(ctx); err != nil {
			return commitError{err}
		}
		return nil
	})
}

// read runs fn on the pool, trying it again after a failure that may
// pass. fn gets the operation's bounded context and must use it.
func (s *Store) read(ctx context.Context, op string, fn func(ctx context.Context, q querier) error) error {
	return s.retry(ctx, op, func(ctx context.Context) error { return fn(ctx, s.pool) })
}

// retry calls attempt until it succeeds, fails for good, or has been
// tried 1+s.retries times, with a jittered exponential backoff between
// tries; all within s.timeout.
func (s *Store) retry(ctx context.Context, op string, attempt func(ctx context.Context) error) error {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	fail := func(err error) error {
		if parent.Err() == nil && ctx.Err() != nil && !s.closed.Load() && credbroker.AsError(err) == nil {
			return &credbroker.Error{Code: credbroker.CodeUnavailable,
				Message: fmt.Sprintf("store is unavailable: the database did not answer within %s", s.timeout),
				Err:     fmt.Errorf("postgres store: %s: %w", op, err)}
		}
		return s.fail(op, err)
	}
	backoff := 25 * time.Millisecond
	for n := 0; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		if n >= s.retries || s.closed.Load() || ctx.Err() != nil || !retryable(err) {
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

// write runs fn in a transaction and, when audit holds records, chains and
// appends them in that same transaction: the change and its audit records
// are stored together or not at all.
func (s *Store) write(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error, audit ...*credbroker.AuditRecord) error {
	err := s.tx(ctx, op, func(ctx context.Context, tx pgx.Tx) error {
		if fn != nil {
			if err := fn(ctx, tx); err != nil {
				return err
			}
		}
		if len(audit) > 0 {
			return appendTx(ctx, tx, audit)
		}
		return nil
	})
	if err != nil {
		unchain(audit)
	}
	return err
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
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
