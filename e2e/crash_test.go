package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"

	_ "modernc.org/sqlite" // the driver of the raw integrity check
)

// The crash tests kill `credbroker serve` with SIGKILL at random moments
// while admin changes, vends and a `credbroker key rotate` in another
// process are under way, round after round. After each kill the store must
// open, every row must be whole (each sealed secret opens and matches the
// rest of its row), every change and vend the API acknowledged with a 2xx
// must be there (vends as audit records with their access key ID), and
// `credbroker audit verify --local` must pass.
//
// The README's test command runs a bounded number of rounds;
// scripts/crashsoak runs many more by setting CREDBROKER_CRASH_ROUNDS.

// TestCrashKillSQLite crashes a broker on the embedded SQLite store.
func TestCrashKillSQLite(t *testing.T) {
	w := newWorld(t, false)
	dir := dataDir(w, "store")
	cs := &crashStore{
		kind:    "sqlite",
		dataDir: dir,
		keyFile: filepath.Join(dir, "master.key"),
		dbFile:  filepath.Join(dir, "credbroker.db"),
		open: func(ctx context.Context) (credbroker.Store, error) {
			return sqlite.Open(ctx, filepath.Join(dir, "credbroker.db"))
		},
	}
	runCrashRounds(t, w, cs, crashRounds(t, 40))
}

// TestCrashKillPostgres crashes one broker of a PostgreSQL store (the
// database keeps running).
func TestCrashKillPostgres(t *testing.T) {
	w := newWorld(t, false)
	dsn := testpeers.Postgres(t)
	keyFile := filepath.Join(dataDir(w, "keys"), "master.key")
	cs := &crashStore{
		kind:    "postgres",
		dataDir: dataDir(w, "pg"),
		extra:   []string{"--database-url", dsn, "--key-file", keyFile},
		keyFile: keyFile,
		dsn:     dsn,
		open: func(ctx context.Context) (credbroker.Store, error) {
			return postgres.Open(ctx, dsn)
		},
	}
	runCrashRounds(t, w, cs, max(crashRounds(t, 40)/5, 1))
}

// crashRounds is $CREDBROKER_CRASH_ROUNDS when set, else def.
func crashRounds(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("CREDBROKER_CRASH_ROUNDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("CREDBROKER_CRASH_ROUNDS=%q: want a positive number", v)
	}
	return n
}

// crashStore is the store under test and how to reach it.
type crashStore struct {
	kind    string
	dataDir string
	extra   []string // more store flags: --database-url, --key-file
	keyFile string
	dbFile  string // SQLite only
	dsn     string // PostgreSQL only
	open    func(ctx context.Context) (credbroker.Store, error)
}

// args are the store flags of serve, key rotate, audit verify and token
// create --local.
func (cs *crashStore) args() []string {
	return append([]string{"--data-dir", cs.dataDir}, cs.extra...)
}

// crashPlan is the plan every vend of the crash tests names.
const crashPlan = "OPS-CRASH"

// ledger is what the API acknowledged, and what was attempted, per
// record. Each record is changed by one worker at a time, so its
// generation counts the attempts and every stored generation lies between
// the last acknowledged one and the last attempted one.
type ledger struct {
	mu     sync.Mutex
	conns  map[string]*genLedger // connector name
	vars   map[string]*genLedger // variable name (global, secret)
	vends  []ackedVend
	tokens []ackedToken
	// admin counts the acknowledged admin changes per audit action and
	// connector ("" for none) of the current round.
	admin map[[2]string]int
}

// genLedger follows one record's generations. Its secret is prefix-gN:
// the random prefix alone is registered for the leak check, and any
// generation's value contains it.
type genLedger struct {
	prefix    string
	acked     int
	attempted int
	// updates counts acknowledged and attempted updates (connectors'
	// revisions follow them).
	ackedUpdates, attemptedUpdates int
}

func (g *genLedger) value(gen int) string { return g.prefix + "-g" + strconv.Itoa(gen) }

type ackedVend struct{ accessKeyID, build string }

type ackedToken struct{ id, secret string }

// crashRig drives one crash test.
type crashRig struct {
	t      *testing.T
	w      *world
	cs     *crashStore
	b      *brokerProc
	admin  string
	agent  string
	rng    *mrand.Rand
	led    *ledger
	client *http.Client
	// persistent is how many of w.secrets stay for the whole test; the
	// ones registered after it are checked and dropped round by round.
	persistent int
	headSeq    int64 // audit head before the current round
	// Totals over the rounds, for the log.
	totalVends, totalAdmin, rotations, rotationsKilled int
}

func runCrashRounds(t *testing.T, w *world, cs *crashStore, rounds int) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("CREDBROKER_CRASH_SEED"); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CREDBROKER_CRASH_SEED=%q: want a number", v)
		}
		seed = s
	}
	t.Logf("%s: %d rounds, seed %d (CREDBROKER_CRASH_SEED repeats the timings' draw)", cs.kind, rounds, seed)
	r := &crashRig{t: t, w: w, cs: cs, rng: mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		led: &ledger{conns: map[string]*genLedger{}, vars: map[string]*genLedger{}}}
	r.setup()
	start := time.Now()
	for round := 1; round <= rounds; round++ {
		r.round(round)
		if t.Failed() {
			t.Fatalf("%s: round %d of %d failed (seed %d)", cs.kind, round, rounds, seed)
		}
		if rounds >= 200 && round%100 == 0 {
			t.Logf("%s: %d rounds of %d passed, %s", cs.kind, round, rounds, time.Since(start).Round(time.Second))
		}
	}
	t.Logf("%s: %d rounds, 0 failures, %s: %d acknowledged vends and %d admin changes checked; %d key rotations beside the broker, %d of them killed too",
		cs.kind, rounds, time.Since(start).Round(time.Second), r.totalVends, r.totalAdmin, r.rotations, r.rotationsKilled)
}

// randomPrefix is a random string of 24 letters and digits: a multiple of
// three, so that its base64 forms are prefixes of those of any value that
// starts with it.
func randomPrefix() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 24)
	rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// setup starts the broker, makes the tokens, the connector vends use and
// a few more connectors and secret variables for the admin worker to
// change.
func (r *crashRig) setup() {
	t, w := r.t, r.w
	r.b = w.startBroker(r.cs.dataDir, r.cs.extra...)
	r.admin = w.adminToken(r.cs.dataDir, r.cs.extra...)
	r.client = &http.Client{Timeout: 30 * time.Second}

	var nt credbroker.NewToken
	if st, body := r.call(http.MethodPost, "/v1/tokens", r.admin, credbroker.TokenSpec{Name: "crash-agents", Role: credbroker.RoleAgent, Plans: "OPS-*"}, &nt); st != http.StatusCreated {
		t.Fatalf("agent token: %d %s", st, body)
	}
	r.agent = nt.Secret
	w.secret(r.agent)

	r.led.conns["deploy"] = &genLedger{prefix: ""}
	for i := range 3 {
		g := &genLedger{prefix: randomPrefix()}
		w.secret(g.prefix)
		r.led.conns["churn-"+strconv.Itoa(i)] = g
	}
	for name, g := range r.led.conns {
		if st, body := r.call(http.MethodPost, "/v1/connectors", r.admin, r.connectorSpec(name, g, 0), nil); st != http.StatusCreated && st != http.StatusOK {
			t.Fatalf("connector create %s: %d %s", name, st, body)
		}
	}
	for i := range 2 {
		g := &genLedger{prefix: randomPrefix()}
		w.secret(g.prefix)
		name := "crash" + strconv.Itoa(i) + "Password"
		r.led.vars[name] = g
		if st, body := r.call(http.MethodPut, "/v1/variables/"+name, r.admin, map[string]any{"value": g.value(0), "secret": true}, nil); !is2xx(st) {
			t.Fatalf("variable set %s: %d %s", name, st, body)
		}
	}
	if st, _, e := r.b.vend(r.agent, credbroker.VendRequest{Connector: "deploy", Plan: crashPlan, Build: "setup"}); st != http.StatusOK {
		t.Fatalf("first vend: %d %v", st, e)
	}
	r.b.kill()
	w.mu.Lock()
	r.persistent = len(w.secrets)
	w.mu.Unlock()
	r.check(0)
}

// connectorSpec is generation gen of a connector: deploy keeps MinIO's
// real keys (vends use it); the churn connectors get a new secret each
// time.
func (r *crashRig) connectorSpec(name string, g *genLedger, gen int) credbroker.ConnectorSpec {
	spec := credbroker.ConnectorSpec{
		Name: name, Description: "gen " + strconv.Itoa(gen), Region: "us-east-1", RoleARN: roleARN,
		AccessKeyID: r.w.minio.RootUser, Policy: readAlpha, STSEndpoints: []string{r.w.minio.Endpoint},
		DefaultDurationSeconds: 900 + gen%2*60, Scope: credbroker.Scope{Kind: credbroker.ScopeSystem},
	}
	if name == "deploy" {
		spec.SecretAccessKey = r.w.minio.RootPassword
	} else {
		spec.AccessKeyID = "AKIACRASH" + strings.ToUpper(name[len(name)-1:]) + "0000000000"
		spec.SecretAccessKey = g.value(gen)
	}
	return spec
}

// call sends one API request to the rig's broker; see callAPI.
func (r *crashRig) call(method, path, tok string, body any, out any) (int, string) {
	return callAPI(r.w, r.client, r.b.URL, method, path, tok, body, out)
}

// callAPI sends one API request and returns the status and, for a status
// of 300 or more, the body; a failure to get an answer at all is status 0
// with the error. Bodies other than granted vends, new tokens and agent
// variables join the leak check.
func callAPI(w *world, client *http.Client, base, method, path, tok string, body any, out any) (int, string) {
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err.Error()
	}
	shown := resp.StatusCode < 300 && (path == "/v1/credentials" || path == "/v1/tokens" && method == http.MethodPost ||
		strings.HasPrefix(path, "/v1/agent/variables"))
	if !shown {
		w.record("API "+method+" "+path, data)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			return 0, "undecodable answer: " + err.Error()
		}
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, string(data)
	}
	return resp.StatusCode, ""
}

func is2xx(st int) bool { return st >= 200 && st < 300 }

// unexpected reports an answer that is neither a success nor a failure to
// reach the broker: while the broker runs, nothing should be refused.
func (r *crashRig) unexpected(what string, st int, body string) {
	if st != 0 {
		r.t.Errorf("%s: status %d while the broker was up: %s", what, st, body)
	}
}

// round runs the workers against a started broker, kills it at a random
// moment (and, in some rounds, a key rotation running beside it), then
// checks the store.
func (r *crashRig) round(n int) {
	t := r.t
	if r.b.cmd == nil {
		if err := r.b.start(); err != nil {
			t.Fatalf("round %d: the broker does not start after a kill: %v", n, err)
		}
	}
	r.led.mu.Lock()
	r.led.vends, r.led.tokens, r.led.admin = nil, nil, map[[2]string]int{}
	r.led.mu.Unlock()
	r.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer r.client.CloseIdleConnections()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(fn func(i int)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				fn(i)
			}
		}()
	}
	// One worker per record kind, so that each record has one writer.
	worker(func(i int) { r.updateConnector(i) })
	worker(func(i int) { r.setVariableOrToken(n, i) })
	for v := range 2 {
		worker(func(i int) { r.vendOnce(fmt.Sprintf("r%d-w%d-%d", n, v, i)) })
	}

	var rotate *exec.Cmd
	var rotateOut bytes.Buffer
	rotateDone := make(chan error, 1)
	killRotate := false
	if n%3 == 1 {
		rotate = exec.Command(r.w.cb, append([]string{"key", "rotate"}, r.cs.args()...)...)
		rotate.Env = r.w.env()
		rotate.Stdout, rotate.Stderr = &rotateOut, &rotateOut
		rotate.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := rotate.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { rotateDone <- rotate.Wait() }()
		killRotate = r.rng.IntN(2) == 0
		r.rotations++
		if killRotate {
			r.rotationsKilled++
		}
	}
	killAt := time.Duration(20+r.rng.IntN(600)) * time.Millisecond
	rotateKillAt := time.Duration(r.rng.IntN(800)) * time.Millisecond
	start := time.Now()
	time.Sleep(killAt)
	r.b.kill()
	close(stop)
	wg.Wait()
	if rotate != nil {
		var err error
		if killRotate {
			time.Sleep(time.Until(start.Add(rotateKillAt)))
			rotate.Process.Kill()
			err = <-rotateDone
		} else {
			select {
			case err = <-rotateDone:
			case <-time.After(2 * time.Minute):
				rotate.Process.Kill()
				<-rotateDone
				t.Fatalf("round %d: key rotate did not finish in 2 minutes:\n%s", n, rotateOut.String())
			}
		}
		r.w.record("key rotate", rotateOut.Bytes())
		if !killRotate && err != nil {
			t.Errorf("round %d: key rotate beside the crashed broker failed: %v\n%s", n, err, rotateOut.String())
		}
	}
	if log := r.b.log.String(); strings.Contains(log, "DATA RACE") || strings.Contains(log, "panic:") {
		t.Errorf("round %d: the broker log shows a race or a panic:\n%s", n, log)
	}
	r.check(n)
}

func (r *crashRig) updateConnector(i int) {
	names := []string{"deploy", "churn-0", "churn-1", "churn-2"}
	name := names[i%len(names)]
	r.led.mu.Lock()
	g := r.led.conns[name]
	g.attempted++
	g.attemptedUpdates++
	gen := g.attempted
	r.led.mu.Unlock()
	st, body := r.call(http.MethodPut, "/v1/connectors/"+name, r.admin, r.connectorSpec(name, g, gen), nil)
	if st != http.StatusOK {
		r.unexpected("connector update "+name, st, body)
		return
	}
	r.led.mu.Lock()
	g.acked, g.ackedUpdates = gen, g.ackedUpdates+1
	r.led.admin[[2]string{credbroker.ActionConnectorUpdate, name}]++
	r.led.mu.Unlock()
}

func (r *crashRig) setVariableOrToken(round, i int) {
	if i%4 == 3 {
		var nt credbroker.NewToken
		st, body := r.call(http.MethodPost, "/v1/tokens", r.admin,
			credbroker.TokenSpec{Name: fmt.Sprintf("crash-%d-%d", round, i), Role: credbroker.RoleAgent, Plans: crashPlan}, &nt)
		if st != http.StatusCreated {
			r.unexpected("token create", st, body)
			return
		}
		r.w.secret(nt.Secret)
		r.led.mu.Lock()
		r.led.tokens = append(r.led.tokens, ackedToken{nt.ID, nt.Secret})
		r.led.admin[[2]string{credbroker.ActionTokenCreate, ""}]++
		r.led.mu.Unlock()
		return
	}
	name := "crash" + strconv.Itoa(i%2) + "Password"
	r.led.mu.Lock()
	g := r.led.vars[name]
	g.attempted++
	gen := g.attempted
	r.led.mu.Unlock()
	st, body := r.call(http.MethodPut, "/v1/variables/"+name, r.admin, map[string]any{"value": g.value(gen), "secret": true}, nil)
	if !is2xx(st) {
		r.unexpected("variable set "+name, st, body)
		return
	}
	r.led.mu.Lock()
	g.acked = gen
	r.led.admin[[2]string{credbroker.ActionVariableSet, ""}]++
	r.led.mu.Unlock()
}

func (r *crashRig) vendOnce(build string) {
	var res credbroker.VendResult
	st, body := r.call(http.MethodPost, "/v1/credentials", r.agent, credbroker.VendRequest{Connector: "deploy", Plan: crashPlan, Build: build}, &res)
	if st != http.StatusOK {
		r.unexpected("vend "+build, st, body)
		return
	}
	r.w.secret(res.SecretAccessKey, res.SessionToken)
	if res.AccessKeyID == "" || res.SecretAccessKey == "" {
		r.t.Errorf("vend %s: 200 without credentials", build)
		return
	}
	r.led.mu.Lock()
	r.led.vends = append(r.led.vends, ackedVend{res.AccessKeyID, build})
	r.led.mu.Unlock()
}

// check opens the store of the stopped broker and proves it whole: the
// SQLite file passes its integrity check; every sealed secret opens under
// the key file and matches its row; every acknowledged change and vend is
// there; the audit chain verifies (through `credbroker audit verify
// --local`). Then it runs the leak check over the round's output.
func (r *crashRig) check(n int) {
	t := r.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if r.cs.dbFile != "" {
		sqliteIntegrity(t, r.cs.dbFile)
	}
	st, err := r.cs.open(ctx)
	if err != nil {
		t.Fatalf("round %d: the store does not open after the kill: %v", n, err)
	}
	defer st.Close()
	ring, err := seal.Load(r.cs.keyFile)
	if err != nil {
		t.Fatalf("round %d: the key file does not load after the kill: %v", n, err)
	}
	checkSealed(t, ctx, st, ring, r.cs.dsn)

	r.led.mu.Lock()
	defer r.led.mu.Unlock()
	for name, g := range r.led.conns {
		c, err := st.GetConnector(ctx, name)
		if err != nil {
			t.Errorf("round %d: connector %s: %v", n, name, err)
			continue
		}
		gen, err := strconv.Atoi(strings.TrimPrefix(c.Description, "gen "))
		if err != nil || gen < g.acked || gen > g.attempted {
			t.Errorf("round %d: connector %s holds %q; acknowledged gen %d, attempted up to %d", n, name, c.Description, g.acked, g.attempted)
			continue
		}
		if upd := int(c.Revision) - 1; upd < g.ackedUpdates || upd > g.attemptedUpdates {
			t.Errorf("round %d: connector %s at revision %d; acknowledged updates %d, attempted %d", n, name, c.Revision, g.ackedUpdates, g.attemptedUpdates)
		}
		plain, err := ring.Open(credbroker.SecretRef{Kind: "connector", ID: c.ID}, c.Secret)
		want := r.w.minio.RootPassword
		if name != "deploy" {
			want = g.value(gen)
		}
		if err != nil || string(plain) != want {
			t.Errorf("round %d: connector %s: its sealed secret does not open to the one stored with %q (%v)", n, name, c.Description, err)
		}
		if name != "deploy" && c.AccessKeyID != "AKIACRASH"+strings.ToUpper(name[len(name)-1:])+"0000000000" {
			t.Errorf("round %d: connector %s: access key ID %q", n, name, c.AccessKeyID)
		}
	}
	vars, err := st.ListVariables(ctx, "")
	if err != nil {
		t.Fatalf("round %d: list variables: %v", n, err)
	}
	seen := map[string]bool{}
	for _, v := range vars {
		g, ok := r.led.vars[v.Name]
		if !ok {
			continue
		}
		seen[v.Name] = true
		plain, err := ring.Open(v.Ref(), v.Sealed)
		if err != nil || !v.Secret {
			t.Errorf("round %d: variable %s: secret %v, opens: %v", n, v.Name, v.Secret, err)
			continue
		}
		gen, err := strconv.Atoi(strings.TrimPrefix(string(plain), g.prefix+"-g"))
		if err != nil || !strings.HasPrefix(string(plain), g.prefix) || gen < g.acked || gen > g.attempted {
			t.Errorf("round %d: variable %s does not hold a generation between %d and %d", n, v.Name, g.acked, g.attempted)
		}
	}
	if len(seen) != len(r.led.vars) {
		t.Errorf("round %d: variables missing: have %v", n, seen)
	}
	for _, tk := range r.led.tokens {
		got, err := st.GetToken(ctx, tk.id)
		if err != nil || got.Role != credbroker.RoleAgent || got.Plans != crashPlan {
			t.Errorf("round %d: acknowledged token %s is not stored whole: %+v %v", n, tk.id, got, err)
		}
	}

	// The round's audit records.
	recs, err := st.ListAudit(ctx, credbroker.AuditFilter{AfterSeq: r.headSeq})
	if err != nil {
		t.Fatalf("round %d: list audit: %v", n, err)
	}
	granted := map[string]credbroker.AuditRecord{}
	admin := map[[2]string]int{}
	for _, rec := range recs {
		switch {
		case rec.Action == credbroker.ActionVend && rec.Outcome == credbroker.OutcomeGranted:
			granted[rec.AccessKeyID] = rec
		case rec.Action == credbroker.ActionVend:
			t.Errorf("round %d: a vend was refused while the broker was up: %+v", n, rec)
		case rec.Outcome == credbroker.OutcomeGranted:
			key := [2]string{rec.Action, ""}
			if rec.Action == credbroker.ActionConnectorUpdate {
				key[1] = rec.Connector
			}
			admin[key]++
		}
	}
	for _, v := range r.led.vends {
		rec, ok := granted[v.accessKeyID]
		if !ok || rec.Build != v.build || rec.Plan != crashPlan || rec.Connector != "deploy" {
			t.Errorf("round %d: acknowledged vend %s (key %s) has no audit record: %+v", n, v.build, credbroker.MaskKeyID(v.accessKeyID), rec)
		}
	}
	r.totalVends += len(r.led.vends)
	for key, acked := range r.led.admin {
		r.totalAdmin += acked
		if admin[key] < acked {
			t.Errorf("round %d: %d acknowledged %s %s changes, %d audit records", n, acked, key[0], key[1], admin[key])
		}
	}
	if r.headSeq, _, err = st.AuditHead(ctx); err != nil {
		t.Fatalf("round %d: audit head: %v", n, err)
	}
	st.Close()

	res := r.w.cbr(r.w.env(), append([]string{"audit", "verify", "--local"}, r.cs.args()...)...)
	if res.code != 0 || !strings.Contains(res.stdout, "audit chain verified") {
		t.Errorf("round %d: audit verify --local: exit %d\n%s%s", n, res.code, res.stdout, res.stderr)
	}
	if n > 0 {
		// Acknowledged tokens work after the restart, which proves their
		// hash whole; the next round's broker is started here for it.
		if len(r.led.tokens) > 0 {
			if err := r.b.start(); err != nil {
				t.Fatalf("round %d: the broker does not start after a kill: %v", n, err)
			}
			for _, tk := range r.led.tokens {
				if st, body := r.call(http.MethodGet, "/v1/agent/variables?plan="+crashPlan, tk.secret, nil, nil); st != http.StatusOK {
					t.Errorf("round %d: acknowledged token %s: %d %s", n, tk.id, st, body)
				}
			}
		}
	}
	r.roundLeakCheck()
}

// roundLeakCheck searches the output recorded since the last check for
// every secret, then forgets that output and the round's own secrets
// (vended keys, new tokens), so that a long run stays fast.
func (r *crashRig) roundLeakCheck() {
	w := r.w
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.secrets {
		for _, f := range forms(s) {
			if len(f) < 8 {
				continue
			}
			for _, o := range w.outputs {
				if bytes.Contains(o.data, []byte(f)) {
					r.t.Errorf("leak: a secret (%d characters) appears in %s", len(s), o.what)
				}
			}
		}
	}
	w.outputs = w.outputs[:0]
	w.secrets = w.secrets[:r.persistent]
}

// sqliteIntegrity runs SQLite's own integrity and foreign key checks on
// the file.
func sqliteIntegrity(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&res); err != nil || res != "ok" {
		t.Fatalf("integrity_check of %s: %q %v", path, res, err)
	}
	rows, err := db.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatalf("foreign_key_check: %v", err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Fatalf("foreign_key_check of %s finds rows that break a reference", path)
	}
}

// checkSealed opens every sealed value in the store (connectors, secret
// variables, the key check, and on the PostgreSQL database dsn the shared
// sessions) with ring, and checks that the counts per key version add up.
func checkSealed(t *testing.T, ctx context.Context, st credbroker.Store, ring *seal.Ring, dsn string) {
	t.Helper()
	total := 0
	if dsn != "" {
		// The sessions the brokers of a fleet share are sealed too; the
		// store lists them to no one, so they are read from the database.
		db, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.QueryContext(ctx, `SELECT key, key_version, blob FROM shared_sessions`)
		if err != nil {
			t.Fatalf("list shared sessions: %v", err)
		}
		for rows.Next() {
			var key string
			var sealed credbroker.Sealed
			if err := rows.Scan(&key, &sealed.KeyVersion, &sealed.Blob); err != nil {
				t.Fatal(err)
			}
			total++
			if _, err := ring.Open(credbroker.SessionRef(key), sealed); err != nil {
				t.Errorf("shared session %s: sealed session does not open: %v", key, err)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := st.KeyCheck(ctx)
	if err == nil {
		_, err = ring.Open(credbroker.KeyCheckRef, kc)
	}
	if err != nil {
		t.Errorf("the key check does not open: %v", err)
	}
	total++
	conns, err := st.ListConnectors(ctx)
	if err != nil {
		t.Fatalf("list connectors: %v", err)
	}
	for _, c := range conns {
		if c.Secret.Empty() {
			continue
		}
		total++
		if _, err := ring.Open(credbroker.SecretRef{Kind: "connector", ID: c.ID}, c.Secret); err != nil {
			t.Errorf("connector %s: sealed secret does not open: %v", c.Name, err)
		}
	}
	vars, err := st.ListVariables(ctx, "")
	if err != nil {
		t.Fatalf("list variables: %v", err)
	}
	for _, v := range vars {
		if !v.Secret {
			continue
		}
		total++
		if _, err := ring.Open(v.Ref(), v.Sealed); err != nil {
			t.Errorf("variable %s: sealed value does not open: %v", v.Name, err)
		}
	}
	counts, err := st.CountSealed(ctx)
	if err != nil {
		t.Fatalf("count sealed: %v", err)
	}
	sum := 0
	for _, c := range counts {
		sum += c
	}
	if sum != total {
		t.Errorf("the store counts %d sealed values (%v), %d found", sum, counts, total)
	}
}

// TestCrashKillFirstStart kills `credbroker serve` at random moments of its
// very first start on a new store (schema, master key file, key check),
// then starts it again: it must come up every time, with a key file that
// opens the store's key check.
func TestCrashKillFirstStart(t *testing.T) {
	w := &world{t: t, cb: testpeers.BuildCredbroker(t), dir: t.TempDir()}
	t.Cleanup(w.checkLeaks)
	rng := mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for i := range 12 {
		dir := dataDir(w, fmt.Sprintf("first-%d", i))
		cmd := exec.Command(w.cb, "serve", "--listen", fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t)), "--data-dir", dir)
		cmd.Env = w.env()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAt := time.Duration(rng.IntN(400)) * time.Millisecond
		time.Sleep(killAt)
		cmd.Process.Kill()
		cmd.Wait()
		w.record("killed first start", out.Bytes())

		b := &brokerProc{w: w, dataDir: dir}
		b.URL = fmt.Sprintf("http://127.0.0.1:%d", testpeers.FreePort(t))
		b.args = []string{"serve", "--listen", strings.TrimPrefix(b.URL, "http://"), "--data-dir", dir}
		if err := b.start(); err != nil {
			t.Fatalf("start %d, killed %s into its first start: %v", i, killAt, err)
		}
		b.stop()
		ctx := t.Context()
		st, err := sqlite.Open(ctx, filepath.Join(dir, "credbroker.db"))
		if err != nil {
			t.Fatalf("start %d: open the store: %v", i, err)
		}
		ring, err := seal.Load(filepath.Join(dir, "master.key"))
		if err != nil {
			st.Close()
			t.Fatalf("start %d: load the key file: %v", i, err)
		}
		checkSealed(t, ctx, st, ring, "")
		st.Close()
	}
}
