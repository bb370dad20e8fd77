package migrate

import (
	"errors"
	"testing"
	"testing/fstest"
)

func TestLoadAndPending(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_init.sql":  {Data: []byte("one")},
		"m/0002_gen.sql":   {Data: []byte("two")},
		"m/0006_tags.sql":  {Data: []byte("six")},
		"m/README":         {Data: []byte("not a migration")},
		"m/0010_later.sql": {Data: []byte("ten")},
	}
	ms, err := Load(fsys, "m/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, m := range ms {
		got = append(got, m.Version)
	}
	if len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 6 || got[3] != 10 || ms[2].SQL != "six" {
		t.Fatalf("loaded %v", got)
	}
	for _, c := range []struct {
		applied []int
		want    []int
	}{
		{nil, []int{1, 2, 6, 10}},
		{[]int{1, 2}, []int{6, 10}},
		{[]int{1, 2, 10}, []int{6}}, // a migration that arrived after a later one
		{[]int{1, 2, 6, 10}, nil},
	} {
		p, err := Pending(ms, c.applied)
		if err != nil {
			t.Fatal(err)
		}
		var vs []int
		for _, m := range p {
			vs = append(vs, m.Version)
		}
		if len(vs) != len(c.want) {
			t.Errorf("applied %v: pending %v, want %v", c.applied, vs, c.want)
			continue
		}
		for i := range vs {
			if vs[i] != c.want[i] {
				t.Errorf("applied %v: pending %v, want %v", c.applied, vs, c.want)
			}
		}
	}
	var unknown *UnknownError
	if _, err := Pending(ms, []int{1, 2, 3}); !errors.As(err, &unknown) || unknown.Version != 3 || unknown.Latest != 10 {
		t.Fatalf("a database with migration 3: %v", err)
	}
	if _, err := Load(fstest.MapFS{"m/0001_a.sql": {}, "m/0001_b.sql": {}}, "m/*.sql"); err == nil {
		t.Fatal("two migrations numbered 1 were accepted")
	}
	if _, err := Load(fstest.MapFS{"m/init.sql": {}}, "m/*.sql"); err == nil {
		t.Fatal("a migration without a number was accepted")
	}
}
