package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// The storage tests put the embedded store on a file system of its own
// and take away what a store needs: space, then the right to write. The
// broker must refuse vends and admin changes with 503 `unavailable` and
// a clear message (no credentials leave it), damage nothing already
// stored, and, once space returns, serve again by itself.
//
// Both need root, as the test command and CI run: a full disk is a tmpfs
// mounted with a small size, filled by the test (a real ENOSPC from the
// kernel, no hook in the broker); a read-only store is an ext4 file system
// on a loop device mounted with errors=remount-ro, whose error is raised
// through /sys/fs/ext4/DEV/trigger_fs_error: the kernel then turns it
// read-only under the running broker, open files and all, exactly as it
// does when a disk fails. (A plain `mount -o remount,ro` is refused while
// the broker holds the database open for writing, and root ignores file
// modes.)

// storeEnv is one broker on a store in a file system the test controls.
type storeEnv struct {
	w      *world
	b      *brokerProc
	dir    string // data directory
	admin  string
	agent  string
	client *http.Client
	vends  []ackedVend // acknowledged vends
	seq    int
}

// newStoreEnv starts a broker whose data directory is dir, with a
// connector on MinIO, an agent token and a secret variable, and vends once.
func newStoreEnv(t *testing.T, w *world, dir string) *storeEnv {
	t.Helper()
	e := &storeEnv{w: w, dir: dir, client: &http.Client{Timeout: 30 * time.Second}}
	e.b = w.startBroker(dir)
	e.admin = w.adminToken(dir)
	e.provision(t)
	if st, body := e.call(http.MethodPut, "/v1/variables/dbPassword", e.admin, map[string]any{"value": "storage-test-db-password-0123", "secret": true}, nil); !is2xx(st) {
		t.Fatalf("variable set: %d %s", st, body)
	}
	w.secret("storage-test-db-password-0123")
	if st, body := e.vend(); st != http.StatusOK {
		t.Fatalf("first vend: %d %s", st, body)
	}
	return e
}

// provision creates, with e.admin, the connector "deploy" on MinIO (system
// scope, read-only on the alpha bucket) and an agent token for OPS-*, which
// becomes e.agent.
func (e *storeEnv) provision(t *testing.T) {
	t.Helper()
	spec := credbroker.ConnectorSpec{
		Name: "deploy", Region: "us-east-1", RoleARN: roleARN, AccessKeyID: e.w.minio.RootUser,
		SecretAccessKey: e.w.minio.RootPassword, Policy: readAlpha, STSEndpoints: []string{e.w.minio.Endpoint},
		DefaultDurationSeconds: 900, Scope: credbroker.Scope{Kind: credbroker.ScopeSystem},
	}
	if st, body := e.call(http.MethodPost, "/v1/connectors", e.admin, spec, nil); !is2xx(st) {
		t.Fatalf("connector create: %d %s", st, body)
	}
	var nt credbroker.NewToken
	if st, body := e.call(http.MethodPost, "/v1/tokens", e.admin, credbroker.TokenSpec{Name: "agents", Role: credbroker.RoleAgent, Plans: "OPS-*"}, &nt); !is2xx(st) {
		t.Fatalf("agent token: %d %s", st, body)
	}
	e.agent = nt.Secret
	e.w.secret(e.agent)
}

func (e *storeEnv) call(method, path, tok string, body any, out any) (int, string) {
	return callAPI(e.w, e.client, e.b.URL, method, path, tok, body, out)
}

// vend asks for credentials for a new build and keeps the acknowledged
// ones.
func (e *storeEnv) vend() (int, string) {
	e.seq++
	build := fmt.Sprintf("b%d", e.seq)
	var res credbroker.VendResult
	st, body := e.call(http.MethodPost, "/v1/credentials", e.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-STORE", Build: build}, &res)
	if st == http.StatusOK {
		e.w.secret(res.SecretAccessKey, res.SessionToken)
		e.vends = append(e.vends, ackedVend{res.AccessKeyID, build})
	}
	return st, body
}

// adminChange makes one admin change of each kind and returns the first
// answer that is not a success, or the last success.
func (e *storeEnv) adminChanges() (int, string) {
	e.seq++
	st, body := e.call(http.MethodPut, "/v1/connectors/deploy", e.admin, credbroker.ConnectorSpec{
		Name: "deploy", Description: fmt.Sprintf("change %d", e.seq), Region: "us-east-1", RoleARN: roleARN,
		AccessKeyID: e.w.minio.RootUser, SecretAccessKey: e.w.minio.RootPassword, Policy: readAlpha,
		STSEndpoints: []string{e.w.minio.Endpoint}, DefaultDurationSeconds: 900, Scope: credbroker.Scope{Kind: credbroker.ScopeSystem},
	}, nil)
	if !is2xx(st) {
		return st, body
	}
	if st, body = e.call(http.MethodPut, "/v1/variables/plainVar", e.admin, map[string]any{"value": fmt.Sprint(e.seq)}, nil); !is2xx(st) {
		return st, body
	}
	var nt credbroker.NewToken
	st, body = e.call(http.MethodPost, "/v1/tokens", e.admin, credbroker.TokenSpec{Name: fmt.Sprintf("t%d", e.seq), Role: credbroker.RoleAgent, Plans: "OPS-*"}, &nt)
	if is2xx(st) {
		e.w.secret(nt.Secret)
	}
	return st, body
}

// expectUnavailable checks a refusal: 503 with the JSON error of code
// unavailable, a message, and no credentials.
func expectUnavailable(t *testing.T, what string, st int, body string) {
	t.Helper()
	var e struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if st != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &e) != nil || e.Code != "unavailable" || e.Message == "" {
		t.Fatalf("%s: want 503 with code unavailable and a message, got %d %s", what, st, body)
	}
	if strings.Contains(body, "access_key_id") || strings.Contains(body, "secret_access_key") || strings.Contains(body, "session_token") {
		t.Fatalf("%s: a refusal carries credentials", what)
	}
	t.Logf("%s refused: %s", what, e.Message)
}

// checkStoreWhole stops the broker and proves the store whole: SQLite's
// integrity check, every sealed secret opens, every acknowledged vend has
// its audit record, and `credbroker audit verify --local` passes.
func (e *storeEnv) checkStoreWhole(t *testing.T) {
	t.Helper()
	e.b.stop()
	sqliteIntegrity(t, filepath.Join(e.dir, "credbroker.db"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(e.dir, "credbroker.db"))
	if err != nil {
		t.Fatalf("open the store: %v", err)
	}
	defer st.Close()
	ring, err := seal.Load(filepath.Join(e.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	checkSealed(t, ctx, st, ring, "")
	recs, err := st.ListAudit(ctx, credbroker.AuditFilter{Action: credbroker.ActionVend, Outcome: credbroker.OutcomeGranted})
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]string{}
	for _, r := range recs {
		byKey[r.AccessKeyID] = r.Build
	}
	for _, v := range e.vends {
		if byKey[v.accessKeyID] != v.build {
			t.Errorf("acknowledged vend %s has no audit record", v.build)
		}
	}
	st.Close()
	res := e.w.cbr(e.w.env(), "audit", "verify", "--local", "--data-dir", e.dir)
	if res.code != 0 || !strings.Contains(res.stdout, "audit chain verified") {
		t.Fatalf("audit verify --local: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	t.Logf("%d acknowledged vends, all recorded; %s", len(e.vends), strings.TrimSpace(res.stdout))
}

// mountFS runs mount with args and unmounts dir when the test ends (after
// the brokers it started, whose cleanups run first).
func mountFS(t *testing.T, dir string, args ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", append(args, dir)...).CombinedOutput(); err != nil {
		t.Fatalf("mount %s (the storage tests run as root, as the test command and CI do): %v: %s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
}

// fill writes a file in dir until the file system has no space left.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("fill %s: %v", dir, err)
			}
			return path
		}
	}
}

// A full disk: vends and admin changes are refused with 503 while the
// store cannot grow, nothing stored is damaged, and the broker serves
// again by itself once space is freed.
func TestStoreDiskFull(t *testing.T) {
	w := newWorld(t, false)
	dir := filepath.Join(w.dir, "smallfs")
	mountFS(t, dir, "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs")
	e := newStoreEnv(t, w, filepath.Join(dir, "data"))
	for range 20 {
		if st, body := e.vend(); st != http.StatusOK {
			t.Fatalf("vend: %d %s", st, body)
		}
	}
	if st, body := e.adminChanges(); !is2xx(st) {
		t.Fatalf("admin changes: %d %s", st, body)
	}

	filler := fill(t, dir)
	// What the store had already allocated may still take a few records;
	// the first vend that needs new space is refused.
	var st int
	var body string
	for range 2000 {
		if st, body = e.vend(); st != http.StatusOK {
			break
		}
	}
	expectUnavailable(t, "vend on a full disk", st, body)
	for range 200 {
		if st, body = e.adminChanges(); !is2xx(st) {
			break
		}
	}
	expectUnavailable(t, "admin change on a full disk", st, body)
	st, body = e.vend()
	expectUnavailable(t, "another vend on a full disk", st, body)
	// Reads still work.
	if st, body := e.call(http.MethodGet, "/v1/connectors/deploy", e.admin, nil, nil); st != http.StatusOK {
		t.Fatalf("reading a connector on a full disk: %d %s", st, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitVend(t, e)
	if st, body := e.adminChanges(); !is2xx(st) {
		t.Fatalf("admin changes after space returned: %d %s", st, body)
	}
	e.checkStoreWhole(t)
}

// waitVend vends until one is granted, for at most a minute: the broker
// must recover by itself, without a restart.
func waitVend(t *testing.T, e *storeEnv) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st, body := e.vend()
		if st == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broker did not serve again within a minute: %d %s\n%s", st, body, e.b.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A store whose file system turns read-only under the running broker:
// vends and admin changes are refused with 503, reads go on, a broker
// started on it refuses to start with a clear message and changes nothing,
// and once the file system is repaired and writable again everything
// stored before is there and verifies.
func TestStoreReadOnly(t *testing.T) {
	w := newWorld(t, false)
	for _, tool := range []string{"mkfs.ext4", "e2fsck", "mount", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (Debian packages e2fsprogs and mount): %v", tool, err)
		}
	}
	img := filepath.Join(w.dir, "store.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 32<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	mnt := filepath.Join(w.dir, "rofs")
	mountFS(t, mnt, "-o", "loop,errors=remount-ro", img)
	dev, err := exec.Command("findmnt", "-n", "-o", "SOURCE", mnt).Output()
	if err != nil {
		t.Fatalf("findmnt %s: %v", mnt, err)
	}
	trigger := filepath.Join("/sys/fs/ext4", filepath.Base(strings.TrimSpace(string(dev))), "trigger_fs_error")

	dir := filepath.Join(mnt, "data")
	e := newStoreEnv(t, w, dir)
	for range 10 {
		if st, body := e.vend(); st != http.StatusOK {
			t.Fatalf("vend: %d %s", st, body)
		}
	}
	if st, body := e.adminChanges(); !is2xx(st) {
		t.Fatalf("admin changes: %d %s", st, body)
	}

	if err := os.WriteFile(trigger, []byte("credbroker storage test"), 0o200); err != nil {
		t.Fatalf("make %s read-only through %s: %v", mnt, trigger, err)
	}
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o600); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("the file system is still writable after the error: %v", err)
	}
	st, body := e.vend()
	expectUnavailable(t, "vend on a read-only store", st, body)
	st, body = e.adminChanges()
	expectUnavailable(t, "admin change on a read-only store", st, body)
	if st, body := e.call(http.MethodGet, "/v1/connectors/deploy", e.admin, nil, nil); st != http.StatusOK {
		t.Fatalf("reading a connector on a read-only store: %d %s", st, body)
	}
	e.b.stop()

	// A broker started on the read-only store refuses to start.
	r := w.serveFails("--listen", "127.0.0.1:0", "--data-dir", dir)
	if r.code == 0 || !strings.Contains(r.stdout, "not writable") {
		t.Fatalf("serve on a read-only store: exit %d, want a refusal naming the store as not writable:\n%s", r.code, r.stdout)
	}
	t.Logf("serve on a read-only store: %s", lastLine(r.stdout))

	// Repair and mount again, writable.
	if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
		t.Fatalf("umount: %v: %s", err, out)
	}
	if out, err := exec.Command("e2fsck", "-f", "-y", img).CombinedOutput(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() > 1 {
			t.Fatalf("e2fsck: %v: %s", err, out)
		}
	}
	if out, err := exec.Command("mount", "-o", "loop,errors=remount-ro", img, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount again: %v: %s", err, out)
	}
	if err := e.b.start(); err != nil {
		t.Fatalf("the broker does not start on the repaired store: %v", err)
	}
	waitVend(t, e)
	if st, body := e.adminChanges(); !is2xx(st) {
		t.Fatalf("admin changes after the repair: %d %s", st, body)
	}
	e.checkStoreWhole(t)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// PostgreSQL restarted, then stopped for a while, under load from two
// brokers: every request ends within the client's bound with a success or
// a 503 `unavailable` JSON error, the brokers reconnect by themselves once
// the server is back, every acknowledged vend is in the audit trail, and
// the chain verifies on both.
func TestPostgresRestartUnderLoad(t *testing.T) {
	w := newWorld(t, false)
	pg := testpeers.StartPostgres(t)
	dsn := pg.CreateDatabase(t)
	keyFile := filepath.Join(dataDir(w, "keys"), "master.key")
	common := []string{"--database-url", dsn, "--key-file", keyFile}
	brokers := []*brokerProc{w.startBroker(dataDir(w, "a"), common...), w.startBroker(dataDir(w, "b"), common...)}
	e := &storeEnv{w: w, b: brokers[0], client: &http.Client{Timeout: 30 * time.Second}}
	e.admin = w.adminToken(dataDir(w, "a"), common...)
	e.provision(t)

	// The load: vends on both brokers with new builds (each an STS call
	// and an audit append), and admin changes.
	type tally struct {
		mu       sync.Mutex
		ok, down map[string]int // per broker URL: successes, 503s
		slowest  map[string]time.Duration
		acked    []ackedVend
	}
	tl := &tally{ok: map[string]int{}, down: map[string]int{}, slowest: map[string]time.Duration{}}
	client := &http.Client{Timeout: 30 * time.Second} // the bound on any one request
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := brokers[i%2]
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				began := time.Now()
				var st int
				var body string
				if i == 5 {
					st, body = callAPI(w, client, br.URL, http.MethodPut, "/v1/variables/loadVar", e.admin, map[string]any{"value": fmt.Sprint(n)}, nil)
				} else {
					build := fmt.Sprintf("b%d", n)
					var res credbroker.VendResult
					st, body = callAPI(w, client, br.URL, http.MethodPost, "/v1/credentials", e.agent,
						credbroker.VendRequest{Connector: "deploy", Plan: "OPS-LOAD", Build: build}, &res)
					if st == http.StatusOK {
						w.secret(res.SecretAccessKey, res.SessionToken)
						tl.mu.Lock()
						tl.acked = append(tl.acked, ackedVend{res.AccessKeyID, build})
						tl.mu.Unlock()
					}
				}
				tl.mu.Lock()
				tl.slowest[br.URL] = max(tl.slowest[br.URL], time.Since(began))
				switch {
				case is2xx(st):
					tl.ok[br.URL]++
				case st == http.StatusServiceUnavailable && strings.Contains(body, `"code":"unavailable"`) && strings.Contains(body, `"message"`):
					tl.down[br.URL]++
				default:
					t.Errorf("request to broker %s during the database restart: status %d: %s", br.URL, st, body)
				}
				tl.mu.Unlock()
				if st != http.StatusOK && !is2xx(st) {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	// waitServing waits, for at most a minute, until both brokers have
	// answered more successes than they had.
	waitServing := func(what string) {
		t.Helper()
		tl.mu.Lock()
		before := map[string]int{brokers[0].URL: tl.ok[brokers[0].URL], brokers[1].URL: tl.ok[brokers[1].URL]}
		tl.mu.Unlock()
		deadline := time.Now().Add(time.Minute)
		for {
			tl.mu.Lock()
			done := tl.ok[brokers[0].URL] > before[brokers[0].URL]+5 && tl.ok[brokers[1].URL] > before[brokers[1].URL]+5
			tl.mu.Unlock()
			if done {
				return
			}
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: the brokers did not serve again within a minute (successes %v, 503s %v)", what, tl.ok, tl.down)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitServing("before the restart")
	pg.Restart(t)
	waitServing("after the restart")

	// Down for a while: requests are refused with 503, readiness says so,
	// and no request hangs.
	pg.Stop(t)
	tl.mu.Lock()
	downBefore := tl.down[brokers[0].URL] + tl.down[brokers[1].URL]
	tl.mu.Unlock()
	deadline := time.Now().Add(time.Minute)
	for {
		tl.mu.Lock()
		down := tl.down[brokers[0].URL] + tl.down[brokers[1].URL]
		tl.mu.Unlock()
		if down > downBefore+20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no 503 within a minute of the database stopping (successes %v, 503s %v)", tl.ok, tl.down)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, br := range brokers {
		resp, err := client.Get(br.URL + "/readyz")
		if err != nil {
			t.Fatalf("readyz with the database down: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("readyz with the database down: %d, want 503", resp.StatusCode)
		}
	}
	pg.Start(t)
	waitServing("after the database came back")
	close(stop)
	wg.Wait()
	t.Logf("successes %v, 503s %v, slowest answers %v", tl.ok, tl.down, tl.slowest)

	// Every acknowledged vend is recorded, and the chain verifies on both
	// brokers.
	var recs struct{ Records []credbroker.AuditRecord }
	if st, body := e.call(http.MethodGet, "/v1/audit?action=vend&outcome=granted&limit=10000", e.admin, nil, &recs); st != http.StatusOK {
		t.Fatalf("audit: %d %s", st, body)
	}
	byKey := map[string]string{}
	for _, r := range recs.Records {
		byKey[r.AccessKeyID] = r.Build
	}
	for _, v := range tl.acked {
		if byKey[v.accessKeyID] != v.build {
			t.Errorf("acknowledged vend %s has no audit record", v.build)
		}
	}
	for _, br := range brokers {
		r := br.admin(e.admin, "", "audit", "verify")
		if r.code != 0 || !strings.Contains(r.stdout, "audit chain verified") {
			t.Fatalf("audit verify on %s: exit %d\n%s%s", br.URL, r.code, r.stdout, r.stderr)
		}
	}
	t.Logf("%d acknowledged vends, all recorded", len(tl.acked))
}

// A PostgreSQL server that stops answering (a network partition: packets
// dropped, no connection refused or reset) under a running broker: vends
// and admin changes end within a bound with 503 `unavailable`, and when
// the network heals the broker serves again by itself.
func TestPostgresUnreachable(t *testing.T) {
	w := newWorld(t, false)
	dsn := testpeers.Postgres(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startHoleProxy(t, u.Host)
	u.Host = proxy.addr
	keyFile := filepath.Join(dataDir(w, "keys"), "master.key")
	common := []string{"--database-url", u.String(), "--key-file", keyFile}
	e := &storeEnv{w: w, client: &http.Client{Timeout: 90 * time.Second}} // the bound on any one request
	e.b = w.startBroker(dataDir(w, "a"), common...)
	e.admin = w.adminToken(dataDir(w, "a"), common...)
	e.provision(t)
	for range 5 {
		if st, body := e.vend(); st != http.StatusOK {
			t.Fatalf("vend: %d %s", st, body)
		}
	}

	proxy.hole(true)
	for range 2 {
		st, body := e.vend()
		expectUnavailable(t, "vend with the database unreachable", st, body)
	}
	st, body := e.adminChanges()
	expectUnavailable(t, "admin change with the database unreachable", st, body)
	proxy.hole(false)
	waitVend(t, e)
	if st, body := e.adminChanges(); !is2xx(st) {
		t.Fatalf("admin changes after the network healed: %d %s", st, body)
	}
	r := e.b.admin(e.admin, "", "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit chain verified") {
		t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var recs struct{ Records []credbroker.AuditRecord }
	if st, body := e.call(http.MethodGet, "/v1/audit?action=vend&outcome=granted&limit=10000", e.admin, nil, &recs); st != http.StatusOK {
		t.Fatalf("audit: %d %s", st, body)
	}
	byKey := map[string]string{}
	for _, r := range recs.Records {
		byKey[r.AccessKeyID] = r.Build
	}
	for _, v := range e.vends {
		if byKey[v.accessKeyID] != v.build {
			t.Errorf("acknowledged vend %s has no audit record", v.build)
		}
	}
}

// holeProxy forwards TCP connections to a target until hole(true): then
// it stops forwarding, on the connections it has and on new ones (which it
// accepts and leaves unanswered), as a network that drops packets.
// hole(false) closes the connections caught in the hole and forwards again.
type holeProxy struct {
	addr   string
	target string
	mu     sync.Mutex
	closed chan struct{} // open while the hole is; nil when there is none
	conns  map[net.Conn]bool
}

func startHoleProxy(t *testing.T, target string) *holeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holeProxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() {
		ln.Close()
		p.hole(false)
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *holeProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = true
	p.mu.Unlock()
}

func (p *holeProxy) serve(c net.Conn) {
	p.track(c)
	if p.wait() {
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.track(up)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if err != nil || p.wait() {
				dst.Close()
				src.Close()
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				src.Close()
				return
			}
		}
	}
	go pipe(up, c)
	pipe(c, up)
}

// wait blocks while there is a hole and reports whether there was one (the
// connection is then to be dropped).
func (p *holeProxy) wait() bool {
	p.mu.Lock()
	ch := p.closed
	p.mu.Unlock()
	if ch == nil {
		return false
	}
	<-ch
	return true
}

func (p *holeProxy) hole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && p.closed == nil:
		p.closed = make(chan struct{})
	case !on && p.closed != nil:
		close(p.closed)
		p.closed = nil
		for c := range p.conns {
			c.Close()
		}
		clear(p.conns)
	}
}
