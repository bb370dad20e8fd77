package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// TestActiveToken: a session's token is found by ID while it is active,
// and revocation or expiry ends it as it ends the token itself.
func TestActiveToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	got, err := e.svc.ActiveToken(ctx, e.admin.ID)
	if err != nil || got.ID != e.admin.ID || got.Role != credbroker.RoleAdmin {
		t.Fatalf("ActiveToken(admin) = %+v, %v", got, err)
	}
	for _, id := range []string{"", "tok_nothex", "tok_0000000000000000"} {
		if _, err := e.svc.ActiveToken(ctx, id); code(err) != credbroker.CodeUnauthorized {
			t.Errorf("ActiveToken(%q): %v", id, err)
		}
	}
	nt, _ := e.svc.CreateToken(ctx, e.admin, credbroker.TokenSpec{Name: "short", Role: credbroker.RoleAdmin, ExpiresInSeconds: 60})
	if _, err := e.svc.ActiveToken(ctx, nt.ID); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(61 * time.Second)
	if _, err := e.svc.ActiveToken(ctx, nt.ID); code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired: %v", err)
	}
	if err := e.svc.RevokeToken(ctx, e.admin, e.agent.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.ActiveToken(ctx, e.agent.ID); code(err) != credbroker.CodeUnauthorized || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("revoked: %v", err)
	}
}

// TestHealth: key versions, sealed counts and the audit head, for admins
// only.
func TestHealth(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	if _, err := e.svc.Health(ctx, e.agent); code(err) != credbroker.CodeForbidden {
		t.Fatalf("agent: %v", err)
	}
	h, err := e.svc.Health(ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	seq, hash, _ := e.st.AuditHead(ctx)
	if h.StoreError != "" || h.ActiveKeyVersion != 1 || len(h.KeyVersions) != 1 || h.SealedByVersion[1] < 1 ||
		h.AuditHeadSeq != seq || h.AuditHeadHash != hash || seq == 0 {
		t.Fatalf("health %+v, head %d %s", h, seq, hash)
	}
}

// TestTestConnector: an admin's test vend obeys the connector's scope,
// is audited under the admin's token ID, and agents cannot use it.
func TestTestConnector(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"}})
	if _, err := e.svc.TestConnector(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A"}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("agent: %v", err)
	}
	res, err := e.svc.TestConnector(ctx, e.admin, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1", Task: "console-test"})
	if err != nil || res.AccessKeyID == "" || res.Expiration.IsZero() {
		t.Fatalf("test vend: %+v, %v", res, err)
	}
	if _, err := e.svc.TestConnector(ctx, e.admin, credbroker.VendRequest{Connector: "deploy", Plan: "WEB-A"}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("out of scope: %v", err)
	}
	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend})
	if len(recs) != 2 || recs[0].TokenID != e.admin.ID || recs[0].Outcome != credbroker.OutcomeGranted || recs[0].Task != "console-test" ||
		recs[1].Outcome != credbroker.OutcomeRefused || recs[1].TokenID != e.admin.ID {
		t.Fatalf("audit %+v", recs)
	}
	if _, err := e.svc.AdminConsole(ctx, e.agent, credbroker.ConsoleRequest{Connector: "deploy", Plan: "OPS-A"}); code(err) != credbroker.CodeForbidden {
		t.Fatalf("agent console: %v", err)
	}
}
