//go:build bench

package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
	"github.com/credbroker/credbroker/sqlite"
)

// side is one system under load in a comparison: its runs and their
// latencies, merged for the figure.
type side struct {
	name string
	load Load
	runs []Summary
	lat  []time.Duration
	errs map[string]int
	// pid, when set, is the server's process: each run notes the CPU time
	// it spent per answered request.
	pid int
	cpu []time.Duration
}

func (sd *side) median() Summary { return MedianSummary(sd.runs) }

// measure warms each side up, then runs each s.runs times, alternating
// the sides and rotating which goes first.
func (s *suite) measure(t *testing.T, sides ...*side) {
	t.Helper()
	for _, sd := range sides {
		warm := sd.load
		warm.Duration, warm.Hits = min(s.dur/3, time.Second), 0
		if _, err := Run(s.ctx, warm); err != nil {
			t.Fatalf("%s warm-up: %v", sd.name, err)
		}
	}
	for i := range s.runs {
		for j := range sides {
			sd := sides[(i+j)%len(sides)]
			cpu0 := procCPU(sd.pid)
			smp, err := Run(s.ctx, sd.load)
			if err != nil {
				t.Fatalf("%s: %v", sd.name, err)
			}
			if sd.pid > 0 && smp.OK > 0 {
				sd.cpu = append(sd.cpu, (procCPU(sd.pid)-cpu0)/time.Duration(smp.OK))
			}
			sd.runs = append(sd.runs, Summarize(smp))
			sd.lat = append(sd.lat, smp.Latencies...)
			if sd.errs == nil {
				sd.errs = map[string]int{}
			}
			for k, n := range smp.Errors {
				sd.errs[k] += n
			}
		}
	}
	for _, sd := range sides {
		if len(sd.errs) > 0 {
			e := &Sample{Errors: sd.errs}
			t.Logf("%s: failed requests: %s", sd.name, e.ErrorSummary())
		}
	}
}

// runsTable is the Markdown table of every run of the sides, with their
// medians.
func runsTable(unit string, sides ...*side) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| system | run | %s | p50 | p90 | p99 | p99.9 | max | failed |\n|---|---|---|---|---|---|---|---|---|\n", unit)
	line := func(name, run string, r Summary) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %d |\n", name, run, formatRate(r.Throughput),
			FormatDuration(r.P50), FormatDuration(r.P90), FormatDuration(r.P99), FormatDuration(r.P999), FormatDuration(r.Max), r.Failed)
	}
	for _, sd := range sides {
		for i, r := range sd.runs {
			line(sd.name, strconv.Itoa(i+1), r)
		}
		line("**"+sd.name+"**", "**median**", sd.median())
	}
	for _, sd := range sides {
		if len(sd.errs) > 0 {
			e := &Sample{Errors: sd.errs}
			fmt.Fprintf(&b, "\nFailed requests of %s: %s\n", sd.name, e.ErrorSummary())
		}
	}
	return b.String()
}

// formatRate shows a rate per second with thousands separators.
func formatRate(x float64) string { return formatInt(int64(x+0.5)) + "/s" }

func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + formatInt(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// rateLat is the headline of a summary: throughput, p50 and p99.
func rateLat(r Summary) string {
	return fmt.Sprintf("%s, p50 %s, p99 %s", formatRate(r.Throughput), FormatDuration(r.P50), FormatDuration(r.P99))
}

// vendComparison loads credbroker st and the baseline with the same
// settings and reports them. With cmp (the -compare build's broker), that
// one is loaded too, the three alternating run by run.
func (s *suite) vendComparison(t *testing.T, key, title, store string, st, cmp *site, conns int, goal string, pass func(cb, base Summary) bool, extra ...vendExtra) {
	cb := &side{name: "credbroker (" + store + ")", load: Load{
		Targets: []vegeta.Target{vendTarget(st.url, st.tokens.Agent, "deploy", "42")}, Conns: conns, Duration: s.dur, Check: s.vendOK,
	}}
	base := &side{name: "bare net/http, fixed JSON", load: Load{
		Targets: []vegeta.Target{s.baselineTarget()}, Conns: conns, Duration: s.dur, Check: s.vendOK,
	}}
	sides := []*side{cb, base}
	var durable *side
	if slices.Contains(extra, withDurabilityLimit) {
		durable = &side{name: "bare net/http + fdatasync of an append (the durability limit)", load: Load{
			Targets: []vegeta.Target{s.durableTarget()}, Conns: conns, Duration: s.dur, Check: s.vendOK,
		}}
		sides = append(sides, durable)
	}
	var alt *side
	if cmp != nil {
		alt = &side{name: "compare build (" + store + ")", load: Load{
			Targets: []vegeta.Target{vendTarget(cmp.url, cmp.tokens.Agent, "deploy", "42")}, Conns: conns, Duration: s.dur, Check: s.vendOK,
		}}
		sides = append(sides, alt)
	}
	s.measure(t, sides...)
	c, b := cb.median(), base.median()
	s.row(Row{
		Scenario: title, Credbroker: rateLat(c), Baseline: rateLat(b),
		Ratio: fmt.Sprintf("%.2f×", c.Throughput/b.Throughput), Goal: goal, Verdict: Judge(pass(c, b)),
	})
	if durable != nil {
		d := durable.median()
		s.row(Row{
			Scenario: title + ", against the durability limit", Credbroker: rateLat(c),
			Baseline: "bare handler + one fdatasync of an append on the store's disk: " + rateLat(d),
			Ratio:    fmt.Sprintf("%.2f×", c.Throughput/d.Throughput), Goal: "≥ 0.8× the limit", Verdict: Judge(c.Throughput >= 0.8*d.Throughput),
		})
	}
	if slices.Contains(extra, withP99Multiple) {
		s.row(Row{
			Scenario: title + ", p99 against the bare handler's", Credbroker: "p99 " + FormatDuration(c.P99),
			Baseline: "p99 " + FormatDuration(b.P99), Ratio: fmt.Sprintf("%.2f×", float64(c.P99)/float64(b.P99)),
			Goal: "≤ 2× the bare handler's p99", Verdict: Judge(c.P99 <= 2*b.P99),
		})
	}
	series := []Series{{Name: cb.name, Latencies: cb.lat}, {Name: base.name, Latencies: base.lat, Dashed: true}}
	if durable != nil {
		series = append(series, Series{Name: durable.name, Latencies: durable.lat, Dashed: true})
	}
	if alt != nil {
		a := alt.median()
		s.row(Row{
			Scenario: title + ", compare build", Credbroker: rateLat(a), Baseline: rateLat(b),
			Ratio: fmt.Sprintf("%.2f× (%.3f× this build)", a.Throughput/b.Throughput, a.Throughput/c.Throughput), Goal: goal, Verdict: Judge(pass(a, b)),
		})
		series = append(series, Series{Name: alt.name, Latencies: alt.lat})
	}
	fig := s.figure(t, key, Figure{Title: title, Series: series})
	s.section(title, runsTable("vends/s", sides...)+"\n"+fig)
}

// vendExtra asks vendComparison for more than the two sides.
type vendExtra int

const (
	// withDurabilityLimit adds DurableJSON as a third side, and a row of
	// credbroker's throughput against it.
	withDurabilityLimit vendExtra = iota + 1
	// withP99Multiple adds a row of credbroker's p99 as a multiple of the
	// bare handler's.
	withP99Multiple
)

// vendOneConn: cached vend, one keep-alive connection, against the bare
// handler and against the durability limit (the bare handler plus one
// fdatasync of an append on the store's disk).
func (s *suite) vendOneConn(t *testing.T) {
	s.vendComparison(t, "vend-1conn", "cached vend, 1 connection, keep-alive (SQLite, audit on)", "SQLite", s.sqlite, s.cmpSite, 1,
		"≥ 0.8× baseline; p99 ≤ 1 ms", func(c, b Summary) bool {
			return c.Throughput >= 0.8*b.Throughput && c.P99 <= time.Millisecond
		}, withDurabilityLimit)
}

// vendOneConnSyncNormal: the same on a broker started with
// --store-sync normal (commits do not wait for the disk), to show what the
// default's flush per commit costs a single connection.
func (s *suite) vendOneConnSyncNormal(t *testing.T) {
	st := s.startSite(t, "broker-sqlite-normal", "", 1, s.cb, "CREDBROKER_STORE_SYNC=normal")
	vendOnce(t, st, "deploy", "42")
	s.vendComparison(t, "vend-1conn-normal", "cached vend, 1 connection, keep-alive (SQLite, --store-sync normal)", "SQLite, sync normal", st, nil, 1,
		"≥ 0.8× baseline; p99 ≤ 1 ms", func(c, b Summary) bool {
			return c.Throughput >= 0.8*b.Throughput && c.P99 <= time.Millisecond
		})
}

// vend64SQLite: cached vend, 64 connections, audit on, SQLite.
func (s *suite) vend64SQLite(t *testing.T) {
	s.vendComparison(t, "vend-64-sqlite", "cached vend, 64 connections, audit on, SQLite", "SQLite", s.sqlite, s.cmpSite, 64,
		"≥ 5,000 vends/s; p99 ≤ 5 ms", func(c, _ Summary) bool {
			return c.Throughput >= 5000 && c.P99 <= 5*time.Millisecond
		}, withP99Multiple)
}

// vend64Postgres: the same on PostgreSQL.
func (s *suite) vend64Postgres(t *testing.T) {
	st := s.startSite(t, "broker-postgres", testpeers.Postgres(t), 1, s.cb)
	vendOnce(t, st, "deploy", "42")
	s.vendComparison(t, "vend-64-postgres", "cached vend, 64 connections, audit on, PostgreSQL", "PostgreSQL", st, nil, 64,
		"≥ 2,000 vends/s; p99 ≤ 20 ms", func(c, _ Summary) bool {
			return c.Throughput >= 2000 && c.P99 <= 20*time.Millisecond
		}, withP99Multiple)
}

// fakeCreds are credentials of realistic sizes for the metadata mock.
func fakeCreds() (id, secret, token string) {
	token = "FwoGZXIvYXdzEBenchInstanceRole"
	return "ASIABENCHINSTANCE001", "bench/instance/secret/key/00000000000000", token + strings.Repeat("y", 800-len(token))
}

// endpoint16: the agent's container-credentials endpoint (credbroker exec
// --delivery endpoint, its task asleep) against ec2-metadata-mock serving
// the same credentials, 16 connections each.
func (s *suite) endpoint16(t *testing.T) {
	id, secret, token := fakeCreds()
	mock := testpeers.IMDSMock(t, testpeers.IMDSOptions{AccessKeyID: id, SecretAccessKey: secret, Token: token, V2Only: true})
	_, reported := s.startAgentTask(t, "credbroker-exec-endpoint", s.cb, []string{"exec", "--source", "instance", "--imds-endpoint", mock.Endpoint,
		"--region", "us-east-1", "--delivery", "endpoint"}, `"$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN"`)
	uri, auth := reported[0], reported[1]

	// The IMDSv2 session token, as an SDK gets it once.
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPut, mock.Endpoint+"latest/api/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	imdsToken, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("IMDSv2 token: status %d, %v", resp.StatusCode, err)
	}

	check := func(b []byte) error {
		if !strings.Contains(string(b), `"AccessKeyId"`) {
			return errors.New("200 without credentials")
		}
		return nil
	}
	cb := &side{name: "credbroker exec endpoint", load: Load{Targets: []vegeta.Target{{
		Method: http.MethodGet, URL: uri, Header: http.Header{"Authorization": {auth}},
	}}, Conns: 16, Duration: s.dur, Check: check}}
	imds := &side{name: "ec2-metadata-mock (IMDSv2)", load: Load{Targets: []vegeta.Target{{
		Method: http.MethodGet, URL: mock.Endpoint + "latest/meta-data/iam/security-credentials/" + mock.RoleName,
		Header: http.Header{"X-Aws-Ec2-Metadata-Token": {string(imdsToken)}},
	}}, Conns: 16, Duration: s.dur, Check: check}}
	s.measure(t, cb, imds)
	c, m := cb.median(), imds.median()
	ratio := c.Throughput / m.Throughput
	title := "agent-side container endpoint, 16 connections"
	s.row(Row{Scenario: title, Credbroker: rateLat(c), Baseline: "ec2-metadata-mock: " + rateLat(m),
		Ratio: fmt.Sprintf("%.2f×", ratio), Goal: "≥ 1.5× the mock's throughput", Verdict: Judge(ratio >= 1.5)})
	fig := s.figure(t, "endpoint-16", Figure{Title: title, Series: []Series{
		{Name: cb.name, Latencies: cb.lat}, {Name: imds.name, Latencies: imds.lat, Dashed: true},
	}})
	s.section(title, "credbroker exec --source instance --delivery endpoint, its task asleep, serving the credentials it read from "+
		"ec2-metadata-mock; the mock serves the same credentials at its IMDSv2 credentials path (GET with the session token).\n\n"+
		runsTable("requests/s", cb, imds)+"\n"+fig)
}

// cold1000: 1,000 identical vends of a session nobody has yet, at once;
// STS calls counted at the peer.
func (s *suite) cold1000(t *testing.T) {
	const n = 1000
	bursts := min(s.runs, 3)
	var series []Series
	var b strings.Builder
	b.WriteString("| burst | STS calls | STS call (at MinIO) | requests sent within | p50 | p99 | slowest | slowest − STS | failed | bare handler, same burst: p50 / slowest |\n|---|---|---|---|---|---|---|---|---|---|\n")
	exact := 0
	var stsDurs, slowest, over, floors, floorLat []time.Duration
	for i := range bursts {
		// Fresh token and connector caches and a warm STS connection, so
		// that the burst meets a cold session and nothing else cold.
		vendOnce(t, s.sqlite, "deploy", fmt.Sprintf("warm-%d", i))
		c0 := s.proxy.Calls("AssumeRole")
		d0 := len(s.proxy.Durations("AssumeRole"))
		build := fmt.Sprintf("cold-%d-%d", i, time.Now().UnixNano())
		smp, err := Run(s.ctx, Load{
			Targets: []vegeta.Target{vendTarget(s.sqlite.url, s.sqlite.tokens.Agent, "deploy", build)},
			Conns:   n, Hits: n, Timeout: time.Minute, Check: s.vendOK,
		})
		if err != nil {
			t.Fatal(err)
		}
		calls := s.proxy.Calls("AssumeRole") - c0
		// The same burst at the bare handler: the floor of answering 1,000
		// new connections at once on this machine.
		floor, err := Run(s.ctx, Load{Targets: []vegeta.Target{s.baselineTarget()}, Conns: n, Hits: n, Timeout: time.Minute, Check: s.vendOK})
		if err != nil {
			t.Fatal(err)
		}
		fl := Summarize(floor)
		floors = append(floors, fl.Max)
		floorLat = append(floorLat, floor.Latencies...)
		if calls == 1 {
			exact++
		} else {
			t.Errorf("burst %d: %d identical cold vends made %d STS calls, want exactly 1", i+1, n, calls)
		}
		var sts time.Duration
		if d := s.proxy.Durations("AssumeRole")[d0:]; len(d) > 0 {
			sts = d[0]
		}
		sum := Summarize(smp)
		stsDurs = append(stsDurs, sts)
		slowest = append(slowest, sum.Max)
		over = append(over, sum.Max-sts)
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %d | %s / %s |\n", i+1, calls, FormatDuration(sts),
			FormatDuration(smp.LastSend.Sub(smp.Start)), FormatDuration(sum.P50), FormatDuration(sum.P99),
			FormatDuration(sum.Max), FormatDuration(sum.Max-sts), sum.Failed, FormatDuration(fl.P50), FormatDuration(fl.Max))
		if smp.Failed > 0 {
			fmt.Fprintf(&b, "\nFailed in burst %d: %s\n\n", i+1, smp.ErrorSummary())
		}
		series = append(series, Series{Name: fmt.Sprintf("burst %d", i+1), Latencies: smp.Latencies})
	}
	series = append(series, Series{Name: "bare handler, the same bursts", Latencies: floorLat, Dashed: true})
	medOver := MedianDuration(over)
	title := "1,000 identical cold requests at once"
	s.row(Row{
		Scenario:   title,
		Credbroker: fmt.Sprintf("exactly 1 STS call in %d of %d bursts; slowest answer %s", exact, bursts, FormatDuration(MedianDuration(slowest))),
		Baseline:   "STS call at MinIO: " + FormatDuration(MedianDuration(stsDurs)) + "; bare handler, same burst: slowest " + FormatDuration(MedianDuration(floors)),
		Ratio:      "slowest − STS: " + FormatDuration(medOver),
		Goal:       "exactly 1 STS call; all answered within STS + 10 ms",
		Verdict:    Judge(exact == bursts && medOver <= 10*time.Millisecond),
	})
	fig := s.figure(t, "cold-1000", Figure{Title: title + " (latency of each of the 1,000)", Series: series})
	s.section(title, "Each burst asks for the same new session (same connector, plan, build and job) on 1,000 new connections at once; "+
		"a counting proxy in front of MinIO counts the AssumeRole calls (asserted: exactly one per burst) and times the one call. "+
		"The same burst at the bare handler shows what answering 1,000 new connections at once costs on this machine by itself. "+
		"Medians over the bursts in the summary.\n\n"+b.String()+"\n"+fig)
}

// cold1000Fleet: 1,000 identical vends of a session nobody has yet, at
// once, spread round robin over three brokers on one PostgreSQL database;
// STS calls counted at the peer. The baseline is the same burst at one
// broker alone on a PostgreSQL database of its own, burst for burst.
func (s *suite) cold1000Fleet(t *testing.T) {
	const n, brokers = 1000, 3
	fleet := s.startFleet(t, brokers, s.cb)
	alone := s.startSite(t, "broker-postgres-alone", testpeers.Postgres(t), 1, s.cb)
	bursts := min(s.runs, 3)
	var series []Series
	var b strings.Builder
	b.WriteString("| burst | STS calls | STS call (at MinIO) | requests sent within | p50 | p99 | slowest | slowest − STS | failed | one broker alone: STS calls / p50 / slowest |\n|---|---|---|---|---|---|---|---|---|---|\n")
	exact, failed := 0, 0
	var stsDurs, slowest, over, aloneSlowest, extra []time.Duration
	// burst sends the 1,000 vends of one new build round robin to sites,
	// after warming each one's token and connector caches and STS
	// connection, so that the burst meets a cold session and nothing else
	// cold; it returns what it measured, the STS calls and the first
	// call's time at MinIO.
	burst := func(i int, sites []*site) (*Sample, int, time.Duration) {
		build := fmt.Sprintf("fleet-cold-%d-%d", i, time.Now().UnixNano())
		targets := make([]vegeta.Target, len(sites))
		for j, st := range sites {
			vendOnce(t, st, "deploy", fmt.Sprintf("fleet-warm-%d-%d", i, j))
			targets[j] = vendTarget(st.url, st.tokens.Agent, "deploy", build)
		}
		c0 := s.proxy.Calls("AssumeRole")
		d0 := len(s.proxy.Durations("AssumeRole"))
		smp, err := Run(s.ctx, Load{Targets: targets, Conns: n, Hits: n, Timeout: time.Minute, Check: s.vendOK})
		if err != nil {
			t.Fatal(err)
		}
		var sts time.Duration
		if d := s.proxy.Durations("AssumeRole")[d0:]; len(d) > 0 {
			sts = d[0]
		}
		return smp, s.proxy.Calls("AssumeRole") - c0, sts
	}
	for i := range bursts {
		smp, calls, sts := burst(i, fleet)
		if calls == 1 {
			exact++
		} else {
			t.Errorf("burst %d: %d identical cold vends over %d brokers made %d STS calls, want exactly 1", i+1, n, brokers, calls)
		}
		failed += smp.Failed
		one, oneCalls, _ := burst(i, []*site{alone})
		if oneCalls != 1 || one.Failed > 0 {
			t.Errorf("burst %d at one broker alone: %d STS calls, %d failed; want 1 and 0", i+1, oneCalls, one.Failed)
		}
		sum, os := Summarize(smp), Summarize(one)
		stsDurs = append(stsDurs, sts)
		slowest = append(slowest, sum.Max)
		over = append(over, sum.Max-sts)
		aloneSlowest = append(aloneSlowest, os.Max)
		extra = append(extra, sum.Max-os.Max)
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %s | %s | %s | %s | %d | %d / %s / %s |\n", i+1, calls, FormatDuration(sts),
			FormatDuration(smp.LastSend.Sub(smp.Start)), FormatDuration(sum.P50), FormatDuration(sum.P99),
			FormatDuration(sum.Max), FormatDuration(sum.Max-sts), sum.Failed, oneCalls, FormatDuration(os.P50), FormatDuration(os.Max))
		if smp.Failed > 0 {
			fmt.Fprintf(&b, "\nFailed in burst %d: %s\n\n", i+1, smp.ErrorSummary())
		}
		series = append(series, Series{Name: fmt.Sprintf("burst %d", i+1), Latencies: smp.Latencies},
			Series{Name: fmt.Sprintf("burst %d, one broker alone", i+1), Latencies: one.Latencies, Dashed: true})
	}
	if failed > 0 {
		t.Errorf("%d vends of the bursts failed", failed)
	}
	medExtra := MedianDuration(extra)
	title := "1,000 identical cold requests at once over 3 brokers on one PostgreSQL"
	s.row(Row{
		Scenario:   title,
		Credbroker: fmt.Sprintf("exactly 1 STS call in %d of %d bursts; slowest answer %s (slowest − STS %s)", exact, bursts, FormatDuration(MedianDuration(slowest)), FormatDuration(MedianDuration(over))),
		Baseline:   "STS call at MinIO: " + FormatDuration(MedianDuration(stsDurs)) + "; one broker alone, same burst: slowest " + FormatDuration(MedianDuration(aloneSlowest)),
		Ratio:      fmt.Sprintf("slowest: %.2f× one broker's", float64(MedianDuration(slowest))/float64(max(MedianDuration(aloneSlowest), 1))),
		// A broker that waits for another's call looks for its session
		// every 5 to 50 ms: the goal allows one such wait and the read of
		// the session beyond what one broker takes.
		Goal:    "exactly 1 STS call; slowest ≤ one broker's + 60 ms",
		Verdict: Judge(exact == bursts && failed == 0 && medExtra <= 60*time.Millisecond),
	})
	fig := s.figure(t, "cold-1000-3brokers", Figure{Title: title + " (latency of each of the 1,000)", Series: series})
	s.section(title, "Three `credbroker serve` on one PostgreSQL database and one master key. Each burst asks for the same new session "+
		"(same connector, plan, build and job) on 1,000 new connections at once, sent round robin to the three brokers; "+
		"a counting proxy in front of MinIO counts the AssumeRole calls (asserted: exactly one per burst, for the fleet) and times the one call. "+
		"One broker takes the session's lock and calls STS; the others wait for the session it shares through the database. "+
		"After each burst, the same burst (a new build) goes to one broker alone on a PostgreSQL database of its own, on the same server: "+
		"what the fleet adds is the difference. Medians over the bursts in the summary.\n\n"+b.String()+"\n"+fig)
}

// hour900: one key, 900-second sessions, a simulated hour.
func (s *suite) hour900(t *testing.T) {
	st, ring := newStore(t)
	res, err := SimulateHour(s.ctx, st, ring, HourOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Expired != 0 || res.Short != 0 {
		t.Errorf("served %d expired credentials and %d with less than %s left", res.Expired, res.Short, minRemaining)
	}
	if res.STSCalls > 5 {
		t.Errorf("%d STS calls in the simulated hour, want at most 5", res.STSCalls)
	}
	var at []string
	for _, d := range res.CallsAt {
		at = append(at, d.String())
	}
	title := "one key, 900 s sessions, a simulated hour"
	s.row(Row{
		Scenario:   title,
		Credbroker: fmt.Sprintf("%d STS calls, %d expired served (%d vends)", res.STSCalls, res.Expired, res.Vends),
		Baseline:   "4 calls (3600 s / 900 s)",
		Ratio:      fmt.Sprintf("%.2f×", float64(res.STSCalls)/4),
		Goal:       "≤ 5 STS calls; no expired credential",
		Verdict:    Judge(res.STSCalls <= 5 && res.Expired == 0),
	})
	s.section(title, fmt.Sprintf("In process: broker.Service over SQLite with a fake STS issuing 900-second sessions and an injected clock, "+
		"one vend (same connector, plan, build, job) every simulated second for an hour, the broker's default minimum lifetime of 60 s. "+
		"STS calls at t = %s; the least lifetime left on a served credential was %s; expired credentials served: %d (asserted: none).",
		strings.Join(at, ", "), res.MinLeft, res.Expired))
}

// hyperfineResult is the part of hyperfine's --export-json this suite reads.
type hyperfineResult struct {
	Results []struct {
		Command string    `json:"command"`
		Median  float64   `json:"median"`
		Times   []float64 `json:"times"`
	} `json:"results"`
}

// execOverhead: `credbroker exec -- true` against a bare spawn of true,
// timed by hyperfine; and what one profile's credential_process costs.
func (s *suite) execOverhead(t *testing.T) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := filepath.Join(dir, "plan.vars")
	id, secret, _ := fakeCreds()
	if err := os.WriteFile(vars, []byte("awsAccessKeyId="+id+"\nsecret awsSecretKeyPassword="+secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, token := fakeCreds()
	mock := testpeers.IMDSMock(t, testpeers.IMDSOptions{AccessKeyID: id, SecretAccessKey: secret, Token: token, V2Only: true})
	_, channel, _, _ := s.channelTask(t, "credbroker-exec-profiles-for-exec", s.cb)
	// The static-keys exec, after the binary: the full build and the agent
	// build run the same.
	staticExec := " exec --vars " + vars + " --region us-east-1 --access-key-id ${bamboo.awsAccessKeyId} --secret-access-key ${bamboo.awsSecretKeyPassword} -- " + truePath
	commands := []struct{ name, cmd string }{
		{"bare spawn of true", truePath},
		{"credbroker --version (start-up alone)", s.cb + " --version"},
		{"credbroker exec (static keys) -- true", s.cb + staticExec},
		{"credbroker exec (instance, ec2-metadata-mock) -- true", s.cb + " exec --source instance --imds-endpoint " + mock.Endpoint + " --region us-east-1 -- " + truePath},
		{"credbroker credential-process --channel (one profile's credentials)", s.cb + " credential-process --channel " + channel + " --profile ci"},
		{"agent build: credbroker exec (static keys) -- true", s.agent + staticExec},
		{"agent build: credbroker credential-process --channel (one profile's credentials)", s.agent + " credential-process --channel " + channel + " --profile ci"},
	}
	med, times := execTimes(t, s, dir, commands)
	overhead := med[5] - med[0]
	s.row(Row{
		Scenario: "`credbroker exec -- true` (static keys), the agent build (`-tags agentonly`) the README gives build agents", Credbroker: "median " + FormatDuration(med[5]),
		Baseline: "bare spawn of true: " + FormatDuration(med[0]), Ratio: "overhead " + FormatDuration(overhead),
		Goal: "overhead ≤ 5 ms median", Verdict: Judge(overhead <= 5*time.Millisecond),
	})
	s.row(Row{
		Scenario: "`credbroker exec -- true` (static keys), the full build (broker and agent)", Credbroker: "median " + FormatDuration(med[2]),
		Baseline: "bare spawn of true: " + FormatDuration(med[0]), Ratio: "overhead " + FormatDuration(med[2]-med[0]),
		Goal: "(info: links the broker's side too)", Verdict: Info,
	})
	s.row(Row{
		Scenario: "`credbroker exec -- true` (instance profile via ec2-metadata-mock)", Credbroker: "median " + FormatDuration(med[3]),
		Baseline: "bare spawn of true: " + FormatDuration(med[0]), Ratio: "overhead " + FormatDuration(med[3]-med[0]),
		Goal: "(no goal: adds three IMDSv2 round trips)", Verdict: Info,
	})
	s.row(Row{
		Scenario: "`credbroker credential-process --channel` (a profile's credentials, once per AWS call)", Credbroker: "median " + FormatDuration(med[4]),
		Baseline: "bare spawn of true: " + FormatDuration(med[0]), Ratio: "overhead " + FormatDuration(med[4]-med[0]),
		Goal: "(info: start-up and one request over the channel)", Verdict: Info,
	})
	s.row(Row{
		Scenario: "`credbroker credential-process --channel`, the agent build", Credbroker: "median " + FormatDuration(med[6]),
		Baseline: "bare spawn of true: " + FormatDuration(med[0]), Ratio: "overhead " + FormatDuration(med[6]-med[0]),
		Goal: "(info)", Verdict: Info,
	})
	var b strings.Builder
	fmt.Fprintf(&b, "hyperfine -N (no shell), 10 warm-up and 150 timed runs of each command, %d rounds; medians of the rounds' medians. "+
		"credbroker is built as the README says (static, CGO_ENABLED=0), in full and as the agent build (-tags agentonly).\n\n", min(s.runs, 3))
	b.WriteString("| command | median |\n|---|---|\n")
	var series []Series
	for i, c := range commands {
		fmt.Fprintf(&b, "| %s | %s |\n", c.name, FormatDuration(med[i]))
		series = append(series, Series{Name: c.name, Latencies: times[i], Dashed: i == 0})
	}
	b.WriteString("\nThe full build: " + s.initTrace(t, commands[2].cmd) + "\n")
	b.WriteString("\nThe agent build: " + s.initTrace(t, commands[5].cmd) + "\n")
	fig := s.figure(t, "exec", Figure{Title: "credbroker exec -- true, wall time per run", Series: series})
	s.section("`credbroker exec -- true`", b.String()+"\n"+fig)
}

// readHyperfine reads hyperfine's --export-json of n commands.
func readHyperfine(t *testing.T, path string, n int) hyperfineResult {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hr hyperfineResult
	if err := json.Unmarshal(data, &hr); err != nil {
		t.Fatal(err)
	}
	if len(hr.Results) != n {
		t.Fatalf("hyperfine reported %d results, want %d", len(hr.Results), n)
	}
	return hr
}

// initTrace runs command (words split on spaces) 21 times with
// GODEBUG=inittrace=1 and reports how long the Go package initialisation
// takes, and the packages that take longest.
func (s *suite) initTrace(t *testing.T, command string) string {
	words := strings.Fields(command)
	var totals []time.Duration
	per := map[string][]time.Duration{}
	n := 0
	for range 21 {
		cmd := exec.CommandContext(s.ctx, words[0], words[1:]...)
		cmd.Env = testpeers.Env("HOME="+t.TempDir(), "GODEBUG=inittrace=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		var total time.Duration
		n = 0
		for _, l := range strings.Split(string(out), "\n") {
			// init PKG @0.5 ms, 0.066 ms clock, 312 bytes, 7 allocs
			f := strings.Fields(l)
			if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
				continue
			}
			v, err := strconv.ParseFloat(f[4], 64)
			if err != nil {
				continue
			}
			d := time.Duration(v * float64(time.Millisecond))
			total += d
			per[f[1]] = append(per[f[1]], d)
			n++
		}
		totals = append(totals, total)
	}
	type pkg struct {
		name string
		d    time.Duration
	}
	var pkgs []pkg
	for name, ds := range per {
		pkgs = append(pkgs, pkg{name, MedianDuration(ds)})
	}
	slices.SortFunc(pkgs, func(a, b pkg) int { return cmp.Compare(b.d, a.d) })
	var top []string
	for _, p := range pkgs[:min(6, len(pkgs))] {
		top = append(top, fmt.Sprintf("%s %s", p.name, FormatDuration(p.d)))
	}
	return fmt.Sprintf("Go package initialisation of `credbroker exec` (GODEBUG=inittrace=1, median of 21 runs): %s over %d packages; the largest: %s.",
		FormatDuration(MedianDuration(totals)), n, strings.Join(top, ", "))
}

func seconds(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

// growth: vend throughput with 1, 100 and 10,000 connectors, then with a
// million audit records; memory per cached session.
func (s *suite) growth(t *testing.T) {
	st := s.startSite(t, "broker-growth", "", 1, s.cb)
	var sides []*side
	var notes []string
	measureAt := func(label string, n int) *side {
		targets := make([]vegeta.Target, n)
		for i := range targets {
			targets[i] = vendTarget(st.url, st.tokens.Agent, connectorName(i), "42")
		}
		// One vend of each connector first: its session is then cached,
		// as it is for connectors in daily use.
		c0 := s.proxy.Calls("AssumeRole")
		t0 := time.Now()
		smp, err := Run(s.ctx, Load{Targets: targets, Conns: 64, Hits: n, Timeout: time.Minute, Check: s.vendOK})
		if err != nil {
			t.Fatal(err)
		}
		if smp.Failed > 0 {
			t.Fatalf("%s: warming the sessions: %s", label, smp.ErrorSummary())
		}
		notes = append(notes, fmt.Sprintf("%s: one vend of each connector first took %s and made %d STS call(s).",
			label, time.Since(t0).Round(10*time.Millisecond), s.proxy.Calls("AssumeRole")-c0))
		sd := &side{name: label, load: Load{Targets: targets, Conns: 64, Duration: s.dur, Check: s.vendOK}}
		s.measure(t, sd)
		sides = append(sides, sd)
		return sd
	}
	addConnectors := func(from, to int) {
		targets := make([]vegeta.Target, 0, to-from)
		for i := from; i < to; i++ {
			body, err := json.Marshal(s.connectorSpec(connectorName(i)))
			if err != nil {
				t.Fatal(err)
			}
			targets = append(targets, vegeta.Target{Method: http.MethodPost, URL: st.url + "/v1/connectors", Body: body,
				Header: http.Header{"Authorization": {"Bearer " + st.tokens.Admin}, "Content-Type": {"application/json"}}})
		}
		t0 := time.Now()
		smp, err := Run(s.ctx, Load{Targets: targets, Conns: 8, Hits: len(targets), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		if smp.Failed > 0 {
			t.Fatalf("creating connectors: %s", smp.ErrorSummary())
		}
		notes = append(notes, fmt.Sprintf("Created connectors %d to %d through the API in %s (%s).",
			from+1, to, time.Since(t0).Round(10*time.Millisecond), formatRate(smp.Throughput())))
	}

	one := measureAt("1 connector", 1)
	addConnectors(1, 100)
	hundred := measureAt("100 connectors", 100)
	rssBefore, errBefore := rssKiB(st.proc.Pid())
	addConnectors(100, 10000)
	tenK := measureAt("10,000 connectors", 10000)
	rssAfter, errAfter := rssKiB(st.proc.Pid())

	// A million audit records, appended through the sqlite package in
	// large batches while the broker runs (SQLite lets a second process
	// write between the broker's transactions).
	t0 := time.Now()
	if err := appendAudit(s, st.dbPath, 1_000_000, 10_000); err != nil {
		t.Fatal(err)
	}
	notes = append(notes, fmt.Sprintf("Appended 1,000,000 audit records through sqlite.Store.AppendAudit in batches of 10,000 in %s.", time.Since(t0).Round(100*time.Millisecond)))
	mil := measureAt("10,000 connectors, 1 M audit records", 10000)

	// Drift-free: on the final store, one hot connector against all
	// 10,000, alternating run by run.
	hot := &side{name: "one connector of 10,000", load: Load{
		Targets: []vegeta.Target{vendTarget(st.url, st.tokens.Agent, connectorName(0), "42")}, Conns: 64, Duration: s.dur, Check: s.vendOK,
	}}
	spread := &side{name: "all 10,000 connectors", load: mil.load}
	s.measure(t, hot, spread)

	// Memory per cached session, in process.
	mst, ring := newStore(t)
	const memN = 10000
	perSession, err := SessionMemory(s.ctx, mst, ring, memN)
	if err != nil {
		t.Fatal(err)
	}

	ref := one.median().Throughput
	for _, sd := range []*side{hundred, tenK, mil} {
		m := sd.median()
		goal, verdict := "(info)", Info
		if sd != hundred {
			goal, verdict = "≥ 0.9× the 1-connector figure", Judge(m.Throughput >= 0.9*ref)
		}
		s.row(Row{Scenario: "growth: " + sd.name + " (64 connections, SQLite)", Credbroker: rateLat(m),
			Baseline: "1 connector: " + rateLat(one.median()), Ratio: fmt.Sprintf("%.2f×", m.Throughput/ref), Goal: goal, Verdict: verdict})
	}
	h, sp := hot.median(), spread.median()
	s.row(Row{Scenario: "growth: all 10,000 connectors vs one of them, same store (1 M audit records), alternating", Credbroker: rateLat(sp),
		Baseline: "one connector: " + rateLat(h), Ratio: fmt.Sprintf("%.2f×", sp.Throughput/h.Throughput),
		Goal: "≥ 0.9×", Verdict: Judge(sp.Throughput >= 0.9*h.Throughput)})
	mem := fmt.Sprintf("%s bytes per cached session", formatInt(int64(perSession+0.5)))
	rss := ""
	if errBefore == nil && errAfter == nil {
		rss = fmt.Sprintf("; credbroker serve's resident memory grew by %s KiB from 100 to 10,000 connectors with a warm session each (%s bytes per connector and session)",
			formatInt(rssAfter-rssBefore), formatInt((rssAfter-rssBefore)*1024/9900))
		mem += fmt.Sprintf("; serve RSS +%s KiB for 9,900 connectors and sessions", formatInt(rssAfter-rssBefore))
	}
	s.row(Row{Scenario: "memory per cached credential", Credbroker: mem, Baseline: "", Ratio: "", Goal: "stated", Verdict: Info})

	var series []Series
	for i, sd := range sides {
		series = append(series, Series{Name: sd.name, Latencies: sd.lat, Dashed: i == 0})
	}
	fig := s.figure(t, "growth", Figure{Title: "Cached vend as the broker grows (64 connections, SQLite)", Series: series})
	s.section("Growth", "The load vends round robin from every connector of the store, each with a cached session "+
		"(one plan, build and job per connector), so that the connector and session caches hold them all.\n\n"+
		strings.Join(notes, "\n")+"\n\n"+runsTable("vends/s", sides...)+"\n"+
		"The points above are measured one after the other as the store grows, so drift of the machine between them shows as growth. "+
		"On the final store, one hot connector and all 10,000 alternate run by run:\n\n"+runsTable("vends/s", hot, spread)+"\n"+
		fmt.Sprintf("Memory per cached credential: the live heap of a broker.Service (after a collection) grew by %.0f bytes per session "+
			"over %s cached sessions of one connector (fake STS credentials of real sizes: 800-character session token; audit discarded)%s.\n\n",
			perSession, formatInt(memN), rss)+fig)
}

// appendAudit appends n vend records to the SQLite store at path in
// batches.
func appendAudit(s *suite, path string, n, batch int) error {
	st, err := sqlite.Open(s.ctx, path)
	if err != nil {
		return err
	}
	defer st.Close()
	recs := make([]*credbroker.AuditRecord, 0, batch)
	for i := 0; i < n; i += batch {
		recs = recs[:0]
		now := time.Now()
		for j := i; j < min(i+batch, n); j++ {
			recs = append(recs, &credbroker.AuditRecord{
				Time: now, Action: credbroker.ActionVend, TokenID: "tok_00000000bench000", Plan: "OPS-DEPLOY",
				Build: strconv.Itoa(j), Job: "OPS-DEPLOY-JOB1", Task: "upload", Connector: "deploy",
				RoleARN: "arn:aws:iam::123456789012:role/bench", AccessKeyID: "ASIABENCHAUDIT000001",
				Expiration: now.Add(time.Hour), Outcome: credbroker.OutcomeGranted, Detail: "cached session",
			})
		}
		if err := st.AppendAudit(s.ctx, recs...); err != nil {
			return fmt.Errorf("append audit records %d to %d: %w", i+1, i+len(recs), err)
		}
	}
	return nil
}

// profiles: CPU profiles of credbroker serve under the 64-connection
// cached vend load, on SQLite and PostgreSQL.
func (s *suite) profiles(t *testing.T) {
	if *flagProfile <= 0 {
		return
	}
	self, keep := s.profiling(t)
	var b strings.Builder
	fmt.Fprintf(&b, "credbroker serve (credbroker's own main under runtime/pprof) with the cached vend load for %s, at 1 connection (SQLite) and at 64 (SQLite, PostgreSQL); "+
		"`go tool pprof -top` of each profile, and where a vend's time goes by the broker's own metrics (means over the run, scraped at its end). "+
		"The profiles are kept in `.cache/bench/` for `go tool pprof -http`.\n\n", *flagProfile)
	for _, kind := range []string{"sqlite-1conn", "sqlite", "postgres"} {
		dsn := ""
		if kind == "postgres" {
			dsn = testpeers.Postgres(t)
		}
		conns := 64
		if kind == "sqlite-1conn" {
			conns = 1
		}
		prof := filepath.Join(keep, "cpu-"+kind+".pprof")
		st := s.startSite(t, "profiled-"+kind, dsn, 1, self, helperVar+"="+helperProfiled, "CREDBROKER_BENCH_CPUPROFILE="+prof)
		vendOnce(t, st, "deploy", "42")
		before, err := scrape(s.ctx, st.metrics)
		if err != nil {
			t.Fatal(err)
		}
		smp, err := Run(s.ctx, Load{Targets: []vegeta.Target{vendTarget(st.url, st.tokens.Agent, "deploy", "42")},
			Conns: conns, Duration: *flagProfile, Check: s.vendOK})
		if err != nil {
			t.Fatal(err)
		}
		after, err := scrape(s.ctx, st.metrics)
		if err != nil {
			t.Fatal(err)
		}
		st.proc.Stop()
		if err := st.proc.Err(); err != nil {
			t.Fatalf("profiled broker: %v\n%s", err, st.proc.Tail(20))
		}
		breakdown := vendBreakdown(smp, before, after)
		mutex := goTool(t, s.root, "pprof", "-top", "-cum", "-nodecount=20", prof+".mutex")
		flat := goTool(t, s.root, "pprof", "-top", "-nodecount=25", prof)
		cum := goTool(t, s.root, "pprof", "-top", "-cum", "-nodecount=50", prof)
		block := goTool(t, s.root, "pprof", "-top", "-cum", "-nodecount=30", prof+".block")
		storeFrames := map[string]string{"sqlite-1conn": "AppendAudit|modernc|database/sql", "sqlite": "AppendAudit|modernc|database/sql", "postgres": "AppendAudit|pgx|pgconn|puddle"}[kind]
		rest := goTool(t, s.root, "pprof", "-top", "-cum", "-nodecount=45", "-focus=httpapi", "-ignore="+storeFrames, prof)
		fmt.Fprintf(&b, "#### %s (%s during the profile)\n\n%s\n\nCPU, flat (where the CPU is spent):\n\n```\n%s\n```\n\n"+
			"CPU, cumulative (which calls it is spent under):\n\n```\n%s\n```\n\n"+
			"Blocking, cumulative (where goroutines wait: locks, channels, the database pool; network waits are not in it):\n\n```\n%s\n```\n\n"+
			"Mutex contention, cumulative:\n\n```\n%s\n```\n\n"+
			"CPU of the request path outside the store (`-focus=httpapi -ignore='%s'`): token check, decoding, the vend rules, the cache, encoding, the log line:\n\n```\n%s\n```\n\n",
			map[string]string{"sqlite-1conn": "SQLite, 1 connection", "sqlite": "SQLite, 64 connections", "postgres": "PostgreSQL, 64 connections"}[kind],
			rateLat(Summarize(smp)), breakdown, flat, cum, block, mutex, storeFrames, rest)
	}
	s.section("Where the time goes: CPU profiles", b.String())
}

// profiling returns this test binary, which runs credbroker's own main
// under a CPU profile (helperProfiled), and the directory the profiles are
// kept in.
func (s *suite) profiling(t *testing.T) (self, keep string) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	keep = filepath.Join(s.root, ".cache", "bench")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	return self, keep
}

// goTool runs `go tool args...` in dir and returns its output, without the
// lines that name local files.
func goTool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"tool"}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go tool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	var keep []string
	for _, l := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		if strings.HasPrefix(l, "File: ") || strings.HasPrefix(l, "Build ID: ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// Micro-benchmarks: the hot functions, compared with a stored baseline.
var (
	microPackages = []string{"./mask", "./vars", "./seal", "./credcache", "./policy", "./httpapi", "./sqlite", "./broker", "./endpoint", "./cli"}
	microPattern  = "^Benchmark(Mask|New|Expand|Seal|Open|CachedRetrieve|Narrow|VendHandler|VendRoundTrip|AppendAudit|ReadConnector|Vend|Authenticate|ServeHTTP|Exec)$"
)

// micro runs the Go micro-benchmarks and compares them with benchstat.
func (s *suite) micro(t *testing.T) {
	latest := filepath.Join(s.figDir, "micro-latest.txt")
	// The stored baseline is the repository's, also for partial runs.
	baseline := filepath.Join(firstNonEmpty(*flagFigures, filepath.Join(s.root, "docs", "bench")), "micro-baseline.txt")
	args := append([]string{"test", "-run", "^$", "-bench", microPattern, "-benchmem",
		"-count", strconv.Itoa(*flagMicroCount), "-benchtime", *flagMicroTime}, microPackages...)
	cmd := exec.CommandContext(s.ctx, "go", args...)
	cmd.Dir = s.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.WriteFile(latest, out, 0o644); err != nil {
		t.Fatal(err)
	}
	note := ""
	fresh := false
	if _, err := os.Stat(baseline); err != nil || *flagNewBase {
		fresh = true
		if err := os.WriteFile(baseline, out, 0o644); err != nil {
			t.Fatal(err)
		}
		note = "This run was stored as the baseline; later runs are compared with it (`-update-baseline` replaces it).\n\n"
	}
	bs := testpeers.Binary(t, "benchstat")
	rel := func(p string) string {
		if r, err := filepath.Rel(s.root, p); err == nil {
			return r
		}
		return p
	}
	// A baseline made by this very run is not compared with itself:
	// benchstat then summarises the run alone.
	bsArgs := []string{rel(baseline), rel(latest)}
	if fresh {
		bsArgs = []string{rel(latest)}
	}
	bsCmd := exec.Command(bs, bsArgs...)
	bsCmd.Dir = s.root
	cmpOut, err := bsCmd.CombinedOutput()
	if err != nil {
		t.Fatalf("benchstat: %v\n%s", err, cmpOut)
	}
	fmt.Printf("\nbenchstat %s:\n%s\n", strings.Join(bsArgs, " "), cmpOut)
	s.section("Micro-benchmarks (go test -bench, benchstat)", fmt.Sprintf("`go test -run '^$' -bench '%s' -benchmem -count %d -benchtime %s %s`, "+
		"written to `%s` and compared with `%s` by benchstat.\n\n%s```\n%s\n```",
		microPattern, *flagMicroCount, *flagMicroTime, strings.Join(microPackages, " "), rel(latest), rel(baseline), note, strings.TrimRight(string(cmpOut), "\n")))
}

// metricsOverhead: the 64-connection cached vend on SQLite with and
// without a scraper reading /metrics ten times a second (Prometheus
// scrapes every 15 s or so: this is 150 times that), alternating on the
// same broker.
func (s *suite) metricsOverhead(t *testing.T) {
	st := s.sqlite
	scrapes := 0
	scraper := func(ctx context.Context) {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if _, err := scrape(ctx, st.metrics); err == nil {
					scrapes++
				}
			}
		}
	}
	load := Load{Targets: []vegeta.Target{vendTarget(st.url, st.tokens.Agent, "deploy", "42")}, Conns: 64, Duration: s.dur, Check: s.vendOK}
	without := &side{name: "credbroker (SQLite), no scraping", load: load}
	load.During = scraper
	with := &side{name: "credbroker (SQLite), /metrics scraped every 100 ms", load: load}
	s.measure(t, with, without)
	w, wo := with.median(), without.median()
	s.row(Row{
		Scenario: "metrics overhead: cached vend, 64 connections, SQLite, scraped every 100 ms", Credbroker: rateLat(w),
		Baseline: "not scraped: " + rateLat(wo), Ratio: fmt.Sprintf("%.2f×", w.Throughput/wo.Throughput),
		Goal: "(info: the cost of collecting and scraping)", Verdict: Info,
	})
	s.section("metrics overhead: cached vend, 64 connections, SQLite", fmt.Sprintf(
		"The same broker, with and without a scraper reading `/metrics` (on `--metrics-listen`) every 100 ms, alternating; %d scrapes answered in all. "+
			"The metrics are collected either way: what scraping adds is the encoding of the exposition and its share of the cores.\n\n%s",
		scrapes, runsTable("vends/s", with, without)))
}

// scrape reads the Prometheus exposition at url.
func scrape(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	return string(b), err
}

// metricValue is the value of the sample name{labels} in an exposition
// (labels as written, "" for none), and whether there is one.
func metricValue(text, name, labels string) (float64, bool) {
	prefix := name
	if labels != "" {
		prefix += "{" + labels + "}"
	}
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, prefix+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// vendBreakdown says where a vend's time went during a load run, from the
// broker's metrics before and after it: the client's mean round trip, the
// server's mean time for the request, the broker's for the vend (audit
// included) and the audit commit's, with the commits' mean batch size.
func vendBreakdown(smp *Sample, before, after string) string {
	delta := func(name, labels string) (time.Duration, float64) {
		s0, _ := metricValue(before, name+"_sum", labels)
		n0, _ := metricValue(before, name+"_count", labels)
		s1, _ := metricValue(after, name+"_sum", labels)
		n1, _ := metricValue(after, name+"_count", labels)
		if n1-n0 <= 0 {
			return 0, 0
		}
		return time.Duration((s1 - s0) / (n1 - n0) * float64(time.Second)), n1 - n0
	}
	var client time.Duration
	for _, l := range smp.Latencies {
		client += l
	}
	if len(smp.Latencies) > 0 {
		client /= time.Duration(len(smp.Latencies))
	}
	req, _ := delta("credbroker_http_request_duration_seconds", `route="POST /v1/credentials"`)
	vend, _ := delta("credbroker_vend_duration_seconds", `source="cache"`)
	commit, commits := delta("credbroker_audit_commit_duration_seconds", "")
	recs0, _ := metricValue(before, "credbroker_audit_commit_records_sum", "")
	recs1, _ := metricValue(after, "credbroker_audit_commit_records_sum", "")
	batch := 0.0
	if commits > 0 {
		batch = (recs1 - recs0) / commits
	}
	return fmt.Sprintf("| mean over the run | time |\n|---|---|\n"+
		"| client round trip | %s |\n| server, request read to answer written | %s |\n| broker, the vend with its audit record | %s |\n"+
		"| audit commit (%.0f commits, %.1f records each) | %s |\n",
		FormatDuration(client), FormatDuration(req), FormatDuration(vend), commits, batch, FormatDuration(commit))
}
