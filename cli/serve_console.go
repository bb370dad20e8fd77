//go:build !agentonly

package cli

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/broker"
	"github.com/credbroker/credbroker/console"
	"github.com/credbroker/credbroker/httpapi"
)

// consoleFlags are serve's flags of the web console.
type consoleFlags struct {
	off      bool
	idle     time.Duration
	lifetime time.Duration
}

func (f *consoleFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.BoolVar(&f.off, "no-console", false, "do not serve the web console under /console/")
	fl.DurationVar(&f.idle, "console-idle-timeout", console.DefaultIdleTimeout, "a console session ends after this long without a request")
	fl.DurationVar(&f.lifetime, "console-session-lifetime", console.DefaultLifetime, "a console session ends this long after sign-in, however busy")
}

func (f *consoleFlags) check() error {
	if f.idle <= 0 {
		return credbroker.Errorf(credbroker.CodeInvalid, "--console-idle-timeout", "must be positive, got %s", f.idle).WithFix("give a duration like 30m")
	}
	if f.lifetime < f.idle {
		return credbroker.Errorf(credbroker.CodeInvalid, "--console-session-lifetime", "%s is shorter than --console-idle-timeout %s", f.lifetime, f.idle).
			WithFix("give a lifetime at least as long as the idle timeout, like 12h")
	}
	return nil
}

// mount puts the web console on srv's listener and logs its URL.
// With a fleet (brokers on one PostgreSQL database) the console's
// sessions are kept in the database, so that any broker behind a balancer
// serves a session opened at another; else in the broker's memory.
func (f *consoleFlags) mount(srv *httpapi.Server, svc *broker.Service, fleet credbroker.Fleet, log *slog.Logger, secure bool, baseURL string) error {
	if f.off {
		return nil
	}
	var sessions console.SessionStore
	if fleet != nil {
		sessions = console.NewFleetSessions(fleet, f.idle, f.lifetime)
	}
	con, err := console.New(console.Options{
		Service: svc, Sessions: sessions, Limiter: srv.AuthFailures(), Secure: secure,
		IdleTimeout: f.idle, Lifetime: f.lifetime, Logger: log,
	})
	if err != nil {
		return err
	}
	srv.Mount(console.Prefix, con)
	srv.RedirectHome(console.Prefix)
	log.Info("web console: open it and sign in with an admin token", "url", baseURL+console.Prefix)
	return nil
}
