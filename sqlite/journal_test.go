//go:build unix

package sqlite

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/sqlstore"
)

// abandon stops a store's background step without moving its journal,
// as a killed process leaves it: what it acknowledged is in the journal
// alone.
func abandon(t *testing.T, s *Store) {
	t.Helper()
	close(s.j.stop)
	<-s.j.done
	s.j.mu.Lock()
	s.j.running = false
	s.j.f.Close()
	s.j.f = nil
	s.j.mu.Unlock()
	s.Store.Close()
}

func vendRecord(build string) *credbroker.AuditRecord {
	return &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Plan: "OPS-DEPLOY", Build: build,
		Connector: "deploy", Outcome: credbroker.OutcomeGranted}
}

// tableCount is the number of rows of the audit table, read raw.
func tableCount(t *testing.T, path string) int {
	t.Helper()
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM audit`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestJournalRecordsSurviveACrash(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	vends(t, s, 2) // in the table
	for i := range 3 {
		if err := s.AppendAudit(ctx, vendRecord(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	abandon(t, s)
	if n := tableCount(t, path); n != 2 {
		t.Fatalf("the table holds %d records before the restart, want 2 (3 in the journal)", n)
	}
	// The next open moves them in, chained after the table's.
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := tableCount(t, path); n != 5 {
		t.Fatalf("the table holds %d records after the restart, want 5", n)
	}
	if p := problems(t, s2); len(p) > 0 {
		t.Fatalf("trail after the restart: %v", p)
	}
	if st, err := os.Stat(path + "-audit"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal after the move: %v, %v; want mode 0600", st, err)
	}
	if recs, err := s2.j.read(); err != nil || len(recs) != 0 {
		t.Fatalf("journal after the move holds %d records, %v; want none", len(recs), err)
	}
}

func TestJournalTornTailDropped(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	for i := range 2 {
		if err := s.AppendAudit(ctx, vendRecord(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	end := s.j.end
	abandon(t, s)
	// A crash in the middle of an append: half an entry at the end.
	f, err := os.OpenFile(path+"-audit", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(vendRecord("torn"))
	var entry []byte
	entry = binary.BigEndian.AppendUint32(entry, uint32(len(payload)))
	entry = binary.BigEndian.AppendUint32(entry, crc32.Checksum(payload, crcTable))
	entry = append(entry, payload[:len(payload)/2]...)
	if _, err := f.WriteAt(entry, end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	recs, err := s2.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil || len(recs) != 2 || recs[0].Build != "a" || recs[1].Build != "b" {
		t.Fatalf("after a torn append: %d records, %v; want the two acknowledged", len(recs), err)
	}
	if p := problems(t, s2); len(p) > 0 {
		t.Fatalf("trail: %v", p)
	}
}

func TestJournalForgedEntryStopsTheMove(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	if err := s.AppendAudit(ctx, vendRecord("a")); err != nil {
		t.Fatal(err)
	}
	end := s.j.end
	abandon(t, s)
	// An entry with a valid checksum whose record does not chain: it is
	// kept, and the store refuses to open rather than drop it.
	forged := vendRecord("forged")
	forged.Chain(1, strings.Repeat("f", 64))
	payload, _ := json.Marshal(forged)
	var entry []byte
	entry = binary.BigEndian.AppendUint32(entry, uint32(len(payload)))
	entry = binary.BigEndian.AppendUint32(entry, crc32.Checksum(payload, crcTable))
	entry = append(entry, payload...)
	f, err := os.OpenFile(path+"-audit", os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(entry, end); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before, _ := os.ReadFile(path + "-audit")
	_, err = Open(ctx, path)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "do not continue the audit trail") {
		t.Fatalf("open with a forged journal entry: %v; want CodeUnavailable naming the journal", err)
	}
	after, _ := os.ReadFile(path + "-audit")
	if string(before) != string(after) {
		t.Fatal("the journal was changed by a failed move")
	}
	if n := tableCount(t, path); n != 0 {
		t.Fatalf("the table holds %d records; a failed move stores none", n)
	}
}

// Two stores on one file, as the broker and the CLI on its host: their
// appends, journaled or in a transaction of their own, make one chain.
func TestJournalTwoProcessesOneChain(t *testing.T) {
	ctx := t.Context()
	a, path := openTemp(t)
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := range 10 {
		s := a
		if i%3 == 1 {
			s = b
		}
		if i%4 == 3 {
			tok := &credbroker.Token{ID: "tok_" + strings.Repeat(string(rune('0'+i)), 16), Name: "t", Role: credbroker.RoleAgent,
				Plans: "*", Hash: make([]byte, 32), CreatedAt: time.Now()}
			rec := &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionTokenCreate, TokenID: tok.ID, Outcome: credbroker.OutcomeGranted}
			if err := s.CreateToken(ctx, tok, rec); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := s.AppendAudit(ctx, vendRecord(string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b} {
		recs, err := s.ListAudit(ctx, credbroker.AuditFilter{})
		if err != nil || len(recs) != 10 {
			t.Fatalf("%d records, %v; want 10", len(recs), err)
		}
		if p, last, _ := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs); len(p) > 0 || last != 10 {
			t.Fatalf("trail: %v (last %d)", p, last)
		}
	}
}

func TestJournalFilteredReadWhileTheTableRefuses(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	vends(t, s, 2)
	refuseAuditInserts(t, path)
	r := vendRecord("journal")
	r.Plan = "OPS-OTHER"
	if err := s.AppendAudit(ctx, r); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(context.Background(), credbroker.AuditFilter{Plan: "OPS-OTHER"})
	if err != nil || len(recs) != 1 || recs[0].Seq != 3 {
		t.Fatalf("filtered read with the record in the journal: %v, %v", recs, err)
	}
	recs, err = s.ListAudit(ctx, credbroker.AuditFilter{Limit: 2})
	if err != nil || len(recs) != 2 || recs[1].Seq != 2 {
		t.Fatalf("limited read: %v, %v", recs, err)
	}
	if p := problems(t, s); len(p) > 0 {
		t.Fatalf("trail across table and journal: %v", p)
	}
}

// AuditMatches, which filters the journal's records, agrees with
// ListAudit's query on the table, filter by filter.
func TestAuditMatchesTheQuery(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	base := time.Now().Truncate(time.Second)
	for i := range 12 {
		r := vendRecord(string(rune('a' + i)))
		r.Time = base.Add(time.Duration(i) * 1500 * time.Microsecond)
		if i%3 == 0 {
			r.Plan, r.Connector, r.Outcome = "OPS-OTHER", "publish", credbroker.OutcomeRefused
		}
		if err := s.Store.AppendAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil || len(all) != 12 {
		t.Fatalf("%d records, %v", len(all), err)
	}
	for _, f := range []credbroker.AuditFilter{
		{Plan: "OPS-OTHER"}, {Connector: "deploy"}, {Outcome: credbroker.OutcomeRefused}, {Action: credbroker.ActionVend},
		{AfterSeq: 7}, {Since: base.Add(4500 * time.Microsecond)}, {Until: base.Add(4500*time.Microsecond + 1)},
		{Since: base.Add(3*time.Millisecond + 1), Until: base.Add(9 * time.Millisecond), Plan: "OPS-DEPLOY"},
	} {
		want, err := s.Store.ListAudit(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for i := range all {
			if sqlstore.AuditMatches(f, &all[i]) {
				got = append(got, all[i].Seq)
			}
		}
		var wantSeqs []int64
		for _, r := range want {
			wantSeqs = append(wantSeqs, r.Seq)
		}
		if len(wantSeqs) == 0 || fmt.Sprint(got) != fmt.Sprint(wantSeqs) {
			t.Errorf("filter %+v: AuditMatches keeps %v, the query %v", f, got, wantSeqs)
		}
	}
}
