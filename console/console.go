package console

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// Prefix is the path the console is served under.
const Prefix = "/console/"

// Defaults of Options.
const (
	DefaultIdleTimeout  = 30 * time.Minute
	DefaultLifetime     = 12 * time.Hour
	DefaultMaxBodyBytes = 256 << 10
)

// Service is the broker as the console needs it; package broker's Service
// implements it. Every method after Authenticate and ActiveToken gets the
// signed-in administrator's token and checks itself what it may do.
type Service interface {
	// Authenticate checks a pasted token (sign-in).
	Authenticate(ctx context.Context, bearer string) (*credbroker.Token, error)
	// ActiveToken finds a session's token again by its ID while it is
	// neither revoked nor expired.
	ActiveToken(ctx context.Context, id string) (*credbroker.Token, error)
	// Health reports the store, key versions and audit head.
	Health(ctx context.Context, tok *credbroker.Token) (*credbroker.Health, error)

	CreateConnector(ctx context.Context, tok *credbroker.Token, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error)
	UpdateConnector(ctx context.Context, tok *credbroker.Token, idOrName string, spec credbroker.ConnectorSpec) (*credbroker.ConnectorInfo, error)
	GetConnector(ctx context.Context, tok *credbroker.Token, idOrName string) (*credbroker.ConnectorInfo, error)
	ListConnectors(ctx context.Context, tok *credbroker.Token) ([]credbroker.ConnectorInfo, error)
	DeleteConnector(ctx context.Context, tok *credbroker.Token, idOrName string) error
	// TestConnector makes a real, audited vend for an administrator.
	TestConnector(ctx context.Context, tok *credbroker.Token, req credbroker.VendRequest) (*credbroker.VendResult, error)
	// AdminConsole returns an AWS Management Console sign-in URL.
	AdminConsole(ctx context.Context, tok *credbroker.Token, req credbroker.ConsoleRequest) (*credbroker.ConsoleResult, error)

	CreateToken(ctx context.Context, tok *credbroker.Token, spec credbroker.TokenSpec) (*credbroker.NewToken, error)
	ListTokens(ctx context.Context, tok *credbroker.Token) ([]*credbroker.Token, error)
	RevokeToken(ctx context.Context, tok *credbroker.Token, id string) error

	SetVariable(ctx context.Context, tok *credbroker.Token, v credbroker.Variable) error
	DeleteVariable(ctx context.Context, tok *credbroker.Token, plan, name string) error
	ListVariables(ctx context.Context, tok *credbroker.Token, plan string) ([]credbroker.Variable, error)

	ListAudit(ctx context.Context, tok *credbroker.Token, f credbroker.AuditFilter) ([]credbroker.AuditRecord, error)
	VerifyAudit(ctx context.Context, tok *credbroker.Token) (*credbroker.AuditReport, error)

	// IdentityService administers trusted OIDC issuers and bindings, as
	// the API does.
	httpapi.IdentityService
}

// Limiter slows down token guessing at sign-in: httpapi's AuthFailures,
// shared with the API.
type Limiter interface {
	// Blocked reports whether r's address has no failed attempt left, and
	// how long until it has one.
	Blocked(r *http.Request) (time.Duration, bool)
	// Failed records a failed sign-in by r's address.
	Failed(r *http.Request)
}

// Options configure a Console. Service is required.
type Options struct {
	Service Service
	// Sessions keeps the sessions; a MemorySessions when nil. A fleet
	// (brokers on one database) gives FleetSessions, so that every
	// broker serves the sessions of the others.
	Sessions SessionStore
	// Limiter limits failed sign-ins; none when nil.
	Limiter Limiter
	// Secure says the console is served over HTTPS: cookies get Secure
	// and the __Host- prefix, and responses Strict-Transport-Security.
	Secure bool
	// IdleTimeout ends a session without a request for this long;
	// Lifetime ends any session this long after sign-in.
	IdleTimeout time.Duration
	Lifetime    time.Duration
	// MaxBodyBytes limits a form's body (DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives sign-ins, sign-outs and failures (token IDs only);
	// discards when nil.
	Logger *slog.Logger
}

// Console is the web console, an http.Handler for paths under Prefix.
type Console struct {
	svc      Service
	sessions SessionStore
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	pages    map[string]*template.Template
	cop      *http.CrossOriginProtection
	stats    *stats
	assets   http.Handler
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// New returns a console for opts.Service.
func New(opts Options) (*Console, error) {
	if opts.Service == nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "console", "a service is required")
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = DefaultLifetime
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Sessions == nil {
		opts.Sessions = NewMemorySessions(opts.IdleTimeout, opts.Lifetime, opts.Now)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	sub, err := fs.Sub(assetFS, "assets")
	if err != nil {
		return nil, fmt.Errorf("console assets: %w", err)
	}
	c := &Console{
		svc: opts.Service, sessions: opts.Sessions, opts: opts, log: opts.Logger, now: opts.Now,
		mux: http.NewServeMux(), pages: pages, cop: http.NewCrossOriginProtection(),
		stats:  newStats(),
		assets: http.StripPrefix(Prefix+"assets/", http.FileServerFS(sub)),
	}
	c.routes()
	return c, nil
}

func (c *Console) routes() {
	for _, rt := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"GET " + Prefix + "{$}", c.authed(c.overview)},
		{"GET " + Prefix + "signin", c.signinPage},
		{"POST " + Prefix + "signin", c.signin},
		{"POST " + Prefix + "signout", c.authed(c.signout)},
		{"GET " + Prefix + "connectors", c.authed(c.connectorList)},
		{"POST " + Prefix + "connectors", c.authed(c.connectorCreate)},
		{"GET " + Prefix + "connectors/new", c.authed(c.connectorNew)},
		{"GET " + Prefix + "connectors/{name}", c.authed(c.connectorEdit)},
		{"POST " + Prefix + "connectors/{name}", c.authed(c.connectorUpdate)},
		{"GET " + Prefix + "connectors/{name}/delete", c.authed(c.connectorDeletePage)},
		{"POST " + Prefix + "connectors/{name}/delete", c.authed(c.connectorDelete)},
		{"POST " + Prefix + "connectors/{name}/test", c.authed(c.connectorTest)},
		{"POST " + Prefix + "connectors/{name}/signin", c.authed(c.connectorSignin)},
		{"GET " + Prefix + "tokens", c.authed(c.tokenList)},
		{"POST " + Prefix + "tokens", c.authed(c.tokenCreate)},
		{"GET " + Prefix + "tokens/{id}/revoke", c.authed(c.tokenRevokePage)},
		{"POST " + Prefix + "tokens/{id}/revoke", c.authed(c.tokenRevoke)},
		{"GET " + Prefix + "variables", c.authed(c.variableList)},
		{"POST " + Prefix + "variables", c.authed(c.variableSet)},
		{"GET " + Prefix + "variables/delete", c.authed(c.variableDeletePage)},
		{"POST " + Prefix + "variables/delete", c.authed(c.variableDelete)},
		{"GET " + Prefix + "identity", c.authed(c.identityList)},
		{"POST " + Prefix + "issuers", c.authed(c.issuerCreate)},
		{"GET " + Prefix + "issuers/new", c.authed(c.issuerNew)},
		{"GET " + Prefix + "issuers/{name}", c.authed(c.issuerEdit)},
		{"POST " + Prefix + "issuers/{name}", c.authed(c.issuerUpdate)},
		{"GET " + Prefix + "issuers/{name}/delete", c.authed(c.issuerDeletePage)},
		{"POST " + Prefix + "issuers/{name}/delete", c.authed(c.issuerDelete)},
		{"POST " + Prefix + "bindings", c.authed(c.bindingCreate)},
		{"GET " + Prefix + "bindings/new", c.authed(c.bindingNew)},
		{"GET " + Prefix + "bindings/{name}", c.authed(c.bindingEdit)},
		{"POST " + Prefix + "bindings/{name}", c.authed(c.bindingUpdate)},
		{"GET " + Prefix + "bindings/{name}/delete", c.authed(c.bindingDeletePage)},
		{"POST " + Prefix + "bindings/{name}/delete", c.authed(c.bindingDelete)},
		{"GET " + Prefix + "audit", c.authed(c.auditList)},
		{"GET " + Prefix + "audit/verify", c.authed(c.auditVerify)},
		{"GET " + Prefix + "audit/export", c.authed(c.auditExport)},
		{"GET " + Prefix + "audit/{seq}", c.authed(c.auditRecord)},
		{"GET " + Prefix + "assets/", c.asset},
	} {
		c.mux.HandleFunc(rt.pattern, rt.h)
	}
	c.mux.HandleFunc(Prefix, c.notFound)
}

// ServeHTTP serves a console request: security headers on every answer,
// cross-origin state changes refused, bodies bounded, then the route.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), clipboard-write=(self)")
	if c.opts.Secure {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := c.cop.Check(r); err != nil {
			c.log.Warn("console: cross-origin request refused", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			c.errorPage(w, r, http.StatusForbidden, "This request came from another site, so it was refused.",
				"Use the console's own pages to make changes.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, c.opts.MaxBodyBytes)
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) asset(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	c.assets.ServeHTTP(w, r)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.errorPage(w, r, http.StatusNotFound, "There is no such page.", "Go back to the overview.")
}

// pageNames are the templates, each rendered inside layout.html.
var pageNames = []string{
	"signin", "error", "overview", "connectors", "connector", "connector_delete", "connector_test", "connector_signin",
	"tokens", "token_created", "token_revoke", "variables", "variable_delete", "audit", "audit_record", "audit_verify",
	"identity", "issuer", "binding", "identity_delete",
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page's template gets.
type view struct {
	Title   string
	Section string // the navigation entry to mark
	Session *Session
	Flash   string
	Error   string // an error about the whole page or form
	Fix     string
	Data    any
}

// CSRF returns the session's CSRF token for the page's forms.
func (v *view) CSRF() string {
	if v.Session == nil {
		return ""
	}
	return v.Session.CSRF
}

// render writes page name with status; the page is rendered into memory
// first, so a template failure never sends half a page.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v *view) {
	var buf bytes.Buffer
	if err := c.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: render", "page", name, "err", err)
		http.Error(w, "the console could not render this page; the broker log has the details", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// errorPage renders a page that says what went wrong and what to do.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg, fix string) {
	c.render(w, r, status, "error", &view{Title: http.StatusText(status), Error: msg, Fix: fix})
}

// failed renders the error err of a service call on the error page.
func (c *Console) failed(w http.ResponseWriter, r *http.Request, s *Session, err error) {
	status := statusOf(err)
	if status >= 500 {
		c.log.Error("console: request failed", "path", r.URL.Path, "token_id", s.TokenID, "err", err)
	}
	msg, fix := publicError(err)
	c.render(w, r, status, "error", &view{Title: http.StatusText(status), Session: s, Error: msg, Fix: fix})
}

// publicError splits err's public text into its message and fix.
func publicError(err error) (msg, fix string) {
	if e := credbroker.AsError(err); e != nil {
		msg = e.Message
		if e.Field != "" {
			msg = e.Field + ": " + msg
		}
		return msg, e.Fix
	}
	return credbroker.PublicMessage(err), ""
}

// statusOf is the HTTP status of a service error, as the API answers it.
func statusOf(err error) int {
	return httpapi.StatusForCode(credbroker.ErrorCode(err))
}

// redirect answers a POST with 303 to path, setting a flash for the next
// page.
func (c *Console) redirect(w http.ResponseWriter, r *http.Request, s *Session, path, flash string) {
	if s != nil && flash != "" {
		s.Flash = flash
		if err := c.sessions.Put(r.Context(), s); err != nil {
			c.log.Warn("console: cannot keep a notice in the session", "err", err)
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// formValue returns the trimmed value of a form field.
func formValue(r *http.Request, name string) string {
	return strings.TrimSpace(r.PostFormValue(name))
}
