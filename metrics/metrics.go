// Package metrics is the broker's Prometheus instrumentation: the one
// package that imports prometheus/client_golang. A Metrics implements the
// observer interfaces that package broker, package httpapi and package
// oidc declare, so none of them knows Prometheus (broker.FleetObserver
// through a small adapter in the serve command, since this package
// imports none of the module's), and serves the registry in the
// Prometheus text format.
//
// Every label has a bounded set of values: outcomes, error codes, cache
// results, operations and route patterns are fixed sets; connector names
// and STS endpoint hosts come from the broker's own configuration, never
// from a request, and are capped (MaxConnectors, MaxEndpoints) with the
// rest counted under "(other)", so an administrator's script that creates
// thousands of connectors cannot blow up the scrape. No label carries a
// plan, a build, a token or a key.
package metrics

import (
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Defaults of Options.
const (
	DefaultMaxConnectors = 100
	DefaultMaxEndpoints  = 20
)

// Label values used when a value is not one of the broker's own.
const (
	// Other is the label value of connectors and endpoints beyond the cap,
	// and of values outside a fixed set.
	Other = "(other)"
	// None is the connector label of a vend refused before a connector
	// was found.
	None = "(none)"
)

// Options configure Metrics. Zero values take the defaults.
type Options struct {
	// MaxConnectors is how many connector names get a label value of
	// their own; vends of connectors met after that count as "other".
	MaxConnectors int
	// MaxEndpoints is the same for STS endpoint hosts.
	MaxEndpoints int
	// CachedSessions, when set, is read at each scrape for the gauge of
	// the sessions the broker's cache holds.
	CachedSessions func() int
	// Version is the build's version for credbroker_build_info; the main
	// module's version from the binary's build information when empty.
	Version string
}

// Metrics holds the broker's metrics in a registry of its own (not the
// global one). It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	vends         *prometheus.CounterVec
	vendDuration  *prometheus.HistogramVec
	stsCalls      *prometheus.CounterVec
	stsDuration   *prometheus.HistogramVec
	cache         *prometheus.CounterVec
	budgetWait    prometheus.Histogram
	budgetRefused prometheus.Counter
	auditCommit   prometheus.Histogram
	auditBatch    prometheus.Histogram
	storeErrors   *prometheus.CounterVec
	authFailures  *prometheus.CounterVec
	jwksFetches   *prometheus.CounterVec
	jwksDuration  prometheus.Histogram
	fleetSessions *prometheus.CounterVec
	fleetWait     prometheus.Histogram
	budgetTurns   *prometheus.CounterVec
	requests      *prometheus.CounterVec
	reqDuration   *prometheus.HistogramVec

	connectors *capped
	endpoints  *capped
}

// latencyBuckets span a cached vend (~100 µs) to an STS call at its
// deadline (20 s), in seconds.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Fixed label values, registered at zero so that every series exists
// before its first event (rate() and the dashboard see 0, not nothing).
var (
	cacheResults = []string{"hit", "hit_refreshing", "miss", "coalesced"}
	authKinds    = []string{"missing", "not_bearer", "malformed", "unknown", "wrong_secret", "revoked", "expired", "throttled"}
	storeOps     = []string{"audit_append", "token_read", "connector_read", "ready", "write_probe"}
	errorCodes   = []string{"invalid", "unauthorized", "forbidden", "not_found", "conflict", "unprocessable", "throttled", "upstream", "unavailable", "internal"}
	stsOps       = []string{"AssumeRole", "GetFederationToken", "GetSessionToken"}
	jwksResults  = []string{"ok", "error"}
	// fleetOutcomes are the names of broker.FleetOutcome.
	fleetOutcomes = []string{"shared", "led", "waited", "fallback", "timeout", "unavailable"}
	// fleetWaiters are the outcomes of a broker that waited for another
	// broker's STS call, whose waits the fleet wait histogram holds.
	fleetWaiters = []string{"waited", "fallback", "timeout"}
	budgetScopes = []string{"fleet", "local"}
	turnResults  = []string{"granted", "refused"}
)

// New returns Metrics with every metric registered, the Go runtime and
// process collectors included.
func New(opts Options) *Metrics {
	if opts.MaxConnectors <= 0 {
		opts.MaxConnectors = DefaultMaxConnectors
	}
	if opts.MaxEndpoints <= 0 {
		opts.MaxEndpoints = DefaultMaxEndpoints
	}
	m := &Metrics{
		reg:        prometheus.NewRegistry(),
		connectors: newCapped(opts.MaxConnectors),
		endpoints:  newCapped(opts.MaxEndpoints),
	}
	m.vends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_vends_total",
		Help: "Vends answered, by outcome (granted, refused), error code of a refusal and connector.",
	}, []string{"outcome", "code", "connector"})
	m.vendDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "credbroker_vend_duration_seconds",
		Help:    "Time of granted vends in the broker, audit record included, by source: cache (a cached session) or sts (waited for STS).",
		Buckets: latencyBuckets,
	}, []string{"source"})
	m.stsCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_sts_calls_total",
		Help: "STS calls (each with its retries, at one endpoint), by operation, endpoint host and result (ok, an error code, or budget when the broker's own budget ended it).",
	}, []string{"operation", "endpoint", "result"})
	m.stsDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "credbroker_sts_call_duration_seconds",
		Help:    "Time of STS calls at one endpoint, retries included, by operation.",
		Buckets: latencyBuckets,
	}, []string{"operation"})
	m.cache = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_cache_lookups_total",
		Help: "Vends that reached the session cache, by how it answered: hit, hit_refreshing (advisory window), miss (this vend called STS), coalesced (waited for another vend's call).",
	}, []string{"result"})
	m.budgetWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "credbroker_sts_budget_wait_seconds",
		Help:    "Waits of STS attempts for their turn in the broker's STS budget.",
		Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	})
	m.budgetRefused = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "credbroker_sts_budget_refusals_total",
		Help: "STS attempts the broker's STS budget refused (the vend got 429).",
	})
	m.auditCommit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "credbroker_audit_commit_duration_seconds",
		Help:    "Time of audit transactions (group commits), until durable.",
		Buckets: latencyBuckets,
	})
	m.auditBatch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "credbroker_audit_commit_records",
		Help:    "Audit records per transaction (group commit batch size).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_store_errors_total",
		Help: "Store operations the broker needed that failed, by operation.",
	}, []string{"op"})
	m.authFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_auth_failures_total",
		Help: "Refused authentications, by kind; never the token.",
	}, []string{"kind"})
	m.jwksFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_jwks_fetches_total",
		Help: "JWKS fetches of trusted OIDC issuers, by result (ok, error).",
	}, []string{"result"})
	m.jwksDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "credbroker_jwks_fetch_duration_seconds",
		Help:    "Time of JWKS fetches of trusted OIDC issuers.",
		Buckets: latencyBuckets,
	})
	m.fleetSessions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_fleet_sessions_total",
		Help: "Sessions a broker of a fleet (brokers on one PostgreSQL database) did not have cached, by how it got them: shared (another broker's, stored), led (it called STS for the fleet), waited (for another broker's call), fallback (that broker went away; it called STS), timeout (that call outlasted the fleet wait; it called STS), unavailable (the database could not be asked; it called STS alone).",
	}, []string{"outcome"})
	m.fleetWait = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "credbroker_fleet_wait_seconds",
		Help:    "Waits of a broker of a fleet for another broker's STS call for the same session (outcomes waited, fallback and timeout).",
		Buckets: latencyBuckets,
	})
	m.budgetTurns = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_sts_budget_turns_total",
		Help: "Turns of STS attempts in the STS budget, by scope (fleet: the bucket the brokers on the database share; local: this broker's own) and result (granted, refused).",
	}, []string{"scope", "result"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "credbroker_http_requests_total",
		Help: "HTTP requests answered, by route pattern and status code.",
	}, []string{"route", "code"})
	m.reqDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "credbroker_http_request_duration_seconds",
		Help:    "Time to answer HTTP requests, by route pattern.",
		Buckets: latencyBuckets,
	}, []string{"route"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "credbroker_build_info",
		Help: "Always 1; the labels say which build runs: version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	version, revision, goVersion := buildInfo(opts.Version)
	build.WithLabelValues(version, revision, goVersion).Set(1)

	m.reg.MustRegister(m.vends, m.vendDuration, m.stsCalls, m.stsDuration, m.cache, m.budgetWait, m.budgetRefused,
		m.auditCommit, m.auditBatch, m.storeErrors, m.authFailures, m.jwksFetches, m.jwksDuration,
		m.fleetSessions, m.fleetWait, m.budgetTurns, m.requests, m.reqDuration, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if opts.CachedSessions != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "credbroker_cached_sessions",
			Help: "Sessions the broker's vend cache holds.",
		}, func() float64 { return float64(opts.CachedSessions()) }))
	}
	for _, r := range cacheResults {
		m.cache.WithLabelValues(r)
	}
	for _, k := range authKinds {
		m.authFailures.WithLabelValues(k)
	}
	for _, op := range storeOps {
		m.storeErrors.WithLabelValues(op)
	}
	for _, r := range jwksResults {
		m.jwksFetches.WithLabelValues(r)
	}
	for _, o := range fleetOutcomes {
		m.fleetSessions.WithLabelValues(o)
	}
	for _, sc := range budgetScopes {
		for _, r := range turnResults {
			m.budgetTurns.WithLabelValues(sc, r)
		}
	}
	for _, s := range []string{"cache", "sts"} {
		m.vendDuration.WithLabelValues(s)
	}
	for _, op := range stsOps {
		m.stsDuration.WithLabelValues(op)
	}
	return m
}

// buildInfo returns the version, VCS revision and Go version of the
// running binary.
func buildInfo(version string) (string, string, string) {
	revision, goVersion := "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if version == "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	if version == "" {
		version = "unknown"
	}
	return version, revision, goVersion
}

// Registry is the registry the metrics are in, for tests and for
// checking a dashboard against it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Vend counts a vend and, when granted, times it (broker.Observer).
func (m *Metrics) Vend(outcome, code, connector, source string, d time.Duration) {
	switch outcome {
	case "granted", "refused":
	default:
		outcome = Other
	}
	if code != "" && !oneOf(code, errorCodes) {
		code = Other
	}
	conn := None
	if connector != "" {
		conn = m.connectors.label(connector)
	}
	m.vends.WithLabelValues(outcome, code, conn).Inc()
	if outcome == "granted" && (source == "cache" || source == "sts") {
		m.vendDuration.WithLabelValues(source).Observe(d.Seconds())
	}
}

// Cache counts how the session cache answered a vend (broker.Observer).
func (m *Metrics) Cache(served string) {
	if !oneOf(served, cacheResults) {
		served = Other
	}
	m.cache.WithLabelValues(served).Inc()
}

// STSCall counts and times an STS call at one endpoint (broker.Observer).
// Only the endpoint's host is a label: a URL's user information, path or
// query never reaches the scrape.
func (m *Metrics) STSCall(operation, endpoint, result string, d time.Duration) {
	if !oneOf(operation, stsOps) {
		operation = Other
	}
	if result != "ok" && result != "budget" && !oneOf(result, errorCodes) {
		result = Other
	}
	m.stsCalls.WithLabelValues(operation, m.endpoints.label(endpointHost(endpoint)), result).Inc()
	m.stsDuration.WithLabelValues(operation).Observe(d.Seconds())
}

// endpointHost is the host (and port) of an endpoint URL.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "invalid"
	}
	return u.Host
}

// BudgetWait times a wait for the STS budget (broker.Observer).
func (m *Metrics) BudgetWait(d time.Duration) { m.budgetWait.Observe(d.Seconds()) }

// BudgetRefusal counts a refusal of the STS budget (broker.Observer).
func (m *Metrics) BudgetRefusal() { m.budgetRefused.Inc() }

// AuditCommit times an audit transaction and records its size
// (broker.Observer). A failed one is counted by StoreError.
func (m *Metrics) AuditCommit(records int, d time.Duration, err error) {
	if err != nil {
		return
	}
	m.auditCommit.Observe(d.Seconds())
	m.auditBatch.Observe(float64(records))
}

// StoreError counts a failed store operation (broker.Observer).
func (m *Metrics) StoreError(op string) {
	if !oneOf(op, storeOps) {
		op = Other
	}
	m.storeErrors.WithLabelValues(op).Inc()
}

// AuthFailure counts a refused authentication (broker.Observer and
// httpapi.Observer).
func (m *Metrics) AuthFailure(kind string) {
	if !oneOf(kind, authKinds) {
		kind = Other
	}
	m.authFailures.WithLabelValues(kind).Inc()
}

// JWKSFetch counts and times a fetch of a trusted OIDC issuer's key set,
// its discovery document included: result is "ok" or "error"
// (oidc.FetchObserver).
func (m *Metrics) JWKSFetch(result string, d time.Duration) {
	if !oneOf(result, jwksResults) {
		result = Other
	}
	m.jwksFetches.WithLabelValues(result).Inc()
	m.jwksDuration.Observe(d.Seconds())
}

// FleetSession counts how a broker of a fleet got a session it had not
// cached: outcome is the name of a broker.FleetOutcome ("shared", "led",
// "waited", "fallback", "timeout", "unavailable"; the serve command
// adapts broker.FleetObserver to it, so that this package does not
// import the broker's). The waits of the outcomes that waited for
// another broker's call go to the fleet wait histogram.
func (m *Metrics) FleetSession(outcome string, waited time.Duration) {
	if !oneOf(outcome, fleetOutcomes) {
		outcome = Other
	}
	m.fleetSessions.WithLabelValues(outcome).Inc()
	if oneOf(outcome, fleetWaiters) {
		m.fleetWait.Observe(waited.Seconds())
	}
}

// BudgetTurn counts an STS attempt's turn in the STS budget by scope
// (fleet or local) and result (broker.FleetObserver). It is the one
// count of turns; the waits and refusals of the same turns are counted
// once each by BudgetWait and BudgetRefusal (broker.Observer), which the
// broker calls on both scopes, so BudgetTurn leaves them alone.
func (m *Metrics) BudgetTurn(_ time.Duration, refused, fleet bool) {
	scope, result := "local", "granted"
	if fleet {
		scope = "fleet"
	}
	if refused {
		result = "refused"
	}
	m.budgetTurns.WithLabelValues(scope, result).Inc()
}

// Request counts and times an answered HTTP request (httpapi.Observer).
// route is the server's route pattern, a fixed set.
func (m *Metrics) Request(route string, status int, d time.Duration) {
	if route == "" {
		route = Other
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.reqDuration.WithLabelValues(route).Observe(d.Seconds())
}

func oneOf(v string, set []string) bool {
	for _, s := range set {
		if v == s {
			return true
		}
	}
	return false
}

// capped hands out label values: the first max distinct values as they
// are, every later one as Other.
type capped struct {
	mu   sync.RWMutex
	max  int
	seen map[string]struct{}
}

func newCapped(max int) *capped { return &capped{max: max, seen: map[string]struct{}{}} }

func (c *capped) label(v string) string {
	c.mu.RLock()
	_, ok := c.seen[v]
	c.mu.RUnlock()
	if ok {
		return v
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.seen[v]; ok {
		return v
	}
	if len(c.seen) >= c.max {
		return Other
	}
	c.seen[v] = struct{}{}
	return v
}
