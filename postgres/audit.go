package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/jackc/pgx/v5"
)

const auditColumns = `seq, time_us, action, token_id, plan, build, job, task, connector, role_arn, access_key_id, expiration_us, outcome, error_code, detail, tags, prev_hash, hash`

// insertAudit inserts any number of audit rows in one statement: each
// parameter is an array of one column's values, and unnest zips them into
// rows. One statement, prepared once per connection, whatever the size of
// the batch.
const insertAudit = `INSERT INTO audit (` + auditColumns + `)
	SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
		$8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::text[], $14::text[], $15::text[],
		$16::text[], $17::text[], $18::text[])`

// auditRows are the column arrays of insertAudit.
type auditRows struct {
	seq                                                     []int64
	at, expiration                                          []*int64
	action, token, plan, build, job, task, connector, role  []string
	keyID, outcome, errorCode, detail, tags, prevHash, hash []string
}

// add appends r's values.
func (a *auditRows) add(r *credbroker.AuditRecord) {
	a.seq = append(a.seq, r.Seq)
	a.at = append(a.at, microsOrNil(r.Time))
	a.expiration = append(a.expiration, microsOrNil(r.Expiration))
	a.action = append(a.action, r.Action)
	a.token = append(a.token, r.TokenID)
	a.plan = append(a.plan, r.Plan)
	a.build = append(a.build, r.Build)
	a.job = append(a.job, r.Job)
	a.task = append(a.task, r.Task)
	a.connector = append(a.connector, r.Connector)
	a.role = append(a.role, r.RoleARN)
	a.keyID = append(a.keyID, r.AccessKeyID)
	a.outcome = append(a.outcome, r.Outcome)
	a.errorCode = append(a.errorCode, r.ErrorCode)
	a.detail = append(a.detail, r.Detail)
	tags, _ := jsonList(r.Tags) // a list of string pairs always encodes
	a.tags = append(a.tags, tags)
	a.prevHash = append(a.prevHash, r.PrevHash)
	a.hash = append(a.hash, r.Hash)
}

// args are the parameters of insertAudit, in auditColumns order.
func (a *auditRows) args() []any {
	return []any{a.seq, a.at, a.action, a.token, a.plan, a.build, a.job, a.task, a.connector,
		a.role, a.keyID, a.expiration, a.outcome, a.errorCode, a.detail, a.tags, a.prevHash, a.hash}
}

// appendTx locks the head, chains recs after it and inserts them, moving
// the head, inside tx. The lock holds until tx ends, so appenders on every
// broker take turns and the chain stays one. The insert of every record
// (one statement) and the head update go to the server in one batch, a
// single round trip.
func appendTx(ctx context.Context, tx pgx.Tx, recs []*credbroker.AuditRecord) error {
	var seq int64
	var hash string
	if err := tx.QueryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE`).Scan(&seq, &hash); err != nil {
		return err
	}
	var rows auditRows
	for _, r := range recs {
		r.Chain(seq, hash)
		rows.add(r)
		seq, hash = r.Seq, r.Hash
	}
	b := &pgx.Batch{}
	b.Queue(insertAudit, rows.args()...)
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
			var tags string
			err := row.Scan(&r.Seq, &at, &r.Action, &r.TokenID, &r.Plan, &r.Build, &r.Job, &r.Task, &r.Connector,
				&r.RoleARN, &r.AccessKeyID, &expiration, &r.Outcome, &r.ErrorCode, &r.Detail, &tags, &r.PrevHash, &r.Hash)
			if err == nil {
				err = parseList(tags, &r.Tags)
			}
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
