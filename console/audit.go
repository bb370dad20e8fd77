package console

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// auditPage is how many records the audit table shows at once.
const auditPage = 50

// auditQuery is the audit page's filter as the query string carries it.
type auditQuery struct {
	Since, Until    string
	Plan, Connector string
	Outcome, Action string
	Token           string
	Before, After   int64
}

func readAuditQuery(r *http.Request) auditQuery {
	q := r.URL.Query()
	v := func(k string) string { return strings.TrimSpace(q.Get(k)) }
	aq := auditQuery{Since: v("since"), Until: v("until"), Plan: v("plan"), Connector: v("connector"),
		Outcome: v("outcome"), Action: v("action"), Token: v("token")}
	aq.Before, _ = strconv.ParseInt(v("before"), 10, 64)
	aq.After, _ = strconv.ParseInt(v("after"), 10, 64)
	return aq
}

// values encodes the filter (without the paging cursor).
func (q auditQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"since": q.Since, "until": q.Until, "plan": q.Plan, "connector": q.Connector,
		"outcome": q.Outcome, "action": q.Action, "token": q.Token} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// Link returns the audit page's URL for this filter with one cursor set.
func (q auditQuery) Link(cursor string, seq int64) string {
	v := q.values()
	if cursor != "" {
		v.Set(cursor, strconv.FormatInt(seq, 10))
	}
	if len(v) == 0 {
		return Prefix + "audit"
	}
	return Prefix + "audit?" + v.Encode()
}

// Export returns the export URL of this filter in format.
func (q auditQuery) Export(format string) string {
	v := q.values()
	v.Set("format", format)
	return Prefix + "audit/export?" + v.Encode()
}

// parseWhen reads a time: a duration back from now ("24h"), a
// datetime-local value ("2026-01-02T15:04", taken as UTC), or RFC 3339.
func parseWhen(s string, now time.Time) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), true
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// filter turns the query into a store filter, or says which fields it
// cannot read.
func (q auditQuery) filter(now time.Time) (credbroker.AuditFilter, map[string]string) {
	errs := map[string]string{}
	f := credbroker.AuditFilter{Plan: q.Plan, Connector: q.Connector, Outcome: q.Outcome, Action: q.Action}
	var ok bool
	if f.Since, ok = parseWhen(q.Since, now); !ok {
		errs["since"] = "write a time (2026-01-02T15:04, UTC) or a duration back from now (24h)"
	}
	if f.Until, ok = parseWhen(q.Until, now); !ok {
		errs["until"] = "write a time (2026-01-02T15:04, UTC) or a duration back from now (1h)"
	}
	return f, errs
}

// auditView is the audit page's data.
type auditView struct {
	Q        auditQuery
	Errors   map[string]string
	Records  []credbroker.AuditRecord // newest first
	Older    int64                    // cursor for the older page; 0 when there is none
	Newer    int64                    // cursor for the newer page; 0 when there is none
	Outcomes []string
	Actions  []string
}

// Err returns the message for a filter field.
func (v *auditView) Err(field string) string { return v.Errors[field] }

var auditActions = []string{
	credbroker.ActionVend, credbroker.ActionConnectorCreate, credbroker.ActionConnectorUpdate, credbroker.ActionConnectorDelete,
	credbroker.ActionTokenCreate, credbroker.ActionTokenRevoke, credbroker.ActionVariableSet, credbroker.ActionVariableDelete,
	credbroker.ActionKeyRotate,
}

func (c *Console) auditList(w http.ResponseWriter, r *http.Request, a *signedIn) {
	q := readAuditQuery(r)
	data := &auditView{Q: q, Outcomes: []string{credbroker.OutcomeGranted, credbroker.OutcomeRefused}, Actions: auditActions}
	f, errs := q.filter(c.now())
	data.Errors = errs
	if len(errs) > 0 {
		c.render(w, r, http.StatusBadRequest, "audit", a.view("Audit", "audit", data))
		return
	}
	var err error
	if q.After > 0 {
		var more bool
		data.Records, more, err = c.oldestAfter(r.Context(), a.tok, f, q.Token, q.After, auditPage)
		if len(data.Records) > 0 {
			if more {
				data.Newer = data.Records[0].Seq
			}
			data.Older = data.Records[len(data.Records)-1].Seq
		}
	} else {
		var more bool
		data.Records, more, err = c.newestBefore(r.Context(), a.tok, f, q.Token, q.Before, auditPage)
		if len(data.Records) > 0 {
			if more {
				data.Older = data.Records[len(data.Records)-1].Seq
			}
			if q.Before > 0 {
				data.Newer = data.Records[0].Seq
			}
		}
	}
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.render(w, r, http.StatusOK, "audit", a.view("Audit", "audit", data))
}

// newestBefore returns up to n records matching f (and token, when set)
// with a sequence below before (the head when 0), newest first, and
// whether older ones match too. The store lists in ascending order only,
// so it reads windows of sequence numbers backwards, each larger than the
// last: a window of k numbers holds at most k records, so a limit of k
// returns all of them.
func (c *Console) newestBefore(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter, token string, before int64, n int) ([]credbroker.AuditRecord, bool, error) {
	hi := before
	if hi <= 0 {
		h, err := c.svc.Health(ctx, tok)
		if err != nil {
			return nil, false, err
		}
		if h.StoreError != "" {
			return nil, false, credbroker.Errorf(credbroker.CodeUnavailable, "store", "%s", h.StoreError)
		}
		hi = h.AuditHeadSeq + 1
	}
	var out []credbroker.AuditRecord
	window := int64(2 * n)
	for hi > 1 && len(out) <= n {
		lo := max(0, hi-1-window)
		ff := f
		ff.AfterSeq, ff.Limit = lo, int(hi-1-lo)
		recs, err := c.svc.ListAudit(ctx, tok, ff)
		if err != nil {
			return nil, false, err
		}
		for i := len(recs) - 1; i >= 0; i-- {
			if rec := recs[i]; rec.Seq < hi && (token == "" || rec.TokenID == token) {
				out = append(out, rec)
			}
		}
		hi = lo + 1
		window = min(window*4, 1<<16)
	}
	if len(out) > n {
		return out[:n], true, nil
	}
	return out, false, nil
}

// oldestAfter returns the n oldest records matching f (and token) with a
// sequence above after, newest first, and whether newer ones match too.
func (c *Console) oldestAfter(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter, token string, after int64, n int) ([]credbroker.AuditRecord, bool, error) {
	var out []credbroker.AuditRecord
	err := c.eachAudit(ctx, tok, f, token, after, func(rec credbroker.AuditRecord) bool {
		out = append(out, rec)
		return len(out) <= n
	})
	if err != nil {
		return nil, false, err
	}
	more := len(out) > n
	if more {
		out = out[:n]
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, more, nil
}

// eachAudit calls fn for each record matching f (and token) after the
// sequence after, in order, until fn returns false.
func (c *Console) eachAudit(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter, token string, after int64, fn func(credbroker.AuditRecord) bool) error {
	const page = 1000
	f.AfterSeq, f.Limit = after, page
	for {
		recs, err := c.svc.ListAudit(ctx, tok, f)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			if (token == "" || rec.TokenID == token) && !fn(rec) {
				return nil
			}
		}
		if len(recs) < page {
			return nil
		}
		f.AfterSeq = recs[len(recs)-1].Seq
	}
}

// recordView is one record's detail page.
type recordView struct {
	Rec    credbroker.AuditRecord
	HashOK bool
	Prev   int64
	Next   int64
}

func (c *Console) auditRecord(w http.ResponseWriter, r *http.Request, a *signedIn) {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		c.errorPage(w, r, http.StatusNotFound, "There is no such audit record.", "Records are numbered from 1.")
		return
	}
	recs, err := c.svc.ListAudit(r.Context(), a.tok, credbroker.AuditFilter{AfterSeq: seq - 1, Limit: 2})
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	if len(recs) == 0 || recs[0].Seq != seq {
		c.errorPage(w, r, http.StatusNotFound, "There is no audit record "+strconv.FormatInt(seq, 10)+".", "Pick a record from the audit table.")
		return
	}
	rv := recordView{Rec: recs[0], HashOK: recs[0].ComputeHash() == recs[0].Hash, Prev: seq - 1}
	if len(recs) > 1 {
		rv.Next = recs[1].Seq
	}
	c.render(w, r, http.StatusOK, "audit_record", a.view("Audit record "+strconv.FormatInt(seq, 10), "audit", rv))
}

func (c *Console) auditVerify(w http.ResponseWriter, r *http.Request, a *signedIn) {
	rep, err := c.svc.VerifyAudit(r.Context(), a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.render(w, r, http.StatusOK, "audit_verify", a.view("Audit chain", "audit", rep))
}

// csvColumns are the columns of the CSV export, the record's JSON names.
var csvColumns = []string{"seq", "time", "action", "token_id", "plan", "build", "job", "task", "connector", "role_arn",
	"access_key_id", "expiration", "outcome", "error_code", "detail", "prev_hash", "hash"}

// csvRow is a record as a CSV row, every cell made safe to open in a
// spreadsheet.
func csvRow(r *credbroker.AuditRecord) []string {
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	row := []string{strconv.FormatInt(r.Seq, 10), when(r.Time), r.Action, r.TokenID, r.Plan, r.Build, r.Job, r.Task,
		r.Connector, r.RoleARN, r.AccessKeyID, when(r.Expiration), r.Outcome, r.ErrorCode, r.Detail, r.PrevHash, r.Hash}
	for i, cell := range row {
		row[i] = csvSafe(cell)
	}
	return row
}

// csvSafe defuses CSV injection: a cell that a spreadsheet would read as a
// formula (starting with =, +, -, @, tab or carriage return) gets a
// leading apostrophe, which spreadsheets show as text.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, a *signedIn) {
	q := readAuditQuery(r)
	format := r.URL.Query().Get("format")
	if format != "jsonl" && format != "csv" {
		c.errorPage(w, r, http.StatusBadRequest, "Unknown export format.", "Export as jsonl or csv.")
		return
	}
	f, errs := q.filter(c.now())
	if len(errs) > 0 {
		c.errorPage(w, r, http.StatusBadRequest, "The audit filter has a time that cannot be read.", "Fix the filter on the audit page.")
		return
	}
	// The first page is read before anything is sent, so that a refusal
	// or a store failure is an error page, not a broken file.
	if _, err := c.svc.ListAudit(r.Context(), a.tok, credbroker.AuditFilter{Limit: 1}); err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if format == "csv" {
		h.Set("Content-Type", "text/csv; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="credbroker-audit.csv"`)
	} else {
		h.Set("Content-Type", "application/jsonl; charset=utf-8")
		h.Set("Content-Disposition", `attachment; filename="credbroker-audit.jsonl"`)
	}
	cw := csv.NewWriter(w)
	enc := json.NewEncoder(w)
	if format == "csv" {
		_ = cw.Write(csvColumns)
	}
	var werr error
	err := c.eachAudit(r.Context(), a.tok, f, q.Token, 0, func(rec credbroker.AuditRecord) bool {
		if format == "csv" {
			werr = cw.Write(csvRow(&rec))
		} else {
			werr = enc.Encode(&rec)
		}
		return werr == nil
	})
	cw.Flush()
	if err != nil || werr != nil || cw.Error() != nil {
		if err != nil {
			c.log.Error("console: audit export failed midway", "token_id", a.tok.ID, "err", err)
		}
		// Cut the connection: a download that stops halfway must not look
		// like a complete file.
		panic(http.ErrAbortHandler)
	}
}
