package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/migrate"
)

// migrate brings the schema up to date in one write transaction: it
// applies, in order, every migration that schema_version does not record
// (package internal/migrate plans which), and refuses a database that
// records one this program does not know (a newer credbroker wrote it).
// The transaction, and Dialect.LockMigrations, keep two programs opening a
// new database at once from both applying a migration. A read-only store
// only checks that every migration is recorded.
func (s *Store) migrate(ctx context.Context, readOnly bool) error {
	ms, err := migrate.Load(s.d.Migrations, "*.sql")
	if err != nil {
		return credbroker.Errorf(credbroker.CodeInternal, "", "the embedded schema is broken").WithCause(err)
	}
	latest := ms[len(ms)-1].Version
	if readOnly {
		var pending []migrate.Migration
		err := s.read(ctx, "read schema version", func(ctx context.Context) error {
			applied, err := appliedVersions(ctx, s.w)
			if err == nil {
				pending, err = migrate.Pending(ms, applied)
			}
			return err
		})
		if err != nil || len(pending) > 0 {
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
		pending, err := migrate.Pending(ms, applied)
		if err != nil {
			return credbroker.Errorf(credbroker.CodeUnavailable, "", "%s", err).WithFix("run a newer credbroker")
		}
		for _, m := range pending {
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
