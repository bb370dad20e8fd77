package bench

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestPercentileNearestRank(t *testing.T) {
	var sorted []time.Duration
	for i := 1; i <= 100; i++ {
		sorted = append(sorted, time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100}, {0.001, 1}, {0, 1}} {
		if got := Percentile(sorted, c.q); got != c.want {
			t.Errorf("Percentile(1..100, %v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile(nil) = %v, want 0", got)
	}
}

func TestMedians(t *testing.T) {
	if got := Median([]float64{5, 1, 3}); got != 3 {
		t.Errorf("odd median = %v", got)
	}
	if got := Median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("even median = %v", got)
	}
	runs := []Summary{
		{Throughput: 100, P50: ms(1), P99: ms(9), OK: 10, Failed: 1},
		{Throughput: 300, P50: ms(3), P99: ms(7), OK: 20},
		{Throughput: 200, P50: ms(2), P99: ms(8), OK: 30, Failed: 2},
	}
	m := MedianSummary(runs)
	if m.Throughput != 200 || m.P50 != ms(2) || m.P99 != ms(8) || m.OK != 60 || m.Failed != 3 {
		t.Errorf("MedianSummary = %+v", m)
	}
}

func TestSummarize(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Sample{Latencies: []time.Duration{ms(3), ms(1), ms(2), ms(4)}, OK: 4, Failed: 1, Start: start, End: start.Add(2 * time.Second)}
	sum := Summarize(s)
	if sum.Throughput != 2 || sum.P50 != ms(2) || sum.Max != ms(4) || sum.Failed != 1 {
		t.Errorf("Summarize = %+v", sum)
	}
	if s.Latencies[0] != ms(3) {
		t.Error("Summarize reordered the sample's latencies")
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0", 870: "870ns", 12300: "12.3µs", 1500: "1.5µs", ms(4.56): "4.56ms", ms(100): "100ms",
		1200 * time.Millisecond: "1.2s", time.Microsecond: "1µs",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func TestFigureIsWellFormedSVG(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 5000; i++ {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	f := Figure{Title: "vend <1 conn> & more", Series: []Series{
		{Name: "credbroker", Latencies: lat},
		{Name: "baseline", Latencies: lat[:100], Dashed: true},
		{Name: "empty"},
	}}
	var buf bytes.Buffer
	if err := f.WriteSVG(&buf); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(buf.Bytes()))
	polylines := 0
	var texts []string
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, buf.String())
		}
		switch el := tok.(type) {
		case xml.StartElement:
			if el.Name.Local == "polyline" {
				polylines++
			}
		case xml.CharData:
			texts = append(texts, string(el))
		}
	}
	if polylines != 2 {
		t.Errorf("%d lines drawn, want 2 (the empty series is left out)", polylines)
	}
	all := strings.Join(texts, "|")
	for _, want := range []string{"vend <1 conn> & more", "credbroker (n=5000)", "baseline (n=100)", "99%", "99.9%", "1ms"} {
		if !strings.Contains(all, want) {
			t.Errorf("the figure has no text %q", want)
		}
	}
}

func TestMergeKeepsHandWrittenText(t *testing.T) {
	gen1 := BeginMarker + "\nfirst\n" + EndMarker + "\n"
	gen2 := BeginMarker + "\nsecond\n" + EndMarker + "\n"
	doc := Merge("# Title\n\nintro", gen1)
	if !strings.HasPrefix(doc, "# Title\n\nintro\n\n"+BeginMarker) {
		t.Fatalf("appended block:\n%s", doc)
	}
	doc += "\n## Analysis\n\nby hand\n"
	doc = Merge(doc, gen2)
	if strings.Contains(doc, "first") || !strings.Contains(doc, "second") {
		t.Errorf("the generated block was not replaced:\n%s", doc)
	}
	if !strings.HasPrefix(doc, "# Title\n\nintro\n\n") || !strings.HasSuffix(doc, "## Analysis\n\nby hand\n") {
		t.Errorf("hand-written text lost:\n%s", doc)
	}
	if strings.Count(doc, BeginMarker) != 1 || strings.Count(doc, EndMarker) != 1 {
		t.Errorf("markers duplicated:\n%s", doc)
	}
}

func TestWriteFileCreatesAndUpdates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	r := &Report{Machine: Machine{CPU: "test cpu", Cores: 2}, Started: time.Now(), Rows: []Row{
		{Scenario: "a|b", Credbroker: "1/s", Baseline: "2/s", Ratio: "0.50×", Goal: "≥ 0.8×", Verdict: Miss},
	}, Sections: []Section{{Title: "Details", Body: "text"}}}
	if err := WriteFile(path, r.Markdown()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, want := range []string{"# Benchmarks", "test cpu", `a\|b`, "**MISS**", "### Details"} {
		if !strings.Contains(doc, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, doc)
		}
	}
	if err := os.WriteFile(path, []byte(doc+"\nnotes by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Rows[0].Verdict = Pass
	if err := WriteFile(path, r.Markdown()); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if doc := string(b); !strings.Contains(doc, "**PASS**") || strings.Contains(doc, "**MISS**") || !strings.Contains(doc, "notes by hand") {
		t.Errorf("second write:\n%s", doc)
	}
	if !strings.Contains(r.Text(), "a|b") {
		t.Errorf("terminal table:\n%s", r.Text())
	}
}

func TestRunCountsAndChecks(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hits.Add(1)
		switch {
		case r.Header.Get("Authorization") != "Bearer ok":
			http.Error(w, "no", http.StatusUnauthorized)
		case n%10 == 0:
			w.Write([]byte(`{"nothing":1}`))
		default:
			FixedJSON([]byte(`{"access_key_id":"x"}`)).ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	tg := vegeta.Target{Method: http.MethodPost, URL: srv.URL, Body: []byte(`{}`), Header: http.Header{"Authorization": {"Bearer ok"}}}
	check := func(b []byte) error {
		if !bytes.Contains(b, []byte("access_key_id")) {
			return errors.New("no credentials")
		}
		return nil
	}
	s, err := Run(t.Context(), Load{Targets: []vegeta.Target{tg}, Conns: 4, Hits: 100, Check: check})
	if err != nil {
		t.Fatal(err)
	}
	if s.OK != 90 || s.Failed != 10 || s.Errors["no credentials"] != 10 || len(s.Latencies) != 90 {
		t.Errorf("OK %d, failed %d, errors %v, latencies %d; want 90, 10, 10× no credentials, 90", s.OK, s.Failed, s.Errors, len(s.Latencies))
	}
	if s.Start.IsZero() || s.End.Before(s.LastSend) || s.Throughput() <= 0 {
		t.Errorf("times: start %v, last send %v, end %v", s.Start, s.LastSend, s.End)
	}

	bad := tg
	bad.Header = nil
	s, err = Run(t.Context(), Load{Targets: []vegeta.Target{bad}, Conns: 2, Hits: 5})
	if err != nil {
		t.Fatal(err)
	}
	if s.OK != 0 || s.Failed != 5 || !strings.Contains(s.ErrorSummary(), "5× 401") {
		t.Errorf("OK %d, failed %d, errors %q", s.OK, s.Failed, s.ErrorSummary())
	}

	before := hits.Load()
	s, err = Run(t.Context(), Load{Targets: []vegeta.Target{tg}, Conns: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if s.OK+s.Failed == 0 || int64(s.OK+s.Failed) != hits.Load()-before {
		t.Errorf("a timed run counted %d requests, the server saw %d", s.OK+s.Failed, hits.Load()-before)
	}

	if _, err := Run(t.Context(), Load{Conns: 1, Hits: 1}); err == nil {
		t.Error("a load without targets ran")
	}
}

// newStore opens a SQLite store and a key ring in a temporary directory.
func newStore(t *testing.T) (*sqlite.Store, *seal.Ring) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := seal.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	return st, ring
}

// A simulated hour of one key with 900-second sessions: at most five STS
// calls (four is the least 3600/900 allows), and never an expired
// credential, nor one with less than the broker's minimum lifetime left.
func TestSimulatedHourOf900SecondSessions(t *testing.T) {
	st, ring := newStore(t)
	res, err := SimulateHour(t.Context(), st, ring, HourOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Vends != 3600 {
		t.Errorf("%d vends, want 3600", res.Vends)
	}
	if res.STSCalls > 5 || res.STSCalls < 4 {
		t.Errorf("%d STS calls in an hour of 900 s sessions (at %v), want 4 or 5", res.STSCalls, res.CallsAt)
	}
	if res.Expired != 0 || res.Short != 0 || res.MinLeft < minRemaining {
		t.Errorf("served %d expired credentials, %d with less than %s left; least left %s", res.Expired, res.Short, minRemaining, res.MinLeft)
	}
	if len(res.CallsAt) != int(res.STSCalls) || res.CallsAt[0] != 0 {
		t.Errorf("STS calls at %v, %d in all", res.CallsAt, res.STSCalls)
	}
}

func TestSessionMemoryCountsCachedSessions(t *testing.T) {
	st, ring := newStore(t)
	per, err := SessionMemory(t.Context(), st, ring, 300)
	if err != nil {
		t.Fatal(err)
	}
	// Each session holds at least its credentials: an 800-byte token.
	if per < 800 {
		t.Errorf("%.0f bytes per cached session, want at least the 800 of its session token", per)
	}
	if _, err := SessionMemory(t.Context(), st, ring, 0); err == nil {
		t.Error("SessionMemory(0) did not fail")
	}
}

func TestDescribeMachine(t *testing.T) {
	m := DescribeMachine()
	if m.Cores < 1 || m.Go == "" || !strings.HasPrefix(m.Go, "go") {
		t.Errorf("machine %+v", m)
	}
	if !strings.Contains(m.String(), m.Go) {
		t.Errorf("String() = %q", m.String())
	}
}
