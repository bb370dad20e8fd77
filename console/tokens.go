package console

import (
	"net/http"
	"time"

	"github.com/credbroker/credbroker"
)

// tokensView is the tokens page's data; Form is what was typed into the
// create form when it failed.
type tokensView struct {
	Tokens []*credbroker.Token
	Now    time.Time
	Form   credbroker.TokenSpec
	Expiry string
	Errors map[string]string
}

// Err returns the message for a field of the create form.
func (v *tokensView) Err(field string) string { return v.Errors[field] }

// Status describes a token's state at v.Now.
func (v *tokensView) Status(t *credbroker.Token) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !t.Active(v.Now):
		return "expired"
	}
	return "active"
}

func (c *Console) tokenList(w http.ResponseWriter, r *http.Request, a *signedIn) {
	c.showTokens(w, r, a, http.StatusOK, &tokensView{Form: credbroker.TokenSpec{Role: credbroker.RoleAgent}}, "", "")
}

func (c *Console) showTokens(w http.ResponseWriter, r *http.Request, a *signedIn, status int, data *tokensView, msg, fix string) {
	list, err := c.svc.ListTokens(r.Context(), a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	data.Tokens, data.Now = list, c.now()
	v := a.view("Tokens", "tokens", data)
	v.Error, v.Fix = msg, fix
	c.render(w, r, status, "tokens", v)
}

// createdView shows a new token's secret, this once.
type createdView struct {
	Token  credbroker.Token
	Secret string
}

func (c *Console) tokenCreate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	spec := credbroker.TokenSpec{Name: formValue(r, "name"), Role: credbroker.TokenRole(formValue(r, "role")), Plans: formValue(r, "plans")}
	data := &tokensView{Form: spec, Expiry: formValue(r, "expires"), Errors: map[string]string{}}
	if data.Expiry != "" {
		d, err := time.ParseDuration(data.Expiry)
		if err != nil || d <= 0 {
			data.Errors["expires"] = "not a duration: write it like 720h (30 days), or leave it empty for no expiry"
			c.showTokens(w, r, a, http.StatusBadRequest, data, "", "")
			return
		}
		spec.ExpiresInSeconds = int(d / time.Second)
	}
	nt, err := c.svc.CreateToken(r.Context(), a.tok, spec)
	if err != nil {
		if e := credbroker.AsError(err); e != nil && (e.Field == "name" || e.Field == "role" || e.Field == "plans") {
			data.Errors[e.Field] = e.Message + fixSuffix(e.Fix)
			c.showTokens(w, r, a, statusOf(err), data, "", "")
			return
		}
		if e := credbroker.AsError(err); e != nil && e.Field == "expires_in_seconds" {
			data.Errors["expires"] = e.Message
			c.showTokens(w, r, a, statusOf(err), data, "", "")
			return
		}
		msg, fix := publicError(err)
		c.showTokens(w, r, a, statusOf(err), data, msg, fix)
		return
	}
	c.log.Info("console: token created", "token_id", a.tok.ID, "new_token_id", nt.ID, "role", nt.Role)
	c.render(w, r, http.StatusOK, "token_created", a.view("Token created", "tokens", createdView{Token: nt.Token, Secret: nt.Secret}))
}

// fixSuffix renders a fix after a message.
func fixSuffix(fix string) string {
	if fix == "" {
		return ""
	}
	return "; " + fix
}

// findToken returns the listed token with ID id.
func (c *Console) findToken(r *http.Request, a *signedIn, id string) (*credbroker.Token, error) {
	list, err := c.svc.ListTokens(r.Context(), a.tok)
	if err != nil {
		return nil, err
	}
	for _, t := range list {
		if t.ID == id {
			return t, nil
		}
	}
	return nil, credbroker.Errorf(credbroker.CodeNotFound, "token", "no token %q", id).WithFix("pick a token from the list")
}

func (c *Console) tokenRevokePage(w http.ResponseWriter, r *http.Request, a *signedIn) {
	t, err := c.findToken(r, a, r.PathValue("id"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.render(w, r, http.StatusOK, "token_revoke", a.view("Revoke token "+t.ID, "tokens", t))
}

func (c *Console) tokenRevoke(w http.ResponseWriter, r *http.Request, a *signedIn) {
	id := r.PathValue("id")
	if _, err := c.findToken(r, a, id); err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	if err := c.svc.RevokeToken(r.Context(), a.tok, id); err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	flash := "Token " + id + " revoked."
	if id == a.tok.ID {
		flash += " It was this session's token: the session ends with it."
	}
	c.redirect(w, r, a.s, Prefix+"tokens", flash)
}
