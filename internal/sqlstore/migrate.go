package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/credbroker/credbroker"
)

// Migration is one numbered schema change, a file NNNN_name.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// ReadMigrations returns the migrations in fsys (the *.sql files at its
// root) in order of their numbers, which must be positive and unique. A
// gap is allowed: numbers are reserved for work that lands later.
func ReadMigrations(fsys fs.FS) ([]Migration, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("migration %s: no leading positive number", name)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: n, Name: name, SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations")
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share number %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// migrate brings the schema up to date in one write transaction: it
// applies, in order, every migration that schema_version does not record,
// and refuses a database that records one this program does not know (a
// newer credbroker wrote it). The transaction, and Dialect.LockMigrations,
// keep two programs opening a new database at once from both applying a
// migration. A read-only store only checks that every migration is
// recorded.
func (s *Store) migrate(ctx context.Context, readOnly bool) error {
	ms, err := ReadMigrations(s.d.Migrations)
	if err != nil {
		return credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	latest := ms[len(ms)-1].Version
	if readOnly {
		var applied []int
		err := s.read(ctx, "read schema version", func(ctx context.Context) error {
			var err error
			applied, err = appliedVersions(ctx, s.w)
			return err
		})
		if err != nil || len(pending(ms, applied)) > 0 || len(unknown(ms, applied)) > 0 {
			return credbroker.Errorf(credbroker.CodeUnavailable, "",
				"store schema is not at version %d: it cannot be used read-only", latest).
				WithFix("open it once read-write with this version of credbroker").WithCause(err)
		}
		return nil
	}
	return s.tx(ctx, "migrate", func(ctx context.Context, tx *sql.Tx) error {
		if s.d.LockMigrations != "" {
			if _, err := tx.ExecContext(ctx, s.d.LockMigrations); err != nil {
				return fmt.Errorf("lock the schema: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.d.SchemaVersionDDL); err != nil {
			return fmt.Errorf("create schema_version: %w", err)
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if extra := unknown(ms, applied); len(extra) > 0 {
			return credbroker.Errorf(credbroker.CodeUnavailable, "",
				"store schema version %d is newer than this credbroker knows (%d)", slices.Max(extra), latest).
				WithFix("run a newer credbroker")
		}
		for _, m := range pending(ms, applied) {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply migration %d: %w", m.Version, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, m.Version); err != nil {
				return fmt.Errorf("record migration %d: %w", m.Version, err)
			}
		}
		if s.d.MarkVersion != nil {
			if _, err := tx.ExecContext(ctx, s.d.MarkVersion(latest)); err != nil {
				return fmt.Errorf("write the schema version: %w", err)
			}
		}
		return nil
	})
}

// querier is a database or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// appliedVersions lists what schema_version records.
func appliedVersions(ctx context.Context, q querier) ([]int, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_version ORDER BY version`)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(sc scanner) (v int, err error) { err = sc.Scan(&v); return v, err })
}

// pending returns the migrations of ms that applied lacks, in order.
func pending(ms []Migration, applied []int) []Migration {
	var out []Migration
	for _, m := range ms {
		if !slices.Contains(applied, m.Version) {
			out = append(out, m)
		}
	}
	return out
}

// unknown returns the versions of applied that ms lacks.
func unknown(ms []Migration, applied []int) []int {
	var out []int
	for _, v := range applied {
		if !slices.ContainsFunc(ms, func(m Migration) bool { return m.Version == v }) {
			out = append(out, v)
		}
	}
	return out
}
