package broker_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/httpapi"
)

// gatedIssuer is STS that holds each call until its gate is closed, and
// says when a call has started.
type gatedIssuer struct {
	benchIssuer
	started chan struct{}
	gate    chan struct{}
}

func (g *gatedIssuer) Issue(ctx context.Context, req credbroker.IssueRequest) (credbroker.Credentials, error) {
	g.started <- struct{}{}
	<-g.gate
	return g.benchIssuer.Issue(ctx, req)
}

// hangupService is the broker as the HTTP server sees it, except that a
// vend of a build other than "7" starts only once the client has hung up
// (the server cancels the request's context when the connection is
// reset), and that it tells when build 7's client has hung up.
type hangupService struct {
	httpapi.Service
	t    *testing.T
	wg   sync.WaitGroup
	gone chan struct{}
	once sync.Once
}

// waitGone waits for ctx to end, at most 30 seconds.
func (h *hangupService) waitGone(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		h.t.Error("the server did not notice the reset connection")
	}
}

func (h *hangupService) Vend(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error) {
	h.wg.Add(1)
	defer h.wg.Done()
	if req.Build == "7" {
		h.once.Do(func() { go func() { h.waitGone(ctx); close(h.gone) }() })
	} else {
		h.waitGone(ctx)
	}
	return h.Service.Vend(ctx, tok, req)
}

// TestVendAuditedWhenClientHangsUp (issue 11, defect 1): a client that
// resets its connection right after sending its request cannot keep its
// vend out of the audit, refused or granted; a session issued while the
// client was gone is recorded as issued, and a later cache hit on it is a
// record of its own. Real HTTP server, real TCP resets, SQLite store,
// group commit as `serve` has it.
func TestVendAuditedWhenClientHangsUp(t *testing.T) {
	ctx := context.Background()
	st, ring := openStore(t, filepath.Join(t.TempDir(), "b.db"))
	iss := &gatedIssuer{started: make(chan struct{}, 4), gate: make(chan struct{})}
	audit := broker.NewGroupAudit(st, 0)
	t.Cleanup(func() { audit.Close() })
	svc, err := broker.New(broker.Options{Store: st, Keys: ring, Issuer: iss, Audit: audit, RefusalBurst: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	admin, _, agent := serviceTokens(t, svc, "*")
	if _, err := svc.CreateConnector(ctx, admin, credbroker.ConnectorSpec{
		Name: "deploy", AccessKeyID: "AKIABENCHBASEKEY0001", SecretAccessKey: strings.Repeat("k", 40),
		Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:role/deploy",
		Scope: credbroker.Scope{Kind: credbroker.ScopeProject, Key: "OPS"},
	}); err != nil {
		t.Fatal(err)
	}

	hs := &hangupService{Service: svc, t: t, gone: make(chan struct{})}
	srv := httpapi.NewServer(hs, httpapi.ServerOptions{AuthFailureRate: -1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	t.Cleanup(func() { stop(); <-served })

	// send writes a whole vend request and resets the connection at once
	// (SO_LINGER 0: the close sends RST, not FIN).
	send := func(plan, build string) {
		t.Helper()
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		body := fmt.Sprintf(`{"connector":"deploy","plan":%q,"build":%q}`, plan, build)
		fmt.Fprintf(conn, "POST /v1/credentials HTTP/1.1\r\nHost: broker\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			agent, len(body), body)
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
	}

	// Thirty vends the connector's scope refuses.
	for i := range 30 {
		send("WEB-SITE", fmt.Sprint(i))
	}
	// A vend whose session STS issues after the client is gone.
	send("OPS-DEPLOY", "7")
	select {
	case <-iss.started:
	case <-time.After(30 * time.Second):
		t.Fatal("the vend of build 7 did not call STS")
	}
	<-hs.gone
	close(iss.gate)
	hs.wg.Wait()

	// Later the same build asks again, and stays for the answer.
	c, err := httpapi.NewClient("http://"+ln.Addr().String(), httpapi.ClientOptions{Token: agent})
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Vend(ctx, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "7"})
	if err != nil {
		t.Fatal(err)
	}
	if n := iss.calls.Load(); n != 1 {
		t.Fatalf("%d STS calls, want the one whose session is served again", n)
	}

	refused, err := st.ListAudit(ctx, credbroker.AuditFilter{Plan: "WEB-SITE"})
	if err != nil {
		t.Fatal(err)
	}
	if len(refused) != 30 {
		t.Errorf("%d of 30 refused vends whose client hung up are in the audit", len(refused))
	}
	for _, r := range refused {
		if r.Outcome != credbroker.OutcomeRefused || r.ErrorCode != string(credbroker.CodeForbidden) {
			t.Errorf("refused vend recorded as %s (%s): %s", r.Outcome, r.ErrorCode, r.Detail)
		}
	}
	granted, err := st.ListAudit(ctx, credbroker.AuditFilter{Plan: "OPS-DEPLOY"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range granted {
		got = append(got, r.Outcome+" "+r.Detail+" "+r.AccessKeyID)
	}
	want := []string{"granted issued " + res.AccessKeyID, "granted cached session " + res.AccessKeyID}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("records of build 7: %q, want %q", got, want)
	}
	if rep, err := broker.VerifyStore(ctx, st); err != nil || !rep.OK() {
		t.Fatalf("chain: %v %+v", err, rep)
	}
}
