//go:build !agentonly

package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/metrics"
)

// defaultDrainTimeout bounds serve's drain at SIGTERM: it covers a vend at
// its STS deadline (20 s) and stays under Kubernetes' default grace period
// of 30 s.
const defaultDrainTimeout = 25 * time.Second

// opsFlags are serve's flags for operating it: metrics and the drain.
type opsFlags struct {
	metricsListen string
	drainTimeout  time.Duration
	maxConnectors int
}

func (o *opsFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.metricsListen, "metrics-listen", "", "also serve /metrics, without a token, on this address (such as 127.0.0.1:9420, or a port only Prometheus reaches); on the API listener /metrics needs a metrics or admin token")
	f.DurationVar(&o.drainTimeout, "drain-timeout", defaultDrainTimeout, "at SIGTERM, how long requests in flight (and vends whose client hung up) may take to finish before the broker closes what is left, writes the last audit records and exits")
	f.IntVar(&o.maxConnectors, "metrics-max-connectors", metrics.DefaultMaxConnectors, "connectors that get a label of their own in the metrics; vends of others count as \"(other)\"")
}

func (o *opsFlags) check() error {
	if o.drainTimeout <= 0 {
		return credbroker.Errorf(credbroker.CodeInvalid, "--drain-timeout", "must be positive, got %s", o.drainTimeout).
			WithFix("give a duration like 25s")
	}
	if o.maxConnectors <= 0 {
		return credbroker.Errorf(credbroker.CodeInvalid, "--metrics-max-connectors", "must be positive, got %d", o.maxConnectors).
			WithFix("give a number of connectors like 100")
	}
	return nil
}

// fleetMetrics is the broker's FleetObserver: the metrics, told each
// fleet outcome by its name (package metrics does not import package
// broker).
type fleetMetrics struct{ m *metrics.Metrics }

func (f fleetMetrics) FleetSession(o broker.FleetOutcome, waited time.Duration) {
	f.m.FleetSession(o.String(), waited)
}

func (f fleetMetrics) BudgetTurn(waited time.Duration, refused, fleet bool) {
	f.m.BudgetTurn(waited, refused, fleet)
}

// listenMetrics opens the metrics listener of --metrics-listen, nil
// without the flag.
func (o *opsFlags) listenMetrics() (net.Listener, error) {
	if o.metricsListen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", o.metricsListen)
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "--metrics-listen", "cannot listen on %s: %s", o.metricsListen, err).
			WithFix("choose a free address with --metrics-listen")
	}
	return ln, nil
}

// serveMetrics serves GET /metrics on ln, and nothing else, until ctx
// ends.
func serveMetrics(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener stopped", "err", err)
	}
}

// serveAndDrain serves until ctx ends (SIGTERM or SIGINT), then drains:
// the listener closes at once, requests in flight finish within the drain
// timeout, and so do vends whose client hung up (they go on so that they
// are audited). What is left of the timeout bounds the second wait; the
// audit records still queued are committed when serve's deferred closes
// run, before the process exits 0.
func (o *opsFlags) serveAndDrain(ctx context.Context, srv *httpapi.Server, svc *broker.Service, ln net.Listener, log *slog.Logger) error {
	var began atomic.Int64
	logged := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		began.Store(time.Now().UnixNano())
		log.Info("draining: no new connections; finishing the requests in flight", "drain_timeout", o.drainTimeout.String())
		close(logged)
	})
	err := srv.Serve(ctx, ln)
	if !stop() {
		<-logged // the drain's first line comes before the lines that follow it
	}
	if err != nil {
		return err
	}
	start := time.Unix(0, began.Load())
	if began.Load() == 0 {
		start = time.Now()
	}
	dctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), start.Add(o.drainTimeout))
	defer cancel()
	if err := svc.Drain(dctx); err != nil {
		log.Warn("drain timed out: vends still running are cut off", "running", svc.InFlight(), "drain_timeout", o.drainTimeout.String())
		return nil
	}
	log.Info("drained: no vend in flight; writing the last audit records", "took", time.Since(start).Round(time.Millisecond))
	return nil
}
