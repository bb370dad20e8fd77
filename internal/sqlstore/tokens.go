package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/credbroker/credbroker"
)

const tokenColumns = `id, name, role, plans, hash, created_us, expires_us, revoked_us`

const selectToken = `SELECT ` + tokenColumns + ` FROM tokens WHERE id = $1`

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
	return s.write(ctx, "create token", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO NOTHING`,
			t.ID, t.Name, string(t.Role), t.Plans, t.Hash, micros(t.CreatedAt), micros(t.ExpiresAt), micros(t.RevokedAt))
		return changedOne(res, err, credbroker.Errorf(credbroker.CodeConflict, "id", "a token with ID %s already exists", t.ID))
	}, auditOf(audit)...)
}

// noToken says that there is no token id.
func noToken(id string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "token", "no token with ID %s", id)
}

// GetToken returns the token id; CodeNotFound when there is none.
func (s *Store) GetToken(ctx context.Context, id string) (*credbroker.Token, error) {
	return readOne(ctx, s, "get token", selectToken, func() error { return noToken(id) }, scanToken, id)
}

// ListTokens returns every token, oldest first.
func (s *Store) ListTokens(ctx context.Context) ([]*credbroker.Token, error) {
	return readAll(ctx, s, "list tokens", `SELECT `+tokenColumns+` FROM tokens ORDER BY created_us NULLS FIRST, id`+s.d.ByteOrder, scanToken)
}

// RevokeToken sets the token's RevokedAt to at unless it is already
// revoked, in which case the first time stays. CodeNotFound when there is
// no such token.
func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time, audit *credbroker.AuditRecord) error {
	if at.IsZero() {
		return credbroker.Errorf(credbroker.CodeInvalid, "revoked_at", "no revocation time given")
	}
	return s.write(ctx, "revoke token", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_us = COALESCE(revoked_us, $1) WHERE id = $2`, at.UnixMicro(), id)
		return changedOne(res, err, noToken(id))
	}, auditOf(audit)...)
}
