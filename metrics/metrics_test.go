package metrics_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker/metrics"
)

// exercised returns Metrics on which every method was called once, so
// that every metric of the registry has a series to gather.
func exercised(t *testing.T) *metrics.Metrics {
	t.Helper()
	m := metrics.New(metrics.Options{CachedSessions: func() int { return 3 }, Version: "v1.2.3"})
	m.Vend("granted", "", "deploy", "sts", time.Millisecond)
	m.Vend("refused", "not_found", "", "", 0)
	m.Cache("miss")
	m.STSCall("AssumeRole", "https://sts.example.test", "ok", time.Millisecond)
	m.BudgetWait(time.Millisecond)
	m.BudgetRefusal()
	m.AuditCommit(4, time.Millisecond, nil)
	m.StoreError("audit_append")
	m.AuthFailure("wrong_secret")
	m.JWKSFetch("ok", time.Millisecond)
	m.FleetSession("waited", time.Millisecond)
	m.BudgetTurn(0, false, true)
	m.Request("POST /v1/credentials", 200, time.Millisecond)
	return m
}

// families returns the registry's metric families: name to type.
func families(t *testing.T, m *metrics.Metrics) map[string]string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetType().String()
	}
	return out
}

// scrape returns the text exposition of m.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	b, err := io.ReadAll(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestLabelsAreBounded: connector names and endpoint hosts beyond the caps
// count under "(other)"; values outside the fixed sets are "(other)"; an
// endpoint's user information, path and query are not in the scrape.
func TestLabelsAreBounded(t *testing.T) {
	m := metrics.New(metrics.Options{MaxConnectors: 2, MaxEndpoints: 1})
	for i := range 50 {
		m.Vend("granted", "", fmt.Sprintf("conn-%d", i), "cache", time.Microsecond)
	}
	m.Vend("granted", "", "conn-1", "cache", time.Microsecond)
	m.Vend("made-up-outcome", "made-up-code", "conn-0", "", 0)
	m.STSCall("AssumeRole", "https://user:pa55word@sts-a.example.test/path?X-Amz-Security-Token=tok", "ok", time.Millisecond)
	m.STSCall("AssumeRole", "https://sts-b.example.test", "ok", time.Millisecond)
	m.STSCall("DeleteEverything", "https://sts-a.example.test", "some-error", time.Millisecond)
	m.Cache("warm")
	m.AuthFailure("Bearer abc.def")
	m.StoreError("drop_table")
	text := scrape(t, m)

	for _, want := range []string{
		`credbroker_vends_total{code="",connector="conn-0",outcome="granted"} 1`,
		`credbroker_vends_total{code="",connector="conn-1",outcome="granted"} 2`,
		`credbroker_vends_total{code="",connector="(other)",outcome="granted"} 48`,
		`credbroker_vends_total{code="(other)",connector="conn-0",outcome="(other)"} 1`,
		`credbroker_sts_calls_total{endpoint="sts-a.example.test",operation="AssumeRole",result="ok"} 1`,
		`credbroker_sts_calls_total{endpoint="(other)",operation="AssumeRole",result="ok"} 1`,
		`credbroker_sts_calls_total{endpoint="sts-a.example.test",operation="(other)",result="(other)"} 1`,
		`credbroker_cache_lookups_total{result="(other)"} 1`,
		`credbroker_auth_failures_total{kind="(other)"} 1`,
		`credbroker_store_errors_total{op="(other)"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("the scrape has no line %s", want)
		}
	}
	for _, leak := range []string{"conn-2", "conn-49", "pa55word", "user:", "X-Amz", "path", "sts-b", "made-up", "DeleteEverything", "warm", "abc.def", "drop_table"} {
		if strings.Contains(text, leak) {
			t.Errorf("the scrape carries %q", leak)
		}
	}
}

// TestSeriesExistBeforeEvents: the fixed label sets are at zero from the
// start, so rate() sees 0 rather than nothing; build info says the
// version.
func TestSeriesExistBeforeEvents(t *testing.T) {
	text := scrape(t, metrics.New(metrics.Options{Version: "v9.8.7"}))
	for _, want := range []string{
		`credbroker_cache_lookups_total{result="coalesced"} 0`,
		`credbroker_auth_failures_total{kind="revoked"} 0`,
		`credbroker_store_errors_total{op="write_probe"} 0`,
		`credbroker_jwks_fetches_total{result="error"} 0`,
		`credbroker_vend_duration_seconds_count{source="sts"} 0`,
		`credbroker_sts_budget_refusals_total 0`,
		`credbroker_fleet_sessions_total{outcome="unavailable"} 0`,
		`credbroker_sts_budget_turns_total{result="refused",scope="fleet"} 0`,
		`credbroker_fleet_wait_seconds_count 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("a fresh registry has no line %s", want)
		}
	}
	if !regexp.MustCompile(`credbroker_build_info\{goversion="go[^"]+",revision="[^"]*",version="v9\.8\.7"\} 1`).MatchString(text) {
		t.Error("no build info with the version")
	}
	if strings.Contains(text, "credbroker_cached_sessions") {
		t.Error("a cached-sessions gauge without a source")
	}
}

// TestCounts: what the observer methods are told is what the scrape says.
func TestCounts(t *testing.T) {
	text := scrape(t, exercised(t))
	for _, want := range []string{
		`credbroker_vends_total{code="",connector="deploy",outcome="granted"} 1`,
		`credbroker_vends_total{code="not_found",connector="(none)",outcome="refused"} 1`,
		`credbroker_vend_duration_seconds_count{source="sts"} 1`,
		`credbroker_vend_duration_seconds_count{source="cache"} 0`,
		`credbroker_audit_commit_records_sum 4`,
		`credbroker_audit_commit_records_count 1`,
		`credbroker_cached_sessions 3`,
		`credbroker_http_requests_total{code="200",route="POST /v1/credentials"} 1`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("the scrape has no line %s", want)
		}
	}
}

// TestFleetCounts: each fleet outcome and budget turn is counted once
// under its own label; only the outcomes that waited for another broker
// feed the wait histogram; a turn leaves the budget's wait histogram and
// refusal counter (told by the broker's Observer) alone, so that no turn
// is counted twice.
func TestFleetCounts(t *testing.T) {
	m := metrics.New(metrics.Options{})
	for o, n := range map[string]int{"shared": 4, "led": 1, "waited": 3, "fallback": 2, "timeout": 1, "unavailable": 2, "made-up": 1} {
		for range n {
			m.FleetSession(o, 250*time.Millisecond)
		}
	}
	m.BudgetTurn(0, false, true)
	m.BudgetTurn(2*time.Second, false, true)
	m.BudgetTurn(0, true, true)
	m.BudgetTurn(0, true, false)
	m.BudgetTurn(time.Second, true, false)
	for range 3 {
		m.BudgetTurn(0, false, false)
	}
	text := scrape(t, m)
	for _, want := range []string{
		`credbroker_fleet_sessions_total{outcome="shared"} 4`,
		`credbroker_fleet_sessions_total{outcome="led"} 1`,
		`credbroker_fleet_sessions_total{outcome="waited"} 3`,
		`credbroker_fleet_sessions_total{outcome="fallback"} 2`,
		`credbroker_fleet_sessions_total{outcome="timeout"} 1`,
		`credbroker_fleet_sessions_total{outcome="unavailable"} 2`,
		`credbroker_fleet_sessions_total{outcome="(other)"} 1`,
		// waited, fallback and timeout: 3 + 2 + 1 waits of 0.25 s.
		`credbroker_fleet_wait_seconds_count 6`,
		`credbroker_fleet_wait_seconds_sum 1.5`,
		`credbroker_fleet_wait_seconds_bucket{le="0.1"} 0`,
		`credbroker_fleet_wait_seconds_bucket{le="0.25"} 6`,
		`credbroker_sts_budget_turns_total{result="granted",scope="fleet"} 2`,
		`credbroker_sts_budget_turns_total{result="refused",scope="fleet"} 1`,
		`credbroker_sts_budget_turns_total{result="granted",scope="local"} 3`,
		`credbroker_sts_budget_turns_total{result="refused",scope="local"} 2`,
		`credbroker_sts_budget_wait_seconds_count 0`,
		`credbroker_sts_budget_refusals_total 0`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("the scrape has no line %s", want)
		}
	}
	if strings.Contains(text, "made-up") {
		t.Error("an outcome outside the fixed set became a label")
	}
}

// TestJWKSCounts: the OIDC verifier's fetches by result.
func TestJWKSCounts(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.JWKSFetch("ok", 10*time.Millisecond)
	m.JWKSFetch("ok", 10*time.Millisecond)
	m.JWKSFetch("error", time.Second)
	m.JWKSFetch("https://issuer.example.test/keys", 0)
	text := scrape(t, m)
	for _, want := range []string{
		`credbroker_jwks_fetches_total{result="ok"} 2`,
		`credbroker_jwks_fetches_total{result="error"} 1`,
		`credbroker_jwks_fetches_total{result="(other)"} 1`,
		`credbroker_jwks_fetch_duration_seconds_count 4`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("the scrape has no line %s", want)
		}
	}
	if strings.Contains(text, "issuer.example.test") {
		t.Error("a URL became a label")
	}
}

// dashboard is the part of a Grafana dashboard JSON the test reads.
type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource *struct {
			Type string `json:"type"`
			UID  string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

var metricName = regexp.MustCompile(`\b(?:credbroker|go|process)_[a-zA-Z0-9_]+\b`)

// TestGrafanaDashboard: docs/grafana-dashboard.json parses, every panel
// queries Prometheus through the dashboard's data source variable, every
// metric it queries is in the registry (a histogram through its _bucket,
// _sum or _count series), and every credbroker metric of the registry is
// on some panel.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	var d dashboard
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("docs/grafana-dashboard.json: %v", err)
	}
	if d.Title == "" || d.UID == "" {
		t.Error("the dashboard has no title or uid")
	}
	fams := families(t, exercised(t))
	exists := func(name string) bool {
		if _, ok := fams[name]; ok {
			return fams[name] != "HISTOGRAM"
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && fams[base] == "HISTOGRAM" {
				return true
			}
		}
		return false
	}

	used := map[string]bool{}
	check := func(where, expr string) {
		names := metricName.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s queries no credbroker metric: %s", where, expr)
		}
		for _, n := range names {
			if !exists(n) {
				t.Errorf("%s queries %s, which the registry does not have", where, n)
			}
			used[n] = true
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			check("variable "+v.Name, string(v.Query))
		}
	}
	graphs := 0
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		graphs++
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q does not query the dashboard's Prometheus data source", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			check(fmt.Sprintf("panel %q", p.Title), tg.Expr)
		}
	}
	if graphs == 0 {
		t.Fatal("the dashboard has no panels")
	}

	var missing []string
	for name, typ := range fams {
		if !strings.HasPrefix(name, "credbroker_") {
			continue
		}
		shown := used[name]
		if typ == "HISTOGRAM" {
			shown = used[name+"_bucket"] || used[name+"_sum"] || used[name+"_count"]
		}
		if !shown {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the dashboard shows none of %v", missing)
	}
}

// TestREADMEListsMetrics: the README's metric list names every credbroker
// metric of the registry, and nothing that is not one.
func TestREADMEListsMetrics(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	fams := families(t, exercised(t))
	var listed []string
	for _, l := range strings.Split(string(raw), "\n") {
		if n, ok := strings.CutPrefix(l, "| `credbroker_"); ok {
			name, _, _ := strings.Cut(n, "`")
			listed = append(listed, "credbroker_"+name)
		}
	}
	for _, n := range listed {
		if _, ok := fams[n]; !ok {
			t.Errorf("README lists %s, which the registry does not have", n)
		}
	}
	for n := range fams {
		if strings.HasPrefix(n, "credbroker_") && !slices.Contains(listed, n) {
			t.Errorf("README's metric list does not name %s", n)
		}
	}
}
