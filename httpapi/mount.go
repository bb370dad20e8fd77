package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Mount serves h for every path under prefix (which ends in "/") on the
// API's listener, with the API's request IDs, recovery and log line; the
// route in the log is prefix. It must be called before Serve. The web
// console is mounted this way.
func (s *Server) Mount(prefix string, h http.Handler) {
	s.mux.Handle(prefix, route(prefix, func(ex *exchange, r *http.Request) { h.ServeHTTP(ex, r) }))
}

// RedirectHome makes a browser's GET of "/" (one that accepts text/html)
// go to path; every other request for "/" still gets the API's JSON 404.
// It must be called before Serve.
func (s *Server) RedirectHome(path string) {
	s.home = path
}

// wantsHome reports whether r is a browser asking for "/" while a home
// page is set.
func (s *Server) wantsHome(r *http.Request) bool {
	return s.home != "" && r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
		strings.Contains(r.Header.Get("Accept"), "text/html")
}

// AuthFailures is the server's failed-authentication limiter, for handlers
// mounted beside the API that authenticate too (the console's sign-in):
// failures there and on the API spend the same budget per client address.
type AuthFailures struct{ s *Server }

// AuthFailures returns the server's limiter.
func (s *Server) AuthFailures() AuthFailures { return AuthFailures{s} }

// Blocked reports whether r's client address has used up its failed
// authentications, and how long until it may try again.
func (a AuthFailures) Blocked(r *http.Request) (time.Duration, bool) {
	if a.s.limiter == nil {
		return 0, false
	}
	return a.s.limiter.blocked(clientKey(r, a.s.opts.TrustProxy), a.s.now())
}

// Failed records a failed authentication by r's client address.
func (a AuthFailures) Failed(r *http.Request) {
	if a.s.limiter != nil {
		a.s.limiter.fail(clientKey(r, a.s.opts.TrustProxy), a.s.now())
	}
}

// RetryAfter renders a wait as the whole seconds of a Retry-After header.
func RetryAfter(d time.Duration) string { return strconv.Itoa(retryAfter(d)) }
