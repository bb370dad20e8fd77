package sqlstore

import (
	"context"
	"database/sql"

	"github.com/credbroker/credbroker"
)

const variableColumns = `plan, name, value, secret, sealed_blob, key_version, updated_us`

// SetVariable inserts or replaces the variable (v.Plan, v.Name). A plain
// variable is stored with its value; a secret one only as v.Sealed, which
// must be set, and its Value is never written.
func (s *Store) SetVariable(ctx context.Context, v *credbroker.Variable, audit *credbroker.AuditRecord) error {
	switch {
	case v == nil || v.Name == "":
		return credbroker.Errorf(credbroker.CodeInvalid, "name", "the variable has no name")
	case v.Secret && v.Sealed.Empty():
		return credbroker.Errorf(credbroker.CodeInvalid, "value", "secret variable %s reached the store unsealed", v.Name).
			WithFix("seal the value before storing it")
	}
	var value any = v.Value
	blob, version := sealedArgs(v.Sealed)
	if v.Secret {
		value = nil
	} else {
		blob, version = nil, nil
	}
	return s.write(ctx, "set variable", func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO variables (`+variableColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (plan, name) DO UPDATE SET value = excluded.value, secret = excluded.secret,
				sealed_blob = excluded.sealed_blob, key_version = excluded.key_version, updated_us = excluded.updated_us`,
			v.Plan, v.Name, value, v.Secret, blob, version, micros(v.UpdatedAt))
		return err
	}, auditOf(audit)...)
}

// DeleteVariable removes the variable (plan, name); CodeNotFound when
// there is none.
func (s *Store) DeleteVariable(ctx context.Context, plan, name string, audit *credbroker.AuditRecord) error {
	return s.write(ctx, "delete variable", func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM variables WHERE plan = $1 AND name = $2`, plan, name)
		return changedOne(res, err, variableNotFound(plan, name))
	}, auditOf(audit)...)
}

// variableNotFound says that (plan, name) does not exist.
func variableNotFound(plan, name string) error {
	if plan == "" {
		return credbroker.Errorf(credbroker.CodeNotFound, "variable", "no global variable %s", name)
	}
	return credbroker.Errorf(credbroker.CodeNotFound, "variable", "no variable %s in plan %s", name, plan)
}

// ListVariables returns the variables of the given plans ("" is global),
// ordered by plan then name; every variable when no plan is given. Secret
// variables come with Sealed set and Value empty.
func (s *Store) ListVariables(ctx context.Context, plans ...string) ([]*credbroker.Variable, error) {
	query := `SELECT ` + variableColumns + ` FROM variables`
	args := make([]any, len(plans))
	if len(plans) > 0 {
		query += ` WHERE plan IN (` + s.params(1, len(plans)) + `)`
		for i, p := range plans {
			args[i] = p
		}
	}
	query += ` ORDER BY plan` + s.d.ByteOrder + `, name` + s.d.ByteOrder
	return readAll(ctx, s, "list variables", query, scanVariable, args...)
}

// scanVariable reads one row of variableColumns.
func scanVariable(sc scanner) (*credbroker.Variable, error) {
	var (
		v                credbroker.Variable
		value            sql.NullString
		blob             []byte
		version, updated sql.NullInt64
	)
	if err := sc.Scan(&v.Plan, &v.Name, &value, &v.Secret, &blob, &version, &updated); err != nil {
		return nil, err
	}
	v.Value = value.String
	v.Sealed = sealedOf(blob, version)
	v.UpdatedAt = fromMicros(updated)
	return &v, nil
}
