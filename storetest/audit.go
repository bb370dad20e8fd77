package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// vend is an audit record of a vend with every field set; every other one
// carries session tags (every field but the tags on the others).
func vend(i int, plan, connector, outcome string) *credbroker.AuditRecord {
	var tags []credbroker.Tag
	if i%2 == 1 {
		tags = []credbroker.Tag{{Key: credbroker.TagKeyPlan, Value: plan}, {Key: credbroker.TagKeyBuild, Value: fmt.Sprint(100 + i)},
			{Key: "team", Value: "ops, \"quoted\" \u00e9 & <more>"}}
	}
	return &credbroker.AuditRecord{
		Tags:        tags,
		Time:        t0.Add(time.Duration(i) * time.Minute),
		Action:      credbroker.ActionVend,
		TokenID:     "tok-agent",
		Plan:        plan,
		Build:       fmt.Sprint(100 + i),
		Job:         plan + "-JOB1",
		Task:        "deploy",
		Connector:   connector,
		RoleARN:     "arn:aws:iam::123456789012:role/" + connector,
		AccessKeyID: "ASIAEXAMPLE" + fmt.Sprint(i),
		Expiration:  t0.Add(time.Duration(i)*time.Minute + time.Hour),
		Outcome:     outcome,
		Detail:      "vend " + fmt.Sprint(i),
	}
}

func testAuditChain(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	if seq, hash := head(t, s); seq != 0 || hash != credbroker.AuditGenesis {
		t.Fatalf("empty trail has head %d %s, want 0 and the genesis hash", seq, hash)
	}
	must(t, s.AppendAudit(ctx))

	batch := []*credbroker.AuditRecord{vend(1, "OPS-A", "deploy", credbroker.OutcomeGranted), vend(2, "OPS-A", "deploy", credbroker.OutcomeGranted), vend(3, "OPS-B", "read", credbroker.OutcomeRefused)}
	batch[2].ErrorCode, batch[2].Expiration = string(credbroker.CodeForbidden), time.Time{}
	must(t, s.AppendAudit(ctx, batch...))
	single := vend(4, "OPS-A", "deploy", credbroker.OutcomeGranted)
	must(t, s.AppendAudit(ctx, single))

	all := append(batch, single)
	prev := credbroker.AuditGenesis
	for i, r := range all {
		if r.Seq != int64(i+1) || r.PrevHash != prev || r.Hash != r.ComputeHash() {
			t.Errorf("record %d chained as seq %d prev %s hash %s", i+1, r.Seq, r.PrevHash, r.Hash)
		}
		prev = r.Hash
	}
	if seq, hash := head(t, s); seq != 4 || hash != single.Hash {
		t.Errorf("head %d %s, want 4 %s", seq, hash, single.Hash)
	}
	trail := verifyTrail(t, s)
	if len(trail) != len(all) {
		t.Fatalf("trail has %d records, want %d", len(trail), len(all))
	}
	for i, r := range all {
		wantEqual(t, fmt.Sprintf("record %d", i+1), trail[i], *r)
	}
	if !trail[0].Time.Equal(norm(t0.Add(time.Minute))) {
		t.Errorf("record time %v, want it truncated to microseconds", trail[0].Time)
	}
}

func testAuditFilters(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	var all []*credbroker.AuditRecord
	plans := []string{"OPS-A", "OPS-B", ""}
	connectors := []string{"deploy", "read"}
	outcomes := []string{credbroker.OutcomeGranted, credbroker.OutcomeRefused}
	for i := range 24 {
		r := vend(i, plans[i%3], connectors[i%2], outcomes[(i/3)%2])
		if i%5 == 0 {
			r.Action = credbroker.ActionConsole
		}
		all = append(all, r)
	}
	must(t, s.AppendAudit(ctx, all[:10]...))
	for _, r := range all[10:] {
		must(t, s.AppendAudit(ctx, r))
	}

	// matches is the reference: Since inclusive, Until exclusive.
	matches := func(f credbroker.AuditFilter, r *credbroker.AuditRecord) bool {
		return (f.Since.IsZero() || !r.Time.Before(f.Since)) &&
			(f.Until.IsZero() || r.Time.Before(f.Until)) &&
			(f.Plan == "" || r.Plan == f.Plan) &&
			(f.Connector == "" || r.Connector == f.Connector) &&
			(f.Outcome == "" || r.Outcome == f.Outcome) &&
			(f.Action == "" || r.Action == f.Action) &&
			r.Seq > f.AfterSeq
	}
	filters := []credbroker.AuditFilter{
		{},
		{Since: t0.Add(5 * time.Minute)},
		{Until: t0.Add(5 * time.Minute)},
		{Since: t0.Add(3 * time.Minute), Until: t0.Add(9*time.Minute + time.Microsecond)},
		{Plan: "OPS-B"},
		{Connector: "read"},
		{Outcome: credbroker.OutcomeRefused},
		{Action: credbroker.ActionConsole},
		{AfterSeq: 20},
		{Limit: 5},
		{AfterSeq: 5, Limit: 3},
		{Plan: "OPS-A", Connector: "deploy", Outcome: credbroker.OutcomeGranted, Limit: 2},
		{Plan: "NONE"},
	}
	for _, f := range filters {
		var want []int64
		for _, r := range all {
			if matches(f, r) && (f.Limit == 0 || len(want) < f.Limit) {
				want = append(want, r.Seq)
			}
		}
		got, err := s.ListAudit(ctx, f)
		must(t, err)
		var seqs []int64
		for _, r := range got {
			seqs = append(seqs, r.Seq)
		}
		wantEqual(t, fmt.Sprintf("ListAudit(%+v)", f), seqs, want)
	}
	verifyTrail(t, s)

	// A long trail verifies in pages.
	prevSeq, prevHash := int64(0), credbroker.AuditGenesis
	for {
		page, err := s.ListAudit(ctx, credbroker.AuditFilter{AfterSeq: prevSeq, Limit: 7})
		must(t, err)
		if len(page) == 0 {
			break
		}
		var problems []credbroker.AuditProblem
		problems, prevSeq, prevHash = credbroker.VerifyAudit(prevSeq, prevHash, page)
		if len(problems) > 0 {
			t.Errorf("page after %d: %v", prevSeq, problems)
		}
	}
	if seq, hash := head(t, s); prevSeq != seq || prevHash != hash {
		t.Errorf("paged verification ends at %d, head is %d", prevSeq, seq)
	}
}

// testAuditBatchSizes appends batches of many sizes, around the sizes a
// store may split a batch into, and reads every record back in order.
func testAuditBatchSizes(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	var all []*credbroker.AuditRecord
	for _, n := range []int{1, 2, 3, 7, 31, 63, 64, 65, 127, 128, 129, 300} {
		batch := make([]*credbroker.AuditRecord, n)
		for i := range batch {
			r := vend(len(all)+i, "OPS-A", "deploy", credbroker.OutcomeGranted)
			if i%5 == 4 {
				r.Outcome, r.ErrorCode, r.Expiration = credbroker.OutcomeRefused, string(credbroker.CodeForbidden), time.Time{}
			}
			batch[i] = r
		}
		must(t, s.AppendAudit(ctx, batch...))
		for i, r := range batch {
			if want := int64(len(all) + i + 1); r.Seq != want {
				t.Fatalf("batch of %d: record %d chained as seq %d, want %d", n, i+1, r.Seq, want)
			}
		}
		all = append(all, batch...)
	}
	trail := verifyTrail(t, s)
	if len(trail) != len(all) {
		t.Fatalf("trail has %d records, want %d", len(trail), len(all))
	}
	for i, r := range all {
		wantEqual(t, fmt.Sprintf("record %d", i+1), trail[i], *r)
	}
	last := all[len(all)-1]
	if seq, hash := head(t, s); seq != last.Seq || hash != last.Hash {
		t.Errorf("head %d %s, want %d %s", seq, hash, last.Seq, last.Hash)
	}
}

func testAuditConcurrent(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	const workers, rounds = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				// Odd rounds append a batch of three.
				recs := []*credbroker.AuditRecord{vend(i, fmt.Sprint("W", w), "deploy", credbroker.OutcomeGranted)}
				if i%2 == 1 {
					recs = append(recs, vend(i, fmt.Sprint("W", w), "read", credbroker.OutcomeGranted), vend(i, fmt.Sprint("W", w), "x", credbroker.OutcomeRefused))
				}
				if err := s.AppendAudit(ctx, recs...); err != nil {
					errs <- err
					return
				}
				for j := 1; j < len(recs); j++ {
					if recs[j].Seq != recs[j-1].Seq+1 {
						errs <- fmt.Errorf("a batch was interleaved: seq %d follows %d", recs[j].Seq, recs[j-1].Seq)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	trail := verifyTrail(t, s)
	if want := workers * (rounds/2 + rounds/2*3); len(trail) != want {
		t.Errorf("trail has %d records, want %d", len(trail), want)
	}
}

// testAdminAuditAtomic checks that an admin change and its audit record
// are stored together: each change that succeeds appends its record, and
// each that fails appends none.
func testAdminAuditAtomic(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	wantHead := int64(0)
	ok := func(what, action string, op func(r *credbroker.AuditRecord) error) {
		t.Helper()
		r := rec(action)
		if err := op(r); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantHead++
		if r.Seq != wantHead {
			t.Errorf("%s: audit record got seq %d, want %d", what, r.Seq, wantHead)
		}
		trail := verifyTrail(t, s)
		if len(trail) != int(wantHead) || trail[len(trail)-1].Action != action {
			t.Errorf("%s: trail ends with %+v, want its %s record", what, trail[len(trail)-1], action)
		}
	}
	refused := func(what string, code credbroker.Code, op func(r *credbroker.AuditRecord) error) {
		t.Helper()
		r := rec("refused." + what)
		wantCode(t, op(r), code)
		if r.Seq != 0 || r.Hash != "" {
			t.Errorf("%s: a record that was not stored carries seq %d", what, r.Seq)
		}
		if seq, _ := head(t, s); seq != wantHead {
			t.Errorf("%s: failed change moved the audit head to %d, want %d", what, seq, wantHead)
		}
	}

	base := sampleConnector("c-base", "base")
	hop := sampleConnector("c-hop", "hop")
	hop.Base, hop.BaseConnector = credbroker.BaseConnector, "c-base"
	ok("create base", credbroker.ActionConnectorCreate, func(r *credbroker.AuditRecord) error { return s.CreateConnector(ctx, base, r) })
	ok("create hop", credbroker.ActionConnectorCreate, func(r *credbroker.AuditRecord) error { return s.CreateConnector(ctx, hop, r) })
	refused("duplicate", credbroker.CodeConflict, func(r *credbroker.AuditRecord) error {
		return s.CreateConnector(ctx, sampleConnector("c-other", "base"), r)
	})
	refused("invalid", credbroker.CodeInvalid, func(r *credbroker.AuditRecord) error {
		return s.CreateConnector(ctx, &credbroker.Connector{ID: "c-x"}, r)
	})
	ok("update", credbroker.ActionConnectorUpdate, func(r *credbroker.AuditRecord) error {
		base.Description = "edited"
		return s.UpdateConnector(ctx, base, r)
	})
	refused("stale update", credbroker.CodeConflict, func(r *credbroker.AuditRecord) error {
		stale := *base
		stale.Revision = 1
		return s.UpdateConnector(ctx, &stale, r)
	})
	refused("delete used base", credbroker.CodeConflict, func(r *credbroker.AuditRecord) error { return s.DeleteConnector(ctx, "c-base", r) })
	refused("delete missing", credbroker.CodeNotFound, func(r *credbroker.AuditRecord) error { return s.DeleteConnector(ctx, "c-missing", r) })
	ok("delete", credbroker.ActionConnectorDelete, func(r *credbroker.AuditRecord) error { return s.DeleteConnector(ctx, "c-hop", r) })

	tok := &credbroker.Token{ID: "tok-1", Name: "ci", Role: credbroker.RoleAgent, Plans: "*", Hash: []byte("h"), CreatedAt: t0}
	ok("create token", credbroker.ActionTokenCreate, func(r *credbroker.AuditRecord) error { return s.CreateToken(ctx, tok, r) })
	refused("duplicate token", credbroker.CodeConflict, func(r *credbroker.AuditRecord) error { return s.CreateToken(ctx, tok, r) })
	ok("revoke", credbroker.ActionTokenRevoke, func(r *credbroker.AuditRecord) error { return s.RevokeToken(ctx, "tok-1", t0, r) })
	refused("revoke missing", credbroker.CodeNotFound, func(r *credbroker.AuditRecord) error { return s.RevokeToken(ctx, "tok-2", t0, r) })

	v := &credbroker.Variable{Plan: "OPS-A", Name: "env", Value: "prod", UpdatedAt: t0}
	ok("set variable", credbroker.ActionVariableSet, func(r *credbroker.AuditRecord) error { return s.SetVariable(ctx, v, r) })
	refused("unsealed secret", credbroker.CodeInvalid, func(r *credbroker.AuditRecord) error {
		return s.SetVariable(ctx, &credbroker.Variable{Name: "pw", Value: "x", Secret: true}, r)
	})
	ok("delete variable", credbroker.ActionVariableDelete, func(r *credbroker.AuditRecord) error { return s.DeleteVariable(ctx, "OPS-A", "env", r) })
	refused("delete missing variable", credbroker.CodeNotFound, func(r *credbroker.AuditRecord) error { return s.DeleteVariable(ctx, "OPS-A", "env", r) })

	// Nothing refused left a trace in the data either.
	wantEqual(t, "connectors", connectorNames(t, s), []string{"base"})
	if got := getConnector(t, s, "base"); got.Revision != 2 || got.Description != "edited" {
		t.Errorf("base at revision %d %q, want 2 %q", got.Revision, got.Description, "edited")
	}
}
