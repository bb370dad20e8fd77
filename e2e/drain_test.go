package e2e

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/sqlite"
)

// stsGate stands between the broker and its STS and holds every call
// until released, saying when each one arrives.
type stsGate struct {
	URL     string
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

// open lets every held call and every later one through.
func (g *stsGate) open() { g.once.Do(func() { close(g.release) }) }

func newSTSGate(t *testing.T, target string) *stsGate {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &stsGate{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(u) // keeps the signed Host header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.arrived <- struct{}{}
		select {
		case <-g.release:
		case <-r.Context().Done():
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(g.open) // before srv.Close, which waits for the held calls
	g.URL = srv.URL
	return g
}

// slowConnector adds the connector "slow", like "deploy" but with its STS
// behind gate.
func (s *site) slowConnector(t *testing.T, gate *stsGate) {
	t.Helper()
	spec := credbroker.ConnectorSpec{
		Name: "slow", Region: "us-east-1", RoleARN: roleARN, AccessKeyID: s.w.minio.RootUser,
		SecretAccessKey: s.w.minio.RootPassword, Policy: readAlpha, STSEndpoints: []string{gate.URL},
		DefaultDurationSeconds: 900, Scope: credbroker.Scope{Kind: credbroker.ScopeSystem},
	}
	if st := s.b.api(http.MethodPost, "/v1/connectors", s.admin, spec, nil); st != http.StatusCreated {
		t.Fatalf("connector create slow: %d", st)
	}
}

// waitExit waits for the broker process to end by itself and returns how
// it ended; the outcome stays for the harness's own stop.
func (b *brokerProc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-b.done:
		b.done <- err
		return err
	case <-time.After(2 * time.Minute): // a hang guard, not a measure
		t.Fatalf("the broker did not exit\n%s", b.log.String())
		return nil
	}
}

// refusesConnections waits until nothing listens at the broker's own
// address any more (a hang guard bounds it).
func (b *brokerProc) refusesConnections(t *testing.T) {
	t.Helper()
	addr := strings.TrimPrefix(b.direct, "http://")
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil && errors.Is(err, syscall.ECONNREFUSED) {
			return
		}
		if c != nil {
			c.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker still accepts connections after SIGTERM: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// vendAnswer is how a raw vend ended: its status, or the transport's
// error (the broker hung up, or the client did).
type vendAnswer struct {
	st  int
	err error
}

// rawVend asks for a vend of the "slow" connector straight at the broker
// with ctx, and may be called off the test's goroutine (it never fails the
// test).
func (s *site) rawVend(ctx context.Context, build string) vendAnswer {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.b.direct+"/v1/credentials",
		strings.NewReader(`{"connector":"slow","plan":"OPS-DRAIN","build":"`+build+`"}`))
	if err != nil {
		return vendAnswer{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+s.agent)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return vendAnswer{err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	s.w.record("raw vend "+build, body)
	return vendAnswer{st: resp.StatusCode}
}

// TestSIGTERMDrains: SIGTERM while vends wait for STS, one of them with
// its client gone: the broker stops accepting at once, finishes every
// vend (the answered ones get their credentials), writes every audit
// record, and exits 0.
func TestSIGTERMDrains(t *testing.T) {
	s := newSiteWith(t, []string{"--drain-timeout", "60s"})
	w := s.w
	gate := newSTSGate(t, s.proxy.URL)
	s.slowConnector(t, gate)

	const answered = 3
	type outcome struct {
		st  int
		res *credbroker.VendResult
	}
	results := make(chan outcome, answered)
	var wg sync.WaitGroup
	for i := range answered {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, res, _ := s.b.vend(s.agent, credbroker.VendRequest{Connector: "slow", Plan: "OPS-DRAIN", Build: string(rune('a' + i))})
			results <- outcome{st, res}
		}()
	}
	// One more whose client hangs up while it waits for STS.
	hungUp := make(chan vendAnswer, 1)
	ctx, hangUp := context.WithCancel(context.Background())
	go func() { hungUp <- s.rawVend(ctx, "gone") }()
	for range answered + 1 {
		<-gate.arrived
	}
	hangUp()
	if a := <-hungUp; a.err == nil {
		t.Fatalf("the hung-up request was answered: %d\n%s", a.st, s.b.log.String())
	}

	if err := s.b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.b.refusesConnections(t)
	gate.open()
	wg.Wait()
	close(results)
	if len(results) != answered {
		t.Fatalf("%d of the %d vends in flight at SIGTERM came back", len(results), answered)
	}
	for r := range results {
		if r.st != http.StatusOK || r.res == nil || r.res.AccessKeyID == "" {
			t.Fatalf("a vend in flight at SIGTERM: %d", r.st)
		}
	}
	if err := s.b.waitExit(t); err != nil {
		t.Fatalf("the broker exited with %v after SIGTERM, want 0\n%s", err, s.b.log.String())
	}
	log := s.b.log.String()
	for _, want := range []string{"draining: no new connections", "drained: no vend in flight"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log does not say %q:\n%s", want, log)
		}
	}

	// Every vend is in the trail, the hung-up one included, and the chain
	// verifies.
	st, err := sqlite.Open(context.Background(), filepath.Join(s.b.dataDir, "credbroker.db"), func(o *sqlite.Options) { o.ReadOnly = true })
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListAudit(context.Background(), credbroker.AuditFilter{Plan: "OPS-DRAIN"})
	if err != nil {
		t.Fatal(err)
	}
	builds := map[string]string{}
	for _, r := range recs {
		builds[r.Build] = r.Outcome + " " + r.Detail
	}
	for _, b := range []string{"a", "b", "c", "gone"} {
		if builds[b] != "granted issued" {
			t.Errorf("build %s: audit says %q, want granted issued (all: %v)", b, builds[b], builds)
		}
	}
	r := w.cbr(w.env(), "audit", "verify", "--local", "--data-dir", s.b.dataDir)
	w.expectOK(r, "audit verify --local after the drain")
}

// TestSIGTERMDrainIsBounded: a vend still waiting for STS when the drain
// timeout ends does not keep the broker: it exits 0, and the vend's
// client gets no credentials.
func TestSIGTERMDrainIsBounded(t *testing.T) {
	s := newSiteWith(t, []string{"--drain-timeout", "1s"})
	gate := newSTSGate(t, s.proxy.URL)
	s.slowConnector(t, gate)
	status := make(chan vendAnswer, 1)
	go func() { status <- s.rawVend(context.Background(), "stuck") }()
	<-gate.arrived
	if err := s.b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := s.b.waitExit(t)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("the broker exited with %v, want 0\n%s", err, s.b.log.String())
	}
	gate.open()
	if a := <-status; a.err == nil && a.st == http.StatusOK {
		t.Fatal("a vend cut off by the drain timeout was answered with credentials")
	}
	if !strings.Contains(s.b.log.String(), "drain timed out") && !strings.Contains(s.b.log.String(), "shutdown timed out") {
		t.Errorf("the log does not say the drain timed out:\n%s", s.b.log.String())
	}
}
