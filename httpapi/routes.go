package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// readyTimeout bounds the readiness check.
const readyTimeout = 5 * time.Second

// Header values shared by every response; net/http only reads them.
var (
	jsonContentType = []string{"application/json"}
	textContentType = []string{"text/plain; charset=utf-8"}
	noStore         = []string{"no-store"}
	noSniff         = []string{"nosniff"}
)

// handlerFunc is a route's handler, writing through the request's exchange.
type handlerFunc func(ex *exchange, r *http.Request)

// apiFunc is an authenticated route's handler; an error it returns is
// written as the response.
type apiFunc func(ex *exchange, r *http.Request, tok *credbroker.Token) error

// routes registers the route table. Each path also gets a method-less
// pattern that answers 405 with Allow, and "/" answers 404, both in JSON.
func (s *Server) routes() {
	table := []struct {
		method, path string
		h            handlerFunc
	}{
		{http.MethodPost, "/v1/credentials", s.auth(s.vend)},
		{http.MethodGet, "/v1/agent/variables", s.auth(s.agentVariables)},
		{http.MethodPost, "/v1/console", s.auth(s.console)},
		{http.MethodGet, "/v1/connectors", s.auth(s.listConnectors)},
		{http.MethodPost, "/v1/connectors", s.auth(s.createConnector)},
		{http.MethodGet, "/v1/connectors/{ref}", s.auth(s.getConnector)},
		{http.MethodPut, "/v1/connectors/{ref}", s.auth(s.updateConnector)},
		{http.MethodDelete, "/v1/connectors/{ref}", s.auth(s.deleteConnector)},
		{http.MethodGet, "/v1/tokens", s.auth(s.listTokens)},
		{http.MethodPost, "/v1/tokens", s.auth(s.createToken)},
		{http.MethodDelete, "/v1/tokens/{id}", s.auth(s.revokeToken)},
		{http.MethodGet, "/v1/variables", s.auth(s.listVariables)},
		{http.MethodPut, "/v1/variables/{name}", s.auth(s.setVariable)},
		{http.MethodDelete, "/v1/variables/{name}", s.auth(s.deleteVariable)},
		{http.MethodGet, "/v1/issuers", s.auth(s.listIssuers)},
		{http.MethodPost, "/v1/issuers", s.auth(s.createIssuer)},
		{http.MethodGet, "/v1/issuers/{name}", s.auth(s.getIssuer)},
		{http.MethodPut, "/v1/issuers/{name}", s.auth(s.updateIssuer)},
		{http.MethodDelete, "/v1/issuers/{name}", s.auth(s.deleteIssuer)},
		{http.MethodGet, "/v1/bindings", s.auth(s.listBindings)},
		{http.MethodPost, "/v1/bindings", s.auth(s.createBinding)},
		{http.MethodGet, "/v1/bindings/{name}", s.auth(s.getBinding)},
		{http.MethodPut, "/v1/bindings/{name}", s.auth(s.updateBinding)},
		{http.MethodDelete, "/v1/bindings/{name}", s.auth(s.deleteBinding)},
		{http.MethodGet, "/v1/audit", s.auth(s.listAudit)},
		{http.MethodGet, "/v1/audit/verify", s.auth(s.verifyAudit)},
		{http.MethodGet, "/healthz", s.healthz},
		{http.MethodGet, "/readyz", s.readyz},
	}
	allow := make(map[string][]string)
	var paths []string
	for _, rt := range table {
		pattern := rt.method + " " + rt.path
		s.mux.Handle(pattern, route(pattern, rt.h))
		if _, ok := allow[rt.path]; !ok {
			paths = append(paths, rt.path)
		}
		allow[rt.path] = append(allow[rt.path], rt.method)
		if rt.method == http.MethodGet {
			allow[rt.path] = append(allow[rt.path], http.MethodHead)
		}
	}
	for _, path := range paths {
		methods := allow[path]
		slices.Sort(methods)
		s.mux.Handle(path, route(path, s.methodNotAllowed(strings.Join(methods, ", "))))
	}
	s.mux.Handle("/", route("/", s.notFound))
}

// route adapts h to the mux and records the pattern for the log line.
func route(pattern string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ex, ok := w.(*exchange)
		if !ok {
			ex = &exchange{w: w}
		}
		ex.route = pattern
		h(ex, r)
	})
}

// auth authenticates the request's Bearer token and runs h with it. An
// address that has used up its failed authentications is refused with 429
// before its token is looked at, except for a token the service already
// holds (TokenKnower): that one is checked as usual, so that one failing
// client does not lock out the valid tokens of its neighbours behind the
// same host or NAT. Any failure from such an address is a 429 too.
func (s *Server) auth(h apiFunc) handlerFunc {
	return func(ex *exchange, r *http.Request) {
		var key string
		var wait time.Duration
		blocked := false
		if s.limiter != nil && s.limiter.len() > 0 {
			key = clientKey(r, s.opts.TrustProxy)
			wait, blocked = s.limiter.blocked(key, s.now())
		}
		throttled := func() {
			ex.Header().Set("Retry-After", strconv.Itoa(retryAfter(wait)))
			s.writeError(ex, credbroker.Errorf(credbroker.CodeThrottled, "",
				"too many failed authentications from this address").WithFix("retry later with a valid token"))
		}
		if blocked && !s.known(r.Header.Get("Authorization")) {
			throttled()
			return
		}
		failed := func(err error, challenge string) {
			if s.limiter != nil {
				if key == "" {
					key = clientKey(r, s.opts.TrustProxy)
				}
				s.limiter.fail(key, s.now())
			}
			if blocked {
				ex.err = err // for the log line
				throttled()
				return
			}
			ex.Header().Set("WWW-Authenticate", challenge)
			s.writeError(ex, err)
		}

		header := r.Header.Get("Authorization")
		if header == "" {
			// Not a guess, so not counted as a failure.
			ex.Header().Set("WWW-Authenticate", challengeMissing)
			s.writeError(ex, credbroker.Errorf(credbroker.CodeUnauthorized, "Authorization",
				"no token given").WithFix("send the header Authorization: Bearer <token>"))
			return
		}
		bearer, ok := parseBearer(header)
		if !ok {
			failed(credbroker.Errorf(credbroker.CodeUnauthorized, "Authorization",
				"the header is not a Bearer token").WithFix("send the header Authorization: Bearer <token>"),
				challengeInvalidRequest)
			return
		}
		tok, err := s.svc.Authenticate(r.Context(), bearer)
		switch {
		case err == nil && tok == nil:
			s.writeError(ex, credbroker.Errorf(credbroker.CodeInternal, "", "authentication returned no token"))
			return
		case err != nil && credbroker.ErrorCode(err) == credbroker.CodeUnauthorized:
			failed(err, challengeInvalidToken)
			return
		case err != nil:
			s.writeError(ex, err)
			return
		}
		ex.tokenID = tok.ID
		if err := h(ex, r, tok); err != nil {
			s.writeError(ex, err)
		}
	}
}

// known reports whether the Authorization header value carries a token
// the service holds in memory (see TokenKnower); false when it cannot
// tell.
func (s *Server) known(header string) bool {
	k, ok := s.svc.(TokenKnower)
	if !ok {
		return false
	}
	bearer, ok := parseBearer(header)
	return ok && k.KnowsToken(bearer)
}

// The WWW-Authenticate challenges of RFC 6750.
const (
	challengeMissing        = `Bearer realm="credbroker"`
	challengeInvalidRequest = `Bearer realm="credbroker", error="invalid_request"`
	challengeInvalidToken   = `Bearer realm="credbroker", error="invalid_token"`
)

// maxTokenLen bounds the token a request may present: an agent token is
// 64 bytes, a CI's ID token (a JWT) a few kilobytes. It is above the
// service's own bound of an ID token (8 KiB), which the service refuses
// with a message that says so, and below --max-header-bytes (16 KiB).
const maxTokenLen = 12 << 10

// parseBearer returns the token of an "Authorization: Bearer <token>"
// header value. The scheme is case-insensitive; the token is one run of
// visible ASCII characters.
func parseBearer(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimLeft(header[len(scheme):], " ")
	if tok == "" || len(tok) > maxTokenLen {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return "", false
		}
	}
	return tok, true
}

// writeJSON writes v as the response body with the given status. API
// responses are never cached: they hold credentials and secrets.
func (s *Server) writeJSON(ex *exchange, status int, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		return credbroker.Errorf(credbroker.CodeInternal, "", "encode response").WithCause(err)
	}
	writeBody(ex, status, buf)
	return nil
}

// writeBody answers with the JSON document in buf.
func writeBody(ex *exchange, status int, buf *bytes.Buffer) {
	h := ex.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	h["Content-Length"] = []string{strconv.Itoa(buf.Len())}
	ex.WriteHeader(status)
	_, _ = ex.Write(buf.Bytes()) // a failed write means the client left
}

// writeError answers with err as {"code", "message"}: the status from
// errorStatus, and only the public message. The full error stays on the
// exchange for the log line.
func (s *Server) writeError(ex *exchange, err error) {
	status, code, msg := errorStatus(err)
	ex.err = err
	if status == http.StatusUnauthorized && ex.Header().Get("WWW-Authenticate") == "" {
		ex.Header().Set("WWW-Authenticate", challengeMissing)
	}
	if werr := s.writeJSON(ex, status, errorBody{Code: code, Message: msg}); werr != nil {
		ex.WriteHeader(http.StatusInternalServerError)
	}
}

// noContent answers 204.
func noContent(ex *exchange) error {
	ex.Header()["Cache-Control"] = noStore
	ex.WriteHeader(http.StatusNoContent)
	return nil
}

// errNoResult is what a service that returned neither a result nor an
// error gets: a bug, shown as an internal error.
var errNoResult = credbroker.Errorf(credbroker.CodeInternal, "", "the service returned no result")

func (s *Server) vend(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var req credbroker.VendRequest
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := s.svc.Vend(r.Context(), tok, req)
	if err != nil {
		return err
	}
	if res == nil {
		return errNoResult
	}
	return s.writeJSON(ex, http.StatusOK, res)
}

func (s *Server) agentVariables(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	plan, err := planQuery(r)
	if err != nil {
		return err
	}
	vars, err := s.svc.AgentVariables(r.Context(), tok, plan)
	if err != nil {
		return err
	}
	return s.writeJSON(ex, http.StatusOK, variableList{Variables: nonNil(vars)})
}

func (s *Server) console(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var req credbroker.ConsoleRequest
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &req); err != nil {
		return err
	}
	res, err := s.svc.Console(r.Context(), tok, req)
	if err != nil {
		return err
	}
	if res == nil {
		return errNoResult
	}
	return s.writeJSON(ex, http.StatusOK, res)
}

func (s *Server) listConnectors(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	list, err := s.svc.ListConnectors(r.Context(), tok)
	if err != nil {
		return err
	}
	for i := range list {
		list[i].SecretAccessKey = "" // write-only, whatever the service did
	}
	return s.writeJSON(ex, http.StatusOK, connectorList{Connectors: nonNil(list)})
}

func (s *Server) createConnector(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.ConnectorSpec
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	info, err := s.svc.CreateConnector(r.Context(), tok, spec)
	if err != nil {
		return err
	}
	if info == nil {
		return errNoResult
	}
	info.SecretAccessKey = ""
	ex.Header().Set("Location", "/v1/connectors/"+url.PathEscape(info.ID))
	return s.writeJSON(ex, http.StatusCreated, info)
}

func (s *Server) getConnector(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	info, err := s.svc.GetConnector(r.Context(), tok, r.PathValue("ref"))
	if err != nil {
		return err
	}
	if info == nil {
		return errNoResult
	}
	info.SecretAccessKey = ""
	return s.writeJSON(ex, http.StatusOK, info)
}

func (s *Server) updateConnector(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.ConnectorSpec
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	info, err := s.svc.UpdateConnector(r.Context(), tok, r.PathValue("ref"), spec)
	if err != nil {
		return err
	}
	if info == nil {
		return errNoResult
	}
	info.SecretAccessKey = ""
	return s.writeJSON(ex, http.StatusOK, info)
}

func (s *Server) deleteConnector(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	if err := s.svc.DeleteConnector(r.Context(), tok, r.PathValue("ref")); err != nil {
		return err
	}
	return noContent(ex)
}

func (s *Server) listTokens(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	list, err := s.svc.ListTokens(r.Context(), tok)
	if err != nil {
		return err
	}
	return s.writeJSON(ex, http.StatusOK, tokenList{Tokens: nonNil(list)})
}

func (s *Server) createToken(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	var spec credbroker.TokenSpec
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &spec); err != nil {
		return err
	}
	nt, err := s.svc.CreateToken(r.Context(), tok, spec)
	if err != nil {
		return err
	}
	if nt == nil {
		return errNoResult
	}
	return s.writeJSON(ex, http.StatusCreated, nt)
}

func (s *Server) revokeToken(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	if err := s.svc.RevokeToken(r.Context(), tok, r.PathValue("id")); err != nil {
		return err
	}
	return noContent(ex)
}

func (s *Server) listVariables(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	plan, err := planQuery(r)
	if err != nil {
		return err
	}
	vars, err := s.svc.ListVariables(r.Context(), tok, plan)
	if err != nil {
		return err
	}
	return s.writeJSON(ex, http.StatusOK, variableList{Variables: nonNil(vars)})
}

func (s *Server) setVariable(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	plan, err := planQuery(r)
	if err != nil {
		return err
	}
	var body variableBody
	if err := readJSON(ex.w, r, s.opts.MaxBodyBytes, &body); err != nil {
		return err
	}
	v := credbroker.Variable{Plan: plan, Name: r.PathValue("name"), Value: body.Value, Secret: body.Secret}
	if err := s.svc.SetVariable(r.Context(), tok, v); err != nil {
		return err
	}
	return noContent(ex)
}

func (s *Server) deleteVariable(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	plan, err := planQuery(r)
	if err != nil {
		return err
	}
	if err := s.svc.DeleteVariable(r.Context(), tok, plan, r.PathValue("name")); err != nil {
		return err
	}
	return noContent(ex)
}

func (s *Server) listAudit(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	f, err := auditFilter(r)
	if err != nil {
		return err
	}
	recs, err := s.svc.ListAudit(r.Context(), tok, f)
	if err != nil {
		return err
	}
	return s.writeJSON(ex, http.StatusOK, auditList{Records: nonNil(recs)})
}

func (s *Server) verifyAudit(ex *exchange, r *http.Request, tok *credbroker.Token) error {
	rep, err := s.svc.VerifyAudit(r.Context(), tok)
	if err != nil {
		return err
	}
	if rep == nil {
		return errNoResult
	}
	return s.writeJSON(ex, http.StatusOK, rep)
}

// healthz answers 200 "ok" while the process serves at all.
func (s *Server) healthz(ex *exchange, _ *http.Request) {
	writeOK(ex)
}

// readyz answers 200 "ok" when the service is ready, 503 otherwise. It is
// not authenticated, so it shows no reason; the log line has it.
func (s *Server) readyz(ex *exchange, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.svc.Ready(ctx); err != nil {
		s.writeError(ex, &credbroker.Error{Code: credbroker.CodeUnavailable, Message: "the broker is not ready", Err: err})
		return
	}
	writeOK(ex)
}

func writeOK(ex *exchange) {
	h := ex.Header()
	h["Content-Type"] = textContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	ex.WriteHeader(http.StatusOK)
	_, _ = ex.Write([]byte("ok"))
}

// methodNotAllowed answers 405 with the methods the path has.
func (s *Server) methodNotAllowed(allow string) handlerFunc {
	return func(ex *exchange, r *http.Request) {
		ex.Header().Set("Allow", allow)
		s.writeError(ex, credbroker.Errorf(credbroker.CodeInvalid, "method",
			"%s is not allowed here; use %s", r.Method, allow).WithCause(errMethod))
	}
}

// notFound answers 404 for a path the API does not have. The path is not
// repeated: it goes into the log line, and a path may hold a secret (a
// token pasted where its ID belongs).
func (s *Server) notFound(ex *exchange, r *http.Request) {
	if s.wantsHome(r) {
		ex.Header().Set("Cache-Control", "no-store")
		http.Redirect(ex, r, s.home, http.StatusSeeOther)
		return
	}
	s.writeError(ex, credbroker.Errorf(credbroker.CodeNotFound, "path",
		"no such API route for %s", r.Method).WithFix("see the API routes in the README (/v1/credentials, /v1/connectors, ...)").WithCause(errNoRoute))
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}
