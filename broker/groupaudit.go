package broker

import (
	"context"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// GroupAudit is an AuditWriter that commits the records of concurrent
// callers together: while one transaction is being written, the records
// that arrive queue up, and the next transaction takes all of them (up to
// MaxBatch). A caller returns only when its records are committed, with
// that transaction's error, so a vend is still refused when its record
// cannot be written (fail closed). Under light load each record gets its
// own transaction at once; nothing waits for a batch to fill.
//
// There is no writer goroutine: the caller that finds no transaction in
// progress commits on its own goroutine (the leader), and when it is done
// it hands the lead to the first caller that queued meanwhile, which
// commits everything queued. A lone vend so pays for its commit and
// nothing else, no hand-off to another goroutine and back.
type GroupAudit struct {
	store    credbroker.AuditStore
	maxBatch int
	obs      Observer
	now      func() time.Time

	mu      sync.Mutex
	busy    bool        // a leader is committing
	pending []*auditReq // callers waiting, in order; the first leads next
	closed  bool
	idle    chan struct{} // closed when the last leader is done after Close
}

type auditReq struct {
	ctx  context.Context
	recs []*credbroker.AuditRecord
	done chan error    // the result of the transaction that held recs
	lead chan struct{} // this caller is to commit what is queued
}

// DefaultAuditBatch is the most records one group commit writes.
const DefaultAuditBatch = 512

// NewGroupAudit returns a group-committing writer in front of store.
// maxBatch <= 0 takes DefaultAuditBatch. Close stops it.
func NewGroupAudit(store credbroker.AuditStore, maxBatch int) *GroupAudit {
	return NewGroupAuditWith(store, GroupAuditOptions{MaxBatch: maxBatch})
}

// GroupAuditOptions configure a GroupAudit. Zero values take the defaults.
type GroupAuditOptions struct {
	// MaxBatch is the most records one transaction takes;
	// DefaultAuditBatch when <= 0.
	MaxBatch int
	// Observer is told of each commit: its size, time and error.
	Observer Observer
	// Now is the clock that times commits; time.Now when nil.
	Now func() time.Time
}

// NewGroupAuditWith returns a group-committing writer in front of store
// with opts. Close stops it.
func NewGroupAuditWith(store credbroker.AuditStore, opts GroupAuditOptions) *GroupAudit {
	maxBatch := opts.MaxBatch
	if maxBatch <= 0 {
		maxBatch = DefaultAuditBatch
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &GroupAudit{store: store, maxBatch: maxBatch, obs: opts.Observer, now: opts.Now}
}

var errAuditClosed = credbroker.Errorf(credbroker.CodeUnavailable, "audit", "the audit writer is shut down")

// Append queues recs and waits until they are committed or failed. A
// caller whose ctx has ended before its turn is left out of the
// transaction and gets ctx's error: its vend was already refused.
func (g *GroupAudit) Append(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &auditReq{ctx: ctx, recs: recs, done: make(chan error, 1), lead: make(chan struct{}, 1)}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return errAuditClosed
	}
	g.pending = append(g.pending, r)
	if g.busy {
		g.mu.Unlock()
		select {
		case err := <-r.done:
			return err
		case <-r.lead:
		}
	} else {
		g.busy = true
		g.mu.Unlock()
	}
	// r is the first pending caller: it commits the next batch, which
	// holds its own records, and hands the lead on.
	g.commitNext()
	return <-r.done
}

// commitNext commits the records of the first pending callers, up to
// maxBatch, answers them, and passes the lead to the next caller waiting
// (or, with none, ends the leading).
func (g *GroupAudit) commitNext() {
	g.mu.Lock()
	n, take := 0, 0
	for take < len(g.pending) && (take == 0 || n+len(g.pending[take].recs) <= g.maxBatch) {
		n += len(g.pending[take].recs)
		take++
	}
	batch := g.pending[:take:take]
	g.pending = g.pending[take:]
	g.mu.Unlock()

	live := make([]*auditReq, 0, len(batch))
	recs := make([]*credbroker.AuditRecord, 0, n)
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.done <- err
			continue
		}
		live = append(live, r)
		recs = append(recs, r.recs...)
	}
	if len(live) > 0 {
		// The commit is not cancelled by one caller's context.
		began := g.now()
		err := g.store.AppendAudit(context.WithoutCancel(live[0].ctx), recs...)
		observeCommit(g.obs, len(recs), g.now().Sub(began), err)
		for _, r := range live {
			r.done <- err
		}
	}

	g.mu.Lock()
	if len(g.pending) > 0 {
		next := g.pending[0]
		g.mu.Unlock()
		next.lead <- struct{}{}
		return
	}
	g.busy = false
	if g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
	g.mu.Unlock()
}

// Close stops the writer: records queued before it are committed (their
// callers get that commit's result), later ones are refused. It returns
// when the last transaction is done.
func (g *GroupAudit) Close() error {
	g.mu.Lock()
	g.closed = true
	if !g.busy {
		g.mu.Unlock()
		return nil
	}
	if g.idle == nil {
		g.idle = make(chan struct{})
	}
	idle := g.idle
	g.mu.Unlock()
	<-idle
	return nil
}
