// Package sqlite is the broker's default store: one SQLite file, through
// the pure-Go driver modernc.org/sqlite, implementing credbroker.Store.
// This package opens and configures the file and says what SQLite needs
// (its dialect, its migrations, what its errors mean); the store's logic
// is package internal/sqlstore, shared with package postgres.
//
// Durability: the file is in WAL mode with synchronous=FULL by default, so
// every acknowledged write has reached the disk before its transaction
// returns; a crash or power loss loses nothing that was acknowledged.
// A lone vend's audit record (AppendAudit of a few records) goes first to
// the audit journal, the file DB-audit beside the database (journal.go):
// one write in place and one fdatasync, then moved into the audit table
// in the background and before every read of the trail.
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
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/sqlstore"

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

// Store is a credbroker.Store kept in one SQLite file. Its methods, those
// of package internal/sqlstore, are safe for concurrent use.
type Store struct {
	*sqlstore.Store
	w *sql.DB // the single writer connection
	r *sql.DB // read-only connections
	// j is the audit journal (journal.go); nil when the store is
	// read-only or the system has no file locks.
	j         *journal
	closeOnce sync.Once
	closeErr  error
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

	d, err := dialect(abs)
	if err != nil {
		return nil, err
	}
	// sql.Open connects to nothing (and fails only for an unknown driver):
	// the readers' first connection comes after the migration, once the
	// writer has put the file in WAL mode.
	w, errW := sql.Open("sqlite", dsn(abs, o, true))
	r, errR := sql.Open("sqlite", dsn(abs, o, false))
	if err := errors.Join(errW, errR); err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "", "store failed; the broker log has the details").WithCause(err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r.SetMaxOpenConns(o.Readers)
	r.SetMaxIdleConns(o.Readers)
	var j *journal
	co := sqlstore.Options{Writer: w, Reader: r, ReadOnly: o.ReadOnly}
	if !o.ReadOnly && journalSupported {
		if j, err = newJournal(abs, o.Synchronous == SyncFull); err != nil {
			w.Close()
			r.Close()
			return nil, err
		}
		co.AuditGate = j
	}
	core, err := sqlstore.Open(ctx, d, co)
	if err != nil {
		if j != nil {
			j.close(ctx)
		}
		return nil, err
	}
	if j != nil {
		if err := j.start(ctx, core); err != nil {
			j.close(ctx)
			core.Close()
			return nil, err
		}
	}
	return &Store{Store: core, w: w, r: r, j: j}, nil
}

// AppendAudit chains recs after the last record and makes them durable,
// all or none. A few records (a lone vend's) take one write and one flush
// of the audit journal (journal.go) and join the audit table soon after,
// and before any read of the trail; more go to the table in one
// transaction. Without a journal (read-only, or a system without file
// locks) every append goes to the table.
func (s *Store) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if s.j == nil || len(recs) == 0 || len(recs) > journalMaxBatch {
		// A large group goes to the table (through the journal's gate,
		// which moves the journal in first).
		return s.Store.AppendAudit(ctx, recs...)
	}
	if err := sqlstore.CheckAudit(recs); err != nil {
		return err
	}
	return s.j.append(ctx, recs)
}

// ListAudit returns the records matching f in Seq order, those still in
// the journal included: they are moved into the table first, or, while
// the table refuses them, read from the journal.
func (s *Store) ListAudit(ctx context.Context, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	if s.j == nil {
		return s.Store.ListAudit(ctx, f)
	}
	left, err := s.j.forRead(ctx)
	if err != nil {
		return nil, err
	}
	recs, err := s.Store.ListAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, r := range left {
		if f.Limit > 0 && len(recs) >= f.Limit {
			break
		}
		if sqlstore.AuditMatches(f, r) {
			recs = append(recs, *r)
		}
	}
	return recs, nil
}

// AuditHead returns the sequence and hash of the last record appended,
// in the journal or the table.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	if s.j == nil {
		return s.Store.AuditHead(ctx)
	}
	left, err := s.j.forRead(ctx)
	if err != nil {
		return 0, "", err
	}
	if len(left) > 0 {
		last := left[len(left)-1]
		return last.Seq, last.Hash, nil
	}
	return s.Store.AuditHead(ctx)
}

// Close moves the journal's records into the table and closes the store.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.j != nil {
			ctx, cancel := context.WithTimeout(context.Background(), journalFlushTimeout)
			errs = append(errs, s.j.close(ctx))
			cancel()
		}
		errs = append(errs, s.Store.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// dialect is what SQLite needs of the store's logic; path is the database
// file, which the error classification asks the file system about.
func dialect(path string) (sqlstore.Dialect, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return sqlstore.Dialect{}, credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	return sqlstore.Dialect{
		Name:        "sqlite",
		Migrations:  sub,
		Placeholder: func(int) string { return "?" },
		SchemaVersionDDL: `CREATE TABLE IF NOT EXISTS schema_version (
			version    INTEGER NOT NULL PRIMARY KEY,
			applied_at TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP
		) STRICT`,
		MarkVersion: func(version int) string { return `PRAGMA user_version = ` + strconv.Itoa(version) },
		// A broker on the embedded store shares nothing with other
		// brokers: no session locks, so the store has no Fleet.
		Now:      `CAST(unixepoch('subsec') * 1000000 AS INTEGER)`,
		Classify: func(err error) (credbroker.Code, string) { return classify(path, err) },
	}, nil
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
