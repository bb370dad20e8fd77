package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/credbroker/credbroker"
)

const auditColumns = `seq, time_us, action, token_id, plan, build, job, task, connector, role_arn, access_key_id, expiration_us, outcome, error_code, detail, tags, issuer, subject, claims, prev_hash, hash`

// auditRowValues is the number of values of one audit row.
const auditRowValues = 21

// auditChunk is the most rows one INSERT takes: 1,344 values, far below
// what either database binds. A batch of n rows goes in n/auditChunk full
// statements and one of the rest; the statement of each size is prepared
// once.
const auditChunk = 64

// The statements of the audit head. The head is read with
// Dialect.ForUpdate inside the write transaction.
const (
	selectHead = `SELECT seq, hash FROM audit_head WHERE id = 1`
	updateHead = `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1`
)

// appendAuditArgs appends the column values of r, in auditColumns order.
func appendAuditArgs(args []any, r *credbroker.AuditRecord) []any {
	tags, _ := jsonList(r.Tags) // lists of string pairs always encode
	claims, _ := jsonList(r.Claims)
	return append(args,
		r.Seq, micros(r.Time), r.Action, r.TokenID, r.Plan, r.Build, r.Job, r.Task, r.Connector,
		r.RoleARN, r.AccessKeyID, micros(r.Expiration), r.Outcome, r.ErrorCode, r.Detail, tags,
		r.Issuer, r.Subject, claims, r.PrevHash, r.Hash,
	)
}

// insertAuditRows is the INSERT of n audit rows. With moveHead it also
// sets the head to parameters 1 and 2 (Dialect.WritableCTE), and the rows'
// values start at parameter 3.
func (s *Store) insertAuditRows(n int, moveHead bool) string {
	var b strings.Builder
	from := 1
	if moveHead {
		b.WriteString(`WITH head AS (UPDATE audit_head SET seq = ` + s.d.Placeholder(1) + `, hash = ` + s.d.Placeholder(2) + ` WHERE id = 1) `)
		from = 3
	}
	b.WriteString(`INSERT INTO audit (` + auditColumns + `) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + s.params(from+i*auditRowValues, auditRowValues) + ")")
	}
	return b.String()
}

// auditPlan holds the prepared statements that append one batch.
type auditPlan struct {
	head    *sql.Stmt   // reads the head, locking it
	inserts []*sql.Stmt // one a chunk, in order
	setHead *sql.Stmt   // nil when the last insert moves the head
}

// planAudit prepares, before the write transaction begins, what appending
// n records takes.
func (s *Store) planAudit(ctx context.Context, n int) (*auditPlan, error) {
	var p auditPlan
	var err error
	if p.head, err = s.prepared(ctx, s.w, selectHead+s.d.ForUpdate); err != nil {
		return nil, err
	}
	if !s.d.WritableCTE {
		if p.setHead, err = s.prepared(ctx, s.w, updateHead); err != nil {
			return nil, err
		}
	}
	for rest := n; rest > 0; rest -= auditChunk {
		size := min(rest, auditChunk)
		st, err := s.auditInsert(ctx, size, s.d.WritableCTE && rest <= auditChunk)
		if err != nil {
			return nil, err
		}
		p.inserts = append(p.inserts, st)
	}
	return &p, nil
}

// auditInsert returns the prepared insertAuditRows(n, moveHead).
func (s *Store) auditInsert(ctx context.Context, n int, moveHead bool) (*sql.Stmt, error) {
	h := 0
	if moveHead {
		h = 1
	}
	slot := &s.audit[h][n]
	if st := slot.Load(); st != nil {
		return st, nil
	}
	st, err := s.w.PrepareContext(ctx, s.insertAuditRows(n, moveHead))
	if err != nil {
		return nil, err
	}
	if !slot.CompareAndSwap(nil, st) {
		st.Close()
		return slot.Load(), nil
	}
	return st, nil
}

// appendTx chains recs after the head and inserts them, moving the head,
// inside tx. The head is locked from its read to the end of tx (SQLite's
// write transaction holds the file; PostgreSQL locks the row), so
// appenders on any number of brokers take turns and the chain has no fork
// and no gap. An admin change takes the lock last, after its own rows, so
// lock order is the same in every transaction.
//
// With chained, recs carry their chain already (AppendChained) and must
// continue the head: otherwise the transaction fails and nothing is
// stored.
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, p *auditPlan, recs []*credbroker.AuditRecord, chained bool) error {
	var seq int64
	var hash string
	if err := tx.StmtContext(ctx, p.head).QueryRowContext(ctx).Scan(&seq, &hash); err != nil {
		return err
	}
	for _, r := range recs {
		if chained {
			if r.Seq != seq+1 || r.PrevHash != hash || r.Hash != r.ComputeHash() {
				return credbroker.Errorf(credbroker.CodeConflict, "audit",
					"audit record %d does not continue the trail, whose last record is %d", r.Seq, seq)
			}
		} else {
			r.Chain(seq, hash)
		}
		seq, hash = r.Seq, r.Hash
	}
	args := make([]any, 0, 2+auditRowValues*min(len(recs), auditChunk))
	for i, st := range p.inserts {
		args = args[:0]
		if i == len(p.inserts)-1 && p.setHead == nil {
			args = append(args, seq, hash)
		}
		for _, r := range recs[i*auditChunk : min(len(recs), (i+1)*auditChunk)] {
			args = appendAuditArgs(args, r)
		}
		if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	if p.setHead == nil {
		return nil
	}
	_, err := tx.StmtContext(ctx, p.setHead).ExecContext(ctx, seq, hash)
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
	if err := CheckAudit(recs); err != nil {
		return err
	}
	return s.write(ctx, "append audit", nil, recs...)
}

// CheckAudit refuses a list of records to append that holds a nil one.
func CheckAudit(recs []*credbroker.AuditRecord) error {
	for _, r := range recs {
		if r == nil {
			return credbroker.Errorf(credbroker.CodeInvalid, "audit", "nil audit record")
		}
	}
	return nil
}

// AppendChained stores records that were chained already (their Seq,
// PrevHash and Hash set, as an audit journal in front of the table keeps
// them), in one transaction and in order, after checking that they
// continue the trail: the first follows the head, each the one before,
// and each hash is its record's. It fails with CodeConflict, storing
// nothing, when they do not. It does not enter the store's AuditGate.
func (s *Store) AppendChained(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if len(recs) == 0 {
		return nil
	}
	if err := CheckAudit(recs); err != nil {
		return err
	}
	return s.writeAudit(ctx, "append audit", nil, true, recs)
}

// ListAudit returns the records matching f in Seq order. Since is
// inclusive and Until exclusive.
func (s *Store) ListAudit(ctx context.Context, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, cond+" "+s.d.Placeholder(len(args)))
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
		query += ` LIMIT ` + s.d.Placeholder(len(args))
	}
	return readAll(ctx, s, "list audit", query, scanAudit, args...)
}

// AuditMatches applies f to one record as ListAudit's query applies it to
// the table, times compared at the table's microseconds; Limit aside. It
// is for records not in the table yet (SQLite's audit journal), and must
// change with the query.
func AuditMatches(f credbroker.AuditFilter, r *credbroker.AuditRecord) bool {
	at := r.Time.UnixMicro()
	switch {
	case !f.Since.IsZero() && at < ceilMicros(f.Since),
		!f.Until.IsZero() && at >= ceilMicros(f.Until),
		f.Plan != "" && r.Plan != f.Plan,
		f.Connector != "" && r.Connector != f.Connector,
		f.Outcome != "" && r.Outcome != f.Outcome,
		f.Action != "" && r.Action != f.Action,
		f.AfterSeq > 0 && r.Seq <= f.AfterSeq:
		return false
	}
	return true
}

// scanAudit reads one row of auditColumns.
func scanAudit(sc scanner) (credbroker.AuditRecord, error) {
	var (
		r              credbroker.AuditRecord
		at, expiration sql.NullInt64
		tags, claims   string
	)
	err := sc.Scan(&r.Seq, &at, &r.Action, &r.TokenID, &r.Plan, &r.Build, &r.Job, &r.Task, &r.Connector,
		&r.RoleARN, &r.AccessKeyID, &expiration, &r.Outcome, &r.ErrorCode, &r.Detail, &tags,
		&r.Issuer, &r.Subject, &claims, &r.PrevHash, &r.Hash)
	if err == nil {
		err = errors.Join(parseList(tags, &r.Tags), parseList(claims, &r.Claims))
	}
	r.Time, r.Expiration = fromMicros(at), fromMicros(expiration)
	return r, err
}

// AuditHead returns the sequence and hash of the last record appended (0
// and credbroker.AuditGenesis for an empty trail). It is kept apart from
// the records, so a trail whose last records were deleted ends before it.
func (s *Store) AuditHead(ctx context.Context) (int64, string, error) {
	type head struct {
		seq  int64
		hash string
	}
	h, err := readOne(ctx, s, "read audit head", selectHead, nil,
		func(sc scanner) (h head, err error) { err = sc.Scan(&h.seq, &h.hash); return h, err })
	return h.seq, h.hash, err
}
