package storetest

import (
	"errors"
	"slices"
	"testing"

	"github.com/credbroker/credbroker"
)

// sealedFixture stores connectors and variables with sealed secrets under
// key versions 1 and 2, a plain variable and a connector with no secret,
// and the key check under version 1.
func sealedFixture(t *testing.T, s credbroker.Store) {
	t.Helper()
	ctx := t.Context()
	old := sampleConnector("c-old", "old")
	current := sampleConnector("c-current", "current")
	current.Secret = credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2:current")}
	none := sampleConnector("c-none", "none")
	none.Base, none.Secret = credbroker.BaseDefault, credbroker.Sealed{}
	for _, c := range []*credbroker.Connector{old, current, none} {
		must(t, s.CreateConnector(ctx, c, nil))
	}
	for _, v := range []*credbroker.Variable{
		{Plan: "OPS-A", Name: "password", Secret: true, Sealed: credbroker.Sealed{KeyVersion: 1, Blob: []byte("v1:password")}, UpdatedAt: t0},
		{Name: "token", Secret: true, Sealed: credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2:token")}, UpdatedAt: t0},
		{Plan: "OPS-A", Name: "region", Value: "eu-west-1", UpdatedAt: t0},
	} {
		must(t, s.SetVariable(ctx, v, nil))
	}
	must(t, s.InitKeyCheck(ctx, credbroker.Sealed{KeyVersion: 1, Blob: []byte("v1:keycheck")}))
}

// rewrapTo2 re-wraps under key version 2 by prefixing the blob.
func rewrapTo2(ref credbroker.SecretRef, sealed credbroker.Sealed) (credbroker.Sealed, error) {
	return credbroker.Sealed{KeyVersion: 2, Blob: append([]byte("v2<"), sealed.Blob...)}, nil
}

// sealedOf finds the variable (plan, name) and returns its sealed value.
func sealedOf(t *testing.T, s credbroker.Store, plan, name string) credbroker.Sealed {
	t.Helper()
	vs, err := s.ListVariables(t.Context(), plan)
	must(t, err)
	for _, v := range vs {
		if v.Name == name {
			return v.Sealed
		}
	}
	t.Fatalf("no variable %s in plan %q", name, plan)
	return credbroker.Sealed{}
}

func testRewrap(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	sealedFixture(t, s)
	counts, err := s.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "counts before", counts, map[int]int{1: 3, 2: 2})

	var refs []string
	n, err := s.RewrapSecrets(ctx, 2, func(ref credbroker.SecretRef, sealed credbroker.Sealed) (credbroker.Sealed, error) {
		refs = append(refs, ref.String())
		if sealed.KeyVersion >= 2 {
			t.Errorf("%s: asked to re-wrap key version %d", ref, sealed.KeyVersion)
		}
		return rewrapTo2(ref, sealed)
	})
	must(t, err)
	if n != 3 {
		t.Errorf("re-wrapped %d secrets, want 3", n)
	}
	slices.Sort(refs)
	wantEqual(t, "refs", refs, []string{"connector/c-old", "meta/keycheck", "variable/OPS-A/password"})

	counts, err = s.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "counts after", counts, map[int]int{2: 5})
	wantEqual(t, "connector secret", getConnector(t, s, "old").Secret, credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2<sealed\x00c-old")})
	wantEqual(t, "untouched connector secret", getConnector(t, s, "current").Secret, credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2:current")})
	wantEqual(t, "variable secret", sealedOf(t, s, "OPS-A", "password"), credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2<v1:password")})
	kc, err := s.KeyCheck(ctx)
	must(t, err)
	wantEqual(t, "key check", kc, credbroker.Sealed{KeyVersion: 2, Blob: []byte("v2<v1:keycheck")})

	n, err = s.RewrapSecrets(ctx, 2, func(ref credbroker.SecretRef, _ credbroker.Sealed) (credbroker.Sealed, error) {
		t.Errorf("nothing is left to re-wrap, but asked for %s", ref)
		return credbroker.Sealed{}, errBoom
	})
	if n != 0 || err != nil {
		t.Errorf("second pass: %d, %v; want 0, nil", n, err)
	}
}

// testRewrapCAS changes each secret between the moment RewrapSecrets read
// it and the moment it writes: the change must win.
func testRewrapCAS(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	sealedFixture(t, s)
	changedConnector := credbroker.Sealed{KeyVersion: 1, Blob: []byte("changed connector")}
	changedVariable := credbroker.Sealed{KeyVersion: 1, Blob: []byte("changed variable")}
	n, err := s.RewrapSecrets(ctx, 2, func(ref credbroker.SecretRef, sealed credbroker.Sealed) (credbroker.Sealed, error) {
		switch ref.String() {
		case "connector/c-old":
			c := getConnector(t, s, "c-old")
			c.Secret = changedConnector
			must(t, s.UpdateConnector(ctx, c, nil))
		case "variable/OPS-A/password":
			must(t, s.SetVariable(ctx, &credbroker.Variable{Plan: "OPS-A", Name: "password", Secret: true, Sealed: changedVariable, UpdatedAt: t0}, nil))
		}
		return rewrapTo2(ref, sealed)
	})
	must(t, err)
	if n != 1 {
		t.Errorf("re-wrapped %d secrets, want 1 (the key check only)", n)
	}
	wantEqual(t, "connector changed meanwhile", getConnector(t, s, "old").Secret, changedConnector)
	wantEqual(t, "variable changed meanwhile", sealedOf(t, s, "OPS-A", "password"), changedVariable)
	counts, err := s.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "counts", counts, map[int]int{1: 2, 2: 3})
}

func testRewrapError(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	sealedFixture(t, s)
	calls := 0
	n, err := s.RewrapSecrets(ctx, 2, func(ref credbroker.SecretRef, sealed credbroker.Sealed) (credbroker.Sealed, error) {
		calls++
		if calls == 2 {
			return credbroker.Sealed{}, errBoom
		}
		return rewrapTo2(ref, sealed)
	})
	if !errors.Is(err, errBoom) || n != 1 {
		t.Errorf("got %d, %v; want 1 and the error of fn", n, err)
	}
	counts, err := s.CountSealed(ctx)
	must(t, err)
	wantEqual(t, "counts", counts, map[int]int{1: 2, 2: 3})

	// fn returning nothing is refused, not stored.
	n, err = s.RewrapSecrets(ctx, 2, func(credbroker.SecretRef, credbroker.Sealed) (credbroker.Sealed, error) {
		return credbroker.Sealed{}, nil
	})
	wantCode(t, err, credbroker.CodeInvalid)
	if n != 0 {
		t.Errorf("an empty result was counted as re-wrapped")
	}
}

func testKeyCheck(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	_, err := s.KeyCheck(ctx)
	wantCode(t, err, credbroker.CodeNotFound)
	wantCode(t, s.InitKeyCheck(ctx, credbroker.Sealed{}), credbroker.CodeInvalid)
	first := credbroker.Sealed{KeyVersion: 1, Blob: []byte("first")}
	must(t, s.InitKeyCheck(ctx, first))
	wantCode(t, s.InitKeyCheck(ctx, credbroker.Sealed{KeyVersion: 2, Blob: []byte("second")}), credbroker.CodeConflict)
	got, err := s.KeyCheck(ctx)
	must(t, err)
	wantEqual(t, "key check", got, first)
}

// testClosed checks that a closed store fails with CodeUnavailable.
func testClosed(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	must(t, s.CreateConnector(ctx, sampleConnector("c-1", "one"), nil))
	must(t, s.Close())
	_, err := s.GetConnector(ctx, "one")
	wantCode(t, err, credbroker.CodeUnavailable)
	_, _, err = s.ConnectorRevision(ctx, "one")
	wantCode(t, err, credbroker.CodeUnavailable)
	_, err = s.ConnectorGeneration(ctx)
	wantCode(t, err, credbroker.CodeUnavailable)
	wantCode(t, s.AppendAudit(ctx, rec(credbroker.ActionVend)), credbroker.CodeUnavailable)
	_, err = s.ListAudit(ctx, credbroker.AuditFilter{})
	wantCode(t, err, credbroker.CodeUnavailable)
}
