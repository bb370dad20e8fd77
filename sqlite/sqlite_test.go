package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/migrate"
	"github.com/credbroker/credbroker/storetest"
)

// openTemp opens a store in a new temporary directory.
func openTemp(t testing.TB, optFns ...func(*Options)) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "broker.db")
	s, err := Open(context.Background(), path, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) credbroker.Store {
		s, _ := openTemp(t)
		return s
	})
}

// rawDB opens the file with no store in the way, as an intruder would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// vends appends n vend records one by one.
func vends(t testing.TB, s *Store, n int) {
	t.Helper()
	for i := range n {
		r := &credbroker.AuditRecord{
			Time: time.Now(), Action: credbroker.ActionVend, Plan: "OPS-DEPLOY", Build: fmt.Sprint(i),
			Connector: "deploy", Outcome: credbroker.OutcomeGranted,
		}
		if err := s.AppendAudit(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	// The records are durable in the audit journal; a read of the trail
	// moves them into the table, where the tests look at them raw.
	if _, _, err := s.AuditHead(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// problems verifies the whole trail of s.
func problems(t *testing.T, s *Store) []credbroker.AuditProblem {
	t.Helper()
	recs, err := s.ListAudit(t.Context(), credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	p, _, _ := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
	return p
}

func TestFileModes(t *testing.T) {
	_, path := openTemp(t)
	for p, want := range map[string]os.FileMode{filepath.Dir(path): 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %v, want %v", p, fi.Mode(), want)
		}
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "5000"}
	for pragma, v := range want {
		var got string
		if err := s.w.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != v {
			t.Errorf("writer: PRAGMA %s = %s, want %s", pragma, got, v)
		}
	}
	var only string
	if err := s.r.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&only); err != nil || only != "1" {
		t.Errorf("readers: PRAGMA query_only = %s (%v), want 1", only, err)
	}
}

// TestSynchronousSetting: SyncNormal reaches the writer's PRAGMA, and an
// unknown setting is refused before any file is made.
func TestSynchronousSetting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "normal.db")
	s, err := Open(t.Context(), path, func(o *Options) { o.Synchronous = SyncNormal })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got string
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil || got != "1" {
		t.Errorf("PRAGMA synchronous = %s (%v), want 1 (NORMAL)", got, err)
	}
	for _, name := range []string{"full", "NORMAL", " Normal "} {
		if _, err := ParseSync(name); err != nil {
			t.Errorf("ParseSync(%q): %v", name, err)
		}
	}
	bad := filepath.Join(t.TempDir(), "off.db")
	_, err = Open(t.Context(), bad, func(o *Options) { o.Synchronous = "off" })
	if err == nil || !strings.Contains(err.Error(), `"off"`) || !strings.Contains(err.Error(), "normal") {
		t.Errorf("Open with synchronous off: %v, want an error naming the setting and the choices", err)
	}
	if _, statErr := os.Stat(bad); !os.IsNotExist(statErr) {
		t.Errorf("a refused setting left a file behind: %v", statErr)
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	c := &credbroker.Connector{ID: "c-1", Name: "deploy", Principal: credbroker.PrincipalAssumedRole, Base: credbroker.BaseKeys,
		Secret: credbroker.Sealed{KeyVersion: 1, Blob: []byte("sealed")}}
	if err := s.CreateConnector(ctx, c, &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionConnectorCreate, Outcome: credbroker.OutcomeGranted}); err != nil {
		t.Fatal(err)
	}
	vends(t, s, 3)
	_, hash, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Opening again applies no migration twice and finds everything.
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.GetConnector(ctx, "deploy")
	if err != nil || string(got.Secret.Blob) != "sealed" {
		t.Fatalf("after reopen: %+v, %v", got, err)
	}
	seq, hash2, err := s2.AuditHead(ctx)
	if err != nil || seq != 4 || hash2 != hash {
		t.Fatalf("after reopen the head is %d %s (%v), want 4 %s", seq, hash2, err, hash)
	}
	vends(t, s2, 1)
	if p := problems(t, s2); len(p) > 0 {
		t.Errorf("trail after reopen: %v", p)
	}
	d, err := dialect(path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrate.Load(d.Migrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var versions int
	if err := s2.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&versions); err != nil || versions != len(ms) {
		t.Errorf("schema_version has %d rows (%v), want %d", versions, err, len(ms))
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s, path := openTemp(t)
	if _, err := s.w.ExecContext(t.Context(), `INSERT INTO schema_version (version) VALUES (99)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(t.Context(), path)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("got %v, want CodeUnavailable saying the schema is newer", err)
	}
}

func TestTamperedRecord(t *testing.T) {
	s, path := openTemp(t)
	vends(t, s, 5)
	db := rawDB(t, path)
	// The trail refuses edits until the intruder drops the guard.
	if _, err := db.Exec(`UPDATE audit SET plan = 'OTHER' WHERE seq = 3`); err == nil {
		t.Fatal("an audit row could be edited without dropping the append-only trigger")
	}
	if _, err := db.Exec(`DROP TRIGGER audit_no_update; UPDATE audit SET plan = 'OTHER' WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	p := problems(t, s)
	if len(p) != 1 || p[0].Seq != 3 || !strings.Contains(p[0].Problem, "edited") {
		t.Fatalf("problems %v, want one naming seq 3 as edited", p)
	}
}

func TestDeletedRecords(t *testing.T) {
	s, path := openTemp(t)
	vends(t, s, 6)
	db := rawDB(t, path)
	if _, err := db.Exec(`DELETE FROM audit WHERE seq = 3`); err == nil {
		t.Fatal("an audit row could be deleted without dropping the append-only trigger")
	}
	if _, err := db.Exec(`DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq = 3`); err != nil {
		t.Fatal(err)
	}
	p := problems(t, s)
	if len(p) == 0 || p[0].Seq != 4 || !strings.Contains(p[0].Problem, "missing") {
		t.Fatalf("problems %v, want a gap reported at seq 4", p)
	}

	// Deleting the last records leaves the chain intact but behind the head.
	if _, err := db.Exec(`DELETE FROM audit WHERE seq >= 5`); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(t.Context(), credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seq, _, err := s.AuditHead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if last := recs[len(recs)-1].Seq; last != 4 || seq != 6 {
		t.Fatalf("trail ends at %d and head at %d, want 4 and 6", last, seq)
	}
}

// wantUnwritable checks err is CodeUnavailable saying the store is not
// writable, with no raw database text.
func wantUnwritable(t *testing.T, err error) {
	t.Helper()
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.HasPrefix(err.Error(), "store is not writable: ") {
		t.Fatalf("got %v, want CodeUnavailable: store is not writable", err)
	}
	for _, raw := range []string{"sqlite", "SQLITE", "constraint", "readonly", "read-only'"} {
		if strings.Contains(err.Error(), raw) {
			t.Errorf("message %q shows database text %q", err.Error(), raw)
		}
	}
}

func TestReadOnlyFile(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	vends(t, s, 3)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := Open(ctx, path, func(o *Options) { o.ReadOnly = true })
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	wantUnwritable(t, ro.AppendAudit(ctx, &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend}))
	wantUnwritable(t, ro.SetVariable(ctx, &credbroker.Variable{Name: "x", Value: "y"}, nil))
	if p := problems(t, ro); len(p) > 0 {
		t.Errorf("read-only store: %v", p)
	}
	if seq, _, err := ro.AuditHead(ctx); err != nil || seq != 3 {
		t.Errorf("read-only head %d, %v; want 3", seq, err)
	}
}

// A file SQLite can open only for reading (here: immutable, which stops
// root too) is refused at Open, with the reason, rather than opened
// read-only without a word and failing at every write after.
func TestUnwritableFileRefusedAtOpen(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	vends(t, s, 3) // s stays open: its WAL holds the records, as after a crash
	lock, unlock := []string{"chmod", "0400", path}, []string{"chmod", "0600", path}
	if os.Geteuid() == 0 {
		// Root writes whatever the mode says; the immutable attribute
		// (ext4, xfs, btrfs, tmpfs) stops it.
		lock, unlock = []string{"chattr", "+i", path}, []string{"chattr", "-i", path}
	}
	if out, err := exec.Command(lock[0], lock[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(lock, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(unlock[0], unlock[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%s: %v: %s", strings.Join(unlock, " "), err, out)
		}
	})
	s2, err := Open(ctx, path)
	if err == nil {
		s2.Close()
		t.Fatal("a store SQLite can only read was opened for writing")
	}
	wantUnwritable(t, err)
	if !strings.Contains(err.Error(), "may not write the database file") {
		t.Errorf("message %q does not say why", err.Error())
	}
	// Read-only opens still work.
	ro, err := Open(ctx, path, func(o *Options) { o.ReadOnly = true })
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if seq, _, err := ro.AuditHead(ctx); err != nil || seq != 3 {
		t.Errorf("read-only head %d, %v; want 3", seq, err)
	}
}

// refuseAuditInserts makes the audit table at path refuse every insert,
// as a store that cannot take writes.
func refuseAuditInserts(t *testing.T, path string) {
	t.Helper()
	if _, err := rawDB(t, path).Exec(`CREATE TRIGGER read_only BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'read-only'); END`); err != nil {
		t.Fatal(err)
	}
}

func TestWriteRefusedByTrigger(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	vends(t, s, 3)
	refuseAuditInserts(t, path)
	// The audit journal takes the next record (durable there); the move
	// into the table fails, and from then on appends are refused until
	// the table takes records again. The journal's record stays readable.
	first := &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend}
	if err := s.AppendAudit(ctx, first); err != nil || first.Seq != 4 {
		t.Fatalf("the journal refused a record before any move failed: seq %d, %v", first.Seq, err)
	}
	if seq, _, err := s.AuditHead(ctx); err != nil || seq != 4 {
		t.Errorf("head %d (%v), want 4, the journal's record", seq, err)
	}
	r := &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend}
	wantUnwritable(t, s.AppendAudit(ctx, r))
	if r.Seq != 0 {
		t.Errorf("a record that was not stored carries seq %d", r.Seq)
	}
	if seq, _, err := s.AuditHead(ctx); err != nil || seq != 4 {
		t.Errorf("after a refused append the head is %d (%v), want 4", seq, err)
	}
	if p := problems(t, s); len(p) > 0 {
		t.Errorf("trail after a refused append: %v", p)
	}
}

func TestDiskFull(t *testing.T) {
	ctx := t.Context()
	s, _ := openTemp(t)
	vends(t, s, 3)
	var pages int64
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The writer is the pool's only connection, so this limit holds for
	// every write that follows: the file cannot grow, as on a full disk.
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; err == nil && i < 10000; i++ {
		recs := make([]*credbroker.AuditRecord, 16)
		for j := range recs {
			recs[j] = &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Detail: strings.Repeat("x", 500)}
		}
		err = s.AppendAudit(ctx, recs...)
	}
	wantUnwritable(t, err)
	if !strings.Contains(err.Error(), "full") {
		t.Errorf("message %q does not say the disk is full", err.Error())
	}
	if p := problems(t, s); len(p) > 0 {
		t.Errorf("trail after a full disk: %v", p)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	vends(t, s, 1)
	if p := problems(t, s); len(p) > 0 {
		t.Errorf("trail after the disk has room again: %v", p)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := t.Context()
	if _, err := Open(ctx, ""); credbroker.ErrorCode(err) != credbroker.CodeInvalid {
		t.Errorf("empty path: %v, want CodeInvalid", err)
	}
	// A directory where the file should be.
	dir := t.TempDir()
	if _, err := Open(ctx, dir); credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Errorf("directory as file: %v, want CodeUnavailable", err)
	}
	// A file that is not a database.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(ctx, junk)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || strings.Contains(strings.ToLower(err.Error()), "sqlite") {
		t.Errorf("junk file: %v, want CodeUnavailable with no database text", err)
	}
	if _, err := Open(ctx, filepath.Join(dir, "missing.db"), func(o *Options) { o.ReadOnly = true }); credbroker.ErrorCode(err) != credbroker.CodeUnavailable {
		t.Errorf("read-only open of a missing file: %v, want CodeUnavailable", err)
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	for _, c := range []struct {
		batch int
		sync  Sync
	}{{1, SyncFull}, {64, SyncFull}, {1, SyncNormal}, {64, SyncNormal}} {
		batch := c.batch
		name := fmt.Sprintf("batch=%d", batch)
		if c.sync != SyncFull {
			name += "/sync=" + string(c.sync)
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "audit.db"), func(o *Options) { o.Synchronous = c.sync })
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := b.Context()
			recs := make([]*credbroker.AuditRecord, batch)
			b.ReportAllocs()
			for b.Loop() {
				for j := range recs {
					recs[j] = &credbroker.AuditRecord{
						Time: time.Now(), Action: credbroker.ActionVend, TokenID: "tok-agent", Plan: "OPS-DEPLOY",
						Build: "42", Job: "OPS-DEPLOY-JOB1", Task: "deploy", Connector: "deploy",
						RoleARN: "arn:aws:iam::123456789012:role/deploy", AccessKeyID: "ASIAEXAMPLE",
						Expiration: time.Now().Add(time.Hour), Outcome: credbroker.OutcomeGranted,
					}
				}
				if err := s.AppendAudit(ctx, recs...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/record")
		})
	}
}

func BenchmarkGetConnector(b *testing.B) {
	s, _ := openTemp(b)
	ctx := b.Context()
	for i := range 100 {
		c := &credbroker.Connector{
			ID: fmt.Sprint("c-", i), Name: fmt.Sprint("connector-", i), Principal: credbroker.PrincipalAssumedRole,
			Base: credbroker.BaseKeys, Secret: credbroker.Sealed{KeyVersion: 1, Blob: make([]byte, 80)},
			PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, AllowPlans: []string{"OPS-*"},
			Tags: []credbroker.Tag{{Key: "team", Value: "ops"}},
		}
		if err := s.CreateConnector(ctx, c, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.GetConnector(ctx, fmt.Sprint("connector-", i%100)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// TestUpgradeKeepsOldRecords: a database written before migration 6 (the
// audit's tags) gets it when opened, and its records read back without
// tags and still verify; new records with tags chain after them.
func TestUpgradeKeepsOldRecords(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawDB(t, path)
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, v := range []int{1, 2} {
		name := map[int]string{1: "migrations/0001_init.sql", 2: "migrations/0002_connector_generation.sql"}[v]
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(b)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_version (version) VALUES (?)`, v); err != nil {
			t.Fatal(err)
		}
	}
	// Records as the old code wrote them: no tags column.
	var old []credbroker.AuditRecord
	seq, hash := int64(0), credbroker.AuditGenesis
	for i := range 3 {
		r := credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Plan: "OPS-DEPLOY", Build: fmt.Sprint(i),
			Connector: "deploy", Outcome: credbroker.OutcomeGranted, Detail: "issued"}
		r.Chain(seq, hash)
		seq, hash = r.Seq, r.Hash
		if _, err := db.ExecContext(ctx, `INSERT INTO audit (seq, time_us, action, token_id, plan, build, job, task, connector, role_arn,
			access_key_id, expiration_us, outcome, error_code, detail, prev_hash, hash) VALUES (?, ?, ?, '', ?, ?, '', '', ?, '', '', NULL, ?, '', ?, ?, ?)`,
			r.Seq, r.Time.UnixMicro(), r.Action, r.Plan, r.Build, r.Connector, r.Outcome, r.Detail, r.PrevHash, r.Hash); err != nil {
			t.Fatal(err)
		}
		old = append(old, r)
	}
	if _, err := db.ExecContext(ctx, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, seq, hash); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("opening a database of migration 2: %v", err)
	}
	defer s.Close()
	tagged := &credbroker.AuditRecord{Time: time.Now(), Action: credbroker.ActionVend, Plan: "OPS-DEPLOY", Outcome: credbroker.OutcomeGranted,
		Tags: []credbroker.Tag{{Key: credbroker.TagKeyPlan, Value: "OPS-DEPLOY"}}}
	if err := s.AppendAudit(ctx, tagged); err != nil {
		t.Fatal(err)
	}
	recs, err := s.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil || len(recs) != 4 {
		t.Fatalf("records %v %v", recs, err)
	}
	for i, r := range recs[:3] {
		if r.Hash != old[i].Hash || r.Tags != nil {
			t.Errorf("old record %d read back as %+v", i+1, r)
		}
	}
	if len(recs[3].Tags) != 1 {
		t.Errorf("new record's tags %v", recs[3].Tags)
	}
	if p := problems(t, s); len(p) != 0 {
		t.Fatalf("the upgraded trail does not verify: %v", p)
	}
}

func TestFleet(t *testing.T) {
	storetest.RunFleet(t, func(t *testing.T) (credbroker.Store, credbroker.Store) {
		a, path := openTemp(t)
		b, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if a.Fleet() != nil || b.Fleet() != nil {
			t.Fatal("the embedded store has a fleet")
		}
		return a, b
	})
}
