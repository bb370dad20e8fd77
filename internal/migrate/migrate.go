// Package migrate plans the schema migrations of a store: the numbered
// SQL files the store embeds, and which of them a database has not had
// yet. The stores run them; this package only reads and orders them.
//
// A migration is a file NNNN_what.sql. Numbers are distinct and positive
// but need not be contiguous: numbers may be kept for changes made on
// other branches, and a database gets every migration it has not had, in
// order of their numbers, whenever they arrive. A database that has had a
// migration this program does not know was written by a newer (or another)
// version, and is refused.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one numbered schema change.
type Migration struct {
	Version int
	SQL     string
}

// Load returns the migrations in fsys whose names match pattern (as
// fs.Glob takes it), in order of their numbers.
func Load(fsys fs.FS, pattern string) ([]Migration, error) {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, name := range names {
		base := path.Base(name)
		n, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("migration %s: no leading number", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: n, SQL: string(b)})
	}
	if len(ms) == 0 {
		return nil, fmt.Errorf("no migrations match %s", pattern)
	}
	slices.SortFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migration %d is numbered twice", ms[i].Version)
		}
	}
	return ms, nil
}

// UnknownError is the error of Pending for a database that has had a
// migration this program does not know.
type UnknownError struct {
	Version int // the first unknown version the database has had
	Latest  int // the newest version this program knows
}

// Error says which version is not known.
func (e *UnknownError) Error() string {
	return fmt.Sprintf("the store has schema version %d, which this credbroker does not know: it was written by a newer one (this one knows versions up to %d)", e.Version, e.Latest)
}

// Pending returns the migrations of ms (in order, as Load returns them)
// whose versions are not in applied, or an *UnknownError when applied
// holds a version ms does not have.
func Pending(ms []Migration, applied []int) ([]Migration, error) {
	known := make(map[int]bool, len(ms))
	for _, m := range ms {
		known[m.Version] = true
	}
	have := make(map[int]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, &UnknownError{Version: v, Latest: ms[len(ms)-1].Version}
		}
		have[v] = true
	}
	var out []Migration
	for _, m := range ms {
		if !have[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
