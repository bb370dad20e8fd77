package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/credbroker/credbroker"
)

const issuerColumns = `name, url, description, discovery_url, jwks_url, audiences, algorithms, leeway_s, reject_replay, created_us, updated_us, revision`

// issuerArgs are the column values of i, in issuerColumns order, at
// revision rev.
func issuerArgs(i *credbroker.TrustedIssuer, rev int64) ([]any, error) {
	aud, err1 := jsonList(i.Audiences)
	algs, err2 := jsonList(i.Algorithms)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	return []any{i.Name, i.URL, i.Description, i.DiscoveryURL, i.JWKSURL, aud, algs,
		int64(i.LeewaySeconds), i.RejectReplay, micros(i.CreatedAt), micros(i.UpdatedAt), rev}, nil
}

// scanIssuer reads one row of issuerColumns.
func scanIssuer(sc scanner) (*credbroker.TrustedIssuer, error) {
	var (
		i                credbroker.TrustedIssuer
		aud, algs        string
		leeway           int64
		created, updated sql.NullInt64
	)
	err := sc.Scan(&i.Name, &i.URL, &i.Description, &i.DiscoveryURL, &i.JWKSURL, &aud, &algs,
		&leeway, &i.RejectReplay, &created, &updated, &i.Revision)
	if err != nil {
		return nil, err
	}
	i.LeewaySeconds = int(leeway)
	i.CreatedAt, i.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := errors.Join(parseList(aud, &i.Audiences), parseList(algs, &i.Algorithms)); err != nil {
		return nil, fmt.Errorf("issuer %s: %w", i.Name, err)
	}
	return &i, nil
}

// bindingRules is the rules column of a binding: everything but its keys
// and times, as one JSON object.
type bindingRules struct {
	Subject        string                 `json:"subject,omitempty"`
	Claims         []credbroker.ClaimRule `json:"claims,omitempty"`
	PlanTemplate   string                 `json:"plan_template,omitempty"`
	Plans          string                 `json:"plans,omitempty"`
	TagClaims      []credbroker.ClaimTag  `json:"tag_claims,omitempty"`
	SessionName    string                 `json:"session_name,omitempty"`
	SourceIdentity string                 `json:"source_identity,omitempty"`
	AuditClaims    []string               `json:"audit_claims,omitempty"`
}

const bindingColumns = `name, issuer, description, rules, created_us, updated_us, revision`

// bindingArgs are the column values of b, in bindingColumns order, at
// revision rev.
func bindingArgs(b *credbroker.Binding, rev int64) ([]any, error) {
	rules, err := json.Marshal(bindingRules{
		Subject: b.Subject, Claims: b.Claims, PlanTemplate: b.PlanTemplate, Plans: b.Plans,
		TagClaims: b.TagClaims, SessionName: b.SessionName, SourceIdentity: b.SourceIdentity, AuditClaims: b.AuditClaims,
	})
	if err != nil {
		return nil, err
	}
	return []any{b.Name, b.Issuer, b.Description, string(rules), micros(b.CreatedAt), micros(b.UpdatedAt), rev}, nil
}

// scanBinding reads one row of bindingColumns.
func scanBinding(sc scanner) (*credbroker.Binding, error) {
	var (
		b                credbroker.Binding
		rules            string
		created, updated sql.NullInt64
	)
	if err := sc.Scan(&b.Name, &b.Issuer, &b.Description, &rules, &created, &updated, &b.Revision); err != nil {
		return nil, err
	}
	var r bindingRules
	if err := json.Unmarshal([]byte(rules), &r); err != nil {
		return nil, fmt.Errorf("binding %s: %w", b.Name, err)
	}
	b.Subject, b.Claims, b.PlanTemplate, b.Plans = r.Subject, r.Claims, r.PlanTemplate, r.Plans
	b.TagClaims, b.SessionName, b.SourceIdentity, b.AuditClaims = r.TagClaims, r.SessionName, r.SourceIdentity, r.AuditClaims
	b.CreatedAt, b.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &b, nil
}

// noIssuer says that there is no issuer name.
func noIssuer(name string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "issuer", "no trusted issuer named %q", name).
		WithFix("`credbroker issuer list` shows the issuers")
}

// noBinding says that there is no binding name.
func noBinding(name string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "binding", "no binding named %q", name).
		WithFix("`credbroker binding list` shows the bindings")
}

// CreateIssuer inserts i at revision 1 (setting i.Revision); a name or URL
// already taken is CodeConflict.
func (s *Store) CreateIssuer(ctx context.Context, i *credbroker.TrustedIssuer, audit *credbroker.AuditRecord) error {
	if i == nil || i.Name == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the issuer has no name")
	}
	args, err := issuerArgs(i, 1)
	if err != nil {
		return s.fail("encode issuer", err)
	}
	err = s.write(ctx, "create issuer", func(ctx context.Context, tx *sql.Tx) error {
		if err := issuerTaken(ctx, tx, i); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO issuers (`+issuerColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`, args...)
		return err
	}, auditOf(audit)...)
	if err == nil {
		i.Revision = 1
	}
	return err
}

// issuerTaken, inside a write transaction, refuses a name or URL that
// another issuer holds. Where another transaction can run meanwhile
// (PostgreSQL), the unique keys catch what this misses, as CodeConflict.
func issuerTaken(ctx context.Context, tx *sql.Tx, i *credbroker.TrustedIssuer) error {
	rows, err := tx.QueryContext(ctx, `SELECT name, url FROM issuers WHERE name = $1 OR url = $2`, i.Name, i.URL)
	if err != nil {
		return err
	}
	type row struct{ name, url string }
	got, err := collect(rows, func(sc scanner) (r row, err error) { err = sc.Scan(&r.name, &r.url); return r, err })
	if err != nil {
		return err
	}
	for _, r := range got {
		if r.name == i.Name {
			return credbroker.Errorf(credbroker.CodeConflict, "name", "an issuer named %q already exists", i.Name)
		}
		if r.url == i.URL {
			return credbroker.Errorf(credbroker.CodeConflict, "url", "issuer %s already trusts %s", r.name, i.URL).
				WithFix("add bindings to that issuer instead of trusting it twice")
		}
	}
	return nil
}

// GetIssuer returns the issuer name.
func (s *Store) GetIssuer(ctx context.Context, name string) (*credbroker.TrustedIssuer, error) {
	return readOne(ctx, s, "get issuer", `SELECT `+issuerColumns+` FROM issuers WHERE name = $1`,
		func() error { return noIssuer(name) }, scanIssuer, name)
}

// ListIssuers returns every issuer, ordered by name.
func (s *Store) ListIssuers(ctx context.Context) ([]*credbroker.TrustedIssuer, error) {
	return readAll(ctx, s, "list issuers", `SELECT `+issuerColumns+` FROM issuers ORDER BY name`+s.d.ByteOrder, scanIssuer)
}

// UpdateIssuer replaces the issuer i.Name if the store holds revision
// i.Revision, storing the next revision and setting i.Revision and
// i.CreatedAt (which an update never changes).
func (s *Store) UpdateIssuer(ctx context.Context, i *credbroker.TrustedIssuer, audit *credbroker.AuditRecord) error {
	if i == nil || i.Name == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the issuer has no name")
	}
	var rev int64
	var created sql.NullInt64
	err := s.write(ctx, "update issuer", func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT revision, created_us FROM issuers WHERE name = $1`+s.d.ForNoKeyUpdate, i.Name).Scan(&rev, &created)
		if isNoRows(err) {
			return noIssuer(i.Name)
		}
		if err != nil {
			return err
		}
		if rev != i.Revision {
			return staleRevision("issuer", i.Name, i.Revision, rev)
		}
		var other string
		err = tx.QueryRowContext(ctx, `SELECT name FROM issuers WHERE url = $1 AND name <> $2`, i.URL, i.Name).Scan(&other)
		switch {
		case err == nil:
			return credbroker.Errorf(credbroker.CodeConflict, "url", "issuer %s already trusts %s", other, i.URL)
		case !isNoRows(err):
			return err
		}
		stored := *i
		stored.CreatedAt = fromMicros(created)
		args, err := issuerArgs(&stored, rev+1)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE issuers SET url = $2, description = $3, discovery_url = $4, jwks_url = $5,
			audiences = $6, algorithms = $7, leeway_s = $8, reject_replay = $9, created_us = $10, updated_us = $11, revision = $12
			WHERE name = $1`, args...)
		return err
	}, auditOf(audit)...)
	if err != nil {
		return err
	}
	i.Revision = rev + 1
	i.CreatedAt = fromMicros(created)
	return nil
}

// staleRevision says that a record changed since the caller read it.
func staleRevision(kind, name string, read, stored int64) error {
	return credbroker.Errorf(credbroker.CodeConflict, "revision",
		"%s %s changed since it was read: the change was made to revision %d, the store holds revision %d",
		kind, name, read, stored).WithFix("read it again and repeat the change")
}

// DeleteIssuer removes the issuer name; CodeConflict while a binding
// names it.
func (s *Store) DeleteIssuer(ctx context.Context, name string, audit *credbroker.AuditRecord) error {
	return s.write(ctx, "delete issuer", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name FROM bindings WHERE issuer = $1 ORDER BY name`+s.d.ByteOrder, name)
		if err != nil {
			return err
		}
		users, err := collect(rows, scanString)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return credbroker.Errorf(credbroker.CodeConflict, "issuer", "issuer %s is used by bindings %s", name, strings.Join(users, ", ")).
				WithFix("delete those bindings first")
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM issuers WHERE name = $1`, name)
		return changedOne(res, err, noIssuer(name))
	}, auditOf(audit)...)
}

// bindingIssuerExists, inside a write transaction, refuses a binding of an
// issuer that does not exist (the foreign key catches one deleted
// meanwhile on PostgreSQL).
func bindingIssuerExists(ctx context.Context, tx *sql.Tx, b *credbroker.Binding) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM issuers WHERE name = $1`, b.Issuer).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return credbroker.Errorf(credbroker.CodeInvalid, "issuer", "no trusted issuer named %q", b.Issuer).
			WithFix("create the issuer first (credbroker issuer create), or name another")
	}
	return nil
}

// CreateBinding inserts b at revision 1 (setting b.Revision).
func (s *Store) CreateBinding(ctx context.Context, b *credbroker.Binding, audit *credbroker.AuditRecord) error {
	if b == nil || b.Name == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the binding has no name")
	}
	args, err := bindingArgs(b, 1)
	if err != nil {
		return s.fail("encode binding", err)
	}
	err = s.write(ctx, "create binding", func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bindings WHERE name = $1`, b.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return credbroker.Errorf(credbroker.CodeConflict, "name", "a binding named %q already exists", b.Name)
		}
		if err := bindingIssuerExists(ctx, tx, b); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO bindings (`+bindingColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`, args...)
		return err
	}, auditOf(audit)...)
	if err == nil {
		b.Revision = 1
	}
	return err
}

// GetBinding returns the binding name.
func (s *Store) GetBinding(ctx context.Context, name string) (*credbroker.Binding, error) {
	return readOne(ctx, s, "get binding", `SELECT `+bindingColumns+` FROM bindings WHERE name = $1`,
		func() error { return noBinding(name) }, scanBinding, name)
}

// ListBindings returns every binding, ordered by name.
func (s *Store) ListBindings(ctx context.Context) ([]*credbroker.Binding, error) {
	return readAll(ctx, s, "list bindings", `SELECT `+bindingColumns+` FROM bindings ORDER BY name`+s.d.ByteOrder, scanBinding)
}

// UpdateBinding replaces the binding b.Name if the store holds revision
// b.Revision, storing the next revision and setting b.Revision and
// b.CreatedAt.
func (s *Store) UpdateBinding(ctx context.Context, b *credbroker.Binding, audit *credbroker.AuditRecord) error {
	if b == nil || b.Name == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the binding has no name")
	}
	var rev int64
	var created sql.NullInt64
	err := s.write(ctx, "update binding", func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT revision, created_us FROM bindings WHERE name = $1`+s.d.ForNoKeyUpdate, b.Name).Scan(&rev, &created)
		if isNoRows(err) {
			return noBinding(b.Name)
		}
		if err != nil {
			return err
		}
		if rev != b.Revision {
			return staleRevision("binding", b.Name, b.Revision, rev)
		}
		if err := bindingIssuerExists(ctx, tx, b); err != nil {
			return err
		}
		stored := *b
		stored.CreatedAt = fromMicros(created)
		args, err := bindingArgs(&stored, rev+1)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE bindings SET issuer = $2, description = $3, rules = $4, created_us = $5, updated_us = $6, revision = $7
			WHERE name = $1`, args...)
		return err
	}, auditOf(audit)...)
	if err != nil {
		return err
	}
	b.Revision = rev + 1
	b.CreatedAt = fromMicros(created)
	return nil
}

// DeleteBinding removes the binding name.
func (s *Store) DeleteBinding(ctx context.Context, name string, audit *credbroker.AuditRecord) error {
	return s.write(ctx, "delete binding", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM bindings WHERE name = $1`, name)
		return changedOne(res, err, noBinding(name))
	}, auditOf(audit)...)
}

// IdentityGeneration returns the number the migration's triggers on the
// issuers and bindings tables move with every change.
func (s *Store) IdentityGeneration(ctx context.Context) (int64, error) {
	return readOne(ctx, s, "read identity generation", `SELECT n FROM identity_generation WHERE id = 1`, nil, scanInt64)
}
