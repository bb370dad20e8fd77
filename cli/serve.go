package cli

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/httpapi"
)

func (a *app) serveCommand() *cobra.Command {
	var sf storeFlags
	var listen, certFile, keyFile, federationEndpoint string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the broker: connectors, tokens, variables, vend API and audit",
		Long: `Run the broker's HTTP API.

With no setup it keeps everything in an embedded SQLite store in the data
directory (credbroker.db), and seals every secret it stores (connector keys,
secret variables) with AES-256-GCM under a master key. The first start creates
the key file DATA-DIR/master.key with mode 0600 and names it in its log: back
it up, since without it the stored secrets cannot be opened. A wrong or missing
key stops the start and changes nothing.

For several brokers serving one site, give them one PostgreSQL database
(--database-url) and the same master key.

Make the first admin token on the broker host with
  credbroker token create --local --role admin --name me`,
		Example: `  credbroker serve
  credbroker serve --listen 0.0.0.0:8420 --tls-cert broker.pem --tls-key broker-key.pem
  CREDBROKER_DATABASE_URL=postgres://credbroker@db/credbroker credbroker serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			log, err := a.logger(a.io.Stderr)
			if err != nil {
				return err
			}
			if (certFile == "") != (keyFile == "") {
				return credbroker.Errorf(credbroker.CodeInvalid, "--tls-cert", "give both --tls-cert and --tls-key, or neither")
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
			issuer := &awscreds.Issuer{Options: awscreds.Options{
				LookupEnv:  os.LookupEnv,
				Logger:     log,
				HTTPClient: stsHTTPClient(),
			}}
			svc, err := broker.New(broker.Options{
				Store:  st,
				Keys:   ring,
				Issuer: issuer,
				Partition: func(region string) (string, error) {
					p, err := awscreds.LookupRegion(region)
					return p.ID, err
				},
				DefaultChain: issuer.DefaultChain,
				Signin: func(ctx context.Context, cr credbroker.Credentials, region, dest string, d time.Duration) (string, error) {
					p, err := awscreds.LookupRegion(region)
					if err != nil {
						return "", err
					}
					return awscreds.SigninURL(ctx, cr, p, awscreds.SigninOptions{
						FederationEndpoint: federationEndpoint, Destination: dest, SessionDuration: d,
					})
				},
				Logger: log,
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
			srv := httpapi.NewServer(svc, httpapi.ServerOptions{Logger: log, CertFile: certFile, KeyFile: keyFile})
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			log.Info("credbroker broker serving", "url", scheme+"://"+ln.Addr().String(), "store", where, "master_key", keyName, "key_versions", ring.Versions())
			if toks, err := st.ListTokens(ctx); err == nil && len(toks) == 0 {
				log.Info("no tokens yet: create the first admin token with `credbroker token create --local --role admin --name NAME` (same --data-dir or --database-url)")
			}
			return srv.Serve(ctx, ln)
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:8420", "address to listen on")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM) to serve HTTPS")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&federationEndpoint, "federation-endpoint", "", "console sign-in federation endpoint (default the partition's https://signin.../federation)")
	return cmd
}

// stsHTTPClient is the one client the broker uses for STS: connections are
// reused, and every call is bounded in time.
func stsHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = 10 * time.Second
	tr.TLSHandshakeTimeout = 5 * time.Second
	tr.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}
