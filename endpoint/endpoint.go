// Package endpoint serves a task's credentials on the task's own host, as
// the AWS SDKs ask for them, in two ways.
//
// The container-credentials endpoint (Server) serves one set the way
// Amazon ECS does: HTTP on the loopback interface, which the AWS SDKs and
// the AWS CLI find through AWS_CONTAINER_CREDENTIALS_FULL_URI and
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE. Unlike environment variables, it
// refreshes: a task that outlives one session keeps working, because each
// request asks the provider (a credcache.Cache) for credentials that still
// have life in them. Defences: it listens on 127.0.0.1 only and refuses
// peers that are not loopback; it checks the Host header against the
// address it serves, so a page in a browser on the agent cannot reach it
// through DNS rebinding; it requires a random 256-bit token, written to a
// file of mode 0600 and compared in constant time.
//
// The profile channel (Channel) serves several named sets to one task: an
// AWS config file (AWS_CONFIG_FILE) whose profiles each run
// `credbroker credential-process --channel DIR --profile NAME`, which asks
// the running credbroker for that profile over a unix socket in a private
// directory. Each profile refreshes on its own. Defences: the directory
// has mode 0700 and its files are removed when the task ends; the server
// refuses peers of another user (SO_PEERCRED) and requests without its
// random token, which is read from a file, never passed on a command line.
package endpoint

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/wire"
)

// Path is the URL path the endpoint serves.
const Path = "/credentials"

// Options configure a Server.
type Options struct {
	// Provider yields the credentials; it should cache and refresh
	// (credcache.Cache).
	Provider credbroker.Provider
	// Dir is where the token file is written; a new private temporary
	// directory when empty.
	Dir string
	// Logger receives one debug line per request; nothing secret.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Listener, when set, is served instead of a new 127.0.0.1 listener
	// (tests).
	Listener net.Listener
}

// Server is a running container-credentials endpoint.
type Server struct {
	// URL is the value for AWS_CONTAINER_CREDENTIALS_FULL_URI.
	URL string
	// TokenFile is the value for AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.
	TokenFile string

	opts    Options
	token   []byte
	body    *wire.Cache
	hosts   map[string]bool
	srv     *http.Server
	ln      net.Listener
	ownDir  string
	done    chan struct{}
	closeMu sync.Once
}

// Start listens on a free loopback port and serves until Close.
func Start(opts Options) (*Server, error) {
	if opts.Provider == nil {
		return nil, errors.New("endpoint: no credentials provider")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, done: make(chan struct{}), body: wire.NewCache(wire.AppendContainer)}

	var err error
	if s.token, err = newToken(); err != nil {
		return nil, fmt.Errorf("endpoint token: %w", err)
	}

	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "credbroker-endpoint-")
		if err != nil {
			return nil, fmt.Errorf("endpoint token directory: %w", err)
		}
		dir, s.ownDir = d, d
	}
	s.TokenFile = filepath.Join(dir, "container-token")
	if err := writePrivate(s.TokenFile, s.token); err != nil {
		s.cleanup()
		return nil, fmt.Errorf("endpoint token file: %w", err)
	}

	ln := opts.Listener
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.cleanup()
			return nil, fmt.Errorf("endpoint listen on 127.0.0.1: %w", err)
		}
	}
	s.ln = ln
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	s.URL = "http://127.0.0.1:" + port + Path
	s.hosts = map[string]bool{
		"127.0.0.1:" + port: true,
		"localhost:" + port: true,
		"[::1]:" + port:     true,
	}
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// newToken returns 256 random bits in hex.
func newToken() ([]byte, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	return []byte(hex.EncodeToString(raw)), nil
}

// tokenMatches compares the Authorization header got with token in
// constant time. got is viewed as bytes, not copied: the comparison
// neither keeps nor changes it.
func tokenMatches(got string, token []byte) bool {
	return len(got) > 0 && subtle.ConstantTimeCompare(unsafe.Slice(unsafe.StringData(got), len(got)), token) == 1
}

// writePrivate creates path with mode 0600, failing if it exists.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// Env returns the environment entries that point an AWS SDK at s. Both
// AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE and AWS_CONTAINER_AUTHORIZATION_TOKEN
// are set: current SDKs read the file (and prefer it), while clients from
// before late 2023, among them the AWS CLI v2 that Debian 12 ships, know
// only the variable. The token is no more exposed than through the file,
// which the task can read anyway; it is masked in the task's output.
func (s *Server) Env() []string {
	return []string{
		"AWS_CONTAINER_CREDENTIALS_FULL_URI=" + s.URL,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=" + s.TokenFile,
		"AWS_CONTAINER_AUTHORIZATION_TOKEN=" + string(s.token),
	}
}

// Token returns the authorization token, so that callers can mask it.
func (s *Server) Token() string { return string(s.token) }

// Close stops serving and removes the token file.
func (s *Server) Close() error {
	var err error
	s.closeMu.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err = s.srv.Shutdown(ctx)
		<-s.done
		s.cleanup()
	})
	return err
}

func (s *Server) cleanup() {
	if s.TokenFile != "" {
		os.Remove(s.TokenFile)
	}
	if s.ownDir != "" {
		os.RemoveAll(s.ownDir)
	}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Header values of every answer, shared: net/http only reads them.
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	getOnly  = []string{"GET"}
)

// writeError answers status with the JSON {code, message}; log gets a
// debug line naming the peer.
func writeError(log *slog.Logger, w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	log.Debug("local credentials server refused a request", "remote", r.RemoteAddr, "status", status, "code", code)
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Code: code, Message: msg})
}

// writeProviderError answers a provider's failure with the status its
// code maps to and its public message; log gets a warning.
func writeProviderError(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusBadGateway
	code := credbroker.ErrorCode(err)
	switch code {
	case credbroker.CodeThrottled:
		status = http.StatusTooManyRequests
	case credbroker.CodeUnavailable:
		status = http.StatusServiceUnavailable
	}
	log.Warn("local credentials server could not get credentials", "err", credbroker.PublicMessage(err))
	writeError(log, w, r, status, string(code), credbroker.PublicMessage(err))
}

// writeJSON answers 200 with body, which is JSON, of length (a
// Content-Length value).
func writeJSON(w http.ResponseWriter, body []byte, length []string) {
	h := w.Header()
	h["Content-Type"] = jsonType
	h["Cache-Control"] = noStore
	h["Content-Length"] = length
	w.Write(body)
}

// loopbackPeer reports whether remote, a request's RemoteAddr, is a
// loopback address (an IPv4-mapped one included), without allocating.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	writeError(s.opts.Logger, w, r, status, code, msg)
}

// ServeHTTP answers GET Path with credentials, after the checks.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackPeer(r.RemoteAddr) {
		s.fail(w, r, http.StatusForbidden, "forbidden", "only loopback clients may use this endpoint")
		return
	}
	if !s.hosts[r.Host] {
		s.fail(w, r, http.StatusForbidden, "forbidden", "unexpected Host header; use the URL in AWS_CONTAINER_CREDENTIALS_FULL_URI")
		return
	}
	if r.URL.Path != Path {
		s.fail(w, r, http.StatusNotFound, "not_found", "no such path; use the URL in AWS_CONTAINER_CREDENTIALS_FULL_URI")
		return
	}
	if r.Method != http.MethodGet {
		w.Header()["Allow"] = getOnly
		s.fail(w, r, http.StatusMethodNotAllowed, "invalid", "use GET")
		return
	}
	got := r.Header.Get("Authorization")
	if got == "" {
		s.fail(w, r, http.StatusUnauthorized, "unauthorized", "missing Authorization header; send the token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
		return
	}
	if !tokenMatches(got, s.token) {
		s.fail(w, r, http.StatusUnauthorized, "unauthorized", "wrong authorization token")
		return
	}
	cr, err := s.opts.Provider.Retrieve(r.Context())
	if err != nil {
		writeProviderError(s.opts.Logger, w, r, err)
		return
	}
	if cr.Expires.IsZero() {
		// Long-lived keys: botocore needs an Expiration; an hour from now
		// makes clients come back, and they get the same keys. Whole
		// minutes keep the answer the same, and encoded once, per minute.
		cr.Expires = s.opts.Now().Add(time.Hour).Truncate(time.Minute)
	}
	body, length := s.body.Answer(cr)
	writeJSON(w, body, length)
	if s.opts.Logger.Enabled(r.Context(), slog.LevelDebug) {
		s.opts.Logger.Debug("container endpoint served credentials", "remote", r.RemoteAddr, "credentials", cr)
	}
}
