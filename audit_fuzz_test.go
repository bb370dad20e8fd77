package credbroker_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// auditChain builds a valid chain of n records.
func auditChain(n int) []credbroker.AuditRecord {
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	recs := make([]credbroker.AuditRecord, n)
	prevSeq, prevHash := int64(0), credbroker.AuditGenesis
	for i := range recs {
		r := &recs[i]
		*r = credbroker.AuditRecord{
			Time: t0.Add(time.Duration(i) * time.Second), Action: credbroker.ActionVend,
			TokenID: "tok_00000000000000" + strconv.Itoa(10+i%80), Plan: "OPS-DEPLOY", Build: strconv.Itoa(i),
			Job: "OPS-DEPLOY-JOB1", Task: "upload", Connector: "deploy", RoleARN: "arn:aws:iam::123456789012:role/deploy",
			AccessKeyID: "ASIAEXAMPLE" + strconv.Itoa(100000000+i), Expiration: t0.Add(time.Hour),
			Outcome: credbroker.OutcomeGranted, Detail: "issued",
		}
		if i%3 == 2 {
			r.Outcome, r.ErrorCode, r.AccessKeyID, r.Expiration = credbroker.OutcomeRefused, "forbidden", "", time.Time{}
		} else if i%2 == 0 {
			r.Tags = []credbroker.Tag{{Key: credbroker.TagKeyPlan, Value: r.Plan}, {Key: credbroker.TagKeyBuild, Value: r.Build}}
		}
		r.Chain(prevSeq, prevHash)
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return recs
}

// setField sets field i (modulo the number of fields) of r to v and
// reports whether that changed r.
func setField(r *credbroker.AuditRecord, i int, v string) bool {
	fields := []*string{&r.Action, &r.TokenID, &r.Plan, &r.Build, &r.Job, &r.Task, &r.Connector,
		&r.RoleARN, &r.AccessKeyID, &r.Outcome, &r.ErrorCode, &r.Detail, &r.PrevHash, &r.Hash}
	switch n := i % (len(fields) + 5); {
	case n < len(fields):
		if *fields[n] == v {
			return false
		}
		*fields[n] = v
	case n == len(fields):
		d, err := strconv.ParseInt(v, 10, 32)
		if err != nil || d == 0 {
			return false
		}
		r.Time = r.Time.Add(time.Duration(d) * time.Microsecond)
	case n == len(fields)+1:
		d, err := strconv.ParseInt(v, 10, 32)
		if err != nil || d == 0 {
			return false
		}
		r.Expiration = r.Expiration.Add(time.Duration(d) * time.Microsecond)
	case n == len(fields)+2:
		s, err := strconv.ParseInt(v, 10, 64)
		if err != nil || s == r.Seq {
			return false
		}
		r.Seq = s
	case n == len(fields)+3: // the session tags: a value changed, or a tag added
		tags := append([]credbroker.Tag(nil), r.Tags...)
		if len(tags) == 0 {
			tags = append(tags, credbroker.Tag{Key: credbroker.TagKeyJob, Value: v})
		} else if k := len(v) % len(tags); tags[k].Value != v {
			tags[k].Value = v
		} else {
			return false
		}
		r.Tags = tags
	default: // the session tags dropped
		if len(r.Tags) == 0 {
			return false
		}
		r.Tags = nil
	}
	return true
}

// FuzzVerifyAudit tampers with a valid audit chain the way someone with the
// database might (edit any field of a record, delete a record, swap two,
// or edit one and recompute its hash) and checks that VerifyAudit reports a
// problem, or, where the chain cannot show it (a change to the last
// record with its hash recomputed, the last record deleted), that the
// head it ends on differs from the head the store kept.
func FuzzVerifyAudit(f *testing.F) {
	for _, s := range []struct {
		n, op, idx, field uint8
		val               string
	}{
		{5, 0, 2, 2, "OPS-INNOCENT"}, {5, 0, 4, 11, ""}, {3, 0, 0, 13, "0000"}, {6, 0, 1, 14, "1"},
		{6, 0, 3, 15, "-5"}, {4, 0, 2, 16, "7"}, {5, 1, 2, 0, ""}, {5, 1, 4, 0, ""}, {5, 2, 1, 0, ""},
		{5, 3, 2, 8, "ASIAOTHERKEY"}, {5, 3, 4, 2, "OPS-X"}, {6, 0, 0, 17, "OPS-FORGED"}, {6, 0, 2, 18, ""}, {6, 0, 1, 17, "job"},
	} {
		f.Add(s.n, s.op, s.idx, s.field, s.val)
	}
	f.Fuzz(func(t *testing.T, n, op, idx, field uint8, val string) {
		recs := auditChain(int(n)%12 + 2)
		head := recs[len(recs)-1].Hash
		i := int(idx) % len(recs)
		last := i == len(recs)-1
		switch op % 4 {
		case 0: // edit a field
			if !setField(&recs[i], int(field), val) {
				return
			}
		case 1: // delete a record
			recs = append(recs[:i], recs[i+1:]...)
		case 2: // swap two neighbours
			if last {
				return
			}
			recs[i], recs[i+1] = recs[i+1], recs[i]
		case 3: // edit and recompute the record's own hash
			if !setField(&recs[i], int(field)%12, val) {
				return
			}
			recs[i].Hash = recs[i].ComputeHash()
		}
		problems, _, lastHash := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
		if len(problems) == 0 && lastHash == head {
			t.Fatalf("tampering (op %d on record %d of %d) went unnoticed", op%4, i+1, len(recs))
		}
	})
}
