package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// connectorCols are the columns of a connector, id first; connectorArgs
// and scanConnector follow this order.
var connectorCols = []string{
	"id", "name", "description", "principal", "base", "base_connector",
	"access_key_id", "secret_blob", "secret_key_version", "region",
	"role_arn", "external_id", "federated_name", "policy", "policy_arns",
	"default_duration_ns", "max_duration_ns", "scope_kind", "scope_key",
	"allow_plans", "allowed_account_ids", "session_mode", "tags", "transitive_tag_keys",
	"disable_tags", "sts_endpoints", "retry_max_attempts",
	"retry_max_backoff_ns", "created_us", "updated_us", "revision",
}

var connectorColumns = strings.Join(connectorCols, ", ")

// connectorWrites returns the INSERT of a connector, whose parameters are
// connectorArgs, and its UPDATE, whose parameters are connectorArgs
// without the ID, then the ID.
func (s *Store) connectorWrites() (insert, update string) {
	insert = `INSERT INTO connectors (` + connectorColumns + `) VALUES (` + s.params(1, len(connectorCols)) + `)`
	sets := make([]string, len(connectorCols)-1)
	for i, col := range connectorCols[1:] {
		sets[i] = col + " = " + s.d.Placeholder(i+1)
	}
	update = `UPDATE connectors SET ` + strings.Join(sets, ", ") + ` WHERE id = ` + s.d.Placeholder(len(connectorCols))
	return insert, update
}

// byIDOrName ends the reads of one connector by ID or, failing that, by
// name.
const byIDOrName = ` FROM connectors WHERE id = $1 OR name = $1 ORDER BY id = $1 DESC LIMIT 1`

var selectConnector = `SELECT ` + connectorColumns + byIDOrName

const (
	selectRevision   = `SELECT id, revision` + byIDOrName
	selectGeneration = `SELECT n FROM connector_generation WHERE id = 1`
)

// connectorArgs are the column values of c, in connectorCols order.
func connectorArgs(c *credbroker.Connector) ([]any, error) {
	policyARNs, err1 := jsonList(c.PolicyARNs)
	allowPlans, err2 := jsonList(c.AllowPlans)
	tags, err3 := jsonList(c.Tags)
	ttk, err4 := jsonList(c.TransitiveTagKeys)
	sts, err5 := jsonList(c.STSEndpoints)
	accounts, err6 := jsonList(c.AllowedAccountIDs)
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, err
	}
	blob, version := sealedArgs(c.Secret)
	return []any{
		c.ID, c.Name, c.Description, string(c.Principal), string(c.Base), nullString(c.BaseConnector),
		c.AccessKeyID, blob, version, c.Region,
		c.RoleARN, c.ExternalID, c.FederatedName, c.Policy, policyARNs,
		int64(c.DefaultDuration), int64(c.MaxDuration), string(c.Scope.Kind), c.Scope.Key,
		allowPlans, accounts, string(c.SessionMode), tags, ttk,
		c.DisableTags, sts, int64(c.Retry.MaxAttempts),
		int64(c.Retry.MaxBackoff), micros(c.CreatedAt), micros(c.UpdatedAt), c.Revision,
	}, nil
}

// scanConnector reads one row of connectorCols.
func scanConnector(sc scanner) (*credbroker.Connector, error) {
	var (
		c                                       credbroker.Connector
		principal, base, scopeKind, sessionMode string
		baseConnector                           sql.NullString
		blob                                    []byte
		version, created, updated               sql.NullInt64
		policyARNs, allowPlans, tags, ttk, sts  string
		accounts                                string
		defaultDur, maxDur, attempts, backoff   int64
	)
	err := sc.Scan(
		&c.ID, &c.Name, &c.Description, &principal, &base, &baseConnector,
		&c.AccessKeyID, &blob, &version, &c.Region,
		&c.RoleARN, &c.ExternalID, &c.FederatedName, &c.Policy, &policyARNs,
		&defaultDur, &maxDur, &scopeKind, &c.Scope.Key,
		&allowPlans, &accounts, &sessionMode, &tags, &ttk,
		&c.DisableTags, &sts, &attempts,
		&backoff, &created, &updated, &c.Revision,
	)
	if err != nil {
		return nil, err
	}
	c.Principal = credbroker.PrincipalType(principal)
	c.Base = credbroker.BaseKind(base)
	c.BaseConnector = baseConnector.String
	c.Secret = sealedOf(blob, version)
	c.DefaultDuration, c.MaxDuration = time.Duration(defaultDur), time.Duration(maxDur)
	c.Scope.Kind = credbroker.ScopeKind(scopeKind)
	c.SessionMode = credbroker.SessionMode(sessionMode)
	c.Retry = credbroker.RetrySpec{MaxAttempts: int(attempts), MaxBackoff: time.Duration(backoff)}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	err = errors.Join(
		parseList(policyARNs, &c.PolicyARNs),
		parseList(allowPlans, &c.AllowPlans),
		parseList(tags, &c.Tags),
		parseList(ttk, &c.TransitiveTagKeys),
		parseList(sts, &c.STSEndpoints),
		parseList(accounts, &c.AllowedAccountIDs),
	)
	if err != nil {
		return nil, fmt.Errorf("connector %s: %w", c.ID, err)
	}
	return &c, nil
}

// checkConnector refuses a connector the store cannot key.
func checkConnector(c *credbroker.Connector) error {
	switch {
	case c == nil:
		return credbroker.Errorf(credbroker.CodeInvalid, "connector", "no connector given")
	case c.ID == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "id", "the connector has no ID")
	case c.Name == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the connector has no name")
	}
	return nil
}

// checkNameAndBase, inside a write transaction, refuses a name another
// connector holds and a base connector that does not exist. Where another
// transaction can run meanwhile (PostgreSQL), it can still take the name or
// delete the base before this one commits: the unique and foreign keys
// catch that, as CodeConflict.
func checkNameAndBase(ctx context.Context, tx *sql.Tx, c *credbroker.Connector) error {
	var other string
	err := tx.QueryRowContext(ctx, `SELECT id FROM connectors WHERE name = $1 AND id <> $2`, c.Name, c.ID).Scan(&other)
	switch {
	case err == nil:
		return credbroker.Errorf(credbroker.CodeConflict, "name", "a connector named %q already exists", c.Name)
	case !isNoRows(err):
		return err
	}
	if c.BaseConnector == "" || c.BaseConnector == c.ID {
		return nil
	}
	err = tx.QueryRowContext(ctx, `SELECT id FROM connectors WHERE id = $1`, c.BaseConnector).Scan(&other)
	if isNoRows(err) {
		return credbroker.Errorf(credbroker.CodeInvalid, "base_connector", "base connector %s does not exist", c.BaseConnector)
	}
	return err
}

// CreateConnector inserts c at revision 1 (setting c.Revision); a name or
// ID already taken is CodeConflict. The audit record, when given, is
// appended in the same transaction.
func (s *Store) CreateConnector(ctx context.Context, c *credbroker.Connector, audit *credbroker.AuditRecord) error {
	if err := checkConnector(c); err != nil {
		return err
	}
	stored := *c
	stored.Revision = 1
	args, err := connectorArgs(&stored)
	if err != nil {
		return s.fail("encode connector", err)
	}
	err = s.write(ctx, "create connector", func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM connectors WHERE id = $1`, c.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return credbroker.Errorf(credbroker.CodeConflict, "id", "a connector with ID %s already exists", c.ID)
		}
		if err := checkNameAndBase(ctx, tx, c); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.insertConnector, args...)
		return err
	}, auditOf(audit)...)
	if err != nil {
		return err
	}
	c.Revision = 1
	return nil
}

// noConnector says that no connector has ID or name idOrName.
func noConnector(idOrName string) error {
	return credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector with ID or name %q", idOrName)
}

// GetConnector finds a connector by ID or, failing that, by name.
func (s *Store) GetConnector(ctx context.Context, idOrName string) (*credbroker.Connector, error) {
	return readOne(ctx, s, "get connector", selectConnector, func() error { return noConnector(idOrName) }, scanConnector, idOrName)
}

// ConnectorRevision returns the ID and revision of the connector that
// GetConnector(idOrName) finds: two columns through the primary key or the
// name's index.
func (s *Store) ConnectorRevision(ctx context.Context, idOrName string) (string, int64, error) {
	type idRev struct {
		id  string
		rev int64
	}
	v, err := readOne(ctx, s, "read connector revision", selectRevision, func() error { return noConnector(idOrName) },
		func(sc scanner) (v idRev, err error) { err = sc.Scan(&v.id, &v.rev); return v, err }, idOrName)
	return v.id, v.rev, err
}

// ConnectorGeneration returns the number that the migration's triggers on
// the connectors table move with every change of a connector.
func (s *Store) ConnectorGeneration(ctx context.Context) (int64, error) {
	return readOne(ctx, s, "read connector generation", selectGeneration, nil, scanInt64)
}

// ListConnectors returns every connector, ordered by name.
func (s *Store) ListConnectors(ctx context.Context) ([]*credbroker.Connector, error) {
	return readAll(ctx, s, "list connectors", `SELECT `+connectorColumns+` FROM connectors ORDER BY name`+s.d.ByteOrder, scanConnector)
}

// UpdateConnector replaces the connector c.ID with c if the store still
// holds revision c.Revision, storing it as the next revision and setting
// c.Revision and c.CreatedAt (which an update never changes). A stale
// revision is CodeConflict, an unknown ID CodeNotFound.
func (s *Store) UpdateConnector(ctx context.Context, c *credbroker.Connector, audit *credbroker.AuditRecord) error {
	if err := checkConnector(c); err != nil {
		return err
	}
	var created sql.NullInt64
	err := s.write(ctx, "update connector", func(ctx context.Context, tx *sql.Tx) error {
		var rev int64
		err := tx.QueryRowContext(ctx, `SELECT revision, created_us FROM connectors WHERE id = $1`+s.d.ForNoKeyUpdate, c.ID).Scan(&rev, &created)
		if isNoRows(err) {
			return credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector with ID %s", c.ID)
		}
		if err != nil {
			return err
		}
		if rev != c.Revision {
			return revisionConflict(c, rev)
		}
		if err := checkNameAndBase(ctx, tx, c); err != nil {
			return err
		}
		stored := *c
		stored.Revision = rev + 1
		stored.CreatedAt = fromMicros(created)
		args, err := connectorArgs(&stored)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.updateConnector, append(args[1:], c.ID)...)
		return err
	}, auditOf(audit)...)
	if err != nil {
		return err
	}
	c.Revision++
	c.CreatedAt = fromMicros(created)
	return nil
}

// revisionConflict says that c was edited since the caller read it.
func revisionConflict(c *credbroker.Connector, stored int64) error {
	return credbroker.Errorf(credbroker.CodeConflict, "revision",
		"connector %s changed since it was read: the change was made to revision %d, the store holds revision %d",
		c.Name, c.Revision, stored).WithFix("read the connector again and repeat the change")
}

// DeleteConnector removes the connector id; CodeConflict while another
// connector names it as its base, CodeNotFound when there is none.
func (s *Store) DeleteConnector(ctx context.Context, id string, audit *credbroker.AuditRecord) error {
	return s.write(ctx, "delete connector", func(ctx context.Context, tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT name FROM connectors WHERE base_connector = $1 AND id <> $1 ORDER BY name`+s.d.ByteOrder, id)
		if err != nil {
			return err
		}
		users, err := collect(rows, scanString)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return baseInUse(id, users)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM connectors WHERE id = $1`, id)
		return changedOne(res, err, credbroker.Errorf(credbroker.CodeNotFound, "connector", "no connector with ID %s", id))
	}, auditOf(audit)...)
}

// baseInUse says which connectors still chain from connector id.
func baseInUse(id string, users []string) error {
	return credbroker.Errorf(credbroker.CodeConflict, "connector",
		"connector %s is the base connector of %s", id, strings.Join(users, ", ")).
		WithFix("delete those connectors or give them another base first")
}

// changedOne returns err, the error of a statement that should change one
// row, or none when it changed no row.
func changedOne(res sql.Result, err error, none error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return none
	}
	return err
}
