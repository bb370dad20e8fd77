package broker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// countingStore counts the connector reads a broker makes, and can fail
// the revision and generation checks.
type countingStore struct {
	credbroker.Store
	gets, revs, gens atomic.Int64
	revErr, genErr   error
}

func (s *countingStore) ConnectorGeneration(ctx context.Context) (int64, error) {
	s.gens.Add(1)
	if s.genErr != nil {
		return 0, s.genErr
	}
	return s.Store.ConnectorGeneration(ctx)
}

func (s *countingStore) GetConnector(ctx context.Context, ref string) (*credbroker.Connector, error) {
	s.gets.Add(1)
	return s.Store.GetConnector(ctx, ref)
}

func (s *countingStore) ConnectorRevision(ctx context.Context, ref string) (string, int64, error) {
	s.revs.Add(1)
	if s.revErr != nil {
		return "", 0, s.revErr
	}
	return s.Store.ConnectorRevision(ctx, ref)
}

// TestConnectorCacheAcrossBrokers: broker A keeps its opened connector and
// only checks the store once ConnectorTTL has passed, by the connector
// generation while no connector changed and by the connector's revision
// otherwise; changes, renames and deletions made on broker B (same store)
// show on A within the TTL.
func TestConnectorCacheAcrossBrokers(t *testing.T) {
	b := newEnv(t) // broker B, which administers
	ctx := context.Background()
	cs := &countingStore{Store: b.st}
	a, err := New(Options{Store: cs, Keys: b.ring, Issuer: b.iss, Now: b.clk.Now, ConnectorTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	agent, err := a.Authenticate(ctx, b.agentS)
	if err != nil {
		t.Fatal(err)
	}
	in := b.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-A", Build: "1"}
	vend := func(step string) *credbroker.VendResult {
		t.Helper()
		res, err := a.Vend(ctx, agent, req)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return res
	}
	reads := func(step string, gets, revs, gens int64) {
		t.Helper()
		if g, r, n := cs.gets.Swap(0), cs.revs.Swap(0), cs.gens.Swap(0); g != gets || r != revs || n != gens {
			t.Errorf("%s: %d full reads, %d revision checks and %d generation reads, want %d, %d and %d", step, g, r, n, gets, revs, gens)
		}
	}

	first := vend("first vend")
	reads("first vend", 1, 0, 0)
	vend("within the TTL")
	reads("within the TTL", 0, 0, 0)
	b.clk.Add(2 * time.Second)
	if got := vend("after the TTL, unchanged"); got.AccessKeyID != first.AccessKeyID {
		t.Errorf("an unchanged connector got a new session: %s, want %s", got.AccessKeyID, first.AccessKeyID)
	}
	// No generation was known when it was read: its revision is checked.
	reads("after the TTL, unchanged", 0, 1, 1)
	vend("within the TTL of the check")
	reads("within the TTL of the check", 0, 0, 0)
	b.clk.Add(2 * time.Second)
	vend("after the TTL, still unchanged")
	reads("after the TTL, still unchanged", 0, 0, 1)
	// A change to another connector moves the generation: the revision
	// is checked again, and the generation serves again after that.
	b.connector(t, credbroker.ConnectorSpec{Name: "unrelated"})
	b.clk.Add(2 * time.Second)
	if got := vend("after an unrelated change"); got.AccessKeyID != first.AccessKeyID {
		t.Errorf("an unrelated change gave a new session: %s, want %s", got.AccessKeyID, first.AccessKeyID)
	}
	reads("after an unrelated change", 0, 1, 1)
	b.clk.Add(2 * time.Second)
	vend("after the TTL once more")
	reads("after the TTL once more", 0, 0, 1)

	// A change on B shows on A once the TTL has passed.
	spec := in.ConnectorSpec
	spec.AccessKeyID = ""
	spec.MaxDurationSeconds = 7200
	if _, err := b.svc.UpdateConnector(ctx, b.admin, "deploy", spec); err != nil {
		t.Fatal(err)
	}
	b.clk.Add(1500 * time.Millisecond)
	changed := vend("after a change on B")
	reads("after a change on B", 1, 1, 1)
	if changed.AccessKeyID == first.AccessKeyID {
		t.Error("a changed connector still served the session of its old revision")
	}

	// A name that moves to another connector finds that one.
	b.clk.Add(2 * time.Second)
	spec.Name, spec.Revision = "deploy-old", 0
	if _, err := b.svc.UpdateConnector(ctx, b.admin, "deploy", spec); err != nil {
		t.Fatal(err)
	}
	other := b.connector(t, credbroker.ConnectorSpec{Name: "deploy"})
	if moved := vend("after the name moved"); moved.ConnectorID != other.ID || moved.ConnectorID == in.ID {
		t.Errorf("after the name moved, vend used connector %s, want %s", moved.ConnectorID, other.ID)
	}
	reads("after the name moved", 1, 1, 1)

	// A connector deleted on B stops vending on A once the TTL has passed,
	// and stays gone.
	b.clk.Add(2 * time.Second)
	if err := b.svc.DeleteConnector(ctx, b.admin, "deploy"); err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"after the delete", "again after the delete"} {
		if _, err := a.Vend(ctx, agent, req); code(err) != credbroker.CodeNotFound {
			t.Fatalf("%s: %v, want CodeNotFound", step, err)
		}
	}
	reads("after the delete", 1, 1, 1)

	// A store that cannot answer the checks refuses the vend rather than
	// serve a connector it cannot confirm.
	req.Connector = "deploy-old"
	vend("the renamed connector")
	b.clk.Add(2 * time.Second)
	down := credbroker.Errorf(credbroker.CodeUnavailable, "", "store is unavailable")
	cs.revErr, cs.genErr = down, down
	if _, err := a.Vend(ctx, agent, req); code(err) != credbroker.CodeUnavailable {
		t.Fatalf("checks failing: %v, want CodeUnavailable", err)
	}
	cs.revErr, cs.genErr = nil, nil
	vend("the store answers again")
}
