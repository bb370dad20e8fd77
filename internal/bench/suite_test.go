//go:build bench

package bench

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/cli"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/postgres"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

var (
	flagOut        = flag.String("out", "", "BENCHMARKS.md to write (default <repo>/BENCHMARKS.md; with -only, <repo>/.cache/bench/BENCHMARKS.md)")
	flagFigures    = flag.String("figures", "", "directory of the figures and micro-benchmark files (default <repo>/docs/bench)")
	flagRuns       = flag.Int("runs", 5, "runs of each load scenario and system; medians are reported")
	flagDuration   = flag.Duration("duration", 3*time.Second, "length of one load run")
	flagOnly       = flag.String("only", "", "run only the scenarios whose name matches this regular expression")
	flagProfile    = flag.Duration("profile", 10*time.Second, "length of each CPU-profiled load run (0 skips the profiles)")
	flagMicro      = flag.Bool("micro", true, "run the Go micro-benchmarks and compare them with benchstat")
	flagMicroCount = flag.Int("micro-count", 6, "go test -count of the micro-benchmarks")
	flagMicroTime  = flag.String("micro-benchtime", "300ms", "go test -benchtime of the micro-benchmarks")
	flagWaitQuiet  = flag.Duration("wait-quiet", 0, "wait up to this long for the machine to be idle (under 15% CPU busy over 5 s) before measuring")
	flagNewBase    = flag.Bool("update-baseline", false, "store this run's micro-benchmarks as the baseline that later runs are compared with")
	flagCompare    = flag.String("compare", "", "another credbroker binary, measured beside this build and the baseline in vend-1conn and vend-64-sqlite, the three alternating run by run")
)

// The helper processes this test binary can become, chosen by helperVar.
const (
	helperVar      = "CREDBROKER_BENCH_HELPER"
	helperBaseline = "baseline"            // FixedJSON on $CREDBROKER_BENCH_LISTEN (host:port or unix:PATH), body from $CREDBROKER_BENCH_BODY
	helperProfiled = "credbroker-profiled" // credbroker's own main, under a CPU profile written to $CREDBROKER_BENCH_CPUPROFILE
	helperDurable  = "durable"             // DurableJSON: the baseline plus an fdatasync'd append to $CREDBROKER_BENCH_SYNCFILE
)

func TestMain(m *testing.M) {
	switch role := os.Getenv(helperVar); role {
	case "":
		os.Exit(m.Run())
	case helperBaseline, helperDurable:
		os.Exit(runBaseline())
	case helperProfiled:
		os.Exit(runProfiled())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", helperVar, role)
		os.Exit(2)
	}
}

// runBaseline serves FixedJSON until SIGTERM.
func runBaseline() int {
	body, err := os.ReadFile(os.Getenv("CREDBROKER_BENCH_BODY"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	network, addr := "tcp", os.Getenv("CREDBROKER_BENCH_LISTEN")
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, addr = "unix", path
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := FixedJSON(body)
	if path := os.Getenv("CREDBROKER_BENCH_SYNCFILE"); os.Getenv(helperVar) == helperDurable {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			return 1
		}
		defer f.Close()
		h = DurableJSON(body, auditLine, f)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		return 1
	}
	return 0
}

// auditLine is what the durable baseline appends per request: a JSON line
// the size of a vend's audit record with its hashes.
var auditLine = []byte(`{"seq":123456,"time":"2026-12-01T00:00:00.000000Z","action":"vend","token_id":"tok_0123456789abcdef",` +
	`"plan":"OPS-DEPLOY","build":"42","job":"OPS-DEPLOY-JOB1","task":"upload","connector":"deploy",` +
	`"role_arn":"arn:aws:iam::123456789012:role/deploy","access_key_id":"ASIA0123456789ABCDEF","expiration":"2026-12-01T01:00:00Z",` +
	`"outcome":"granted","detail":"cached session","tags":"credbroker:plan=OPS-DEPLOY,credbroker:build=42,credbroker:job=OPS-DEPLOY-JOB1",` +
	`"prev_hash":"0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0",` +
	`"hash":"a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a6978879"}` + "\n")

// runProfiled runs credbroker's command line, as cmd/credbroker does,
// under a CPU profile that is written when the command returns, with the
// block profile (where goroutines wait) written beside it.
func runProfiled() int {
	path := os.Getenv("CREDBROKER_BENCH_CPUPROFILE")
	runtime.SetBlockProfileRate(int(10 * time.Microsecond))
	runtime.SetMutexProfileFraction(10)
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 1
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()})
	stop()
	pprof.StopCPUProfile()
	err = f.Close()
	if err == nil {
		err = writeProfile("block", path+".block")
	}
	if err == nil {
		err = writeProfile("mutex", path+".mutex")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return 1
	}
	return code
}

// writeProfile writes the named runtime profile to path.
func writeProfile(name, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = pprof.Lookup(name).WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// suite is one run of TestSuite: the shared peers and the report.
type suite struct {
	t      *testing.T
	ctx    context.Context
	root   string
	out    string
	figDir string
	runs   int
	dur    time.Duration
	only   *regexp.Regexp

	cb       string // the credbroker binary
	agent    string // its agent build (-tags agentonly)
	cmp      string // the binary of -compare, or ""
	cmpSite  *site  // a broker on SQLite running cmp, beside sqlite
	minio    *testpeers.MinIOServer
	proxy    *testpeers.CountingProxy
	sqlite   *site              // the broker on SQLite the vend scenarios share
	baseline *testpeers.Process // FixedJSON with a real vend's body
	baseURL  string
	durable  *testpeers.Process // DurableJSON, appending beside the SQLite site's store
	durURL   string

	report Report
	vendOK func([]byte) error
}

// TestSuite is the benchmark suite that scripts/bench runs.
func TestSuite(t *testing.T) {
	started := time.Now()
	s := &suite{t: t, ctx: t.Context(), root: testpeers.RepoRoot(t), runs: max(*flagRuns, 1), dur: *flagDuration}
	s.out = firstNonEmpty(*flagOut, filepath.Join(s.root, "BENCHMARKS.md"))
	s.figDir = firstNonEmpty(*flagFigures, filepath.Join(s.root, "docs", "bench"))
	if *flagOnly != "" && *flagOut == "" {
		// A partial run does not replace the full report.
		s.out = filepath.Join(s.root, ".cache", "bench", "BENCHMARKS.md")
		s.figDir = firstNonEmpty(*flagFigures, filepath.Join(s.root, ".cache", "bench", "docs", "bench"))
	}
	if err := os.MkdirAll(s.figDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if *flagOnly != "" {
		s.only = regexp.MustCompile(*flagOnly)
	}
	s.report = Report{Machine: DescribeMachine(), Started: started}
	s.report.Settings = fmt.Sprintf("Load: vegeta %s as a library in closed loop (N keep-alive connections, each sending its next request when the last was answered), "+
		"%d runs of %s per system, credbroker and its baseline alternating; the figures are the medians of the runs. "+
		"The load generator, credbroker and the baselines share the machine's cores over loopback. "+
		"credbroker serve runs as built by `go build`, logging one line per request (the default) to a file.", vegetaVersion(s.root), s.runs, s.dur)
	s.vendOK = func(b []byte) error {
		if !strings.Contains(string(b), `"access_key_id":"`) {
			return errors.New("200 without credentials")
		}
		return nil
	}

	s.report.Code = codeVersion(s.root)
	s.cb = testpeers.BuildCredbroker(t)
	s.agent = testpeers.BuildCredbrokerAgent(t)
	if *flagCompare != "" {
		cmp, err := filepath.Abs(*flagCompare)
		if err == nil {
			_, err = os.Stat(cmp)
		}
		if err != nil {
			t.Fatalf("-compare: %v", err)
		}
		s.cmp = cmp
		s.report.Settings += " With -compare, a second build (" + filepath.Base(cmp) + ") runs beside this one on a store of its own in the SQLite vend scenarios."
	}
	busy := s.waitQuiet()
	loadStart := LoadAverage()
	started = time.Now()
	s.report.Started = started
	needSTS := s.want("vend-1conn", "vend-1conn-normal", "vend-64-sqlite", "vend-64-postgres", "metrics-overhead", "cold-1000", "cold-1000-3brokers", "growth", "profile")
	if needSTS {
		s.minio = testpeers.MinIO(t)
		p, err := testpeers.StartCountingProxy(s.minio.Endpoint)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		s.proxy = p
	}
	if s.want("vend-1conn", "vend-1conn-normal", "vend-64-sqlite", "vend-64-postgres", "metrics-overhead", "cold-1000") {
		s.sqlite = s.startSite(t, "broker-sqlite", "", 1, s.cb)
		if s.cmp != "" {
			s.cmpSite = s.startSite(t, "broker-sqlite-compare", "", 1, s.cmp)
		}
		s.startBaseline(t)
	}

	s.scenario("vend-1conn", s.vendOneConn)
	s.scenario("vend-1conn-normal", s.vendOneConnSyncNormal)
	s.scenario("vend-64-sqlite", s.vend64SQLite)
	s.scenario("vend-64-postgres", s.vend64Postgres)
	s.scenario("metrics-overhead", s.metricsOverhead)
	s.scenario("endpoint-16", s.endpoint16)
	s.scenario("agent-endpoint", s.agentEndpoint)
	s.scenario("agent-channel", s.agentChannel)
	s.scenario("cold-1000", s.cold1000)
	s.scenario("cold-1000-3brokers", s.cold1000Fleet)
	s.scenario("hour-900s", s.hour900)
	s.scenario("exec", s.execOverhead)
	s.scenario("growth", s.growth)
	s.scenario("profile", s.profiles)
	s.scenario("agent-profile", s.agentProfiles)
	if *flagMicro {
		s.scenario("micro", s.micro)
	}

	s.report.Elapsed = time.Since(started)
	s.report.Conditions = fmt.Sprintf("CPU %.0f%% busy in the 5 s before the run; load average (1, 5, 15 min) %s at the start, %s at the end",
		100*busy, loadStart, LoadAverage())
	if err := WriteFile(s.out, s.report.Markdown()); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s\nwrote %s and the figures in %s\n", s.report.Text(), s.out, s.figDir)
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// vegetaVersion is the version of the load generator that the bench
// module's go.mod pins (test binaries carry no module versions in their
// build information).
func vegetaVersion(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "internal", "bench", "go.mod"))
	if err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "github.com/tsenart/vegeta/v12" {
				return f[1]
			}
		}
	}
	return "v12"
}

// codeVersion names the commit of the repository at root and says
// whether its working tree has changes; "unknown" outside a git checkout.
func codeVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	v := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		v += ", with uncommitted changes"
	}
	return v
}

// waitQuiet waits up to -wait-quiet for the machine to be idle, and
// returns how busy its CPUs were in the last 5 s.
func (s *suite) waitQuiet() float64 {
	deadline := time.Now().Add(*flagWaitQuiet)
	for {
		busy, err := CPUBusy(5 * time.Second)
		if err != nil {
			s.t.Logf("cannot tell how busy the machine is: %v", err)
			return 0
		}
		if busy < 0.15 || time.Now().After(deadline) {
			fmt.Printf("CPU %.0f%% busy before the run (load average %s)\n", 100*busy, LoadAverage())
			return busy
		}
		fmt.Printf("waiting for a quiet machine: CPU %.0f%% busy (load average %s)\n", 100*busy, LoadAverage())
	}
}

// want reports whether any of the scenarios is selected by -only.
func (s *suite) want(names ...string) bool {
	for _, n := range names {
		if s.only == nil || s.only.MatchString(n) {
			return true
		}
	}
	return false
}

// scenario runs fn as a subtest when -only selects it.
func (s *suite) scenario(name string, fn func(t *testing.T)) {
	if !s.want(name) {
		return
	}
	t0 := time.Now()
	s.t.Run(name, fn)
	fmt.Printf("scenario %s done in %s (load average %s)\n", name, time.Since(t0).Round(time.Second), LoadAverage())
}

// row adds a line to the summary table.
func (s *suite) row(r Row) { s.report.Rows = append(s.report.Rows, r) }

// section adds a block of Markdown after the table.
func (s *suite) section(title, body string) {
	s.report.Sections = append(s.report.Sections, Section{Title: title, Body: body})
}

// figure writes f to the figures directory as name.svg and returns the
// Markdown that shows it.
func (s *suite) figure(t *testing.T, name string, f Figure) string {
	path := filepath.Join(s.figDir, name+".svg")
	file, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	err = f.WriteSVG(file)
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(filepath.Dir(s.out), path)
	if err != nil {
		rel = path
	}
	return fmt.Sprintf("![%s](%s)", f.Title, filepath.ToSlash(rel))
}

// waitHTTP waits until p answers 200 at url, or fails t when p exits first
// or a minute passes.
func waitHTTP(t *testing.T, p *testpeers.Process, url string) {
	t.Helper()
	if err := p.WaitHTTP(time.Minute, url); err != nil {
		t.Fatal(err)
	}
}

// rssKiB returns the resident set size of process pid.
func rssKiB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}

// site is a `credbroker serve` with its store provisioned.
type site struct {
	url     string
	metrics string // its --metrics-listen URL of /metrics
	tokens  Tokens
	dataDir string
	dbPath  string // the SQLite file, "" on PostgreSQL
	proc    *testpeers.Process
}

// startSite provisions a store (SQLite in a new data directory, or the
// PostgreSQL database dsn) with tokens and n connectors on MinIO's STS
// through the counting proxy, and starts binary serve on it. The first
// connector is "deploy", the others "deploy-00001" and so on.
func (s *suite) startSite(t *testing.T, name, dsn string, n int, binary string, env ...string) *site {
	t.Helper()
	ctx := s.ctx
	st := &site{dataDir: t.TempDir()}
	keyFile := filepath.Join(st.dataDir, "master.key")
	ring, _, err := seal.LoadOrCreate(keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	var store credbroker.Store
	if dsn == "" {
		st.dbPath = filepath.Join(st.dataDir, "credbroker.db")
		store, err = sqlite.Open(ctx, st.dbPath)
	} else {
		store, err = postgres.Open(ctx, dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := broker.CheckKey(ctx, store, ring, keyFile); err != nil {
		t.Fatal(err)
	}
	specs := make([]credbroker.ConnectorSpec, n)
	for i := range specs {
		specs[i] = s.connectorSpec(connectorName(i))
	}
	st.tokens, err = Provision(ctx, store, ring, specs)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	st.serve(t, name, binary, keyFile, dsn, env...)
	return st
}

// serve starts binary serve on a new loopback port, with st's data
// directory, the master key in keyFile and, when dsn is set, the
// PostgreSQL database dsn, and waits until it is ready.
func (st *site) serve(t *testing.T, name, binary, keyFile, dsn string, env ...string) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t))
	st.url = "http://" + addr
	maddr := fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t))
	st.metrics = "http://" + maddr + "/metrics"
	env = append(env, "CREDBROKER_METRICS_LISTEN="+maddr)
	args := []string{"serve", "--listen", addr, "--data-dir", st.dataDir, "--key-file", keyFile}
	if dsn != "" {
		args = append(args, "--database-url", dsn)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = testpeers.Env(append([]string{"HOME=" + st.dataDir, "AWS_EC2_METADATA_DISABLED=true"}, env...)...)
	st.proc = testpeers.StartProcess(t, name, cmd)
	waitHTTP(t, st.proc, st.url+"/readyz")
}

// startFleet starts n brokers of binary on one new PostgreSQL database
// with one master key, each with a data directory of its own: a fleet.
// The first is provisioned as startSite does; the others share its
// tokens and connectors through the database.
func (s *suite) startFleet(t *testing.T, n int, binary string) []*site {
	t.Helper()
	dsn := testpeers.Postgres(t)
	first := s.startSite(t, "fleet-broker-0", dsn, 1, binary)
	fleet := []*site{first}
	for i := 1; i < n; i++ {
		st := &site{dataDir: t.TempDir(), tokens: first.tokens}
		st.serve(t, fmt.Sprintf("fleet-broker-%d", i), binary, filepath.Join(first.dataDir, "master.key"), dsn)
		fleet = append(fleet, st)
	}
	return fleet
}

func connectorName(i int) string {
	if i == 0 {
		return "deploy"
	}
	return fmt.Sprintf("deploy-%05d", i)
}

// connectorSpec is a connector on MinIO, through the counting proxy, with
// one-hour sessions.
func (s *suite) connectorSpec(name string) credbroker.ConnectorSpec {
	return ConnectorSpec(name, s.minio.RootUser, s.minio.RootPassword, s.proxy.URL, time.Hour)
}

// vendTarget is a vend request of connector for a build, with token.
func vendTarget(url, token, connector, build string) vegeta.Target {
	body := fmt.Sprintf(`{"connector":%q,"plan":"OPS-DEPLOY","build":%q,"job":"OPS-DEPLOY-JOB1","task":"upload"}`, connector, build)
	return vegeta.Target{
		Method: http.MethodPost,
		URL:    url + "/v1/credentials",
		Body:   []byte(body),
		Header: http.Header{"Authorization": {"Bearer " + token}, "Content-Type": {"application/json"}},
	}
}

// vendOnce makes one vend and returns the response body.
func vendOnce(t *testing.T, st *site, connector, build string) []byte {
	t.Helper()
	tg := vendTarget(st.url, st.tokens.Agent, connector, build)
	req, err := tg.Request()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		// An error body holds a code and a message, never a secret.
		t.Fatalf("vend %s/%s: status %d: %s", connector, build, resp.StatusCode, body)
	}
	return body
}

// startBaseline starts FixedJSON, answering with the body of a real
// cached vend of the SQLite site, and the durability limit: the same
// answer after an fdatasync'd append on the disk of the SQLite site's
// store.
func (s *suite) startBaseline(t *testing.T) {
	body := vendOnce(t, s.sqlite, "deploy", "42")
	addr := fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t))
	s.baseline = startFixed(t, "baseline", addr, body)
	s.baseURL = "http://" + addr
	waitHTTP(t, s.baseline, s.baseURL+"/")

	path := filepath.Join(t.TempDir(), "durable-body.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	addr = fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t))
	cmd := exec.Command(self)
	cmd.Env = testpeers.Env(helperVar+"="+helperDurable, "CREDBROKER_BENCH_LISTEN="+addr, "CREDBROKER_BENCH_BODY="+path,
		"CREDBROKER_BENCH_SYNCFILE="+filepath.Join(s.sqlite.dataDir, "durable-baseline.log"))
	s.durable = testpeers.StartProcess(t, "durable-baseline", cmd)
	s.durURL = "http://" + addr
	waitHTTP(t, s.durable, s.durURL+"/")
}

// durableTarget is a request to the durable baseline shaped like a vend.
func (s *suite) durableTarget() vegeta.Target {
	return vendTarget(s.durURL, s.sqlite.tokens.Agent, "deploy", "42")
}

// startFixed starts this test binary as a FixedJSON process answering
// body on listen (host:port, or unix:PATH).
func startFixed(t *testing.T, name, listen string, body []byte) *testpeers.Process {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+"-body.json")
	if err := os.WriteFile(path, body, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = testpeers.Env(helperVar+"="+helperBaseline, "CREDBROKER_BENCH_LISTEN="+listen, "CREDBROKER_BENCH_BODY="+path)
	return testpeers.StartProcess(t, name, cmd)
}

// baselineTarget is a request to the baseline shaped like a vend.
func (s *suite) baselineTarget() vegeta.Target {
	tg := vendTarget(s.baseURL, s.sqlite.tokens.Agent, "deploy", "42")
	return tg
}
