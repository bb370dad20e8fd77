//go:build soak

package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The soak: a broker (embedded store) vends at a steady rate for a long
// time from a connector whose STS (MinIO) sits behind a proxy that
// throttles, stalls, resets and fails some calls; the broker's goroutines,
// open file descriptors and resident memory are sampled all along, and the
// test fails when they trend upwards. scripts/soak runs it:
//
//	scripts/soak 10m          # duration; CREDBROKER_SOAK_RATE=20 vends/s
//
// It is behind the soak build tag: the README's test command does not run
// it.

// soakConfig is read from the environment scripts/soak sets.
type soakConfig struct {
	duration time.Duration
	rate     float64 // vends per second
	builds   int     // distinct builds: sessions the broker keeps at most
	report   string  // file for the JSON report, if set
}

func soakFromEnv(t *testing.T) soakConfig {
	c := soakConfig{duration: 10 * time.Minute, rate: 20, builds: 200}
	if v := os.Getenv("CREDBROKER_SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			t.Fatalf("CREDBROKER_SOAK_DURATION=%q: want a duration of a minute or more", v)
		}
		c.duration = d
	}
	if v := os.Getenv("CREDBROKER_SOAK_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			t.Fatalf("CREDBROKER_SOAK_RATE=%q: want vends per second", v)
		}
		c.rate = r
	}
	c.report = os.Getenv("CREDBROKER_SOAK_REPORT")
	return c
}

// faultySTS forwards STS calls to target, except that it answers some of
// them with a fault. Each fault's share is in per mille.
type faultySTS struct {
	URL    string
	target string

	throttle, stall, reset, unavailable int // per mille of calls
	stallFor                            time.Duration

	mu     sync.Mutex
	counts map[string]int
}

func startFaultySTS(t *testing.T, target string) *faultySTS {
	f := &faultySTS{target: target, throttle: 50, stall: 10, reset: 20, unavailable: 10,
		stallFor: 15 * time.Second, counts: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.URL = "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	srv := &http.Server{ErrorLog: discardLog, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fault := "forwarded"
		if r.Method == http.MethodPost && bytes.Contains(body, []byte("Action=AssumeRole")) {
			n := mrand.IntN(1000)
			switch {
			case n < f.throttle:
				fault = "throttle"
			case n < f.throttle+f.stall:
				fault = "stall"
			case n < f.throttle+f.stall+f.reset:
				fault = "reset"
			case n < f.throttle+f.stall+f.reset+f.unavailable:
				fault = "unavailable"
			}
		}
		f.mu.Lock()
		f.counts[fault]++
		f.mu.Unlock()
		switch fault {
		case "throttle":
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>soak</RequestId></ErrorResponse>`)
			return
		case "unavailable":
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try again</Message></Error><RequestId>soak</RequestId></ErrorResponse>`)
			return
		case "reset":
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0)
				}
				conn.Close()
			}
			return
		case "stall":
			select {
			case <-r.Context().Done():
				return
			case <-time.After(f.stallFor):
			}
		}
		out, _ := http.NewRequest(r.Method, f.target+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header = r.Header.Clone()
		out.Host = r.Host // signed for this address
		resp, err := tr.RoundTrip(out)
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

func (f *faultySTS) snapshot() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps(f.counts)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// sample is one look at the broker process.
type sample struct {
	At         time.Duration `json:"at"` // since the load began (negative: before)
	Goroutines int           `json:"goroutines"`
	Threads    int           `json:"threads"`
	FDs        int           `json:"fds"`
	RSSKiB     int           `json:"rss_kib"`
}

var (
	schedRE = regexp.MustCompile(`(?m)^SCHED \d+ms: .*?\bthreads=(\d+)`)
	gRE     = regexp.MustCompile(`(?m)^  G\d+: status=(\d+)`)
)

// lookAt samples the broker: RSS and open file descriptors from /proc, the
// goroutine and thread counts from the newest complete scheduler trace
// the Go runtime wrote to its stderr (GODEBUG=schedtrace,scheddetail).
func lookAt(b *brokerProc, at time.Duration) (sample, error) {
	s := sample{At: at}
	pid := b.cmd.Process.Pid
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			s.RSSKiB, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
		}
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return s, err
	}
	s.FDs = len(fds)
	log := b.log.String()
	idx := schedRE.FindAllStringSubmatchIndex(log, -1)
	if len(idx) < 2 {
		return s, fmt.Errorf("no complete scheduler trace in the broker's output yet")
	}
	// The newest trace may still be being written: take the one before.
	block := log[idx[len(idx)-2][0]:idx[len(idx)-1][0]]
	s.Threads, _ = strconv.Atoi(log[idx[len(idx)-2][2]:idx[len(idx)-2][3]])
	for _, m := range gRE.FindAllStringSubmatch(block, -1) {
		st, _ := strconv.Atoi(m[1])
		if st&^0x1000 != 6 { // _Gdead, with or without the scan bit
			s.Goroutines++
		}
	}
	return s, nil
}

// metric is one series of the report.
type metric struct {
	Name      string  `json:"name"`
	Unit      string  `json:"unit"`
	Idle      int     `json:"idle_before"` // before the load
	Min       int     `json:"min"`
	Max       int     `json:"max"`
	Early     int     `json:"early_median"` // median of the first third after warm-up
	Late      int     `json:"late_median"`  // median of the last third
	PerHour   float64 `json:"slope_per_hour"`
	After     int     `json:"after_cooldown"`
	Allowance int     `json:"allowance"` // growth tolerated, early to late
	Grew      bool    `json:"grew"`
}

func median(v []int) int {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	sort.Ints(s)
	return s[len(s)/2]
}

// slope is the least-squares slope of ys over xs, per hour.
func slope(xs []time.Duration, ys []int) float64 {
	n := float64(len(xs))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i := range xs {
		x, y := xs[i].Hours(), float64(ys[i])
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}

// TestSoak runs the soak; see the comment at the top of the file.
func TestSoak(t *testing.T) {
	cfg := soakFromEnv(t)
	w := newWorld(t, false)
	sts := startFaultySTS(t, w.minio.Endpoint)
	dd := dataDir(w, "broker")
	b := w.startBrokerEnv([]string{"GODEBUG=schedtrace=2000,scheddetail=1"}, dd)
	admin := w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", sts.URL,
		"--default-duration", "15m", "--allow-plan", "OPS-*", "--retries", "3", "--max-backoff", "2s"), "connector create")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "soak", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)

	// The client: one HTTP client as a fleet of agents would share a
	// proxy, calling the broker directly (not through the recording proxy:
	// the soak's answers are too many to keep).
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 2 * time.Minute}
	vend := func(tok string, req credbroker.VendRequest) (int, time.Duration) {
		body, _ := json.Marshal(req)
		hr, _ := http.NewRequest(http.MethodPost, b.direct+"/v1/credentials", bytes.NewReader(body))
		hr.Header.Set("Authorization", "Bearer "+tok)
		hr.Header.Set("Content-Type", "application/json")
		start := time.Now()
		resp, err := client.Do(hr)
		if err != nil {
			return 0, time.Since(start)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK {
			var res credbroker.VendResult
			json.Unmarshal(data, &res)
			w.secret(res.SecretAccessKey, res.SessionToken)
		}
		return resp.StatusCode, time.Since(start)
	}

	var samples []sample
	take := func(at time.Duration) {
		s, err := lookAt(b, at)
		if err != nil {
			t.Logf("sample at %v: %v", at, err)
			return
		}
		samples = append(samples, s)
	}
	// Idle, before the load: wait for two scheduler traces.
	deadline := time.Now().Add(30 * time.Second)
	for len(schedRE.FindAllStringIndex(b.log.String(), -1)) < 2 && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
	}
	take(-time.Second)
	idle := samples
	samples = nil

	var (
		mu        sync.Mutex
		statuses  = map[int]int{}
		latencies []time.Duration
		inflight  atomic.Int64
		skipped   atomic.Int64
		wg        sync.WaitGroup
	)
	const maxInflight = 400
	began := time.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.rate))
	// About 60 samples over the load, every 2 to 10 s.
	sampleEvery := time.NewTicker(min(max(cfg.duration/60, 2*time.Second), 10*time.Second))
	auditEvery := time.NewTicker(15 * time.Second)
	end := time.After(cfg.duration)
	n := 0
load:
	for {
		select {
		case <-end:
			break load
		case <-sampleEvery.C:
			take(time.Since(began))
		case <-auditEvery.C:
			// An administrator reads the newest audit records.
			hr, _ := http.NewRequest(http.MethodGet, b.direct+"/v1/audit?limit=100&after="+strconv.Itoa(max(0, n-100)), nil)
			hr.Header.Set("Authorization", "Bearer "+admin)
			if resp, err := client.Do(hr); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		case <-tick.C:
			n++
			if inflight.Load() >= maxInflight {
				skipped.Add(1)
				continue
			}
			i := n
			wg.Add(1)
			inflight.Add(1)
			go func() {
				defer wg.Done()
				defer inflight.Add(-1)
				req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-SOAK", Build: strconv.Itoa(i % cfg.builds),
					DurationSeconds: 900, MinRemainingSeconds: 895}
				tok := agent
				switch {
				case i%50 == 7:
					req.Plan = "WEB-SITE" // refused: outside the allow-list
				case i%97 == 3:
					tok = "tok_0123456789abcdef." + strings.Repeat("A", 43) // refused: wrong token
				}
				st, d := vend(tok, req)
				mu.Lock()
				statuses[st]++
				latencies = append(latencies, d)
				mu.Unlock()
			}()
		}
	}
	tick.Stop()
	sampleEvery.Stop()
	auditEvery.Stop()
	loadTime := time.Since(began)
	wg.Wait()
	tr.CloseIdleConnections()
	// Cool down past the broker's idle-connection timeouts (90 s for its
	// STS client, 120 s for its own keep-alives, which the client just
	// closed), then look once more.
	time.Sleep(100 * time.Second)
	take(time.Since(began))
	after := samples[len(samples)-1]
	samples = samples[:len(samples)-1]

	// Warm-up: the first fifth of the load (the vend cache and connection
	// pools fill); then compare the first and last thirds of the rest.
	var steady []sample
	for _, s := range samples {
		if s.At >= loadTime/5 {
			steady = append(steady, s)
		}
	}
	if len(steady) < 6 {
		t.Fatalf("only %d samples after the warm-up", len(steady))
	}
	third := len(steady) / 3
	series := []struct {
		name, unit string
		get        func(sample) int
		allow      func(early int) int
	}{
		{"goroutines", "", func(s sample) int { return s.Goroutines }, func(e int) int { return max(25, e/4) }},
		{"open file descriptors", "", func(s sample) int { return s.FDs }, func(e int) int { return max(10, e/4) }},
		{"resident memory", "KiB", func(s sample) int { return s.RSSKiB }, func(e int) int { return max(32<<10, e/4) }},
		{"OS threads", "", func(s sample) int { return s.Threads }, func(e int) int { return max(4, e/4) }},
	}
	var report []metric
	for _, m := range series {
		var xs []time.Duration
		var all, ys, early, late []int
		for _, s := range samples {
			all = append(all, m.get(s))
		}
		for i, s := range steady {
			xs, ys = append(xs, s.At), append(ys, m.get(s))
			if i < third {
				early = append(early, m.get(s))
			}
			if i >= len(steady)-third {
				late = append(late, m.get(s))
			}
		}
		mt := metric{Name: m.name, Unit: m.unit, Min: slices.Min(all), Max: slices.Max(all),
			Early: median(early), Late: median(late), PerHour: slope(xs, ys), After: m.get(after)}
		if len(idle) > 0 {
			mt.Idle = m.get(idle[0])
		}
		mt.Allowance = m.allow(mt.Early)
		mt.Grew = mt.Late > mt.Early+mt.Allowance
		report = append(report, mt)
	}

	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration {
		if len(latencies) == 0 {
			return 0
		}
		return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]
	}
	out := map[string]any{
		"duration": loadTime.Round(time.Second).String(), "rate_per_second": cfg.rate, "builds": cfg.builds,
		"requests": n, "skipped_at_capacity": skipped.Load(), "statuses": statuses,
		"latency_p50": pct(0.5).String(), "latency_p99": pct(0.99).String(), "latency_max": pct(1).String(),
		"sts_calls": sts.snapshot(), "metrics": report, "samples": samples, "after_cooldown": after,
	}
	js, _ := json.MarshalIndent(out, "", "  ")
	t.Logf("soak report:\n%s", js)
	if cfg.report != "" {
		if err := os.WriteFile(cfg.report, js, 0o644); err != nil {
			t.Errorf("write the report: %v", err)
		}
	}
	for _, m := range report {
		if m.Grew {
			t.Errorf("%s grew from a median of %d to %d %s over the soak (allowance %d): a leak", m.Name, m.Early, m.Late, m.Unit, m.Allowance)
		}
	}
	// After the cool-down, goroutines and descriptors are back near where
	// they were before the load.
	for _, m := range report[:2] {
		if len(idle) > 0 && m.After > m.Idle+max(25, m.Idle/4) {
			t.Errorf("%s: %d before the load, still %d after it and a cool-down", m.Name, m.Idle, m.After)
		}
	}
	if statuses[http.StatusOK] == 0 {
		t.Fatalf("no vend succeeded: %v", statuses)
	}
	for st := range statuses {
		switch st {
		case 200, 401, 403, 429, 502, 503:
		default:
			t.Errorf("%d vends answered with status %d", statuses[st], st)
		}
	}
	// The broker still serves, and its audit chain verifies.
	if st, _ := vend(agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-SOAK", Build: "final"}); st != 200 {
		t.Errorf("a vend after the soak: %d", st)
	}
	w.expectOK(b.admin(admin, "", "audit", "verify"), "audit verify after the soak")
}
