//go:build !agentonly

package cli

import (
	"context"
	"net"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/awscreds/hostchain"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/httpapi"
	"github.com/credbroker/credbroker/metrics"
	"github.com/credbroker/credbroker/oidc"
)

func (a *app) serveCommand() *cobra.Command {
	var sf storeFlags
	var listen, certFile, keyFile, federationEndpoint string
	var lim serverLimits
	var stsf stsFlags
	var cf consoleFlags
	var of opsFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker: connectors, tokens, variables, vend API and audit",
		Long: `Run the broker's HTTP API, and its web console under /console/ on the same
address (the URL is in the log; sign in with an admin token; --no-console
turns it off).

With no setup it keeps everything in an embedded SQLite store in the data
directory (credbroker.db), and seals every secret it stores (connector keys,
secret variables) with AES-256-GCM under a master key. The first start creates
the key file DATA-DIR/master.key with mode 0600 and names it in its log: back
it up, since without it the stored secrets cannot be opened. A wrong or missing
key stops the start and changes nothing.

For several brokers serving one site, give them one PostgreSQL database
(--database-url) and the same master key: they share the sessions STS
issued, make one STS call for identical requests arriving at several of
them, and share one STS budget (give them the same --sts-rate and
--sts-burst).

Make the first admin token on the broker host with
  credbroker token create --local --role admin --name me`,
		Example: `  credbroker serve
  credbroker serve --listen 0.0.0.0:8420 --tls-cert broker.pem --tls-key broker-key.pem
  credbroker serve --sts-rate 50 --sts-burst 20 --sts-timeout 5s --sts-deadline 15s
  CREDBROKER_DATABASE_URL=postgres://credbroker@db/credbroker credbroker serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if err := a.applySettings(cmd); err != nil {
				return err
			}
			log, err := a.logger(a.io.Stderr)
			if err != nil {
				return err
			}
			if (certFile == "") != (keyFile == "") {
				return credbroker.Errorf(credbroker.CodeInvalid, "--tls-cert", "give both --tls-cert and --tls-key, or neither")
			}
			if err := lim.check(); err != nil {
				return err
			}
			if err := stsf.check(lim.writeTimeout); err != nil {
				return err
			}
			if err := cf.check(); err != nil {
				return err
			}
			if err := of.check(); err != nil {
				return err
			}
			if _, set := a.getenv("GOGC"); !set {
				debug.SetGCPercent(serveGCPercent)
			}
			if sf.sync == "" {
				sf.sync = a.env("CREDBROKER_STORE_SYNC")
			}
			st, where, err := sf.openStore(ctx, a)
			if err != nil {
				return err
			}
			defer st.Close()
			ring, keyName, err := sf.keys(ctx, a, st, log)
			if err != nil {
				return err
			}
			issuer := &awscreds.Issuer{Options: stsf.issuerOptions(awscreds.Options{
				LookupEnv: os.LookupEnv,
				Logger:    log,
			})}
			// Brokers on one PostgreSQL database share sessions, single
			// flight and the STS budget; the embedded store has no fleet.
			var fleet credbroker.Fleet
			if fs, ok := st.(credbroker.FleetStore); ok {
				fleet = fs.Fleet()
			}
			var svc *broker.Service
			met := metrics.New(metrics.Options{MaxConnectors: of.maxConnectors, CachedSessions: func() int { return svc.CachedSessions() }})
			// Concurrent vends' audit records share a transaction; each vend
			// still waits for its own record to be committed. Closed last of
			// all, it commits the records still queued.
			audit := broker.NewGroupAuditWith(st, broker.GroupAuditOptions{Observer: met})
			defer audit.Close()
			svc, err = broker.New(broker.Options{
				Audit:  audit,
				Store:  st,
				Keys:   ring,
				Issuer: issuer,
				Partition: func(region string) (string, error) {
					p, err := awscreds.LookupRegion(region)
					return p.ID, err
				},
				DefaultChain: func(ctx context.Context) (credbroker.Provider, error) { return hostchain.Load(ctx, issuer) },
				Signin: func(ctx context.Context, cr credbroker.Credentials, region, dest string, d time.Duration) (string, error) {
					p, err := awscreds.LookupRegion(region)
					if err != nil {
						return "", err
					}
					return awscreds.SigninURL(ctx, cr, p, awscreds.SigninOptions{
						FederationEndpoint: federationEndpoint, Destination: dest, SessionDuration: d,
					})
				},
				Logger:    log,
				Observer:  met,
				STSBudget: stsf.budget(),
				// ID tokens of trusted issuers, verified with their keys.
				Verifier:      oidc.New(oidc.Options{Logger: log, Observer: met}),
				Fleet:         fleet,
				FleetObserver: fleetMetrics{met},
				// A wait for another broker's STS call ends when that
				// call's own deadline has.
				FleetWait: stsf.deadline,
				// A vend goes on when its client hangs up, so that it is
				// audited; it never needs longer than an answer may take.
				VendTimeout: lim.writeTimeout,
			})
			if err != nil {
				return err
			}
			defer svc.Close()

			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return credbroker.Errorf(credbroker.CodeUnavailable, "--listen", "cannot listen on %s: %s", listen, err).
					WithFix("choose a free address with --listen")
			}
			mln, err := of.listenMetrics()
			if err != nil {
				ln.Close()
				return err
			}
			if mln != nil {
				go serveMetrics(ctx, mln, met.Handler(), log)
			}
			srv := httpapi.NewServer(svc, lim.options(httpapi.ServerOptions{Logger: log, CertFile: certFile, KeyFile: keyFile,
				Observer: met, Metrics: met.Handler(), ShutdownTimeout: of.drainTimeout}))
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			log.Info("credbroker broker serving", "url", scheme+"://"+ln.Addr().String(), "store", where, "master_key", keyName, "key_versions", ring.Versions(),
				"fleet", fleet != nil)
			if err := cf.mount(srv, svc, fleet, log, certFile != "", scheme+"://"+ln.Addr().String()); err != nil {
				return err
			}
			if toks, err := st.ListTokens(ctx); err == nil && len(toks) == 0 {
				log.Info("no tokens yet: create the first admin token with `credbroker token create --local --role admin --name NAME` (same --data-dir or --database-url)")
			}
			return of.serveAndDrain(ctx, srv, svc, ln, log)
		},
	}
	sf.register(cmd)
	sf.registerSync(cmd)
	f := cmd.Flags()
	f.String(configFlag, "", "settings file (YAML): flag-name: value for any flag of serve, without the dashes; flags, then $CREDBROKER_FLAG_NAME variables, take precedence over it (default $CREDBROKER_CONFIG)")
	f.StringVar(&listen, "listen", "127.0.0.1:8420", "address to listen on")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM) to serve HTTPS")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&federationEndpoint, "federation-endpoint", "", "console sign-in federation endpoint (default the partition's https://signin.../federation)")
	lim.register(cmd)
	stsf.register(cmd)
	cf.register(cmd)
	of.register(cmd)
	return cmd
}

// serverLimits are serve's flags against slow, greedy or guessing clients.
// Zero values take httpapi's defaults.
type serverLimits struct {
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout time.Duration
	maxHeaderBytes                                            int
	maxBodyBytes                                              int64
	authFailureRate                                           float64
	authFailureBurst                                          int
}

func (l *serverLimits) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&l.readHeaderTimeout, "read-header-timeout", httpapi.DefaultReadHeaderTimeout, "time a client has to send a request's headers (slow clients are cut off)")
	f.DurationVar(&l.readTimeout, "read-timeout", httpapi.DefaultReadTimeout, "time a client has to send a whole request")
	f.DurationVar(&l.writeTimeout, "write-timeout", httpapi.DefaultWriteTimeout, "longest time to answer a request")
	f.DurationVar(&l.idleTimeout, "idle-timeout", httpapi.DefaultIdleTimeout, "how long an idle keep-alive connection stays open")
	f.IntVar(&l.maxHeaderBytes, "max-header-bytes", httpapi.DefaultMaxHeaderBytes, "largest request header block")
	f.Int64Var(&l.maxBodyBytes, "max-body-bytes", httpapi.DefaultMaxBodyBytes, "largest request body")
	f.Float64Var(&l.authFailureRate, "auth-failure-rate", httpapi.DefaultAuthFailureRate, "failed authentications per second a client address earns back; negative turns the limit off")
	f.IntVar(&l.authFailureBurst, "auth-failure-burst", httpapi.DefaultAuthFailureBurst, "failed authentications a client address may make at once before it gets 429")
}

func (l *serverLimits) check() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--read-header-timeout", l.readHeaderTimeout}, {"--read-timeout", l.readTimeout},
		{"--write-timeout", l.writeTimeout}, {"--idle-timeout", l.idleTimeout},
	} {
		if d.v <= 0 {
			return credbroker.Errorf(credbroker.CodeInvalid, d.flag, "must be positive, got %s", d.v).
				WithFix("give a duration like 5s")
		}
	}
	switch {
	case l.maxHeaderBytes <= 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--max-header-bytes", "must be positive")
	case l.maxBodyBytes <= 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--max-body-bytes", "must be positive")
	case l.authFailureRate == 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--auth-failure-rate", "must not be 0").
			WithFix("give a positive rate, or a negative one to turn the limit off")
	case l.authFailureBurst <= 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--auth-failure-burst", "must be positive")
	}
	return nil
}

// options sets the limits on o.
func (l *serverLimits) options(o httpapi.ServerOptions) httpapi.ServerOptions {
	o.ReadHeaderTimeout, o.ReadTimeout = l.readHeaderTimeout, l.readTimeout
	o.WriteTimeout, o.IdleTimeout = l.writeTimeout, l.idleTimeout
	o.MaxHeaderBytes, o.MaxBodyBytes = l.maxHeaderBytes, l.maxBodyBytes
	o.AuthFailureRate, o.AuthFailureBurst = l.authFailureRate, l.authFailureBurst
	return o
}

// serveGCPercent is the broker's garbage collector target when GOGC is not
// set: a vend allocates a few KB that die at once, and the live heap is
// small, so collecting at 5x the live heap instead of 2x buys 6-12% more
// vends a second at 64 connections for about 13 MB more resident memory
// (BENCHMARKS.md). GOGC, and GOMEMLIMIT for a cap, override it.
const serveGCPercent = 400
