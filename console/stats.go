package console

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// The overview's windows: the last hour in 5-minute bars, the last day
// in hourly bars.
const (
	bucketWidth = 5 * time.Minute
	dayWindow   = 24 * time.Hour
	hourWindow  = time.Hour
	// statsPages bounds the audit pages one overview reads; a backlog
	// larger than that is read over the next loads.
	statsPages = 20
	statsPage  = 5000
	// recentRefusals is how many refusals the overview lists.
	recentRefusals = 10
)

// bucket counts the vends of one 5-minute interval.
type bucket struct {
	granted, refused int
	plans, conns     map[string]int
}

// stsSeen is what the audit last said about a connector's STS.
type stsSeen struct {
	OK     time.Time // last granted vend
	Failed time.Time // last vend refused because STS failed or throttled
	Code   string
	Detail string
}

// stats aggregates the vend records of the last day from the audit,
// reading only the records appended since its last read: the counts
// behind the overview's charts, the busiest plans and connectors, what
// was last seen of each connector's STS, and the latest refusals. The
// audit is the source, so the figures cover every broker of a site and
// survive restarts.
type stats struct {
	mu       sync.Mutex
	cursor   int64             // last sequence read
	buckets  map[int64]*bucket // by bucket start, Unix seconds
	sts      map[string]*stsSeen
	refusals []credbroker.AuditRecord // newest last
}

func newStats() *stats {
	return &stats{buckets: map[int64]*bucket{}, sts: map[string]*stsSeen{}}
}

// refresh reads the vend records of the last day appended since the
// last call, and drops buckets older than a day.
func (st *stats) refresh(ctx context.Context, svc Service, tok *credbroker.Token, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := credbroker.AuditFilter{Action: credbroker.ActionVend, AfterSeq: st.cursor, Limit: statsPage, Since: now.Add(-dayWindow)}
	for range statsPages {
		recs, err := svc.ListAudit(ctx, tok, f)
		if err != nil {
			return err
		}
		for i := range recs {
			st.add(&recs[i])
		}
		if len(recs) > 0 {
			f.AfterSeq = recs[len(recs)-1].Seq
			st.cursor = f.AfterSeq
		}
		if len(recs) < statsPage {
			break
		}
	}
	oldest := now.Add(-dayWindow).Truncate(bucketWidth).Unix()
	for k := range st.buckets {
		if k < oldest {
			delete(st.buckets, k)
		}
	}
	return nil
}

// add counts one vend record. st.mu is held.
func (st *stats) add(r *credbroker.AuditRecord) {
	k := r.Time.Truncate(bucketWidth).Unix()
	b := st.buckets[k]
	if b == nil {
		b = &bucket{plans: map[string]int{}, conns: map[string]int{}}
		st.buckets[k] = b
	}
	if r.Outcome == credbroker.OutcomeGranted {
		b.granted++
	} else {
		b.refused++
	}
	if r.Plan != "" {
		b.plans[r.Plan]++
	}
	if r.Connector != "" {
		b.conns[r.Connector]++
		seen := st.sts[r.Connector]
		if seen == nil {
			seen = &stsSeen{}
			st.sts[r.Connector] = seen
		}
		switch {
		case r.Outcome == credbroker.OutcomeGranted:
			seen.OK = r.Time
		case r.ErrorCode == string(credbroker.CodeUpstream) || r.ErrorCode == string(credbroker.CodeThrottled):
			seen.Failed, seen.Code, seen.Detail = r.Time, r.ErrorCode, r.Detail
		}
	}
	if r.Outcome != credbroker.OutcomeGranted {
		st.refusals = append(st.refusals, *r)
		if len(st.refusals) > recentRefusals {
			st.refusals = slices.Delete(st.refusals, 0, len(st.refusals)-recentRefusals)
		}
	}
}

// Bar is one bar of a chart.
type Bar struct {
	Start            time.Time
	Granted, Refused int
}

// Count is a name and how many vends it had.
type Count struct {
	Name string
	N    int
}

// snapshot is what the overview shows of the stats at now.
type snapshot struct {
	Hour, Day                  []Bar
	HourGranted, HourRefused   int
	DayGranted, DayRefused     int
	BusiestPlans, BusiestConns []Count
	STS                        map[string]stsSeen
	Refusals                   []credbroker.AuditRecord // newest first
}

// snapshot returns the charts and tables at now.
func (st *stats) snapshot(now time.Time) snapshot {
	st.mu.Lock()
	defer st.mu.Unlock()
	var sn snapshot
	end := now.Truncate(bucketWidth)
	hourStart := end.Add(-hourWindow + bucketWidth)
	for t := hourStart; !t.After(end); t = t.Add(bucketWidth) {
		bar := Bar{Start: t}
		if b := st.buckets[t.Unix()]; b != nil {
			bar.Granted, bar.Refused = b.granted, b.refused
		}
		sn.Hour = append(sn.Hour, bar)
		sn.HourGranted += bar.Granted
		sn.HourRefused += bar.Refused
	}
	dayEnd := now.Truncate(time.Hour)
	plans, conns := map[string]int{}, map[string]int{}
	for h := dayEnd.Add(-dayWindow + time.Hour); !h.After(dayEnd); h = h.Add(time.Hour) {
		bar := Bar{Start: h}
		for t := h; t.Before(h.Add(time.Hour)); t = t.Add(bucketWidth) {
			b := st.buckets[t.Unix()]
			if b == nil {
				continue
			}
			bar.Granted += b.granted
			bar.Refused += b.refused
			for k, n := range b.plans {
				plans[k] += n
			}
			for k, n := range b.conns {
				conns[k] += n
			}
		}
		sn.Day = append(sn.Day, bar)
		sn.DayGranted += bar.Granted
		sn.DayRefused += bar.Refused
	}
	sn.BusiestPlans, sn.BusiestConns = top(plans, 5), top(conns, 5)
	sn.STS = map[string]stsSeen{}
	for k, v := range st.sts {
		sn.STS[k] = *v
	}
	for i := len(st.refusals) - 1; i >= 0; i-- {
		sn.Refusals = append(sn.Refusals, st.refusals[i])
	}
	return sn
}

// top returns the n largest counts, ties by name.
func top(m map[string]int, n int) []Count {
	out := make([]Count, 0, len(m))
	for k, v := range m {
		out = append(out, Count{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].N != out[j].N {
			return out[i].N > out[j].N
		}
		return strings.Compare(out[i].Name, out[j].Name) < 0
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
