package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// site is a broker with a deploy connector whose base keys are MinIO's
// root keys and whose session policy allows reading bucket alpha only.
type site struct {
	w      *world
	b      *brokerProc
	admin  string
	agent  string // token for OPS-* plans
	tokenF string // file holding the agent token
	proxy  *testpeers.CountingProxy
}

func newSite(t *testing.T, connectorExtra ...string) *site {
	return newSiteWith(t, nil, connectorExtra...)
}

// newSiteWith is newSite with extra flags of serve.
func newSiteWith(t *testing.T, serveExtra []string, connectorExtra ...string) *site {
	w := newWorld(t, false)
	s := &site{w: w}
	dd := dataDir(w, "broker")
	s.b = w.startBroker(dd, serveExtra...)
	s.admin = w.adminToken(dd)
	proxy, err := testpeers.StartCountingProxy(w.minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	s.proxy = proxy
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	args := append([]string{"connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", s.proxy.URL,
		"--default-duration", "15m", "--max-duration", "1h", "--allow-plan", "OPS-*"}, connectorExtra...)
	w.expectOK(s.b.admin(s.admin, "", args...), "connector create")
	r := s.b.adminShown(s.admin, "token", "create", "--role", "agent", "--name", "ops-agents", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	s.agent = strings.TrimSpace(r.stdout)
	w.secret(s.agent)
	s.tokenF = w.write("input-agent.token", s.agent+"\n")
	return s
}

func (s *site) agentEnv(extra ...string) []string {
	return s.w.env(append([]string{"CREDBROKER_BROKER=" + s.b.URL, "CREDBROKER_TOKEN_FILE=" + s.tokenF}, extra...)...)
}

func TestConnectorExecAgainstMinIO(t *testing.T) {
	s := newSite(t)
	w := s.w
	for _, delivery := range []string{"env", "endpoint"} {
		t.Run(delivery, func(t *testing.T) {
			exec := func(args ...string) result {
				base := []string{"exec", "--source", "connector", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "7", "--delivery", delivery, "--"}
				return w.cbr(s.agentEnv(), append(base, args...)...)
			}
			r := exec(w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)
			w.expectOK(r, "read alpha")
			if strings.TrimSpace(r.stdout) != helloTxt {
				t.Fatalf("read alpha: %q", r.stdout)
			}
			w.expectDenied(exec(w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...), "read beta")
		})
	}
	// The audit names the build; verify passes.
	r := s.b.admin(s.admin, "", "audit", "--plan", "OPS-DEPLOY", "--output", "json")
	w.expectOK(r, "audit")
	if !strings.Contains(r.stdout, `"build": "7"`) || !strings.Contains(r.stdout, `"outcome": "granted"`) {
		t.Fatalf("audit:\n%s", r.stdout)
	}
	w.expectOK(s.b.admin(s.admin, "", "audit", "verify"), "audit verify")
}

const connectorJob = `
version: 1
plan: OPS-DEPLOY
build: "8"
tasks:
  - name: read
    credentials:
      source: connector
      connector: ${bamboo.deployConnector}
    delivery: endpoint
    run: |
      aws --endpoint-url "${bamboo.endpoint}" --region us-east-1 s3 cp s3://alpha/hello.txt -; echo
      if aws --endpoint-url "${bamboo.endpoint}" --region us-east-1 s3 cp s3://beta/hello.txt - 2>/dev/null; then echo "beta ALLOWED"; else echo "beta denied"; fi
`

func TestConnectorJobNamedByBrokerVariable(t *testing.T) {
	s := newSite(t)
	w := s.w
	// The connector's name comes from a plan variable kept on the broker.
	w.expectOK(s.b.admin(s.admin, "", "variable", "set", "deployConnector", "--plan", "OPS-DEPLOY", "--value", "deploy"), "variable set")
	w.expectOK(s.b.admin(s.admin, "", "variable", "set", "endpoint", "--value", w.minio.Endpoint), "variable set")
	job := w.write("job.yaml", connectorJob)
	r := w.cbr(s.agentEnv(), "run", job)
	w.expectOK(r, "connector job")
	if !strings.Contains(r.stdout, "[read] "+helloTxt) || !strings.Contains(r.stdout, "[read] beta denied") {
		t.Fatalf("job output:\n%s\n%s", r.stdout, r.stderr)
	}
}

func TestAllowListAndWideningRefused(t *testing.T) {
	s := newSite(t)
	w := s.w
	r := s.b.adminShown(s.admin, "token", "create", "--role", "agent", "--name", "web", "--plans", "WEB-*")
	w.expectOK(r, "web token")
	web := strings.TrimSpace(r.stdout)
	w.secret(web)

	// A plan outside the allow-list gets what a connector that does not
	// exist gets (an agent token learns nothing of other projects'
	// connectors); the audit names the rule.
	st, _, e := s.b.vend(web, credbroker.VendRequest{Connector: "deploy", Plan: "WEB-SITE", Build: "1"})
	if st != http.StatusNotFound || !strings.Contains(e["message"], "no connector of that name is available to plan WEB-SITE") ||
		strings.Contains(e["message"], "OPS-") {
		t.Fatalf("plan outside the allow-list: %d %v", st, e)
	}
	if st2, _, e2 := s.b.vend(web, credbroker.VendRequest{Connector: "nosuch", Plan: "WEB-SITE", Build: "1"}); st2 != st || e2["message"] != e["message"] {
		t.Fatalf("a connector that does not exist: %d %v, want the same answer as %d %v", st2, e2, st, e)
	}
	a := s.b.admin(s.admin, "", "audit", "--plan", "WEB-SITE", "--output", "json")
	w.expectOK(a, "audit")
	if !strings.Contains(a.stdout, "matches none of connector deploy's allowed plans (OPS-*)") || !strings.Contains(a.stdout, `"error_code": "forbidden"`) {
		t.Fatalf("the audit does not name the rule:\n%s", a.stdout)
	}
	st, _, e = s.b.vend(web, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"})
	if st != http.StatusForbidden || !strings.Contains(e["message"], `bound to plans "WEB-*"`) {
		t.Fatalf("token of another plan: %d %v", st, e)
	}
	// The CLI says the same in one line, exit 125.
	r = w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN="+web), "exec", "--connector", "deploy", "--plan", "WEB-SITE", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "no connector of that name is available to plan WEB-SITE") {
		t.Fatalf("CLI refusal: %d %s", r.code, r.stderr)
	}
	// Widening: a longer duration, a broader policy, another managed policy.
	for name, req := range map[string]credbroker.VendRequest{
		"duration": {DurationSeconds: 7200},
		"policy":   {Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`},
		"arns":     {PolicyARNs: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
	} {
		req.Connector, req.Plan, req.Build = "deploy", "OPS-DEPLOY", "1"
		st, _, e := s.b.vend(s.agent, req)
		if st != http.StatusForbidden || e["code"] != "forbidden" {
			t.Errorf("widening %s: %d %v", name, st, e)
		}
	}
	// Narrowing works and is enforced by MinIO: a policy for one key only.
	narrow := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::alpha/other.txt"}]}`
	st, res, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "2", Policy: narrow, DurationSeconds: 900})
	if st != 200 {
		t.Fatalf("narrowing refused: %d %v", st, e)
	}
	env := w.env("AWS_ACCESS_KEY_ID="+res.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+res.SecretAccessKey, "AWS_SESSION_TOKEN="+res.SessionToken)
	w.expectDenied(w.run(env, "", w.aws, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")[1:]...), "narrowed session reading hello.txt")
}

func TestThousandConcurrentVendsOneAssumeRole(t *testing.T) {
	s := newSite(t)
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	keys := sync.Map{}
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1000", Job: "OPS-DEPLOY-JOB1"}
	tr := &http.Transport{MaxIdleConnsPerHost: 200, MaxConnsPerHost: 200}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	body := jsonString(req)
	start := make(chan struct{})
	for range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			hr, _ := http.NewRequest(http.MethodPost, s.b.URL+"/v1/credentials", strings.NewReader(body))
			hr.Header.Set("Authorization", "Bearer "+s.agent)
			hr.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(hr)
			if err != nil || resp.StatusCode != 200 {
				failed.Add(1)
				if resp != nil {
					resp.Body.Close()
				}
				return
			}
			var res credbroker.VendResult
			jsonDecode(resp, &res)
			keys.Store(res.AccessKeyID, res.SecretAccessKey)
			ok.Add(1)
		}()
	}
	close(start)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of 1000 vends failed", failed.Load())
	}
	n := 0
	keys.Range(func(k, v any) bool { n++; s.w.secret(v.(string)); return true })
	if got := s.proxy.Calls("AssumeRole"); got != 1 || n != 1 {
		t.Fatalf("1000 identical vends made %d AssumeRole calls and %d distinct keys", got, n)
	}
	r := s.b.admin(s.admin, "", "audit", "verify")
	s.w.expectOK(r, "audit verify")
	if !strings.Contains(r.stdout, "verified") {
		t.Fatalf("verify: %s", r.stdout)
	}
}

func TestRestartWrongKeyAndTamper(t *testing.T) {
	s := newSite(t)
	w := s.w
	dd := s.b.dataDir
	s.b.stop()

	// Restart keeps connectors.
	s.b = w.startBroker(dd)
	r := s.b.admin(s.admin, "", "connector", "list")
	w.expectOK(r, "connector list after restart")
	if !strings.Contains(r.stdout, "deploy") {
		t.Fatalf("connector lost on restart:\n%s", r.stdout)
	}
	if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"}); st != 200 {
		t.Fatalf("vend after restart: %d %v", st, e)
	}
	s.b.stop()

	dbFile := filepath.Join(dd, "credbroker.db")
	keyFile := filepath.Join(dd, "master.key")
	keyBefore, _ := os.ReadFile(keyFile)

	// A wrong key refuses to start and overwrites nothing.
	wrong := filepath.Join(w.dir, "wrong.key")
	writeKeyFile(t, wrong)
	rr := w.serveFails("--listen", "127.0.0.1:0", "--data-dir", dd, "--key-file", wrong)
	if rr.code == 0 || !strings.Contains(rr.stdout, "does not open this store's secrets") {
		t.Fatalf("wrong key: exit %d\n%s", rr.code, rr.stdout)
	}
	// A missing key file refuses too, and no new key is made.
	missing := filepath.Join(w.dir, "missing.key")
	rr = w.serveFails("--listen", "127.0.0.1:0", "--data-dir", dd, "--key-file", missing)
	if rr.code == 0 || !strings.Contains(rr.stdout, "does not exist") {
		t.Fatalf("missing key: exit %d\n%s", rr.code, rr.stdout)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("a start with a missing key file created one")
	}
	if after, _ := os.ReadFile(keyFile); string(after) != string(keyBefore) {
		t.Fatal("the key file changed")
	}

	// Flip one byte of the sealed secret: the broker refuses it, never
	// returns it.
	db, err := sql.Open("sqlite", dbFile)
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	if err := db.QueryRow(`SELECT secret_blob FROM connectors WHERE name = 'deploy'`).Scan(&blob); err != nil {
		t.Fatal(err)
	}
	blob[len(blob)-5] ^= 0x40
	if _, err := db.Exec(`UPDATE connectors SET secret_blob = ? WHERE name = 'deploy'`, blob); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s.b = w.startBroker(dd)
	st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "2"})
	if st != http.StatusServiceUnavailable || !strings.Contains(e["message"], "cannot be opened") {
		t.Fatalf("tampered secret: %d %v", st, e)
	}
	if !strings.Contains(s.b.log.String(), "failed authentication") {
		t.Fatalf("broker log does not say why:\n%s", s.b.log.String())
	}
}

func TestKeyRotateUnderLoad(t *testing.T) {
	s := newSite(t)
	w := s.w
	// Secret variables are sealed too.
	w.expectOK(s.b.admin(s.admin, "hunter2-rotated-secret", "variable", "set", "dbPassword", "--plan", "OPS-DEPLOY", "--value-file", "-"), "secret variable")
	w.secret("hunter2-rotated-secret")
	stop := make(chan struct{})
	var vends, fails atomic.Int64
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// New builds keep the broker opening the connector's secret.
				st, _, _ := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprintf("%d-%d", g, i%3)})
				vends.Add(1)
				if st != 200 {
					fails.Add(1)
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	r := w.cbr(w.env(), "key", "rotate", "--data-dir", s.b.dataDir)
	w.expectOK(r, "key rotate")
	if !strings.Contains(r.stdout, "version 2") || !strings.Contains(r.stdout, "map[2:") {
		t.Fatalf("rotate: %s", r.stdout)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if fails.Load() != 0 || vends.Load() < 10 {
		t.Fatalf("%d of %d vends failed during rotation", fails.Load(), vends.Load())
	}
	// After a restart with the rotated key file everything still opens.
	s.b.stop()
	s.b = w.startBroker(s.b.dataDir)
	if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "after"}); st != 200 {
		t.Fatalf("vend after rotation and restart: %d %v", st, e)
	}
	var got struct{ Variables []credbroker.Variable }
	if st := s.b.api(http.MethodGet, "/v1/agent/variables?plan=OPS-DEPLOY", s.agent, nil, &got); st != 200 || len(got.Variables) != 1 || got.Variables[0].Value != "hunter2-rotated-secret" {
		t.Fatalf("secret variable after rotation: %d %d", st, len(got.Variables))
	}
}

func TestAuditTamperAndFailClosed(t *testing.T) {
	s := newSite(t)
	w := s.w
	for i := range 5 {
		if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(i)}); st != 200 {
			t.Fatalf("vend: %d %v", st, e)
		}
	}
	w.expectOK(s.b.admin(s.admin, "", "audit", "verify"), "verify before tampering")

	// An attacker with the database file edits one record.
	db, err := sql.Open("sqlite", filepath.Join(s.b.dataDir, "credbroker.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var seq int64
	if err := db.QueryRow(`SELECT seq FROM audit WHERE action = 'vend' ORDER BY seq LIMIT 1 OFFSET 2`).Scan(&seq); err != nil {
		t.Fatal(err)
	}
	dropTriggers(t, db)
	if _, err := db.Exec(`UPDATE audit SET plan = 'OPS-INNOCENT' WHERE seq = ?`, seq); err != nil {
		t.Fatal(err)
	}
	r := s.b.admin(s.admin, "", "audit", "verify")
	if r.code == 0 || !strings.Contains(r.stdout, fmt.Sprintf("record %d:", seq)) || !strings.Contains(r.stdout, "edited") {
		t.Fatalf("verify after an edit: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	// Offline verification says the same.
	r = w.cbr(w.env(), "audit", "verify", "--local", "--data-dir", s.b.dataDir)
	if r.code == 0 || !strings.Contains(r.stdout, fmt.Sprintf("record %d:", seq)) {
		t.Fatalf("local verify: %d %s", r.code, r.stdout)
	}

	// A read-only audit table: vends fail closed, with no credentials.
	if _, err := db.Exec(`CREATE TRIGGER audit_readonly BEFORE INSERT ON audit BEGIN SELECT RAISE(ABORT, 'read-only'); END`); err != nil {
		t.Fatal(err)
	}
	// The audit journal holds a lone vend's record durably until its move
	// into the table (the broker's background step, or a read of the
	// trail), which now fails: from then on vends are refused. The vends
	// granted before are in the journal, and reach the table once it
	// takes records again.
	var journaled []string
	deadline := time.Now().Add(time.Minute)
	for {
		build := fmt.Sprint(99 + len(journaled))
		st, res, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: build})
		if st == http.StatusOK {
			journaled = append(journaled, build)
			w.expectOK(s.b.admin(s.admin, "", "audit", "--limit", "1"), "audit read with the table refusing records")
			if time.Now().After(deadline) {
				t.Fatalf("vends with a read-only audit table were still granted after a minute (%d)", len(journaled))
			}
			continue
		}
		if st != http.StatusServiceUnavailable || res != nil || !strings.Contains(e["message"], "audit record could not be written") {
			t.Fatalf("vend with a read-only audit: %d %v", st, e)
		}
		break
	}
	// Cached credentials are withheld too.
	st, _, _ := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"})
	if st != http.StatusServiceUnavailable {
		t.Fatalf("cached vend with a read-only audit: %d", st)
	}
	if _, err := db.Exec(`DROP TRIGGER audit_readonly`); err != nil {
		t.Fatal(err)
	}
	if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "200"}); st != 200 {
		t.Fatalf("vend once the audit is writable again: %d %v", st, e)
	}
	r = s.b.admin(s.admin, "", "audit", "--plan", "OPS-DEPLOY", "--output", "json")
	w.expectOK(r, "audit")
	for _, b := range append(journaled, "200") {
		if !strings.Contains(r.stdout, `"build": "`+b+`"`) {
			t.Errorf("the audit has no record of the vend of build %s, granted with the table refusing records:\n%s", b, r.stdout)
		}
	}
}

// dropTriggers removes the store's append-only guards, as an attacker with
// the database file would.
func dropTriggers(t *testing.T, db *sql.DB) {
	rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit'`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		rows.Scan(&n)
		names = append(names, n)
	}
	rows.Close()
	for _, n := range names {
		if _, err := db.Exec(`DROP TRIGGER ` + n); err != nil {
			t.Fatal(err)
		}
	}
}

func jsonDecode(resp *http.Response, v any) {
	defer resp.Body.Close()
	dec := jsonNewDecoder(resp)
	dec.Decode(v)
}

var _ = context.Background
