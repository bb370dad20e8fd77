package sqlstore_test

import (
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/sqlstore"

	_ "github.com/credbroker/credbroker/sqlite" // registers the "sqlite" driver
)

// migrations is an fs.FS of numbered files, each creating table tN.
func migrations(names ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, name := range names {
		table := "t" + strings.SplitN(name, "_", 2)[0]
		fsys[name] = &fstest.MapFile{Data: []byte(`CREATE TABLE ` + table + ` (id INTEGER PRIMARY KEY)`)}
	}
	return fsys
}

// openWith opens a store of migrations fsys on the SQLite file at path.
func openWith(t *testing.T, path string, fsys fstest.MapFS, readOnly bool) (*sqlstore.Store, error) {
	t.Helper()
	w, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	d := sqlstore.Dialect{
		Name:             "test",
		Migrations:       fsys,
		Placeholder:      func(int) string { return "?" },
		SchemaVersionDDL: `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)`,
		Classify: func(err error) (credbroker.Code, string) {
			return credbroker.CodeInternal, "store failed"
		},
	}
	st, err := sqlstore.Open(t.Context(), d, sqlstore.Options{Writer: w, ReadOnly: readOnly})
	if err == nil {
		t.Cleanup(func() { st.Close() })
	}
	return st, err
}

// TestMigrationOrder: migrations whose numbers were reserved arrive in any
// order. Each open applies what the database lacks, a database recording
// a migration this build does not know is refused, and so is a read-only
// open of a database that lacks one.
func TestMigrationOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "order.db")
	raw := rawDB(t, "sqlite", path)
	step := func(what string, fsys fstest.MapFS, readOnly bool, want []int) {
		t.Helper()
		st, err := openWith(t, path, fsys, readOnly)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		st.Close()
		if got := versions(t, raw); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema_version records %v, want %v", what, got, want)
		}
	}
	step("a build with 1 and 5", migrations("0001_init.sql", "0005_fleet.sql"), false, []int{1, 5})
	step("the same build again", migrations("0001_init.sql", "0005_fleet.sql"), false, []int{1, 5})
	step("read-only, all applied", migrations("0001_init.sql", "0005_fleet.sql"), true, []int{1, 5})

	_, err := openWith(t, path, migrations("0001_init.sql", "0003_identity.sql", "0005_fleet.sql"), true)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "cannot be used read-only") {
		t.Errorf("read-only open lacking migration 3: %v, want CodeUnavailable: cannot be used read-only", err)
	}
	step("a build that has 3 too", migrations("0001_init.sql", "0003_identity.sql", "0005_fleet.sql"), false, []int{1, 3, 5})
	var tables int
	if err := raw.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('t0001', 't0003', 't0005')`).Scan(&tables); err != nil || tables != 3 {
		t.Errorf("%d of the three tables exist (%v)", tables, err)
	}

	_, err = openWith(t, path, migrations("0001_init.sql", "0003_identity.sql"), false)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "schema version 5") || !strings.Contains(err.Error(), "newer") {
		t.Errorf("a build without migration 5 on a database that has it: %v, want CodeUnavailable naming version 5", err)
	}
	if got := versions(t, raw); !reflect.DeepEqual(got, []int{1, 3, 5}) {
		t.Errorf("a refused open changed schema_version to %v", got)
	}
}
