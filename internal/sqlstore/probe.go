package sqlstore

import (
	"context"
	"database/sql"
	"time"
)

// ProbeWrite commits a change to the one row of write_probe (migration
// 8): it fails, as a vend's audit record would, when the store cannot
// take writes (a full disk, a read-only file system or database, a
// database that is down). The readiness check calls it.
func (s *Store) ProbeWrite(ctx context.Context, now time.Time) error {
	return s.write(ctx, "probe write", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO write_probe (id, at_us) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at_us = excluded.at_us`, now.UnixMicro())
		return err
	})
}
