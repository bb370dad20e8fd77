package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// scrapeMetrics reads /metrics at u with tok ("" for none) and returns the
// status and the body, which joins the leak check.
func scrapeMetrics(t *testing.T, w *world, u, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	w.record("metrics "+u, b)
	return resp.StatusCode, string(b)
}

// sample returns the value of the sample name{labels} (labels as the
// exposition writes them, sorted by name) and whether there is one.
func sample(text, name, labels string) (float64, bool) {
	key := name
	if labels != "" {
		key += "{" + labels + "}"
	}
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f, err == nil
		}
	}
	return 0, false
}

// TestMetricsCountKnownTraffic drives a known mix of vends, refusals and
// failed authentications through the binary, with MinIO's STS behind a
// counting proxy, then scrapes /metrics and checks the counters exactly:
// on --metrics-listen without a token, and on the API listener with a
// metrics token only.
func TestMetricsCountKnownTraffic(t *testing.T) {
	mport := testpeers.FreePort(t)
	s := newSiteWith(t, []string{"--metrics-listen", fmt.Sprintf("127.0.0.1:%d", mport)})
	w := s.w
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	_, before := scrapeMetrics(t, w, metricsURL, "")

	// Three vends of one build: one AssumeRole, then two cache hits.
	for i := range 3 {
		if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "7"}); st != 200 {
			t.Fatalf("vend %d: %d %v", i, st, e)
		}
	}
	// Two refusals naming a connector that does not exist: the name a
	// caller made up must not become a label.
	for range 2 {
		if st, _, _ := s.b.vend(s.agent, credbroker.VendRequest{Connector: "no-such-connector-x", Plan: "OPS-DEPLOY"}); st != 404 {
			t.Fatalf("vend of an unknown connector: %d", st)
		}
	}
	// One refusal by the token's plans.
	if st, _, _ := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "WEB-SITE"}); st != 403 {
		t.Fatalf("vend outside the token's plans: %d", st)
	}
	// Failed authentications: none, another scheme, malformed, a wrong
	// secret for a real token ID.
	id, secret, _ := strings.Cut(s.agent, ".")
	wrong := id + "." + strings.Repeat("A", len(secret))
	for _, h := range []string{"", "Basic dXNlcjpwYXNz", "Bearer not-a-token", "Bearer " + wrong} {
		req, _ := http.NewRequest(http.MethodPost, s.b.URL+"/v1/credentials", strings.NewReader(`{"connector":"deploy"}`))
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.record("failed authentication", body)
		if resp.StatusCode != 401 {
			t.Fatalf("Authorization %q: %d", h, resp.StatusCode)
		}
	}

	st, after := scrapeMetrics(t, w, metricsURL, "")
	if st != 200 {
		t.Fatalf("scrape: %d", st)
	}
	proxyHost := strings.TrimPrefix(s.proxy.URL, "http://")
	delta := func(name, labels string) float64 {
		a, _ := sample(after, name, labels)
		b, _ := sample(before, name, labels)
		return a - b
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"credbroker_vends_total", `code="",connector="deploy",outcome="granted"`, 3},
		{"credbroker_vends_total", `code="not_found",connector="(none)",outcome="refused"`, 2},
		{"credbroker_vends_total", `code="forbidden",connector="(none)",outcome="refused"`, 1},
		{"credbroker_vend_duration_seconds_count", `source="sts"`, 1},
		{"credbroker_vend_duration_seconds_count", `source="cache"`, 2},
		{"credbroker_cache_lookups_total", `result="miss"`, 1},
		{"credbroker_cache_lookups_total", `result="hit"`, 2},
		{"credbroker_cache_lookups_total", `result="coalesced"`, 0},
		{"credbroker_sts_calls_total", `endpoint="` + proxyHost + `",operation="AssumeRole",result="ok"`, 1},
		{"credbroker_sts_call_duration_seconds_count", `operation="AssumeRole"`, 1},
		{"credbroker_sts_budget_refusals_total", "", 0},
		// The one STS call took one turn of this broker's own budget
		// (SQLite: no fleet).
		{"credbroker_sts_budget_turns_total", `result="granted",scope="local"`, 1},
		{"credbroker_sts_budget_turns_total", `result="granted",scope="fleet"`, 0},
		{"credbroker_fleet_sessions_total", `outcome="led"`, 0},
		{"credbroker_jwks_fetches_total", `result="ok"`, 0},
		{"credbroker_auth_failures_total", `kind="missing"`, 1},
		{"credbroker_auth_failures_total", `kind="not_bearer"`, 1},
		{"credbroker_auth_failures_total", `kind="malformed"`, 1},
		{"credbroker_auth_failures_total", `kind="wrong_secret"`, 1},
		{"credbroker_auth_failures_total", `kind="unknown"`, 0},
		// Six vends, six records (refusals within the per-token burst
		// are recorded one by one).
		{"credbroker_audit_commit_records_sum", "", 6},
		{"credbroker_store_errors_total", `op="audit_append"`, 0},
	} {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("%s{%s} went up by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := s.proxy.Calls("AssumeRole"); n != 1 {
		t.Errorf("the STS saw %d AssumeRole calls, want 1", n)
	}
	if strings.Contains(after, "no-such-connector-x") || strings.Contains(after, "OPS-DEPLOY") || strings.Contains(after, "WEB-SITE") {
		t.Error("the metrics carry a name a request made up, or a plan")
	}
	if !strings.Contains(after, "credbroker_build_info{") || !strings.Contains(after, "go_goroutines ") {
		t.Error("no build info or Go runtime metrics")
	}

	// A vend with an ID token of a trusted issuer fetches its key set
	// once; the next one uses the cached keys.
	is := testpeers.StartIssuer(t)
	is.OnToken = func(tok string) { w.secret(tok) }
	w.expectOK(s.b.admin(s.admin, "", "issuer", "create", "ci", "--url", is.URL, "--audience", "credbroker"), "issuer create")
	w.expectOK(s.b.admin(s.admin, "", "binding", "create", "ci-ops", "--issuer", "ci", "--subject", "repo:acme/*", "--plans", "OPS-*"), "binding create")
	for i := range 2 {
		idTok := is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker"))
		if st, _, e := s.b.vend(idTok, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "8"}); st != 200 {
			t.Fatalf("vend %d with an ID token: %d %v", i, st, e)
		}
	}
	before = after
	_, after = scrapeMetrics(t, w, metricsURL, "")
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"credbroker_jwks_fetches_total", `result="ok"`, 1},
		{"credbroker_jwks_fetches_total", `result="error"`, 0},
		{"credbroker_jwks_fetch_duration_seconds_count", "", 1},
	} {
		if got := delta(c.name, c.labels); got != c.want {
			t.Errorf("after two vends with ID tokens, %s{%s} went up by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Errorf("the issuer served its key set %d times, want 1", n)
	}

	// On the API listener: a metrics token reads the same metrics; no
	// token, an agent token, a bad token are refused.
	r := s.b.adminShown(s.admin, "token", "create", "--role", "metrics", "--name", "prometheus")
	w.expectOK(r, "metrics token")
	mtok := strings.TrimSpace(r.stdout)
	w.secret(mtok)
	// A metrics token reads the metrics and nothing else.
	if st, _, _ := s.b.vend(mtok, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "7"}); st != 403 {
		t.Errorf("a vend with a metrics token: %d, want 403", st)
	}
	if st := s.b.api(http.MethodGet, "/v1/tokens", mtok, nil, nil); st != 403 {
		t.Errorf("listing tokens with a metrics token: %d, want 403", st)
	}
	api, err := url.JoinPath(s.b.URL, "metrics")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok  string
		want int
	}{{"", 401}, {s.agent, 403}, {wrong, 401}, {mtok, 200}, {s.admin, 200}} {
		st, body := scrapeMetrics(t, w, api, c.tok)
		if st != c.want {
			t.Errorf("/metrics on the API listener: %d, want %d", st, c.want)
		}
		if st == 200 && !strings.Contains(body, "credbroker_vends_total{") {
			t.Error("/metrics on the API listener: no vend counter")
		}
	}
}
