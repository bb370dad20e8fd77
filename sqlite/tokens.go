package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/credbroker/credbroker"
)

const tokenColumns = `id, name, role, plans, hash, created_us, expires_us, revoked_us`

// scanToken reads one row of tokenColumns.
func scanToken(sc scanner) (*credbroker.Token, error) {
	var (
		t                         credbroker.Token
		role                      string
		created, expires, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.ID, &t.Name, &role, &t.Plans, &t.Hash, &created, &expires, &revoked); err != nil {
		return nil, err
	}
	t.Role = credbroker.TokenRole(role)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	return &t, nil
}

// CreateToken inserts t; an ID already taken is CodeConflict. The audit
// record, when given, is appended in the same transaction.
func (s *Store) CreateToken(ctx context.Context, t *credbroker.Token, audit *credbroker.AuditRecord) error {
	switch {
	case t == nil || t.ID == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "id", "the token has no ID")
	case len(t.Hash) == 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "hash", "the token has no hash")
	}
	return s.write(ctx, "create token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Name, string(t.Role), t.Plans, t.Hash, micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.RevokedAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return credbroker.Errorf(credbroker.CodeConflict, "id", "a token with ID %s already exists", t.ID)
		}
		return err
	}, auditOf(audit)...)
}

// GetToken returns the token id; CodeNotFound when there is none.
func (s *Store) GetToken(ctx context.Context, id string) (*credbroker.Token, error) {
	t, err := scanToken(s.getToken.QueryRowContext(ctx, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, credbroker.Errorf(credbroker.CodeNotFound, "token", "no token with ID %s", id)
	}
	if err != nil {
		return nil, s.fail("get token", err)
	}
	return t, nil
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]*credbroker.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY created_us, id`)
	if err != nil {
		return nil, s.fail("list tokens", err)
	}
	defer rows.Close()
	var out []*credbroker.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, s.fail("list tokens", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list tokens", err)
	}
	return out, nil
}

// RevokeToken sets the token's RevokedAt to at unless it is already
// revoked, in which case the first time stays. CodeNotFound when there is
// no such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit *credbroker.AuditRecord) error {
	if at.IsZero() {
		return credbroker.Errorf(credbroker.CodeInvalid, "revoked_at", "no revocation time given")
	}
	return s.write(ctx, "revoke token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_us = COALESCE(revoked_us, ?) WHERE id = ?`, at.UnixMicro(), id)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err == nil && n == 0 {
			return credbroker.Errorf(credbroker.CodeNotFound, "token", "no token with ID %s", id)
		}
		return err
	}, auditOf(audit)...)
}
