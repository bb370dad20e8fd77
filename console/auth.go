package console

import (
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// signedIn is what an authenticated handler gets: the session and the
// admin token it was opened with, checked again on this request.
type signedIn struct {
	s     *Session
	tok   *credbroker.Token
	flash string
}

// view returns a page view for the signed-in administrator.
func (a *signedIn) view(title, section string, data any) *view {
	return &view{Title: title, Section: section, Session: a.s, Flash: a.flash, Data: data}
}

type authedFunc func(w http.ResponseWriter, r *http.Request, a *signedIn)

func (c *Console) sessionCookie() string {
	if c.opts.Secure {
		return "__Host-credbroker-session"
	}
	return "credbroker-session"
}

func (c *Console) signinCookie() string {
	if c.opts.Secure {
		return "__Host-credbroker-signin"
	}
	return "credbroker-signin"
}

// setCookie sets (or with value "" clears) one of the console's cookies:
// HttpOnly, SameSite=Strict, Secure under TLS, for the whole host (which
// the __Host- prefix requires).
func (c *Console) setCookie(w http.ResponseWriter, name, value string) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode}
	if value == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(w, ck)
}

// Why a session ended, shown on the sign-in page (fixed texts only).
var endedNotices = map[string]string{
	"signout": "You are signed out.",
	"expired": "Your session ended: it was idle too long or reached its maximum age. Sign in again.",
	"token":   "Your session ended: the admin token it was opened with was revoked or expired.",
}

// authed runs h for a request of a signed-in administrator: a live
// session whose token is still an active admin token, and for a POST the
// session's CSRF token in the form. Anyone else is sent to the sign-in
// page.
func (c *Console) authed(h authedFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		ck, err := r.Cookie(c.sessionCookie())
		if err != nil || ck.Value == "" {
			c.toSignin(w, r, "")
			return
		}
		key := sessionKey(ck.Value)
		s, err := c.sessions.Get(ctx, key)
		switch {
		case credbroker.ErrorCode(err) == credbroker.CodeNotFound:
			c.setCookie(w, c.sessionCookie(), "")
			c.toSignin(w, r, "expired")
			return
		case err != nil:
			c.log.Error("console: session store", "err", err)
			c.errorPage(w, r, http.StatusServiceUnavailable, "The console cannot read its sessions.", "Retry in a moment; the broker log has the details.")
			return
		}
		now := c.now()
		if s.expired(now, c.opts.IdleTimeout, c.opts.Lifetime) {
			c.endSession(w, r, s, "expired")
			return
		}
		tok, err := c.svc.ActiveToken(ctx, s.TokenID)
		switch {
		case err == nil && tok.Role == credbroker.RoleAdmin:
		case err == nil || credbroker.ErrorCode(err) == credbroker.CodeUnauthorized:
			c.endSession(w, r, s, "token")
			return
		default:
			c.failed(w, r, nil, err)
			return
		}
		if r.Method == http.MethodPost {
			if err := r.ParseForm(); err != nil {
				c.formTooLarge(w, r, err)
				return
			}
			if !sameToken(r.PostForm.Get("csrf"), s.CSRF) {
				c.log.Warn("console: form without the session's CSRF token refused", "path", r.URL.Path, "token_id", s.TokenID)
				c.render(w, r, http.StatusForbidden, "error", &view{Title: "Forbidden", Session: s,
					Error: "This form did not carry this session's CSRF token, so nothing was changed.",
					Fix:   "Reload the page and submit the form again."})
				return
			}
		}
		flash := s.Flash
		s.LastSeen, s.Flash = now, ""
		if err := c.sessions.Put(ctx, s); err != nil {
			c.log.Warn("console: cannot update a session", "err", err)
		}
		h(w, r, &signedIn{s: s, tok: tok, flash: flash})
	}
}

// sameToken compares a submitted token with the expected one in constant
// time; an empty token never matches.
func sameToken(got, want string) bool {
	return got != "" && want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// formTooLarge answers a form that could not be read.
func (c *Console) formTooLarge(w http.ResponseWriter, r *http.Request, err error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		c.errorPage(w, r, http.StatusRequestEntityTooLarge, "The form is larger than the console accepts.", "Send less text (a policy is at most 2,048 characters).")
		return
	}
	c.errorPage(w, r, http.StatusBadRequest, "The form could not be read.", "Submit it again from the console's page.")
}

// toSignin sends the browser to the sign-in page.
func (c *Console) toSignin(w http.ResponseWriter, r *http.Request, ended string) {
	path := Prefix + "signin"
	if ended != "" {
		path += "?ended=" + ended
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// endSession removes s on the server and in the browser.
func (c *Console) endSession(w http.ResponseWriter, r *http.Request, s *Session, why string) {
	if err := c.sessions.Delete(r.Context(), s.Key); err != nil {
		c.log.Warn("console: cannot delete a session", "err", err)
	}
	c.log.Info("console session ended", "token_id", s.TokenID, "why", why)
	c.setCookie(w, c.sessionCookie(), "")
	c.toSignin(w, r, why)
}

// signinView is the sign-in page's data.
type signinView struct {
	Notice string
	Token  string // the pre-session CSRF token
}

func (c *Console) signinPage(w http.ResponseWriter, r *http.Request) {
	c.showSignin(w, r, http.StatusOK, endedNotices[r.URL.Query().Get("ended")], "", "")
}

// showSignin renders the sign-in form with a fresh pre-session CSRF token,
// double-submitted in a cookie.
func (c *Console) showSignin(w http.ResponseWriter, r *http.Request, status int, notice, msg, fix string) {
	tok, err := randomToken()
	if err != nil {
		c.errorPage(w, r, http.StatusInternalServerError, "No random numbers for a sign-in form.", "Retry.")
		return
	}
	c.setCookie(w, c.signinCookie(), tok)
	c.render(w, r, status, "signin", &view{Title: "Sign in", Error: msg, Fix: fix, Data: signinView{Notice: notice, Token: tok}})
}

// signin turns a pasted admin token into a new session.
func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if c.opts.Limiter != nil {
		if wait, blocked := c.opts.Limiter.Blocked(r); blocked {
			w.Header().Set("Retry-After", httpapi.RetryAfter(wait))
			c.showSignin(w, r, http.StatusTooManyRequests, "", "Too many failed sign-ins from this address.",
				"Wait a little, then sign in with a valid admin token.")
			return
		}
	}
	if err := r.ParseForm(); err != nil {
		c.formTooLarge(w, r, err)
		return
	}
	ck, err := r.Cookie(c.signinCookie())
	if err != nil || !sameToken(r.PostForm.Get("csrf"), ck.Value) {
		c.showSignin(w, r, http.StatusForbidden, "", "This sign-in form has expired or did not come from this console.",
			"Sign in again from this page.")
		return
	}
	tok, err := c.svc.Authenticate(ctx, r.PostForm.Get("token"))
	switch {
	case credbroker.ErrorCode(err) == credbroker.CodeUnauthorized:
		if c.opts.Limiter != nil {
			c.opts.Limiter.Failed(r)
		}
		c.log.Info("console sign-in refused", "remote", r.RemoteAddr, "code", "unauthorized")
		msg, _ := publicError(err)
		c.showSignin(w, r, http.StatusUnauthorized, "", msg, "Paste a valid admin token (credbroker token create --role admin).")
		return
	case err != nil:
		c.failed(w, r, nil, err)
		return
	case tok.Role != credbroker.RoleAdmin:
		c.log.Info("console sign-in refused", "token_id", tok.ID, "remote", r.RemoteAddr, "code", "forbidden")
		c.showSignin(w, r, http.StatusForbidden, "", "Agent tokens cannot sign in to the console.",
			"Sign in with an admin token (credbroker token create --role admin).")
		return
	}
	// A session the browser already had is ended: every sign-in makes a
	// new session ID, so an ID planted before it is worth nothing.
	if old, err := r.Cookie(c.sessionCookie()); err == nil && old.Value != "" {
		_ = c.sessions.Delete(ctx, sessionKey(old.Value))
	}
	id, key, err := newSessionID()
	if err != nil {
		c.failed(w, r, nil, err)
		return
	}
	csrf, err := randomToken()
	if err != nil {
		c.failed(w, r, nil, err)
		return
	}
	now := c.now()
	s := &Session{Key: key, TokenID: tok.ID, TokenName: tok.Name, CSRF: csrf, Created: now, LastSeen: now}
	if err := c.sessions.Put(ctx, s); err != nil {
		c.log.Error("console: session store", "err", err)
		c.errorPage(w, r, http.StatusServiceUnavailable, "The console cannot keep a session.", "Retry in a moment; the broker log has the details.")
		return
	}
	c.log.Info("console sign-in", "token_id", tok.ID, "remote", r.RemoteAddr)
	c.setCookie(w, c.signinCookie(), "")
	c.setCookie(w, c.sessionCookie(), id)
	c.redirect(w, r, nil, Prefix, "")
}

// signout ends the session on the server.
func (c *Console) signout(w http.ResponseWriter, r *http.Request, a *signedIn) {
	c.endSession(w, r, a.s, "signout")
}
