package storetest

import (
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

func testTokens(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	admin := &credbroker.Token{ID: "tok-b", Name: "admin", Role: credbroker.RoleAdmin, Hash: []byte{0, 1, 2, 0xff}, CreatedAt: t0}
	agent := &credbroker.Token{
		ID: "tok-a", Name: "agent", Role: credbroker.RoleAgent, Plans: "OPS-*", Hash: []byte("hash-a"),
		CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(24 * time.Hour),
	}
	must(t, s.CreateToken(ctx, admin, nil))
	must(t, s.CreateToken(ctx, agent, nil))
	wantCode(t, s.CreateToken(ctx, &credbroker.Token{ID: "tok-a", Name: "again", Hash: []byte("x")}, nil), credbroker.CodeConflict)
	wantCode(t, s.CreateToken(ctx, &credbroker.Token{ID: "tok-c", Name: "no hash"}, nil), credbroker.CodeInvalid)

	storedToken := func(tok *credbroker.Token) *credbroker.Token {
		out := *tok
		out.CreatedAt, out.ExpiresAt, out.RevokedAt = norm(tok.CreatedAt), norm(tok.ExpiresAt), norm(tok.RevokedAt)
		return &out
	}
	got, err := s.GetToken(ctx, "tok-a")
	must(t, err)
	wantEqual(t, "token", got, storedToken(agent))
	_, err = s.GetToken(ctx, "tok-missing")
	wantCode(t, err, credbroker.CodeNotFound)

	list, err := s.ListTokens(ctx)
	must(t, err)
	wantEqual(t, "tokens oldest first", list, []*credbroker.Token{storedToken(admin), storedToken(agent)})

	// Revoking twice keeps the first time.
	first, second := t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	must(t, s.RevokeToken(ctx, "tok-a", first, nil))
	must(t, s.RevokeToken(ctx, "tok-a", second, nil))
	got, err = s.GetToken(ctx, "tok-a")
	must(t, err)
	if !got.RevokedAt.Equal(norm(first)) {
		t.Errorf("revoked at %v, want the first revocation %v", got.RevokedAt, norm(first))
	}
	if got.Active(t0) {
		t.Error("revoked token is active")
	}
	wantCode(t, s.RevokeToken(ctx, "tok-missing", first, nil), credbroker.CodeNotFound)
	got, err = s.GetToken(ctx, "tok-b")
	must(t, err)
	if !got.RevokedAt.IsZero() {
		t.Errorf("revoking one token revoked another")
	}
}

func testVariables(t *testing.T, s credbroker.Store) {
	ctx := t.Context()
	global := &credbroker.Variable{Name: "region", Value: "eu-west-1", UpdatedAt: t0}
	env := &credbroker.Variable{Plan: "OPS-DEPLOY", Name: "env", Value: "prod", UpdatedAt: t0}
	secret := &credbroker.Variable{
		Plan: "OPS-DEPLOY", Name: "password", Value: "in the clear", Secret: true,
		Sealed: credbroker.Sealed{KeyVersion: 3, Blob: []byte("sealed password")}, UpdatedAt: t0,
	}
	other := &credbroker.Variable{Plan: "OTHER-PLAN", Name: "env", Value: "test", UpdatedAt: t0}
	for _, v := range []*credbroker.Variable{secret, env, other, global} {
		must(t, s.SetVariable(ctx, v, nil))
	}
	wantCode(t, s.SetVariable(ctx, &credbroker.Variable{Name: "leak", Value: "x", Secret: true}, nil), credbroker.CodeInvalid)
	wantCode(t, s.SetVariable(ctx, &credbroker.Variable{Value: "x"}, nil), credbroker.CodeInvalid)

	storedVar := func(v *credbroker.Variable) *credbroker.Variable {
		out := *v
		out.UpdatedAt = norm(v.UpdatedAt)
		if out.Secret {
			out.Value = ""
		} else {
			out.Sealed = credbroker.Sealed{}
		}
		return &out
	}
	list := func(plans ...string) []*credbroker.Variable {
		t.Helper()
		vs, err := s.ListVariables(ctx, plans...)
		must(t, err)
		return vs
	}
	wantEqual(t, "global and plan", list("", "OPS-DEPLOY"), []*credbroker.Variable{storedVar(global), storedVar(env), storedVar(secret)})
	wantEqual(t, "other plan", list("OTHER-PLAN"), []*credbroker.Variable{storedVar(other)})
	if vs := list("NO-PLAN"); len(vs) != 0 {
		t.Errorf("unknown plan lists %d variables", len(vs))
	}
	if vs := list(); len(vs) != 4 {
		t.Errorf("no plan lists %d variables, want all 4", len(vs))
	}

	// Replacing: a new value, and a secret that becomes plain.
	env.Value, env.UpdatedAt = "staging", t0.Add(time.Hour)
	must(t, s.SetVariable(ctx, env, nil))
	plain := &credbroker.Variable{Plan: "OPS-DEPLOY", Name: "password", Value: "public now", UpdatedAt: t0.Add(time.Hour)}
	must(t, s.SetVariable(ctx, plain, nil))
	wantEqual(t, "after replace", list("OPS-DEPLOY"), []*credbroker.Variable{storedVar(env), storedVar(plain)})

	must(t, s.DeleteVariable(ctx, "OPS-DEPLOY", "env", nil))
	wantCode(t, s.DeleteVariable(ctx, "OPS-DEPLOY", "env", nil), credbroker.CodeNotFound)
	wantCode(t, s.DeleteVariable(ctx, "", "missing", nil), credbroker.CodeNotFound)
	wantEqual(t, "after delete", list("", "OPS-DEPLOY"), []*credbroker.Variable{storedVar(global), storedVar(plain)})
}
