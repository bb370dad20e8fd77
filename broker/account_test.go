package broker

import (
	"context"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

// A connector's account guard: a session of another account, or of one
// STS did not name, never leaves the broker, and the audit names both.
func TestConnectorAccountGuard(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.connector(t, credbroker.ConnectorSpec{Name: "deploy", AllowedAccountIDs: []string{"123456789012"}})
	vend := func() (*credbroker.VendResult, error) {
		return e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"})
	}

	e.iss.account = "123456789012"
	res, err := vend()
	if err != nil || res.AccountID != "123456789012" {
		t.Fatalf("allowed: %+v, %v", res, err)
	}
	if !e.iss.last().NeedAccount {
		t.Fatal("the issue request did not ask for the account")
	}

	// The same connector, its session now in another account (a new
	// session: the next build).
	e.iss.account = "999999999999"
	_, err = e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "2"})
	want := "account 999999999999 of connector deploy's session is not an allowed account (123456789012)"
	if ae := credbroker.AsError(err); ae == nil || ae.Code != credbroker.CodeForbidden || ae.Field != "allowed_account_ids" || ae.Message != want {
		t.Fatalf("other account: %v", err)
	}
	if strings.Contains(err.Error(), "issued-secret") {
		t.Fatalf("the refusal shows the session: %v", err)
	}
	e.iss.account = ""
	_, err = e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "3"})
	if code(err) != credbroker.CodeUnprocessable || !strings.Contains(err.Error(), "the account of connector deploy's session is not known") {
		t.Fatalf("unknown account: %v", err)
	}

	recs, _ := e.st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend, Outcome: credbroker.OutcomeRefused})
	if len(recs) != 2 || recs[0].Build != "2" || recs[0].ErrorCode != string(credbroker.CodeForbidden) || !strings.Contains(recs[0].Detail, want) ||
		recs[0].AccessKeyID != "" || recs[0].Connector != "deploy" {
		t.Fatalf("audit: %+v", recs)
	}

	// A connector without a guard asks STS for nothing more.
	e.connector(t, credbroker.ConnectorSpec{Name: "open"})
	if _, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "open", Plan: "OPS-DEPLOY"}); err != nil || e.iss.last().NeedAccount {
		t.Fatalf("no guard: %v, need account %v", err, e.iss.last().NeedAccount)
	}
}

// The guard is checked when a connector is saved: a role ARN of another
// account, the mistyped ARN the guard is for, is refused at once.
func TestConnectorAccountGuardValidation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := credbroker.ConnectorSpec{Name: "deploy", Region: "us-east-1", RoleARN: "arn:aws:iam::222222222222:role/deploy",
		AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: baseSecret, AllowedAccountIDs: []string{"111111111111"}}
	_, err := e.svc.CreateConnector(ctx, e.admin, spec)
	ae := credbroker.AsError(err)
	if ae == nil || ae.Code != credbroker.CodeUnprocessable || ae.Field != "role_arn" ||
		ae.Message != "account 222222222222 of role ARN arn:aws:iam::222222222222:role/deploy is not an allowed account (111111111111)" {
		t.Fatalf("role of another account: %v", err)
	}
	spec.AllowedAccountIDs = []string{"111111111111", "2222-2222-2222"}
	if _, err := e.svc.CreateConnector(ctx, e.admin, spec); code(err) != credbroker.CodeInvalid || !strings.Contains(err.Error(), "allowed_account_ids[1]") {
		t.Fatalf("bad account: %v", err)
	}
	spec.AllowedAccountIDs = []string{"111111111111", "222222222222"}
	in, err := e.svc.CreateConnector(ctx, e.admin, spec)
	if err != nil || strings.Join(in.AllowedAccountIDs, ",") != "111111111111,222222222222" {
		t.Fatalf("create: %+v, %v", in, err)
	}
	// An update that moves the role out of the guard's accounts is refused
	// too, and changes nothing.
	spec.RoleARN, spec.Revision, spec.SecretAccessKey = "arn:aws:iam::333333333333:role/deploy", in.Revision, ""
	if _, err := e.svc.UpdateConnector(ctx, e.admin, "deploy", spec); code(err) != credbroker.CodeUnprocessable {
		t.Fatalf("update: %v", err)
	}
	got, _ := e.svc.GetConnector(ctx, e.admin, "deploy")
	if got.RoleARN != "arn:aws:iam::222222222222:role/deploy" || got.Revision != in.Revision {
		t.Fatalf("stored %+v", got)
	}
}
