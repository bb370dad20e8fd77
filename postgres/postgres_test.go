//go:build unix

package postgres

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/storetest"
	"github.com/jackc/pgx/v5"
)

// open opens a store on dsn, closed in t.Cleanup.
func open(t testing.TB, dsn string, optFns ...func(*Options)) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) credbroker.Store {
		return open(t, testpeers.Postgres(t))
	})
}

// vend is a vend record.
func vend(worker, i int) *credbroker.AuditRecord {
	return &credbroker.AuditRecord{
		Time: time.Now(), Action: credbroker.ActionVend, Plan: fmt.Sprint("OPS-", worker), Build: fmt.Sprint(i),
		Connector: "deploy", Outcome: credbroker.OutcomeGranted,
	}
}

// verify checks the whole trail of s and returns its length.
func verify(t *testing.T, s *Store) int {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	problems, lastSeq, lastHash := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
	for _, p := range problems {
		t.Errorf("seq %d: %s", p.Seq, p.Problem)
	}
	seq, hash, err := s.AuditHead(t.Context())
	if err != nil || seq != lastSeq || hash != lastHash {
		t.Errorf("head %d %s (%v), trail ends at %d %s", seq, hash, err, lastSeq, lastHash)
	}
	return len(recs)
}

// TestTwoBrokersOneChain has two stores, each with its own pool as two
// broker processes would, open a new database at once (both migrate) and
// append concurrently: the trail stays one valid chain.
func TestTwoBrokersOneChain(t *testing.T) {
	dsn := testpeers.Postgres(t)
	stores := make([]*Store, 2)
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() {
			s, err := Open(t.Context(), dsn)
			if err != nil {
				t.Error(err)
				return
			}
			t.Cleanup(func() { s.Close() })
			stores[i] = s
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	const workers, rounds = 4, 25
	for i, s := range stores {
		for w := range workers {
			wg.Go(func() {
				for r := range rounds {
					recs := []*credbroker.AuditRecord{vend(i*workers+w, r)}
					if r%5 == 0 {
						recs = append(recs, vend(i*workers+w, r), vend(i*workers+w, r))
					}
					if err := s.AppendAudit(t.Context(), recs...); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	want := len(stores) * workers * (rounds + rounds/5*2)
	for _, s := range stores {
		if n := verify(t, s); n != want {
			t.Errorf("trail has %d records, want %d", n, want)
		}
	}
}

// TestRestart stops the server under a store: requests fail with
// CodeUnavailable while it is down and succeed once it is back, on the
// same store, with no reconnect by the caller.
func TestRestart(t *testing.T) {
	ctx := t.Context()
	srv := testpeers.StartPostgres(t)
	s := open(t, srv.CreateDatabase(t))
	c := &credbroker.Connector{ID: "c-1", Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseDefault}
	if err := s.CreateConnector(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendAudit(ctx, vend(0, 0)); err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	_, err := s.GetConnector(ctx, "deploy")
	wantUnavailable(t, "get during the outage", err)
	r := vend(0, 1)
	wantUnavailable(t, "append during the outage", s.AppendAudit(ctx, r))
	if r.Seq != 0 {
		t.Errorf("a record that was not stored carries seq %d", r.Seq)
	}

	srv.Start(t)
	if _, err := s.GetConnector(ctx, "deploy"); err != nil {
		t.Fatalf("first get after the server came back: %v", err)
	}
	if err := s.AppendAudit(ctx, vend(0, 2)); err != nil {
		t.Fatalf("first append after the server came back: %v", err)
	}

	// A restart between two requests goes unnoticed.
	srv.Restart(t)
	if err := s.AppendAudit(ctx, vend(0, 3)); err != nil {
		t.Fatalf("append after a restart: %v", err)
	}
	if n := verify(t, s); n != 3 {
		t.Errorf("trail has %d records, want 3", n)
	}
}

// wantUnavailable checks err is CodeUnavailable with no database text.
func wantUnavailable(t *testing.T, what string, err error) {
	t.Helper()
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Fatalf("%s: got %v, want CodeUnavailable", what, err)
	}
	for _, raw := range []string{"SQLSTATE", "dial tcp", "connection refused", "127.0.0.1", "failed to connect"} {
		if strings.Contains(err.Error(), raw) {
			t.Errorf("%s: message %q shows driver text %q", what, err.Error(), raw)
		}
	}
}

// raw connects to dsn with no store in the way, as an intruder would.
func raw(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestTamperedTrail(t *testing.T) {
	ctx := t.Context()
	dsn := testpeers.Postgres(t)
	s := open(t, dsn)
	for i := range 6 {
		if err := s.AppendAudit(ctx, vend(0, i)); err != nil {
			t.Fatal(err)
		}
	}
	db := raw(t, dsn)
	if _, err := db.Exec(ctx, `UPDATE audit SET plan = 'OTHER' WHERE seq = 3`); err == nil {
		t.Fatal("an audit row could be edited without disabling the append-only trigger")
	}
	if _, err := db.Exec(ctx, `ALTER TABLE audit DISABLE TRIGGER audit_append_only`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `UPDATE audit SET plan = 'OTHER' WHERE seq = 3; DELETE FROM audit WHERE seq = 5`); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	problems, _, _ := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
	var seqs []int64
	for _, p := range problems {
		if len(seqs) == 0 || seqs[len(seqs)-1] != p.Seq {
			seqs = append(seqs, p.Seq)
		}
	}
	if fmt.Sprint(seqs) != "[3 6]" {
		t.Errorf("problems %v, want the edit at 3 and the gap at 6", problems)
	}
}

func TestWriteRefused(t *testing.T) {
	ctx := t.Context()
	dsn := testpeers.Postgres(t)
	s := open(t, dsn)
	if _, err := raw(t, dsn).Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'read-only'; END $$;
		CREATE TRIGGER refuse BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
		t.Fatal(err)
	}
	err := s.AppendAudit(ctx, vend(0, 0))
	wantUnavailable(t, "append refused by a trigger", err)
	if !strings.HasPrefix(err.Error(), "store is not writable: ") || strings.Contains(err.Error(), "read-only") {
		t.Errorf("message %q, want the store's own words", err.Error())
	}
	if seq, _, err := s.AuditHead(ctx); err != nil || seq != 0 {
		t.Errorf("head %d (%v) after a refused append, want 0", seq, err)
	}
}

// A server that accepts connections and never answers (a network that
// drops packets) fails an operation within Options.Timeout, not after the
// connect timeout of every try.
func TestUnansweringServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	dsn := "postgres://postgres@" + ln.Addr().String() + "/credbroker?sslmode=disable"
	_, err = Open(t.Context(), dsn, func(o *Options) {
		o.Timeout = 300 * time.Millisecond
		o.ConnectTimeout = time.Minute
	})
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "did not answer within 300ms") {
		t.Fatalf("open on a server that never answers: %v; want CodeUnavailable: did not answer within 300ms", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := Open(ctx, "postgres://user:hunter2@[::1"); credbroker.ErrorCode(err) != credbroker.CodeInvalid || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("malformed DSN: %v, want CodeInvalid without the password", err)
	}
	// Nothing listens on port 1.
	_, err := Open(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", func(o *Options) { o.Retries = 1 })
	wantUnavailable(t, "no server", err)
}

func BenchmarkAppendAudit(b *testing.B) {
	dsn := testpeers.Postgres(b)
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := open(b, dsn)
			recs := make([]*credbroker.AuditRecord, batch)
			b.ReportAllocs()
			for b.Loop() {
				for j := range recs {
					recs[j] = vend(0, j)
				}
				if err := s.AppendAudit(b.Context(), recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
		})
	}
}

func TestFleet(t *testing.T) {
	storetest.RunFleet(t, func(t *testing.T) (credbroker.Store, credbroker.Store) {
		dsn := testpeers.Postgres(t)
		a, b := open(t, dsn), open(t, dsn)
		if a.Fleet() == nil || b.Fleet() == nil {
			t.Fatal("the PostgreSQL store has no fleet")
		}
		return a, b
	})
}
