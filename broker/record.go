package broker

import (
	"context"
	"time"

	"github.com/credbroker/credbroker"
)

// detach returns a context with ctx's values but not its cancellation,
// bounded by d instead: for work that must finish when the caller hangs up
// (a vend and its audit record).
func detach(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}

// backgroundContext is the context of work no caller waits for (the
// sweeper's records).
func (s *Service) backgroundContext() context.Context { return context.Background() }

// requestRecord starts the audit record of a vend or console request. The
// request's free-text fields go in as checkVendRequest leaves them when it
// accepts them, and escaped and cut to their bound when it does not, so
// that a refused request cannot forge a row or flood the trail. The
// connector is named only once it is found: a name that matches none may
// be a secret variable's value.
func (s *Service) requestRecord(action string, tok *credbroker.Token, plan, build, job, task string) *credbroker.AuditRecord {
	rec := &credbroker.AuditRecord{
		Time: s.now(), Action: action,
		Plan:  credbroker.CleanField(plan, credbroker.MaxFieldLen),
		Build: credbroker.CleanField(build, credbroker.MaxFieldLen),
		Job:   credbroker.CleanField(job, credbroker.MaxFieldLen),
		Task:  credbroker.CleanField(task, credbroker.MaxFieldLen),
	}
	if tok != nil {
		rec.TokenID = tok.ID
		if id := tok.Identity; id != nil {
			rec.Issuer, rec.Subject, rec.Claims = id.IssuerURL, credbroker.CleanField(id.Subject, credbroker.MaxFieldLen), id.Claims
		}
	}
	return rec
}

// appendAudit writes recs on a context the caller cannot cancel, bounded
// by AuditTimeout: a client that hangs up does not keep its request out of
// the audit.
func (s *Service) appendAudit(ctx context.Context, recs ...*credbroker.AuditRecord) error {
	actx, cancel := detach(ctx, s.opts.AuditTimeout)
	defer cancel()
	return s.opts.Audit.Append(actx, recs...)
}

// auditRefusal records a refused request: its real reason (refusalOutcome),
// within the token's refusal burst, or counted for the window's summary.
func (s *Service) auditRefusal(ctx context.Context, rec *credbroker.AuditRecord, err error) {
	code, detail := refusalOutcome(err)
	rec.Outcome, rec.ErrorCode, rec.Detail = credbroker.OutcomeRefused, string(code), detail
	recs := s.refusals.admit(rec, rec.Time)
	if len(recs) == 0 {
		return
	}
	if aerr := s.appendAudit(ctx, recs...); aerr != nil {
		s.log.Error("audit record of a refused request could not be written", "action", rec.Action, "err", aerr)
	}
}
