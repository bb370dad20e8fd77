package broker

import (
	"context"

	"github.com/credbroker/credbroker"
)

// ListAudit returns audit records matching f.
func (s *Service) ListAudit(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return s.opts.Store.ListAudit(ctx, f)
}

// VerifyAudit checks the whole chain, page by page, against the stored
// head.
func (s *Service) VerifyAudit(ctx context.Context, tok *credbroker.Token) (*credbroker.AuditReport, error) {
	if err := requireAdmin(tok); err != nil {
		return nil, err
	}
	return VerifyStore(ctx, s.opts.Store)
}

// VerifyStore verifies a store's audit chain: every record in order, and
// the last one against the head that each append moves, so that deleted
// trailing records show too.
func VerifyStore(ctx context.Context, st credbroker.AuditStore) (*credbroker.AuditReport, error) {
	headSeq, headHash, err := st.AuditHead(ctx)
	if err != nil {
		return nil, err
	}
	rep := &credbroker.AuditReport{HeadSeq: headSeq, HeadHash: headHash}
	prevSeq, prevHash := int64(0), credbroker.AuditGenesis
	const page = 5000
	for {
		recs, err := st.ListAudit(ctx, credbroker.AuditFilter{AfterSeq: prevSeq, Limit: page})
		if err != nil {
			return nil, err
		}
		if len(recs) == 0 {
			break
		}
		var problems []credbroker.AuditProblem
		problems, prevSeq, prevHash = credbroker.VerifyAudit(prevSeq, prevHash, recs)
		rep.Problems = append(rep.Problems, problems...)
		rep.Records += int64(len(recs))
		if len(recs) < page {
			break
		}
	}
	if prevSeq != headSeq || prevHash != headHash {
		rep.Problems = append(rep.Problems, credbroker.AuditProblem{Seq: prevSeq,
			Problem: "the trail ends before the recorded head (sequence " + itoa(headSeq) + "): records at the end were deleted or the head was edited"})
	}
	return rep, nil
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = digits[n%10]
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
