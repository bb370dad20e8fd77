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
type GroupAudit struct {
	store    credbroker.AuditStore
	maxBatch int
	obs      Observer
	now      func() time.Time

	queue chan *auditReq
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type auditReq struct {
	ctx  context.Context
	recs []*credbroker.AuditRecord
	done chan error
}

// DefaultAuditBatch is the most records one group commit writes.
const DefaultAuditBatch = 512

// NewGroupAudit starts a group-committing writer in front of store.
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

// NewGroupAuditWith starts a group-committing writer in front of store
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
	g := &GroupAudit{
		store:    store,
		maxBatch: maxBatch,
		obs:      opts.Observer,
		now:      opts.Now,
		queue:    make(chan *auditReq, maxBatch),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go g.loop()
	return g
}

var errAuditClosed = credbroker.Errorf(credbroker.CodeUnavailable, "audit", "the audit writer is shut down")

// Append queues recs and waits until they are committed or failed.
func (g *GroupAudit) Append(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	r := &auditReq{ctx: ctx, recs: recs, done: make(chan error, 1)}
	select {
	case g.queue <- r:
	case <-g.stop:
		return errAuditClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-g.done:
		// The loop ended; it answered every request it took.
		select {
		case err := <-r.done:
			return err
		default:
			return errAuditClosed
		}
	}
}

func (g *GroupAudit) loop() {
	defer close(g.done)
	batch := make([]*auditReq, 0, g.maxBatch)
	var recs []*credbroker.AuditRecord
	stopping := false
	for {
		batch, recs = batch[:0], recs[:0]
		if stopping {
			// Closing: commit what is queued, then end.
			select {
			case r := <-g.queue:
				batch = append(batch, r)
			default:
				return
			}
		} else {
			select {
			case r := <-g.queue:
				batch = append(batch, r)
			case <-g.stop:
				stopping = true
				continue
			}
		}
		n := len(batch[0].recs)
	fill:
		for n < g.maxBatch {
			select {
			case r := <-g.queue:
				batch = append(batch, r)
				n += len(r.recs)
			default:
				break fill
			}
		}
		// A caller that gave up before its turn is left out: its vend was
		// already refused.
		live := batch[:0]
		for _, r := range batch {
			if r.ctx.Err() != nil {
				r.done <- r.ctx.Err()
				continue
			}
			live = append(live, r)
			recs = append(recs, r.recs...)
		}
		if len(live) == 0 {
			continue
		}
		// The commit is not cancelled by one caller's context.
		began := g.now()
		err := g.store.AppendAudit(context.WithoutCancel(live[0].ctx), recs...)
		observeCommit(g.obs, len(recs), g.now().Sub(began), err)
		for _, r := range live {
			r.done <- err
		}
	}
}

// Close stops the writer: records queued before it are committed (their
// callers get that commit's result), later ones are refused.
func (g *GroupAudit) Close() error {
	g.once.Do(func() { close(g.stop) })
	<-g.done
	return nil
}
