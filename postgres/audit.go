package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/jackc/pgx/v5"
)

const auditColumns = `seq, time_us, action, token_id, plan, build, job, task, connector, role_arn, access_key_id, expiration_us, outcome, error_code, detail, prev_hash, hash`

var insertAudit = `INSERT INTO audit (` + auditColumns + `) VALUES (` + params(1, 17) + `)`

// auditArgs are the column values of r, in auditColumns order.
func auditArgs(r *credbroker.AuditRecord) []any {
	return []any{
		r.Seq, micros(r.Time), r.Action, r.TokenID, r.Plan, r.Build, r.Job, r.Task, r.Connector,
		r.RoleARN, r.AccessKeyID, micros(r.Expiration), r.Outcome, r.ErrorCode, r.Detail, r.PrevHash, r.Hash,
	}
}

// appendTx locks the head, chains recs after it and inserts them, moving
// the head, inside tx. The lock holds until tx ends, so appenders on every
// broker take turns and the chain stays one. The inserts and the head
// update go to the server in one batch, a single round trip, as prepared
// statements.
func appendTx(ctx context.Context, tx pgx.Tx, recs []*credbroker.AuditRecord) error {
	var seq int64
	var hash string
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash); err != nil {
		return err
	}
	b := &pgx.Batch{}
	for _, r := range recs {
		r.Chain(seq, hash)
		b.Queue(insertAudit, auditArgs(r)...)
		seq, hash = r.Seq, r.Hash
	}
	b.Queue(`UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`, seq, hash)
	return tx.SendBatch(ctx, b).Close()
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
		args = append(args, arg)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if !f.Since.IsZero() {
		add("time_us >=", ceilMicros(f.Since))
	}
	if !f.Until.IsZero() {
		add("time_us <", ceilMicros(f.Until))
	}
	if f.Plan != "" {
		add("plan =", f.Plan)
	}
	if f.Connector != "" {
		add("connector =", f.Connector)
	}
	if f.Outcome != "" {
		add("outcome =", f.Outcome)
	}
	if f.Action != "" {
		add("action =", f.Action)
	}
	if f.AfterSeq > 0 {
		add("seq >", f.AfterSeq)
	}
	query := `SELECT ` + auditColumns + ` FROM audit`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY seq`
	if f.Limit > 0 {
		args = append(args, f.Limit)
		query += ` LIMIT $` + strconv.Itoa(len(args))
	}
	var out []credbroker.AuditRecord
	err := s.read(ctx, "list audit", func(ctx context.Context, q querier) error {
		rows, err := q.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (credbroker.AuditRecord, error) {
			var r credbroker.AuditRecord
			var at, expiration *int64
			err := row.Scan(&r.Seq, &at, &r.Action, &r.TokenID, &r.Plan, &r.Build, &r.Job, &r.Task, &r.Connector,
				&r.RoleARN, &r.AccessKeyID, &expiration, &r.Outcome, &r.ErrorCode, &r.Detail, &r.PrevHash, &r.Hash)
			r.Time, r.Expiration = fromMicros(at), fromMicros(expiration)
			return r, err
		})
		return err
	})
	return out, err
}

// AuditHead returns the sequence and hash of the last record appended (0
// and credbroker.AuditGenesis for an empty trail). It is kept apart from
// the records, so a trail whose last records were deleted ends before it.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	var seq int64
	var hash string
	err := s.read(ctx, "read audit head", func(ctx context.Context, q querier) error {
		return q.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	})
	return seq, hash, err
}
