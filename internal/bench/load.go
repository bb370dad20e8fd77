package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// Load is one closed-loop run of the load generator: Conns keep-alive
// connections, each sending its next request as soon as the answer to the
// previous one has arrived, for Duration or until Hits requests were sent.
type Load struct {
	// Targets are the requests, sent round robin.
	Targets []vegeta.Target
	// Conns is the number of connections, which is also the number of
	// requests in flight.
	Conns int
	// Duration bounds the run; zero means no bound other than Hits.
	Duration time.Duration
	// Hits, when positive, stops the run after that many requests.
	Hits int
	// Timeout bounds one request; 30 s when zero.
	Timeout time.Duration
	// Unix, when set, is the unix socket every request is sent over,
	// whatever the target's host.
	Unix string
	// Check, when set, judges the body of each response with a 2xx
	// status; an error counts the response as failed. Its message is
	// reported, so it must not quote the body.
	Check func(body []byte) error
	// During, when set, runs beside the load for as long as it lasts; its
	// context ends when the load does.
	During func(ctx context.Context)
}

// Sample is what one run measured.
type Sample struct {
	// Latencies are those of the successful requests, in the order they
	// were answered.
	Latencies []time.Duration
	// OK and Failed count the requests.
	OK, Failed int
	// Errors counts the failures by reason (a status line or an error
	// message, never a response body).
	Errors map[string]int
	// Start is when the first request was sent, LastSend when the last
	// one was, and End when the last answer arrived.
	Start, LastSend, End time.Time
}

// Elapsed is the time from the first request to the last answer.
func (s *Sample) Elapsed() time.Duration { return s.End.Sub(s.Start) }

// Throughput is the successful requests per second.
func (s *Sample) Throughput() float64 {
	if el := s.Elapsed(); el > 0 {
		return float64(s.OK) / el.Seconds()
	}
	return 0
}

// ErrorSummary lists the failure reasons with their counts, most frequent
// first, for a report.
func (s *Sample) ErrorSummary() string {
	type kv struct {
		k string
		n int
	}
	var all []kv
	for k, n := range s.Errors {
		all = append(all, kv{k, n})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].n > all[j].n || all[i].n == all[j].n && all[i].k < all[j].k })
	parts := make([]string, 0, len(all))
	for _, e := range all {
		parts = append(parts, fmt.Sprintf("%d× %s", e.n, e.k))
	}
	return strings.Join(parts, "; ")
}

// hitsPacer sends as fast as the workers take requests, and stops after
// a fixed number of them.
type hitsPacer uint64

func (p hitsPacer) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= uint64(p)
}

func (p hitsPacer) Rate(time.Duration) float64 { return 0 }

// Run carries out the load l and returns what it measured. It stops early
// when ctx ends, returning ctx's error with what was measured so far.
func Run(ctx context.Context, l Load) (*Sample, error) {
	if len(l.Targets) == 0 {
		return nil, errors.New("load: no targets")
	}
	if l.Conns <= 0 {
		return nil, errors.New("load: the number of connections must be positive")
	}
	if l.Duration <= 0 && l.Hits <= 0 {
		return nil, errors.New("load: give a duration or a number of hits")
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	// One transport per run, closed after it, so that no run inherits
	// another's connections.
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := dialer.DialContext
	if l.Unix != "" {
		dial = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", l.Unix)
		}
	}
	tr := &http.Transport{
		DialContext:         dial,
		MaxIdleConns:        l.Conns,
		MaxIdleConnsPerHost: l.Conns,
		MaxConnsPerHost:     l.Conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	workers := uint64(l.Conns)
	atk := vegeta.NewAttacker(
		vegeta.Client(&http.Client{Transport: tr, Timeout: timeout}),
		vegeta.Workers(workers),
		vegeta.MaxWorkers(workers),
		vegeta.MaxBody(1<<20),
	)
	// The zero ConstantPacer sends as fast as the workers go: closed loop.
	var pacer vegeta.Pacer = vegeta.ConstantPacer{}
	if l.Hits > 0 {
		pacer = hitsPacer(l.Hits)
	}
	if l.During != nil {
		dctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); l.During(dctx) }()
		defer func() { cancel(); <-done }()
	}
	results := atk.Attack(vegeta.NewStaticTargeter(l.Targets...), pacer, l.Duration, "")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	s := &Sample{Errors: map[string]int{}}
	for r := range results {
		end := r.End()
		if s.Start.IsZero() || r.Timestamp.Before(s.Start) {
			s.Start = r.Timestamp
		}
		if r.Timestamp.After(s.LastSend) {
			s.LastSend = r.Timestamp
		}
		if end.After(s.End) {
			s.End = end
		}
		reason := r.Error
		if reason == "" && (r.Code < 200 || r.Code > 299) {
			reason = fmt.Sprintf("status %d", r.Code)
		}
		if reason == "" && l.Check != nil {
			if err := l.Check(r.Body); err != nil {
				reason = err.Error()
			}
		}
		if reason != "" {
			s.Failed++
			s.Errors[reason]++
			continue
		}
		s.OK++
		s.Latencies = append(s.Latencies, r.Latency)
	}
	return s, ctx.Err()
}
