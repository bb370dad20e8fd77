// Package postgres is the store for sites where several brokers serve one
// database: PostgreSQL through pgx's database/sql driver (pgx/v5/stdlib),
// implementing credbroker.Store. This package opens and configures the
// connection pool and says what PostgreSQL needs (its dialect, its
// migrations, what its errors mean); the store's logic is package
// internal/sqlstore, shared with package sqlite.
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
//
// Fleet: the brokers on one database share their STS sessions (sealed
// rows of shared_sessions), a lock per session so that one of them calls
// STS while the others wait (session-level advisory locks, held on one
// connection of their own, apart from the pool, so that a broker that dies
// releases them with its connection), and their STS budget (one token
// bucket row per base identity and region, refilled by the database's
// clock). Session locks need a connection that stays the broker's: point
// brokers at the server, or at a pooler in session mode, not at one in
// transaction mode.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/sqlstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
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

// Store is a credbroker.Store kept in a PostgreSQL database. Its methods,
// those of package internal/sqlstore, are safe for concurrent use, and any
// number of stores, in any number of processes, may share one database.
type Store struct {
	*sqlstore.Store
}

var _ credbroker.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLock is the advisory lock that lets one broker at a time
// migrate the schema ("credbrok" in ASCII).
const migrationLock int64 = 0x6372656462726f6b

// Open connects to the database dsn (a postgres:// URL or key=value
// string, as libpq takes) and migrates its schema as needed. Of pgxpool's
// pool_* settings in the DSN, pool_max_conns, pool_max_conn_lifetime and
// pool_max_conn_idle_time size and age database/sql's pool; the others
// (pool_min_conns, pool_health_check_period) are accepted and do nothing:
// a connection is checked when it is taken after a second idle.
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
	// pgxpool's parser takes the pool settings out of the DSN; database/sql
	// keeps the pool, with those settings.
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
	db := sql.OpenDB(stdlib.GetConnector(*cfg.ConnConfig))
	db.SetMaxOpenConns(int(cfg.MaxConns))
	db.SetMaxIdleConns(int(cfg.MaxConns))
	db.SetConnMaxLifetime(cfg.MaxConnLifetime)
	db.SetConnMaxIdleTime(cfg.MaxConnIdleTime)
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		db.Close()
		return nil, credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	core, err := sqlstore.Open(ctx, dialect(sub), sqlstore.Options{Writer: db, Locks: locksDB(cfg.ConnConfig),
		Retries: max(o.Retries, 0), Timeout: o.Timeout})
	if err != nil {
		return nil, err
	}
	return &Store{Store: core}, nil
}

// locksDB is a pool of one connection, apart from the store's pool, for
// the fleet's session locks (sqlstore.Options.Locks). It connects at the
// first lock, and keeps its connection for good: the locks live as long
// as it does. Its application_name says which process holds them, for an
// operator looking at pg_locks and pg_stat_activity.
func locksDB(cc *pgx.ConnConfig) *sql.DB {
	lc := cc.Copy()
	name := lc.RuntimeParams["application_name"]
	if name == "" {
		name = "credbroker"
	}
	lc.RuntimeParams["application_name"] = name + " session locks, pid " + strconv.Itoa(os.Getpid())
	db := sql.OpenDB(stdlib.GetConnector(*lc))
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db
}

// dialect is what PostgreSQL needs of the store's logic.
func dialect(migrations fs.FS) sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:        "postgres",
		Migrations:  migrations,
		Placeholder: func(n int) string { return "$" + strconv.Itoa(n) },
		SchemaVersionDDL: `CREATE TABLE IF NOT EXISTS schema_version (
			version    INTEGER     NOT NULL PRIMARY KEY,
			applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
		)`,
		LockMigrations: `SELECT pg_advisory_xact_lock(` + strconv.FormatInt(migrationLock, 10) + `)`,
		ByteOrder:      ` COLLATE "C"`,
		ForUpdate:      ` FOR UPDATE`,
		ForNoKeyUpdate: ` FOR NO KEY UPDATE`,
		WritableCTE:    true,
		Now:            `CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)`,
		TryLock:        `SELECT pg_try_advisory_lock($1)`,
		Unlock:         `SELECT pg_advisory_unlock($1)`,
		Retryable:      retryable,
		Classify:       classify,
	}
}
