package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/credbroker/credbroker"
)

// sealedRow is one sealed secret found for re-wrapping: where it is, what
// it holds, and the compare-and-swap that replaces it.
type sealedRow struct {
	ref    credbroker.SecretRef
	sealed credbroker.Sealed
	// cas sets $1 blob and $2 key version where the row still holds $3
	// blob and $4 key version; its own key follows from $5.
	cas string
	key []any
}

// The compare-and-swap statements of RewrapSecrets.
const (
	casConnector = `UPDATE connectors SET secret_blob = $1, secret_key_version = $2
		WHERE secret_blob = $3 AND secret_key_version = $4 AND id = $5`
	casVariable = `UPDATE variables SET sealed_blob = $1, key_version = $2
		WHERE sealed_blob = $3 AND key_version = $4 AND plan = $5 AND name = $6 AND secret`
	casMeta = `UPDATE meta SET blob = $1, key_version = $2
		WHERE blob = $3 AND key_version = $4 AND key = $5`
	casSession = `UPDATE shared_sessions SET blob = $1, key_version = $2
		WHERE blob = $3 AND key_version = $4 AND key = $5`
)

// sealedBelow lists the sealed secrets whose key version is below below.
func (s *Store) sealedBelow(ctx context.Context, below int) ([]sealedRow, error) {
	var out []sealedRow
	err := s.read(ctx, "list sealed secrets", func(ctx context.Context) error {
		out = nil
		add := func(query string, row func(scanner) (sealedRow, error)) error {
			rows, err := s.r.QueryContext(ctx, query, below)
			if err != nil {
				return err
			}
			found, err := collect(rows, row)
			out = append(out, found...)
			return err
		}
		err := add(`SELECT id, secret_key_version, secret_blob FROM connectors
			WHERE secret_blob IS NOT NULL AND secret_key_version < $1 ORDER BY id`+s.d.ByteOrder,
			func(sc scanner) (sealedRow, error) {
				var id string
				var sealed credbroker.Sealed
				err := sc.Scan(&id, &sealed.KeyVersion, &sealed.Blob)
				return sealedRow{credbroker.SecretRef{Kind: "connector", ID: id}, sealed, casConnector, []any{id}}, err
			})
		if err == nil {
			err = add(`SELECT plan, name, key_version, sealed_blob FROM variables
				WHERE secret AND key_version < $1 ORDER BY plan`+s.d.ByteOrder+`, name`+s.d.ByteOrder,
				func(sc scanner) (sealedRow, error) {
					var v credbroker.Variable
					err := sc.Scan(&v.Plan, &v.Name, &v.Sealed.KeyVersion, &v.Sealed.Blob)
					return sealedRow{v.Ref(), v.Sealed, casVariable, []any{v.Plan, v.Name}}, err
				})
		}
		if err == nil {
			err = add(`SELECT key, key_version, blob FROM meta WHERE key_version < $1 ORDER BY key`+s.d.ByteOrder,
				func(sc scanner) (sealedRow, error) {
					var key string
					var sealed credbroker.Sealed
					err := sc.Scan(&key, &sealed.KeyVersion, &sealed.Blob)
					return sealedRow{credbroker.SecretRef{Kind: "meta", ID: key}, sealed, casMeta, []any{key}}, err
				})
		}
		if err == nil {
			err = add(`SELECT key, key_version, blob FROM shared_sessions WHERE key_version < $1 ORDER BY key`+s.d.ByteOrder,
				func(sc scanner) (sealedRow, error) {
					var key string
					var sealed credbroker.Sealed
					err := sc.Scan(&key, &sealed.KeyVersion, &sealed.Blob)
					return sealedRow{credbroker.SessionRef(key), sealed, casSession, []any{key}}, err
				})
		}
		return err
	})
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
		return 0, err
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
		err = s.write(ctx, "rewrap secret", func(ctx context.Context, tx *sql.Tx) error {
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
	type count struct{ version, n int }
	counts, err := readAll(ctx, s, "count sealed secrets", `SELECT key_version, COUNT(*) FROM (
			SELECT secret_key_version AS key_version FROM connectors WHERE secret_blob IS NOT NULL
			UNION ALL SELECT key_version FROM variables WHERE secret
			UNION ALL SELECT key_version FROM meta
			UNION ALL SELECT key_version FROM shared_sessions
		) AS sealed GROUP BY key_version`,
		func(sc scanner) (c count, err error) { err = sc.Scan(&c.version, &c.n); return c, err })
	if err != nil {
		return nil, err
	}
	out := make(map[int]int, len(counts))
	for _, c := range counts {
		out[c.version] = c.n
	}
	return out, nil
}

// KeyCheck returns the sealed key check; CodeNotFound before InitKeyCheck.
func (s *Store) KeyCheck(ctx context.Context) (credbroker.Sealed, error) {
	return readOne(ctx, s, "read key check", `SELECT key_version, blob FROM meta WHERE key = $1`,
		func() error {
			return credbroker.Errorf(credbroker.CodeNotFound, "", "the store holds no key check yet")
		},
		func(sc scanner) (v credbroker.Sealed, err error) {
			err = sc.Scan(&v.KeyVersion, &v.Blob)
			return v, err
		},
		credbroker.KeyCheckRef.ID)
}

// InitKeyCheck stores sealed as the key check unless one exists
// (CodeConflict then).
func (s *Store) InitKeyCheck(ctx context.Context, sealed credbroker.Sealed) error {
	if sealed.Empty() {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "the key check is empty")
	}
	return s.write(ctx, "init key check", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO meta (key, key_version, blob) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING`,
			credbroker.KeyCheckRef.ID, int64(sealed.KeyVersion), sealed.Blob)
		return changedOne(res, err, credbroker.Errorf(credbroker.CodeConflict, "", "the store already holds a key check").
			WithFix("start with the master key the store was created with"))
	})
}
