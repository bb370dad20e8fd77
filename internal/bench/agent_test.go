//go:build bench

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/credbroker/credbroker/internal/testpeers"
)

// The agent's own speed (issue 15): the container endpoint and the profile
// channel against a bare net/http handler answering the same JSON bytes,
// and where their time goes.

// startAgentTask runs `binary args... -- sh -c SCRIPT` with a task that
// writes the words of report (shell words, expanded in the task) to a
// file and sleeps; it returns the process and the words.
func (s *suite) startAgentTask(t *testing.T, name, binary string, args []string, report string, env ...string) (*testpeers.Process, []string) {
	t.Helper()
	dir := t.TempDir()
	info := filepath.Join(dir, "task.info")
	script := `printf '%s\n' ` + report + ` > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 3600`
	cmd := exec.Command(binary, append(args, "--", "/bin/sh", "-c", script, "sh", info)...)
	cmd.Env = testpeers.Env(append([]string{"HOME=" + dir, "TMPDIR=" + dir}, env...)...)
	task := testpeers.StartProcess(t, name, cmd)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if b, err := os.ReadFile(info); err == nil {
			return task, strings.Split(strings.TrimSpace(string(b)), "\n")
		}
		select {
		case <-task.Done():
			t.Fatalf("%s ended: %v\n%s", name, task.Err(), task.Tail(20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not report\n%s", name, task.Tail(20))
		}
	}
}

// fetch GETs url (over the unix socket unix, when set) with the
// Authorization header auth and returns the body of a 200 answer.
func fetch(t *testing.T, url, unix, auth string) []byte {
	t.Helper()
	tr := &http.Transport{}
	if unix != "" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", unix)
		}
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, %v", url, resp.StatusCode, err)
	}
	return body
}

// endpointTask starts credbroker exec --delivery endpoint with static
// session credentials of real sizes, and returns the endpoint's URL, its
// token and the body it answers.
func (s *suite) endpointTask(t *testing.T, name, binary string, env ...string) (*testpeers.Process, string, string, []byte) {
	t.Helper()
	vars := agentVars(t)
	task, rep := s.startAgentTask(t, name, binary, append(agentStaticFlags(vars), "--delivery", "endpoint"),
		`"$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN"`, env...)
	return task, rep[0], rep[1], fetch(t, rep[0], "", rep[1])
}

// channelTask starts credbroker exec with two profiles of static session
// credentials, and returns the channel's directory, its token and the body
// it answers for profile ci.
func (s *suite) channelTask(t *testing.T, name, binary string, env ...string) (*testpeers.Process, string, string, []byte) {
	t.Helper()
	vars := agentVars(t)
	keys := "access-key-id=${bamboo.awsAccessKeyId},secret-access-key=${bamboo.awsSecretKeyPassword},session-token=${bamboo.awsSessionTokenPassword}"
	task, rep := s.startAgentTask(t, name, binary, []string{"exec", "--vars", vars, "--region", "us-east-1",
		"--profile", "ci=" + keys, "--profile", "prod=region=eu-west-1," + keys}, `"$(dirname "$AWS_CONFIG_FILE")"`, env...)
	dir := rep[0]
	tok, err := os.ReadFile(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	return task, dir, string(tok), fetch(t, "http://channel/profiles/ci", filepath.Join(dir, "sock"), string(tok))
}

// agentVars writes the variables of the agent scenarios' static session
// credentials, of real sizes.
func agentVars(t *testing.T) string {
	id, secret, token := fakeCreds()
	path := filepath.Join(t.TempDir(), "agent.vars")
	body := "awsAccessKeyId=" + id + "\nsecret awsSecretKeyPassword=" + secret + "\nsecret awsSessionTokenPassword=" + token + "\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func agentStaticFlags(vars string) []string {
	return []string{"exec", "--vars", vars, "--region", "us-east-1", "--access-key-id", "${bamboo.awsAccessKeyId}",
		"--secret-access-key", "${bamboo.awsSecretKeyPassword}", "--session-token", "${bamboo.awsSessionTokenPassword}"}
}

// wrkRun is what one wrk run measured.
type wrkRun struct {
	rps      float64
	p50, p99 time.Duration
	requests int
	bad      int // non-2xx answers and socket errors
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPercent = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkCount   = regexp.MustCompile(`(\d+) requests in`)
	wrkNon2xx  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// runWrk runs wrk with conns connections (and two threads) against url for
// dur, with the Authorization header auth.
func runWrk(ctx context.Context, wrk, url, auth string, conns int, dur time.Duration) (wrkRun, error) {
	secs := max(int(dur.Round(time.Second)/time.Second), 1)
	out, err := exec.CommandContext(ctx, wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(secs)+"s", "--latency",
		"-H", "Authorization: "+auth, url).CombinedOutput()
	if err != nil {
		return wrkRun{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var r wrkRun
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk printed no Requests/sec: %s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	for _, m := range wrkPercent.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[3])]
		d := time.Duration(v * float64(unit))
		if string(m[1]) == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkCount.FindSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(string(m[1]))
	}
	if m := wrkNon2xx.FindSubmatch(out); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		r.bad += n
	}
	if m := wrkSocket.FindSubmatch(out); m != nil {
		for _, g := range m[1:] {
			n, _ := strconv.Atoi(string(g))
			r.bad += n
		}
	}
	return r, nil
}

// wrkSide is one system under wrk in a comparison; pid is its server's
// process, whose CPU time per request each run notes.
type wrkSide struct {
	name, url, auth string
	pid             int
	runs            []wrkRun
	cpu             []time.Duration
}

func (w *wrkSide) median() wrkRun {
	var rps []float64
	var p50, p99 []time.Duration
	var out wrkRun
	for _, r := range w.runs {
		rps, p50, p99 = append(rps, r.rps), append(p50, r.p50), append(p99, r.p99)
		out.requests += r.requests
		out.bad += r.bad
	}
	out.rps, out.p50, out.p99 = Median(rps), MedianDuration(p50), MedianDuration(p99)
	return out
}

func (w wrkRun) String() string {
	return fmt.Sprintf("%s, p50 %s, p99 %s", formatRate(w.rps), FormatDuration(w.p50), FormatDuration(w.p99))
}

// measureWrk warms each side up, then runs wrk s.runs times on each,
// alternating the sides and which goes first.
func (s *suite) measureWrk(t *testing.T, conns int, sides ...*wrkSide) {
	t.Helper()
	wrk := "wrk"
	if p, err := exec.LookPath("wrk"); err == nil {
		wrk = p
	} else {
		t.Fatalf("wrk is missing; run scripts/deps: %v", err)
	}
	for _, sd := range sides {
		if _, err := runWrk(s.ctx, wrk, sd.url, sd.auth, conns, time.Second); err != nil {
			t.Fatalf("%s warm-up: %v", sd.name, err)
		}
	}
	for i := range s.runs {
		for j := range sides {
			sd := sides[(i+j)%len(sides)]
			cpu0 := procCPU(sd.pid)
			r, err := runWrk(s.ctx, wrk, sd.url, sd.auth, conns, s.dur)
			if err != nil {
				t.Fatalf("%s: %v", sd.name, err)
			}
			if r.requests > 0 {
				sd.cpu = append(sd.cpu, (procCPU(sd.pid)-cpu0)/time.Duration(r.requests))
			}
			sd.runs = append(sd.runs, r)
		}
	}
	for _, sd := range sides {
		if m := sd.median(); m.bad > 0 {
			t.Errorf("%s: %d answers were not 2xx or failed", sd.name, m.bad)
		}
	}
}

func wrkTable(sides ...*wrkSide) string {
	var b strings.Builder
	b.WriteString("| system | run | requests/s | p50 | p99 | requests | not 2xx or failed | server CPU per request |\n|---|---|---|---|---|---|---|---|\n")
	for _, sd := range sides {
		for i, r := range sd.runs {
			cpu := ""
			if i < len(sd.cpu) {
				cpu = FormatDuration(sd.cpu[i])
			}
			fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %d | %s |\n", sd.name, i+1, formatRate(r.rps), FormatDuration(r.p50), FormatDuration(r.p99), formatInt(int64(r.requests)), r.bad, cpu)
		}
		m := sd.median()
		fmt.Fprintf(&b, "| **%s** | **median** | %s | %s | %s | %s | %d | %s |\n", sd.name, formatRate(m.rps), FormatDuration(m.p50), FormatDuration(m.p99), formatInt(int64(m.requests)), m.bad, FormatDuration(MedianDuration(sd.cpu)))
	}
	return b.String()
}

// awsVaultNote says why aws-vault is no baseline here.
const awsVaultNote = "aws-vault's ECS server (`github.com/99designs/aws-vault/v7`, the baseline the issue names) is not served by the Go module proxy " +
	"this machine may use (it answers 403), so scripts/bench cannot build it; fetched code is not built into the suite either."

// agentEndpoint: the container endpoint of credbroker exec, its task
// asleep, against a bare net/http handler answering the same bytes, under
// wrk at 16 connections.
func (s *suite) agentEndpoint(t *testing.T) {
	task, uri, auth, body := s.endpointTask(t, "credbroker-exec-endpoint-wrk", s.cb)
	addr := fmt.Sprintf("127.0.0.1:%d", testpeers.FreePort(t))
	bare := startFixed(t, "bare-endpoint", addr, body)
	waitHTTP(t, bare, "http://"+addr+"/")
	cb := &wrkSide{name: "credbroker exec endpoint", url: uri, auth: auth, pid: task.Pid()}
	base := &wrkSide{name: "bare net/http, same JSON", url: "http://" + addr + "/credentials", auth: auth, pid: bare.Pid()}
	s.measureWrk(t, 16, cb, base)
	c, b := cb.median(), base.median()
	title := "agent: container endpoint vs a bare handler, wrk, 16 connections"
	s.row(Row{Scenario: title, Credbroker: c.String(), Baseline: "bare net/http: " + b.String(),
		Ratio: fmt.Sprintf("%.2f×", c.rps/b.rps), Goal: "≥ 0.9× the bare handler", Verdict: Judge(c.rps >= 0.9*b.rps)})
	cc, bc := MedianDuration(cb.cpu), MedianDuration(base.cpu)
	s.row(Row{Scenario: "agent: container endpoint, server CPU time per request (same runs)", Credbroker: FormatDuration(cc),
		Baseline: "bare net/http: " + FormatDuration(bc), Ratio: fmt.Sprintf("%.2f× (bare / credbroker)", float64(bc)/float64(cc)),
		Goal: "(info: steadier than throughput on a shared machine)", Verdict: Info})
	s.row(Row{Scenario: "agent: aws-vault's ECS server, same load", Credbroker: "not measured", Baseline: "",
		Ratio: "", Goal: "(the issue's comparison)", Verdict: Info})
	s.section(title, fmt.Sprintf("`credbroker exec --delivery endpoint` with static session credentials of real sizes (800-character token), "+
		"its task asleep; the baseline is this suite's FixedJSON, a bare `net/http` handler answering the %d bytes the endpoint answered, "+
		"with the same Content-Type and Cache-Control. wrk -t2 -c16 --latency, %d runs of %s each, alternating. %s\n\n%s",
		len(body), s.runs, s.dur, awsVaultNote, wrkTable(cb, base)))
}

// agentChannel: the profile channel (the unix socket a task's
// credential_process asks) against a bare net/http handler on a unix
// socket answering the same bytes, 16 connections.
func (s *suite) agentChannel(t *testing.T) {
	task, dir, tok, body := s.channelTask(t, "credbroker-exec-profiles", s.cb)
	sock := filepath.Join(t.TempDir(), "bare.sock")
	bare := startFixed(t, "bare-channel", "unix:"+sock, body)
	if err := bare.WaitReady(time.Minute, func(ctx context.Context) error {
		c, err := net.Dial("unix", sock)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	check := func(b []byte) error {
		if !strings.Contains(string(b), `"AccessKeyId"`) {
			return errors.New("200 without credentials")
		}
		return nil
	}
	target := vegeta.Target{Method: http.MethodGet, URL: "http://channel/profiles/ci", Header: http.Header{"Authorization": {tok}}}
	cb := &side{name: "credbroker profile channel", pid: task.Pid(), load: Load{Targets: []vegeta.Target{target}, Unix: filepath.Join(dir, "sock"), Conns: 16, Duration: s.dur, Check: check}}
	base := &side{name: "bare net/http on a unix socket, same JSON", pid: bare.Pid(), load: Load{Targets: []vegeta.Target{target}, Unix: sock, Conns: 16, Duration: s.dur, Check: check}}
	s.measure(t, cb, base)
	c, b := cb.median(), base.median()
	title := "agent: profile channel vs a bare handler, unix socket, 16 connections"
	s.row(Row{Scenario: title, Credbroker: rateLat(c), Baseline: "bare net/http: " + rateLat(b),
		Ratio: fmt.Sprintf("%.2f×", c.Throughput/b.Throughput), Goal: "≥ 0.9× the bare handler", Verdict: Judge(c.Throughput >= 0.9*b.Throughput)})
	fig := s.figure(t, "agent-channel", Figure{Title: title, Series: []Series{
		{Name: cb.name, Latencies: cb.lat}, {Name: base.name, Latencies: base.lat, Dashed: true},
	}})
	s.section(title, fmt.Sprintf("`credbroker exec --profile ci=... --profile prod=...` with static session credentials of real sizes, its task asleep; "+
		"the load asks GET /profiles/ci over the channel's unix socket with its token, as `credbroker credential-process --channel` does "+
		"(which opens one connection per AWS call; here the connections are kept, to measure the server). The baseline is FixedJSON on "+
		"a unix socket answering the %d bytes the channel answered. wrk cannot speak over a unix socket: vegeta drives both sides. %s\n\n%s\n%s",
		len(body), cpuNote("server", cb, base), runsTable("requests/s", cb, base), fig))
}

// agentProfiles: CPU profiles of credbroker exec (credbroker's own main
// under runtime/pprof) while its endpoint, then its channel, is under load.
func (s *suite) agentProfiles(t *testing.T) {
	if *flagProfile <= 0 {
		return
	}
	self, keep := s.profiling(t)
	var b strings.Builder
	fmt.Fprintf(&b, "credbroker exec (credbroker's own main under runtime/pprof, in this test binary) for %s under 16 connections: "+
		"wrk against the endpoint, vegeta against the channel; `go tool pprof -top` of each, cumulative, credbroker's and net/http's frames. "+
		"The profiles are kept in `.cache/bench/` for `go tool pprof -http`.\n\n", *flagProfile)
	for _, kind := range []string{"endpoint", "channel"} {
		prof := filepath.Join(keep, "cpu-agent-"+kind+".pprof")
		env := []string{helperVar + "=" + helperProfiled, "CREDBROKER_BENCH_CPUPROFILE=" + prof}
		var task *testpeers.Process
		var load string
		switch kind {
		case "endpoint":
			var uri, auth string
			task, uri, auth, _ = s.endpointTask(t, "profiled-endpoint", self, env...)
			r, err := runWrk(s.ctx, "wrk", uri, auth, 16, *flagProfile)
			if err != nil {
				t.Fatal(err)
			}
			load = r.String()
		case "channel":
			var dir, tok string
			task, dir, tok, _ = s.channelTask(t, "profiled-channel", self, env...)
			smp, err := Run(s.ctx, Load{Targets: []vegeta.Target{{Method: http.MethodGet, URL: "http://channel/profiles/ci", Header: http.Header{"Authorization": {tok}}}},
				Unix: filepath.Join(dir, "sock"), Conns: 16, Duration: *flagProfile})
			if err != nil {
				t.Fatal(err)
			}
			load = rateLat(Summarize(smp))
		}
		// SIGTERM: credbroker exec stops its task, returns, and the
		// profile is written.
		task.Stop()
		if _, err := os.Stat(prof); err != nil {
			t.Fatalf("no profile of the %s: %v\n%s", kind, err, task.Tail(20))
		}
		top := goTool(t, s.root, "pprof", "-top", "-cum", "-nodecount=40", "-focus=net/http|credbroker", prof)
		fmt.Fprintf(&b, "#### The %s (%s during the profile)\n\n```\n%s\n```\n\n", kind, load, top)
	}
	s.section("Where the agent's time goes: CPU profiles", b.String())
}

// execTimes runs hyperfine on commands (name, command line) and returns
// the median of each round's median and every time, per command.
func execTimes(t *testing.T, s *suite, dir string, commands []struct{ name, cmd string }) ([]time.Duration, [][]time.Duration) {
	t.Helper()
	hf, err := exec.LookPath("hyperfine")
	if err != nil {
		t.Fatalf("hyperfine is missing; run scripts/deps: %v", err)
	}
	rounds := min(s.runs, 3)
	medians := make([][]time.Duration, len(commands))
	times := make([][]time.Duration, len(commands))
	for r := range rounds {
		out := filepath.Join(dir, fmt.Sprintf("hyperfine-%d.json", r))
		args := []string{"-N", "--warmup", "10", "--runs", "150", "--style", "basic", "--export-json", out}
		for _, c := range commands {
			args = append(args, c.cmd)
		}
		cmd := exec.CommandContext(s.ctx, hf, args...)
		cmd.Env = testpeers.Env("HOME="+dir, "TMPDIR="+dir)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hyperfine: %v\n%s", err, b)
		}
		hr := readHyperfine(t, out, len(commands))
		for i, res := range hr.Results {
			medians[i] = append(medians[i], seconds(res.Median))
			for _, x := range res.Times {
				times[i] = append(times[i], seconds(x))
			}
		}
	}
	med := make([]time.Duration, len(commands))
	for i := range commands {
		med[i] = MedianDuration(medians[i])
	}
	return med, times
}

// procCPU is the CPU time (user and system, all threads) that process pid
// has used; zero when pid is 0 or cannot be read.
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses: the
	// 14th and 15th of the line are utime and stime, in USER_HZ (100/s).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * 10 * time.Millisecond
}

// cpuNote says how much CPU time each side's server spent per answer.
func cpuNote(what string, sides ...*side) string {
	var parts []string
	for _, sd := range sides {
		if len(sd.cpu) > 0 {
			parts = append(parts, fmt.Sprintf("%s %s", sd.name, FormatDuration(MedianDuration(sd.cpu))))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return fmt.Sprintf("CPU time of the %s per answered request (user and system, all threads, from /proc; median of the runs): %s.", what, strings.Join(parts, "; "))
}
