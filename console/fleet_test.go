package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/console"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/seal"
)

// fleetRigs are n brokers with their consoles on one PostgreSQL database,
// each console keeping its sessions in it (FleetSessions), as serve does
// for a fleet. Their clock is the real one: the database's sweep judges
// sessions by its own.
func fleetRigs(t *testing.T, n int) []*rig {
	t.Helper()
	ctx := context.Background()
	dsn := testpeers.Postgres(t)
	key, _ := seal.GenerateKey()
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	clk := &testClock{t: time.Now()}
	var rigs []*rig
	for range n {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc, err := broker.New(broker.Options{Store: st, Keys: ring, Issuer: &stsStandIn{now: clk.Now}, Now: clk.Now, RefusalBurst: -1, Fleet: st.Fleet(),
			Partition: func(r string) (string, error) { p, err := awscreds.LookupRegion(r); return p.ID, err }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { svc.Close() })
		r := &rig{t: t, svc: svc, clk: clk}
		r.serve(0, console.NewFleetSessions(st.Fleet(), console.DefaultIdleTimeout, console.DefaultLifetime))
		rigs = append(rigs, r)
	}
	nt, err := rigs[0].svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "alice", Role: credbroker.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rigs {
		r.admin = nt.Secret
		if r.adminTok, err = r.svc.Authenticate(ctx, nt.Secret); err != nil {
			t.Fatal(err)
		}
	}
	return rigs
}

// A console session opened at one broker of a fleet is served by the
// others, as behind a load balancer without sticky sessions: its pages,
// its forms (the CSRF token is the session's, wherever it was opened), the
// notice a form leaves for the next page, and its end at sign-out.
func TestFleetConsoleSessions(t *testing.T) {
	rigs := fleetRigs(t, 2)
	b1, tok := rigs[0].signedIn()
	id := b1.cookie(sessionCookie)
	b2 := rigs[1].browser()
	b2.setCookie(sessionCookie, id)
	if p := b2.get("/console/"); p.status != http.StatusOK || !strings.Contains(p.body, "alice") {
		t.Fatalf("the session opened at broker 1, at broker 2: %d %s\n%s", p.status, p.location(), p.body)
	}
	// A form at broker 2 with the CSRF token of broker 1's page; its
	// notice shows at broker 1.
	if p := b2.post("/console/variables", url.Values{"csrf": {tok}, "name": {"region"}, "value": {"eu-west-1"}}); p.status != http.StatusSeeOther {
		t.Fatalf("a form at broker 2: %d\n%s", p.status, p.body)
	}
	if p := b1.get("/console/variables"); !strings.Contains(p.body, "Variable region (global) saved.") {
		t.Fatalf("the notice of broker 2's form is not on broker 1's next page:\n%s", p.body)
	}
	// A wrong CSRF token is refused at either broker.
	if p := b2.post("/console/variables", url.Values{"csrf": {tok + "x"}, "name": {"region"}, "value": {"us-east-1"}}); p.status != http.StatusForbidden {
		t.Fatalf("a form with another CSRF token: %d", p.status)
	}
	// Signed out at broker 2: ended at broker 1 too.
	if p := b2.post("/console/signout", url.Values{"csrf": {tok}}); p.status != http.StatusSeeOther || p.location() != "/console/signin?ended=signout" {
		t.Fatalf("sign-out at broker 2: %d %s", p.status, p.location())
	}
	if p := b1.get("/console/"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/console/signin") {
		t.Fatalf("broker 1 after the sign-out at broker 2: %d %s", p.status, p.location())
	}
	// A session ID nobody issued opens nothing.
	b3 := rigs[1].browser()
	b3.setCookie(sessionCookie, strings.Repeat("A", len(id)))
	if p := b3.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("an invented session ID: %d", p.status)
	}
	for _, r := range rigs {
		if strings.Contains(r.logs(), id) || strings.Contains(r.logs(), r.admin) {
			t.Fatal("a session ID or the admin token is in a broker's log")
		}
	}
}
