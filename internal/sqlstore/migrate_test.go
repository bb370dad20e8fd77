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

func TestReadMigrations(t *testing.T) {
	ms, err := sqlstore.ReadMigrations(migrations("0005_fleet.sql", "0001_init.sql", "0002_more.sql"))
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if !reflect.DeepEqual(got, []int{1, 2, 5}) || ms[2].Name != "0005_fleet.sql" || !strings.Contains(ms[2].SQL, "t0005") {
		t.Errorf("migrations %+v, want 1, 2 and 5 in order, a gap allowed", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"share number 2":           migrations("0001_init.sql", "0002_a.sql", "2_b.sql"),
		"no leading positive":      migrations("0001_init.sql", "init_0002.sql"),
		"no leading positive (0)":  migrations("0000_zero.sql"),
		"no migrations":            {},
		"no migrations (not .sql)": {"0001_init.txt": &fstest.MapFile{}},
	} {
		want, _, _ := strings.Cut(name, " (")
		if _, err := sqlstore.ReadMigrations(fsys); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", name, err, want)
		}
	}
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
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	recorded := func() []int {
		t.Helper()
		rows, err := raw.QueryContext(t.Context(), `SELECT version FROM schema_version ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				t.Fatal(err)
			}
			out = append(out, v)
		}
		return out
	}
	step := func(what string, fsys fstest.MapFS, readOnly bool, want []int) {
		t.Helper()
		st, err := openWith(t, path, fsys, readOnly)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		st.Close()
		if got := recorded(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema_version records %v, want %v", what, got, want)
		}
	}
	step("a build with 1 and 5", migrations("0001_init.sql", "0005_fleet.sql"), false, []int{1, 5})
	step("the same build again", migrations("0001_init.sql", "0005_fleet.sql"), false, []int{1, 5})
	step("read-only, all applied", migrations("0001_init.sql", "0005_fleet.sql"), true, []int{1, 5})

	_, err = openWith(t, path, migrations("0001_init.sql", "0003_identity.sql", "0005_fleet.sql"), true)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "cannot be used read-only") {
		t.Errorf("read-only open lacking migration 3: %v, want CodeUnavailable: cannot be used read-only", err)
	}
	step("a build that has 3 too", migrations("0001_init.sql", "0003_identity.sql", "0005_fleet.sql"), false, []int{1, 3, 5})
	var tables int
	if err := raw.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('t0001', 't0003', 't0005')`).Scan(&tables); err != nil || tables != 3 {
		t.Errorf("%d of the three tables exist (%v)", tables, err)
	}

	_, err = openWith(t, path, migrations("0001_init.sql", "0003_identity.sql"), false)
	if credbroker.ErrorCode(err) != credbroker.CodeUnavailable || !strings.Contains(err.Error(), "version 5 is newer") {
		t.Errorf("a build without migration 5 on a database that has it: %v, want CodeUnavailable naming version 5", err)
	}
	if got := recorded(); !reflect.DeepEqual(got, []int{1, 3, 5}) {
		t.Errorf("a refused open changed schema_version to %v", got)
	}
}
