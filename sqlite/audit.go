package sqlite

import (
	"context"
	"database/sql"
	"math/bits"
	"strings"

	"github.com/credbroker/credbroker"
)

const auditColumns = `seq, time_us, action, token_id, plan, build, job, task, connector, role_arn, access_key_id, expiration_us, outcome, error_code, detail, tags, prev_hash, hash`

// appendAuditArgs appends the column values of r, in auditColumns order.
func appendAuditArgs(args []any, r *credbroker.AuditRecord) []any {
	tags, _ := jsonList(r.Tags) // a list of string pairs always encodes
	return append(args,
		r.Seq, micros(r.Time), r.Action, r.TokenID, r.Plan, r.Build, r.Job, r.Task, r.Connector,
		r.RoleARN, r.AccessKeyID, micros(r.Expiration), r.Outcome, r.ErrorCode, r.Detail, tags, r.PrevHash, r.Hash,
	)
}

// auditRowValues is the number of values of one audit row.
const auditRowValues = 18

// auditInsertSizes is how many prepared multi-row INSERTs the writer
// keeps: statement k inserts 1<<k rows, so the largest writes 64 rows
// (1,152 values, far below SQLite's limit of bound values).
const auditInsertSizes = 7

// insertAuditRows is the INSERT of n audit rows.
func insertAuditRows(n int) string {
	row := "(" + placeholders(auditRowValues) + ")"
	return `INSERT INTO audit (` + auditColumns + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// appendTx chains recs after the head and inserts them, moving the head,
// inside tx, the writer's immediate transaction: no other writer can move
// the head meanwhile. The rows go in with as few statements as the
// prepared sizes allow: 64 rows at a time, then the rest in 32, 16, ... 1.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, recs []*credbroker.AuditRecord) error {
	var seq int64
	var hash string
	if err := tx.StmtContext(ctx, s.auditHead).QueryRowContext(ctx).Scan(&seq, &hash); err != nil {
		return err
	}
	for _, r := range recs {
		r.Chain(seq, hash)
		seq, hash = r.Seq, r.Hash
	}
	var inserts [auditInsertSizes]*sql.Stmt
	args := make([]any, 0, auditRowValues*min(len(recs), 1<<(auditInsertSizes-1)))
	for rest := recs; len(rest) > 0; {
		k := min(bits.Len(uint(len(rest))), auditInsertSizes) - 1
		n := 1 << k
		args = args[:0]
		for _, r := range rest[:n] {
			args = appendAuditArgs(args, r)
		}
		if inserts[k] == nil {
			inserts[k] = tx.StmtContext(ctx, s.auditInserts[k])
		}
		if _, err := inserts[k].ExecContext(ctx, args...); err != nil {
			return err
		}
		rest = rest[n:]
	}
	_, err := tx.StmtContext(ctx, s.auditSetHead).ExecContext(ctx, seq, hash)
	return err
}

// AppendAudit chains recs after the last record and stores them in one
// transaction, in order: all or none. It sets each record's Seq, PrevHash
// and Hash (and truncates its times to microseconds); on failure those
// are cleared again.
func (s *Store) AppendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if r == nil {
			return credbroker.Errorf(credbroker.CodeInvalid, "audit", "nil audit record")
		}
	}
	return s.write(ctx, "append audit", nil, recs...)
}

// ListAudit returns the records matching f in Seq order. Since is
// inclusive and Until exclusive.
func (s *Store) ListAudit(ctx context.Context, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if !f.Since.IsZero() {
		add("time_us >= ?", ceilMicros(f.Since))
	}
	if !f.Until.IsZero() {
		add("time_us < ?", ceilMicros(f.Until))
	}
	if f.Plan != "" {
		add("plan = ?", f.Plan)
	}
	if f.Connector != "" {
		add("connector = ?", f.Connector)
	}
	if f.Outcome != "" {
		add("outcome = ?", f.Outcome)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.AfterSeq > 0 {
		add("seq > ?", f.AfterSeq)
	}
	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail("list audit", err)
	}
	defer rows.Close()
	var out []credbroker.AuditRecord
	for rows.Next() {
		var (
			r              credbroker.AuditRecord
			at, expiration sql.NullInt64
			tags           string
		)
		err := rows.Scan(&r.Seq, &at, &r.Action, &r.TokenID, &r.Plan, &r.Build, &r.Job, &r.Task, &r.Connector,
			&r.RoleARN, &r.AccessKeyID, &expiration, &r.Outcome, &r.ErrorCode, &r.Detail, &tags, &r.PrevHash, &r.Hash)
		if err == nil {
			err = parseList(tags, &r.Tags)
		}
		if err != nil {
			return nil, s.fail("list audit", err)
		}
		r.Time, r.Expiration = fromMicros(at), fromMicros(expiration)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail("list audit", err)
	}
	return out, nil
}

// AuditHead returns the sequence and hash of the last record appended (0
// and credbroker.AuditGenesis for an empty trail). It is kept apart from
// the records, so a trail whose last records were deleted ends before it.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	if err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash); err != nil {
		return 0, "", s.fail("read audit head", err)
	}
	return seq, hash, nil
}
