package broker

import (
	"context"
	"testing"

	"github.com/credbroker/credbroker"
)

// TestProvidedNeedsTheKeyAgain: an admin token cannot read a stored base
// key by turning its connector into a provided one (which hands the key
// out as it is): that change needs the key given again.
func TestProvidedNeedsTheKeyAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	spec := credbroker.ConnectorSpec{Name: "deploy", Region: "us-east-1", AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: baseSecret,
		RoleARN: "arn:aws:iam::123456789012:role/deploy", Scope: credbroker.Scope{Kind: credbroker.ScopeSystem}}
	info, err := e.svc.CreateConnector(ctx, e.admin, spec)
	if err != nil {
		t.Fatal(err)
	}
	up := credbroker.ConnectorSpec{Name: "deploy", Region: "us-east-1", Principal: credbroker.PrincipalProvided,
		Scope: credbroker.Scope{Kind: credbroker.ScopeSystem}, Revision: info.Revision}
	_, err = e.svc.UpdateConnector(ctx, e.admin, "deploy", up)
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeInvalid || e.Field != "secret_access_key" {
		t.Fatalf("turning a connector provided without its key: %v, want invalid secret_access_key", err)
	}
	res, err := e.svc.Vend(ctx, e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-X"})
	if err != nil {
		t.Fatal(err)
	}
	if res.SecretAccessKey == baseSecret {
		t.Fatal("the stored base key was vended")
	}
	// With the key given again, the change is made.
	up.SecretAccessKey = baseSecret
	if _, err := e.svc.UpdateConnector(ctx, e.admin, "deploy", up); err != nil {
		t.Fatalf("turning a connector provided with its key: %v", err)
	}
}
