// Package sqlite is the broker's default store: one SQLite file, through
// the pure-Go driver modernc.org/sqlite, implementing credbroker.Store.
//
// Durability: the file is in WAL mode with synchronous=FULL by default, so
// every acknowledged write has reached the disk before its transaction
// returns; a crash or power loss loses nothing that was acknowledged.
// Options.Synchronous = SyncNormal trades the power-loss half of that for
// speed: commits no longer wait for the disk, a crash of the process still
// loses nothing, and a power cut or operating-system crash may lose the
// last commits (never corrupting the file).
//
// Concurrency: all writes go through one connection (a pool of one) whose
// transactions begin IMMEDIATE, so writers in this process queue in Go
// rather than spin on SQLite's lock, and a transaction never has to
// upgrade a read lock to a write lock (the one case busy_timeout cannot
// resolve). Another process on the same file waits for the write lock up
// to Options.BusyTimeout. Reads use a separate pool of read-only
// connections that WAL lets run beside the writer.
//
// Failures: a file that cannot be written (a read-only file system, a file
// of another user) is refused at Open, not opened read-only; a write that
// fails later (a full disk, a file system turned read-only under the
// broker) is CodeUnavailable with the reason the file system gives, leaves
// what was stored as it was, and the next write tries again.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/migrate"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Options tune a store. The zero value is what a broker wants.
type Options struct {
	// BusyTimeout is how long a write waits while another process holds
	// the file's write lock before it fails with CodeUnavailable; 5 s when
	// zero.
	BusyTimeout time.Duration
	// Readers caps the connections that serve reads; the greater of 4 and
	// GOMAXPROCS when zero.
	Readers int
	// ReadOnly opens an existing, current store without ever writing to
	// it, to inspect or verify a copy; every write then fails with
	// CodeUnavailable.
	ReadOnly bool
	// Synchronous is how far a commit goes before it returns; SyncFull
	// when empty.
	Synchronous Sync
}

// Sync is SQLite's synchronous setting for the store's writer.
type Sync string

const (
	// SyncFull waits at every commit until the write-ahead log is on the
	// disk: an acknowledged write survives a crash and a power loss.
	SyncFull Sync = "full"
	// SyncNormal does not wait for the disk at commit (WAL mode flushes at
	// checkpoints instead): an acknowledged write survives a crash of the
	// process, but a power loss or an operating-system crash may undo the
	// last commits, audit records of answered vends included. The file
	// stays consistent either way.
	SyncNormal Sync = "normal"
)

// ParseSync reads a Sync setting by name ("full" or "normal", any case).
func ParseSync(name string) (Sync, error) {
	switch v := Sync(strings.ToLower(strings.TrimSpace(name))); v {
	case SyncFull, SyncNormal:
		return v, nil
	}
	return "", credbroker.Errorf(credbroker.CodeInvalid, "synchronous", "unknown synchronous setting %q", name).
		WithFix("use full (every commit on disk before the answer; the default) or normal (survives a crash of credbroker, not a power cut)")
}

// Store is a credbroker.Store kept in one SQLite file. Its methods are
// safe for concurrent use.
type Store struct {
	path   string
	w      *sql.DB // the single writer connection
	r      *sql.DB // read-only connections
	closed atomic.Bool
	once   sync.Once

	getConnector *sql.Stmt // on r
	connectorRev *sql.Stmt // on r
	connectorGen *sql.Stmt // on r
	getToken     *sql.Stmt // on r
	auditHead    *sql.Stmt // on w
	auditSetHead *sql.Stmt // on w
	// auditInserts[k] inserts 1<<k audit rows; on w.
	auditInserts [auditInsertSizes]*sql.Stmt
}

var _ credbroker.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Open opens the store at path, creating the file (mode 0600, in a
// directory created 0700) and migrating its schema as needed.
func Open(ctx context.Context, path string, optFns ...func(*Options)) (*Store, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = 5 * time.Second
	}
	if o.Readers <= 0 {
		o.Readers = max(4, runtime.GOMAXPROCS(0))
	}
	if o.Synchronous == "" {
		o.Synchronous = SyncFull
	}
	if _, err := ParseSync(string(o.Synchronous)); err != nil {
		return nil, err
	}
	if path == "" {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "", "no database file given")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "", "cannot resolve the database path %s", path).WithCause(err)
	}
	if !o.ReadOnly {
		if err := createFile(abs); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(abs); err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot open the store %s read-only: the file is missing or unreadable", abs).WithCause(err)
	}

	s := &Store{path: abs}
	if s.w, err = sql.Open("sqlite", dsn(abs, o, true)); err != nil {
		return nil, s.fail("open", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.setup(ctx, o); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// setup migrates the schema, opens the readers and prepares the
// statements of the hot paths.
func (s *Store) setup(ctx context.Context, o Options) error {
	if err := s.migrate(ctx, o.ReadOnly); err != nil {
		return err
	}
	var err error
	// The readers open after the writer has put the file in WAL mode.
	if s.r, err = sql.Open("sqlite", dsn(s.path, o, false)); err != nil {
		return s.fail("open readers", err)
	}
	s.r.SetMaxOpenConns(o.Readers)
	s.r.SetMaxIdleConns(o.Readers)
	prepare := func(db *sql.DB, dst **sql.Stmt, query string) {
		if err == nil {
			*dst, err = db.PrepareContext(ctx, query)
		}
	}
	prepare(s.r, &s.getConnector, `SELECT `+connectorColumns+` FROM connectors WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`)
	prepare(s.r, &s.connectorRev, `SELECT id, revision FROM connectors WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1`)
	prepare(s.r, &s.connectorGen, `SELECT n FROM connector_generation WHERE id = 1`)
	prepare(s.r, &s.getToken, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`)
	prepare(s.w, &s.auditHead, `SELECT seq, hash FROM audit_head WHERE id = 1`)
	prepare(s.w, &s.auditSetHead, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`)
	for k := range s.auditInserts {
		prepare(s.w, &s.auditInserts[k], insertAuditRows(1<<k))
	}
	if err != nil {
		return s.fail("prepare statements", err)
	}
	return nil
}

// dsn is the driver's data source name for the writer or the readers.
func dsn(abs string, o Options, writer bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	if o.ReadOnly {
		q.Set("mode", "ro")
	}
	if writer {
		if !o.ReadOnly {
			q.Add("_pragma", "journal_mode(WAL)")
		}
		q.Add("_pragma", "synchronous("+strings.ToUpper(string(o.Synchronous))+")")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + (&url.URL{Path: abs}).EscapedPath() + "?" + q.Encode()
}

// createFile makes the parent directory (0700) and an empty database file
// (0600) when they are missing, so SQLite never creates them with the
// process umask. SQLite gives its -wal and -shm files the database file's
// mode.
func createFile(abs string) error {
	dir := filepath.Dir(abs)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return credbroker.Errorf(credbroker.CodeUnavailable, "", "store is not writable: cannot create the directory %s", dir).WithCause(err)
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return credbroker.Errorf(credbroker.CodeUnavailable, "", "store is not writable: cannot create the database file %s", abs).WithCause(err)
	}
	return f.Close()
}

// migrations returns the embedded migrations in order of their numbers
// (package migrate: numbers may be missing, and a database gets every one
// it has not had yet).
func migrations() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations/*.sql")
}

// migrate brings the schema up to date in one immediate transaction, so
// two processes opening a new file at once cannot both apply a migration.
// A read-only store only checks that the schema is current.
func (s *Store) migrate(ctx context.Context, readOnly bool) error {
	ms, err := migrations()
	if err != nil {
		return credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	latest := ms[len(ms)-1].Version
	if readOnly {
		applied, err := appliedVersions(ctx, s.w)
		var pending []migrate.Migration
		if err == nil {
			pending, err = migrate.Pending(ms, applied)
		}
		if err != nil || len(pending) > 0 {
			return credbroker.Errorf(credbroker.CodeUnavailable, "",
				"store schema is not at version %d: it cannot be used read-only", latest).
				WithFix("open it once read-write with this version of credbroker").WithCause(err)
		}
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail("begin migration", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
	) STRICT`); err != nil {
		return s.fail("create schema_version", err)
	}
	applied, err := appliedVersions(ctx, tx)
	if err != nil {
		return s.fail("read schema version", err)
	}
	pending, err := migrate.Pending(ms, applied)
	if err != nil {
		return credbroker.Errorf(credbroker.CodeUnavailable, "", "%s", err).WithFix("run a newer credbroker")
	}
	for _, m := range pending {
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			return s.fail("apply migration "+strconv.Itoa(m.Version), err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, m.Version); err != nil {
			return s.fail("record migration "+strconv.Itoa(m.Version), err)
		}
	}
	// A write on every open, even with nothing to migrate: SQLite opens a
	// file it may not write (a read-only file system, a file of another
	// user) read-only without a word, and a broker would then start and
	// refuse every vend. This makes it refuse to start instead.
	if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(latest)); err != nil {
		return s.fail("write the schema version", err)
	}
	if err := tx.Commit(); err != nil {
		return s.fail("commit migration", err)
	}
	return nil
}

// appliedVersions returns the migrations a database has had.
func appliedVersions(ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_version`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Close closes the store; later calls fail with CodeUnavailable. Closing
// twice is harmless.
func (s *Store) Close() error {
	var errs []error
	s.once.Do(func() {
		s.closed.Store(true)
		stmts := []*sql.Stmt{s.getConnector, s.connectorRev, s.connectorGen, s.getToken, s.auditHead, s.auditSetHead}
		for _, st := range append(stmts, s.auditInserts[:]...) {
			if st != nil {
				errs = append(errs, st.Close())
			}
		}
		for _, db := range []*sql.DB{s.r, s.w} {
			if db != nil {
				errs = append(errs, db.Close())
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return s.fail("close", err)
	}
	return nil
}

// write runs fn in one immediate transaction on the writer and, when
// audit holds records, chains and appends them in that same transaction:
// the change and its audit records are stored together or not at all.
func (s *Store) write(ctx context.Context, op string, fn func(tx *sql.Tx) error, audit ...*credbroker.AuditRecord) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return s.fail(op, err)
	}
	defer tx.Rollback()
	if fn != nil {
		if err := fn(tx); err != nil {
			return s.fail(op, err)
		}
	}
	if len(audit) > 0 {
		if err := s.appendTx(ctx, tx, audit); err != nil {
			unchain(audit)
			return s.fail(op, err)
		}
	}
	if err := tx.Commit(); err != nil {
		unchain(audit)
		return s.fail(op, err)
	}
	return nil
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
