package broker

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// Defaults of the aggregation of refused vends (Options.RefusalBurst,
// RefusalWindow): the first 10 refusals of a token in a minute are
// recorded one by one, the rest of that minute in one record.
const (
	DefaultRefusalBurst  = 10
	DefaultRefusalWindow = time.Minute
)

// refusalWindows keeps one token's refused vends from flooding the audit.
// Each token has a window: its first refusals are recorded one by one, the
// rest are counted (by error code), and when the window is over one record
// says how many there were, of which codes, between which times, and for
// which plan and connector when they were all the same. So refusals stay
// visible (`credbroker audit --outcome refused` shows the summary) while a
// token sending a million bad requests adds a few records a minute.
type refusalWindows struct {
	burst  int // < 0: record every refusal
	window time.Duration

	mu      sync.Mutex
	byToken map[string]*refusalWindow
}

// refusalWindow is one token's current window.
type refusalWindow struct {
	start, first, last time.Time // the window's start; the first and last refusal counted
	recorded, counted  int
	codes              map[string]int
	plan, connector    string
	plans, connectors  bool // more than one plan, connector among those counted
}

func newRefusalWindows(burst int, window time.Duration) *refusalWindows {
	if burst == 0 {
		burst = DefaultRefusalBurst
	}
	if window <= 0 {
		window = DefaultRefusalWindow
	}
	return &refusalWindows{burst: burst, window: window, byToken: map[string]*refusalWindow{}}
}

// admit takes a refusal recorded as rec at now and returns the records to
// append: rec itself while its token is within the burst of its window,
// preceded by the summary of the token's previous window if that one
// ended with refusals counted.
func (rw *refusalWindows) admit(rec *credbroker.AuditRecord, now time.Time) []*credbroker.AuditRecord {
	if rw.burst < 0 {
		return []*credbroker.AuditRecord{rec}
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	var out []*credbroker.AuditRecord
	w := rw.byToken[rec.TokenID]
	if w != nil && now.Sub(w.start) >= rw.window {
		if sum := w.summary(rec.TokenID, now); sum != nil {
			out = append(out, sum)
		}
		w = nil
	}
	if w == nil {
		w = &refusalWindow{start: now}
		rw.byToken[rec.TokenID] = w
	}
	if w.recorded < rw.burst {
		w.recorded++
		return append(out, rec)
	}
	w.count(rec, now)
	return out
}

// count adds rec to the refusals counted in w.
func (w *refusalWindow) count(rec *credbroker.AuditRecord, now time.Time) {
	if w.counted == 0 {
		w.first, w.plan, w.connector = now, rec.Plan, rec.Connector
		w.codes = map[string]int{}
	}
	w.counted++
	w.last = now
	w.codes[rec.ErrorCode]++
	w.plans = w.plans || rec.Plan != w.plan
	w.connectors = w.connectors || rec.Connector != w.connector
}

// summary is the record of the refusals counted in w, or nil for none.
func (w *refusalWindow) summary(tokenID string, now time.Time) *credbroker.AuditRecord {
	if w.counted == 0 {
		return nil
	}
	codes := make([]string, 0, len(w.codes))
	for c := range w.codes {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		name := c
		if name == "" {
			name = "(no code)"
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, w.codes[c]))
	}
	rec := &credbroker.AuditRecord{
		Time: now, Action: credbroker.ActionVend, TokenID: tokenID, Outcome: credbroker.OutcomeRefused,
		Detail: credbroker.CleanField(fmt.Sprintf("%d more refused vends by this token from %s to %s, counted instead of recorded one by one: %s",
			w.counted, w.first.UTC().Format(time.RFC3339), w.last.UTC().Format(time.RFC3339), strings.Join(parts, ", ")), maxDetail),
	}
	if len(codes) == 1 {
		rec.ErrorCode = codes[0]
	}
	if !w.plans {
		rec.Plan = w.plan
	}
	if !w.connectors {
		rec.Connector = w.connector
	}
	return rec
}

// flush returns the summaries of the windows over at now (of every window
// when all is set) and forgets those windows.
func (rw *refusalWindows) flush(now time.Time, all bool) []*credbroker.AuditRecord {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	var out []*credbroker.AuditRecord
	for tok, w := range rw.byToken {
		if !all && now.Sub(w.start) < rw.window {
			continue
		}
		if sum := w.summary(tok, now); sum != nil {
			out = append(out, sum)
		}
		delete(rw.byToken, tok)
	}
	slices.SortFunc(out, func(a, b *credbroker.AuditRecord) int { return strings.Compare(a.TokenID, b.TokenID) })
	return out
}

// flushRefusals appends the summaries of the refusal windows that are
// over (all of them with all); the sweeper calls it, and Close.
func (s *Service) flushRefusals(all bool) {
	recs := s.refusals.flush(s.now(), all)
	if len(recs) == 0 {
		return
	}
	if err := s.appendAudit(s.backgroundContext(), recs...); err != nil {
		s.log.Error("audit records of counted refusals could not be written", "records", len(recs), "err", err)
	}
}
