//go:build unix

package sqlstore_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/sqlite"
)

// fixtures are the databases in testdata, named by the newest migration
// they had, as older commits left them (fixture_test.go says how they
// were made): db44426 (migration 1), fce09cb (1 and 2; the last commit
// before this package) and 7428b9d (1, 2 and 6, the audit's tags; main
// when this package's branch merged it).
var fixtures = []struct {
	version int
	applied []int
}{
	{1, []int{1}},
	{2, []int{1, 2}},
	{6, []int{1, 2, 6}},
}

// database is one kind of store, opened on a database as this credbroker
// does, with a raw handle beside it to look at what the store keeps.
type database struct {
	name string
	// open returns a store on a new database that holds the fixture of
	// schema version v (nothing when v is 0), and a raw handle to it.
	open func(t *testing.T, v int) (credbroker.Store, *sql.DB)
}

var databases = []database{
	{"sqlite", func(t *testing.T, v int) (credbroker.Store, *sql.DB) {
		path := filepath.Join(t.TempDir(), "credbroker.db")
		if v > 0 {
			b, err := os.ReadFile(fmt.Sprintf("testdata/sqlite-v%d.db", v))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		st, err := sqlite.Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open the fixture of schema version %d: %v", v, err)
		}
		t.Cleanup(func() { st.Close() })
		return st, rawDB(t, "sqlite", path)
	}},
	{"postgres", func(t *testing.T, v int) (credbroker.Store, *sql.DB) {
		dsn := testpeers.Postgres(t)
		if v > 0 {
			dump, err := os.ReadFile(fmt.Sprintf("testdata/postgres-v%d.sql", v))
			if err != nil {
				t.Fatal(err)
			}
			// The dump sets the session's search_path: restore it on a
			// connection of its own.
			restore := rawDB(t, "pgx", dsn)
			if _, err := restore.ExecContext(t.Context(), string(dump)); err != nil {
				t.Fatalf("restore the fixture of schema version %d: %v", v, err)
			}
			restore.Close()
		}
		st, err := postgres.Open(t.Context(), dsn)
		if err != nil {
			t.Fatalf("open the fixture of schema version %d: %v", v, err)
		}
		t.Cleanup(func() { st.Close() })
		return st, rawDB(t, "pgx", dsn)
	}},
}

// contents is everything a store gives back through its API.
type contents struct {
	Connectors []*credbroker.Connector
	Tokens     []*credbroker.Token
	Variables  []*credbroker.Variable
	Audit      []credbroker.AuditRecord
	HeadSeq    int64
	HeadHash   string
	KeyCheck   credbroker.Sealed
	Sealed     map[int]int
}

// read returns what st holds.
func read(t *testing.T, st credbroker.Store) contents {
	t.Helper()
	ctx := t.Context()
	var c contents
	var errs [7]error
	c.Connectors, errs[0] = st.ListConnectors(ctx)
	c.Tokens, errs[1] = st.ListTokens(ctx)
	c.Variables, errs[2] = st.ListVariables(ctx)
	c.Audit, errs[3] = st.ListAudit(ctx, credbroker.AuditFilter{})
	c.HeadSeq, c.HeadHash, errs[4] = st.AuditHead(ctx)
	c.KeyCheck, errs[5] = st.KeyCheck(ctx)
	c.Sealed, errs[6] = st.CountSealed(ctx)
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestUpgrade opens, with this credbroker, each database an older one
// left behind: its schema is brought up to date, every row reads back as
// the same changes made by this credbroker read back, the audit trail
// still verifies, and the store goes on working (new records chain on, a
// connector change moves the generation that migration 2 added).
func TestUpgrade(t *testing.T) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) {
			fresh, freshRaw := db.open(t, 0)
			if err := populate(t.Context(), fresh); err != nil {
				t.Fatal(err)
			}
			want := read(t, fresh)
			wantVersions := versions(t, freshRaw)
			wantGen, err := fresh.ConnectorGeneration(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fixtures {
				t.Run(fmt.Sprintf("from-v%d", f.version), func(t *testing.T) {
					testUpgrade(t, db, f.version, slices.Contains(f.applied, 2), want, wantVersions, wantGen)
				})
			}
		})
	}
}

func testUpgrade(t *testing.T, db database, v int, hadGeneration bool, want contents, wantVersions []int, wantGen int64) {
	ctx := t.Context()
	st, raw := db.open(t, v)
	if got := versions(t, raw); !reflect.DeepEqual(got, wantVersions) {
		t.Errorf("schema_version records %v after the upgrade, want %v", got, wantVersions)
	}
	got := read(t, st)
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range gv.NumField() {
		if g, w := gv.Field(i).Interface(), wv.Field(i).Interface(); !reflect.DeepEqual(g, w) {
			t.Errorf("%s of the upgraded store differ from those this credbroker writes:\n got  %+v\n want %+v",
				gv.Type().Field(i).Name, g, w)
		}
	}
	if problems, _, _ := credbroker.VerifyAudit(0, credbroker.AuditGenesis, got.Audit); len(problems) > 0 {
		t.Errorf("the fixture's trail does not verify: %v", problems)
	}

	// A store without migration 2 had no generation: the migration starts
	// it at 0. One that had it keeps its own.
	gen, err := st.ConnectorGeneration(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !hadGeneration {
		wantGen = 0
	}
	if gen != wantGen {
		t.Errorf("connector generation %d after the upgrade, want %d", gen, wantGen)
	}
	c, err := st.GetConnector(ctx, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	c.Description = "changed after the upgrade"
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	audit := &credbroker.AuditRecord{Time: at, Action: credbroker.ActionConnectorUpdate, TokenID: "tok-admin", Outcome: credbroker.OutcomeGranted}
	if err := st.UpdateConnector(ctx, c, audit); err != nil {
		t.Fatal(err)
	}
	if c.Revision != 3 || audit.Seq != want.HeadSeq+1 || audit.PrevHash != want.HeadHash {
		t.Errorf("update after the upgrade: revision %d, audit seq %d after %s; want 3 and %d after %s",
			c.Revision, audit.Seq, audit.PrevHash, want.HeadSeq+1, want.HeadHash)
	}
	if after, err := st.ConnectorGeneration(ctx); err != nil || after <= gen {
		t.Errorf("connector generation %d (%v) after an update, want more than %d", after, err, gen)
	}
	vend := &credbroker.AuditRecord{Time: at, Action: credbroker.ActionVend, Plan: "OPS-DEPLOY", Connector: "deploy", Outcome: credbroker.OutcomeGranted}
	if err := st.AppendAudit(ctx, vend); err != nil {
		t.Fatal(err)
	}
	recs, err := st.ListAudit(ctx, credbroker.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	problems, lastSeq, lastHash := credbroker.VerifyAudit(0, credbroker.AuditGenesis, recs)
	if len(problems) > 0 || lastSeq != want.HeadSeq+2 || lastHash != vend.Hash {
		t.Errorf("trail after the upgrade: problems %v, ends at %d %s; want none, %d %s", problems, lastSeq, lastHash, want.HeadSeq+2, vend.Hash)
	}
}

// TestFixturesWrittenByOldCode guards the fixtures themselves: each holds
// the migrations the list above gives, as the old code recorded them, so
// the upgrade above starts where an old broker left off.
func TestFixturesWrittenByOldCode(t *testing.T) {
	for _, f := range fixtures {
		v := f.version
		t.Run(fmt.Sprint("sqlite-v", v), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fixture.db")
			b, err := os.ReadFile(fmt.Sprintf("testdata/sqlite-v%d.db", v))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			raw := rawDB(t, "sqlite", path)
			var userVersion int
			if err := raw.QueryRowContext(t.Context(), `PRAGMA user_version`).Scan(&userVersion); err != nil {
				t.Fatal(err)
			}
			if got := versions(t, raw); !reflect.DeepEqual(got, f.applied) || userVersion != v {
				t.Errorf("fixture records versions %v and user_version %d, want %v and %d", got, userVersion, f.applied, v)
			}
		})
	}
}
