package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/credbroker/credbroker"
)

// Default server timeouts and limits, against slow or greedy clients.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultShutdownTimeout   = 10 * time.Second
)

// ServerOptions configure a Server. Zero values take the defaults.
type ServerOptions struct {
	// CertFile and KeyFile, when set, make Serve speak HTTPS (TLS 1.2 or
	// later) with this PEM certificate chain and key. Both or neither.
	CertFile string
	KeyFile  string

	// Logger receives one line per request and the server's own errors;
	// a discarding logger when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// Timeouts and header limit of the underlying http.Server.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	// ShutdownTimeout bounds the graceful shutdown when Serve's context
	// ends; connections still busy after it are closed.
	ShutdownTimeout time.Duration
	// MaxBodyBytes limits a request body (DefaultMaxBodyBytes).
	MaxBodyBytes int64

	// AuthFailureRate is how many failed authentications per second a
	// client address earns back (DefaultAuthFailureRate); AuthFailureBurst
	// how many it may fail at once (DefaultAuthFailureBurst). A negative
	// rate turns the limiter off.
	AuthFailureRate  float64
	AuthFailureBurst int
	// AuthLimiterEntries caps how many client addresses the limiter
	// tracks (DefaultAuthLimiterEntries).
	AuthLimiterEntries int

	// TrustProxy makes the server take the client address from the last
	// entry of X-Forwarded-For, and accept a well-formed X-Request-Id.
	// Set it only behind a reverse proxy that sets these headers.
	TrustProxy bool
}

// Server serves the broker's HTTP API in front of a Service.
type Server struct {
	svc     Service
	opts    ServerOptions
	log     *slog.Logger
	now     func() time.Time
	mux     *http.ServeMux
	limiter *authLimiter
	handler http.Handler

	idPrefix string
	idSeq    atomic.Uint64

	home string // where a browser asking for "/" is sent (RedirectHome)
}

// NewServer returns a server for svc.
func NewServer(svc Service, opts ServerOptions) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	setDefault(&opts.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	setDefault(&opts.ReadTimeout, DefaultReadTimeout)
	setDefault(&opts.WriteTimeout, DefaultWriteTimeout)
	setDefault(&opts.IdleTimeout, DefaultIdleTimeout)
	setDefault(&opts.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&opts.MaxHeaderBytes, DefaultMaxHeaderBytes)
	setDefault(&opts.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&opts.AuthFailureRate, DefaultAuthFailureRate)
	setDefault(&opts.AuthFailureBurst, DefaultAuthFailureBurst)
	setDefault(&opts.AuthLimiterEntries, DefaultAuthLimiterEntries)

	var prefix [6]byte
	_, _ = rand.Read(prefix[:]) // never fails (crypto/rand panics instead)
	s := &Server{
		svc:      svc,
		opts:     opts,
		log:      opts.Logger,
		now:      opts.Now,
		mux:      http.NewServeMux(),
		idPrefix: hex.EncodeToString(prefix[:]) + "-",
	}
	if opts.AuthFailureRate > 0 {
		s.limiter = newAuthLimiter(opts.AuthFailureRate, opts.AuthFailureBurst, opts.AuthLimiterEntries)
	}
	s.routes()
	s.handler = http.HandlerFunc(s.serveHTTP)
	return s
}

func setDefault[T int | int64 | float64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// Handler returns the API as an http.Handler, for tests or for mounting
// under another server. Serve uses it.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves the API on ln until ctx ends, then shuts down gracefully:
// it stops accepting, lets requests in flight finish for up to
// ShutdownTimeout, and closes what is left. With CertFile and KeyFile it
// serves HTTPS. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		ReadTimeout:       s.opts.ReadTimeout,
		WriteTimeout:      s.opts.WriteTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		// Requests see ctx's values but not its end: shutdown lets them
		// finish instead of cancelling them.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	useTLS := s.opts.CertFile != "" || s.opts.KeyFile != ""
	if useTLS {
		if s.opts.CertFile == "" || s.opts.KeyFile == "" {
			return errors.New("serve https: both a certificate file and a key file are needed")
		}
		cert, err := tls.LoadX509KeyPair(s.opts.CertFile, s.opts.KeyFile)
		if err != nil {
			return fmt.Errorf("load tls certificate %s: %w", s.opts.CertFile, err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	}

	errc := make(chan error, 1)
	go func() {
		if useTLS {
			errc <- srv.ServeTLS(ln, "", "")
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	s.log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("tls", useTLS))

	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opts.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		s.log.Warn("shutdown timed out; closing the remaining connections", slog.Any("error", err))
		_ = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", ln.Addr(), serr)
	}
	s.log.Info("stopped", slog.String("addr", ln.Addr().String()))
	return nil
}

// exchange is the ResponseWriter every handler writes through: it keeps
// what the request's log line needs. Exchanges are pooled.
type exchange struct {
	w       http.ResponseWriter
	status  int
	route   string
	tokenID string
	err     error
}

var exchangePool = sync.Pool{New: func() any { return new(exchange) }}

// Header returns the response headers.
func (e *exchange) Header() http.Header { return e.w.Header() }

// WriteHeader sends the status line and headers once.
func (e *exchange) WriteHeader(status int) {
	if e.status == 0 {
		e.status = status
	}
	e.w.WriteHeader(status)
}

// Write writes the body, with status 200 if none was sent.
func (e *exchange) Write(p []byte) (int, error) {
	if e.status == 0 {
		e.status = http.StatusOK
	}
	return e.w.Write(p)
}

// Unwrap gives http.ResponseController the connection's writer.
func (e *exchange) Unwrap() http.ResponseWriter { return e.w }

// serveHTTP is the whole request path: request ID, routing, recovery and
// the one log line. It wraps nothing else, so the vend path stays short.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	ex := exchangePool.Get().(*exchange)
	*ex = exchange{w: w}
	id := s.requestID(r)
	w.Header().Set("X-Request-Id", id)
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("request_id", id), slog.String("route", ex.route),
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
			if ex.status == 0 {
				s.writeError(ex, credbroker.Errorf(credbroker.CodeInternal, "", "panic"))
			} else {
				ex.status = http.StatusInternalServerError
			}
		}
		s.logRequest(r, ex, id, start)
		*ex = exchange{}
		exchangePool.Put(ex)
	}()
	if r.RequestURI == "*" {
		// ServeMux would answer a bare 400 with no body.
		s.writeError(ex, credbroker.Errorf(credbroker.CodeInvalid, "path",
			"the request target * names no API route").WithFix("use a path such as /v1/credentials"))
		return
	}
	if n := headerSize(r); n > s.opts.MaxHeaderBytes {
		// net/http reads up to 4 KiB more than MaxHeaderBytes before it
		// refuses a block; the limit in force is the configured one.
		ex.Header().Set("Connection", "close")
		s.writeError(ex, credbroker.Errorf(credbroker.CodeInvalid, "headers",
			"the request line and headers are %d bytes, more than this broker's limit of %d", n, s.opts.MaxHeaderBytes).
			WithFix("send fewer or shorter headers").WithCause(errHeaderTooLarge))
		return
	}
	if !cleanPath(r.URL.Path) {
		// ServeMux would redirect to the clean path, in HTML.
		s.writeError(ex, credbroker.Errorf(credbroker.CodeInvalid, "path",
			"the path has empty, . or .. segments").WithFix("send the path in its clean form, such as /v1/credentials"))
		return
	}
	s.mux.ServeHTTP(ex, r)
}

// headerSize is the size of r's request line and header block as the
// client sent them (each line with its CRLF), give or take the spelling
// of header names, which net/http makes canonical.
func headerSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2 + 2
	if r.Host != "" {
		n += len("Host: ") + len(r.Host) + 2
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// cleanPath reports whether p is as ServeMux wants it, the way it cleans
// it: no empty, . or .. segment (a trailing slash is kept).
func cleanPath(p string) bool {
	if p == "" {
		return true
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c == p
}

// logRequest writes the request's one line: never a header, a query, a
// body or a token, only identifiers.
func (s *Server) logRequest(r *http.Request, ex *exchange, id string, start time.Time) {
	status := ex.status
	if status == 0 {
		status = http.StatusOK
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 10)
	attrs = append(attrs,
		slog.String("method", r.Method),
		slog.String("route", ex.route),
		slog.Int("status", status),
		slog.Duration("duration", s.now().Sub(start)),
		slog.String("token_id", ex.tokenID),
		slog.String("request_id", id),
		slog.String("remote", r.RemoteAddr),
	)
	if ex.err != nil {
		attrs = append(attrs, slog.String("code", string(errorCode(ex.err))))
		attrs = append(attrs, errorAttrs(ex.err)...)
	}
	s.log.LogAttrs(ctx, level, "request", attrs...)
}

// errorCode is the code a client was shown for err.
func errorCode(err error) credbroker.Code {
	_, code, _ := errorStatus(err)
	return code
}

// errorAttrs describes err for the server log in full: the public message
// and the underlying cause a client never sees. Causes are errors from the
// store, STS or IMDS, which carry no secret; tokens and keys are never
// formatted into errors.
func errorAttrs(err error) []slog.Attr {
	attrs := []slog.Attr{slog.String("error", err.Error())}
	if e := credbroker.AsError(err); e != nil && e.Err != nil {
		attrs = append(attrs, slog.String("cause", e.Err.Error()))
	}
	return attrs
}

// requestID returns the ID of r: a trusted proxy's X-Request-Id when it is
// well formed, otherwise a new one made of a per-process random prefix and
// a counter.
func (s *Server) requestID(r *http.Request) string {
	if s.opts.TrustProxy {
		if id := r.Header.Get("X-Request-Id"); validRequestID(id) {
			return id
		}
	}
	var b [32]byte
	n := copy(b[:], s.idPrefix)
	return string(strconv.AppendUint(b[:n], s.idSeq.Add(1), 36))
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
