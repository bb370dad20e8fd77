package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// Two brokers on one PostgreSQL database serve vends at the same time and
// keep one valid audit chain; a change made through one shows on the other.
func TestTwoBrokersOnPostgres(t *testing.T) {
	w := newWorld(t, false)
	dsn := testpeers.Postgres(t)
	keyFile := filepath.Join(dataDir(w, "keys"), "master.key")
	common := []string{"--database-url", dsn, "--key-file", keyFile}
	a := w.startBroker(dataDir(w, "a"), common...)
	admin := w.adminToken(dataDir(w, "a"), common...)
	b := w.startBroker(dataDir(w, "b"), common...)

	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(a.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", w.minio.Endpoint, "--default-duration", "15m"), "connector create")
	r := a.adminShown(admin, "token", "create", "--role", "agent", "--name", "agents", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)

	var wg sync.WaitGroup
	var fails atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := a
			if i%2 == 1 {
				br = b
			}
			st, _, e := br.vend(agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(i % 20)})
			if st != 200 {
				fails.Add(1)
				t.Logf("vend %d: %d %v", i, st, e)
			}
		}()
	}
	wg.Wait()
	if fails.Load() != 0 {
		t.Fatalf("%d of 200 vends failed", fails.Load())
	}
	for _, br := range []*brokerProc{a, b} {
		r := br.admin(admin, "", "audit", "verify")
		w.expectOK(r, "audit verify")
		if !strings.Contains(r.stdout, "verified") {
			t.Fatalf("verify: %s", r.stdout)
		}
	}
	var recs struct{ Records []credbroker.AuditRecord }
	if st := a.api(http.MethodGet, "/v1/audit?action=vend&limit=10000", admin, nil, &recs); st != 200 || len(recs.Records) != 200 {
		t.Fatalf("vend records: %d %d", st, len(recs.Records))
	}

	// A token revoked through one broker stops working on the other within
	// the token cache's two seconds.
	rr := a.adminShown(admin, "token", "create", "--role", "agent", "--name", "short-lived", "--plans", "OPS-*")
	w.expectOK(rr, "token")
	short := strings.TrimSpace(rr.stdout)
	w.secret(short)
	if st, _, e := b.vend(short, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "x"}); st != 200 {
		t.Fatalf("vend on b: %d %v", st, e)
	}
	id, _, _ := strings.Cut(short, ".")
	w.expectOK(a.admin(admin, "", "token", "revoke", id), "revoke")
	time.Sleep(2500 * time.Millisecond)
	if st, _, _ := b.vend(short, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "x"}); st != http.StatusUnauthorized {
		t.Fatalf("revoked token on the other broker: %d", st)
	}
}
