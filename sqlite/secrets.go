package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/credbroker/credbroker"
)

// sealedRow is one sealed secret found for re-wrapping: where it is, what
// it holds, and the compare-and-swap that replaces it.
type sealedRow struct {
	ref    credbroker.SecretRef
	sealed credbroker.Sealed
	// cas sets ?1 blob and ?2 key version where the row still holds ?3
	// blob and ?4 key version; its own key follows from ?5.
	cas string
	key []any
}

// The compare-and-swap statements of RewrapSecrets.
const (
	casConnector = `UPDATE connectors SET secret_blob = ?1, secret_key_version = ?2
		WHERE secret_blob = ?3 AND secret_key_version = ?4 AND id = ?5`
	casVariable = `UPDATE variables SET sealed_blob = ?1, key_version = ?2
		WHERE sealed_blob = ?3 AND key_version = ?4 AND plan = ?5 AND name = ?6 AND secret = 1`
	casMeta = `UPDATE meta SET blob = ?1, key_version = ?2
		WHERE blob = ?3 AND key_version = ?4 AND key = ?5`
)

// sealedBelow lists the sealed secrets whose key version is below below.
func (s *Store) sealedBelow(ctx context.Context, below int) ([]sealedRow, error) {
	var out []sealedRow
	collect := func(query string, row func(rows *sql.Rows) (sealedRow, error)) error {
		rows, err := s.r.QueryContext(ctx, query, below)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			sr, err := row(rows)
			if err != nil {
				return err
			}
			out = append(out, sr)
		}
		return rows.Err()
	}
	err := collect(`SELECT id, secret_key_version, secret_blob FROM connectors
		WHERE secret_blob IS NOT NULL AND secret_key_version < ? ORDER BY id`,
		func(rows *sql.Rows) (sealedRow, error) {
			var id string
			var sealed credbroker.Sealed
			err := rows.Scan(&id, &sealed.KeyVersion, &sealed.Blob)
			return sealedRow{credbroker.SecretRef{Kind: "connector", ID: id}, sealed, casConnector, []any{id}}, err
		})
	if err == nil {
		err = collect(`SELECT plan, name, key_version, sealed_blob FROM variables
			WHERE secret = 1 AND key_version < ? ORDER BY plan, name`,
			func(rows *sql.Rows) (sealedRow, error) {
				var v credbroker.Variable
				err := rows.Scan(&v.Plan, &v.Name, &v.Sealed.KeyVersion, &v.Sealed.Blob)
				return sealedRow{v.Ref(), v.Sealed, casVariable, []any{v.Plan, v.Name}}, err
			})
	}
	if err == nil {
		err = collect(`SELECT key, key_version, blob FROM meta WHERE key_version < ? ORDER BY key`,
			func(rows *sql.Rows) (sealedRow, error) {
				var key string
				var sealed credbroker.Sealed
				err := rows.Scan(&key, &sealed.KeyVersion, &sealed.Blob)
				return sealedRow{credbroker.SecretRef{Kind: "meta", ID: key}, sealed, casMeta, []any{key}}, err
			})
	}
	return out, err
}

// RewrapSecrets calls fn for each sealed secret whose key version is below
// below and stores what it returns, each in its own short transaction and
// only where the row still holds the blob fn was given; a secret changed
// meanwhile keeps its new value and is not counted. fn runs outside any
// transaction, so it may itself use the store. It returns how many
// secrets were re-wrapped, and stops at the first error.
func (s *Store) RewrapSecrets(ctx context.Context, below int, fn func(ref credbroker.SecretRef, s credbroker.Sealed) (credbroker.Sealed, error)) (int, error) {
	found, err := s.sealedBelow(ctx, below)
	if err != nil {
		return 0, s.fail("list sealed secrets", err)
	}
	n := 0
	for _, sr := range found {
		next, err := fn(sr.ref, sr.sealed)
		if err != nil {
			return n, fmt.Errorf("rewrap %s: %w", sr.ref, err)
		}
		if next.Empty() {
			return n, credbroker.Errorf(credbroker.CodeInvalid, "", "re-wrapping %s gave an empty sealed value", sr.ref)
		}
		var swapped bool
		err = s.write(ctx, "rewrap secret", func(tx *sql.Tx) error {
			args := append([]any{next.Blob, int64(next.KeyVersion), sr.sealed.Blob, int64(sr.sealed.KeyVersion)}, sr.key...)
			res, err := tx.ExecContext(ctx, sr.cas, args...)
			if err != nil {
				return err
			}
			changed, err := res.RowsAffected()
			swapped = changed == 1
			return err
		})
		if err != nil {
			return n, err
		}
		if swapped {
			n++
		}
	}
	return n, nil
}

// CountSealed returns how many sealed secrets use each key version.
func (s *Store) CountSealed(ctx context.Context) (map[int]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT key_version, COUNT(*) FROM (
			SELECT secret_key_version AS key_version FROM connectors WHERE secret_blob IS NOT NULL
			UNION ALL SELECT key_version FROM variables WHERE secret = 1
			UNION ALL SELECT key_version FROM meta
		) GROUP BY key_version`)
	if err != nil {
		return nil, s.fail("count sealed secrets", err)
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var version, count int
		if err := rows.Scan(&version, &count); err != nil {
			return nil, s.fail("count sealed secrets", err)
		}
		out[version] = count
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("count sealed secrets", err)
	}
	return out, nil
}

// KeyCheck returns the sealed key check; CodeNotFound before InitKeyCheck.
func (s *Store) KeyCheck(ctx context.Context) (credbroker.Sealed, error) {
	var sealed credbroker.Sealed
	err := s.r.QueryRowContext(ctx, `SELECT key_version, blob FROM meta WHERE key = ?`, credbroker.KeyCheckRef.ID).
		Scan(&sealed.KeyVersion, &sealed.Blob)
	if errors.Is(err, sql.ErrNoRows) {
		return credbroker.Sealed{}, credbroker.Errorf(credbroker.CodeNotFound, "", "the store holds no key check yet")
	}
	if err != nil {
		return credbroker.Sealed{}, s.fail("read key check", err)
	}
	return sealed, nil
}

// InitKeyCheck stores sealed as the key check unless one exists
// (CodeConflict then).
func (s *Store) InitKeyCheck(ctx context.Context, sealed credbroker.Sealed) error {
	if sealed.Empty() {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "the key check is empty")
	}
	return s.write(ctx, "init key check", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO meta (key, key_version, blob) VALUES (?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			credbroker.KeyCheckRef.ID, int64(sealed.KeyVersion), sealed.Blob)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return credbroker.Errorf(credbroker.CodeConflict, "", "the store already holds a key check").
				WithFix("start with the master key the store was created with")
		}
		return err
	})
}
