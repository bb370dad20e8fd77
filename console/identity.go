package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// The trusted OIDC issuers and the bindings of their tokens to plans:
// the settings of `credbroker issuer` and `credbroker binding`, checked
// and audited by the same Service methods as the API's.

// identityView is the identity page's data: both lists.
type identityView struct {
	Issuers  []credbroker.TrustedIssuer
	Bindings []credbroker.Binding
}

// Rules renders a binding's claim rules as the CLI lists them.
func (v *identityView) Rules(b credbroker.Binding) string {
	var parts []string
	for _, c := range b.Claims {
		alts := append(slices.Clone(c.Values), c.Globs...)
		parts = append(parts, c.Claim+"="+strings.Join(alts, "|"))
	}
	return strings.Join(parts, " ")
}

func (c *Console) identityList(w http.ResponseWriter, r *http.Request, a *signedIn) {
	issuers, err := c.svc.ListIssuers(r.Context(), a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	bindings, err := c.svc.ListBindings(r.Context(), a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.render(w, r, http.StatusOK, "identity", a.view("Identity", "identity", &identityView{Issuers: issuers, Bindings: bindings}))
}

// textField reads a form field, its line breaks as LF.
func textField(r *http.Request, name string) string {
	return strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get(name), "\r\n", "\n"))
}

// fieldError puts a service error on the form input its field names
// (through input, "" for none), or returns it for the whole form.
func fieldError(errs map[string]string, err error, input func(field string) string) (general, fix string) {
	ce := credbroker.AsError(err)
	if ce == nil {
		return credbroker.PublicMessage(err), ""
	}
	field := input(ce.Field)
	if field == "" {
		return publicError(err)
	}
	msg := ce.Message
	if ce.Field != field {
		msg = ce.Field + ": " + msg
	}
	errs[field] = msg + fixSuffix(ce.Fix)
	return "Nothing was saved: " + strings.ReplaceAll(field, "_", " ") + " needs fixing (marked below).", ""
}

// baseField is a service field without its index or subfield:
// "audiences[1]" is "audiences", "claims[0].globs[2]" is "claims".
func baseField(field string) string {
	if i := strings.IndexAny(field, ".["); i >= 0 {
		return field[:i]
	}
	return field
}

// issuerForm is the create and edit form of a trusted issuer: every flag
// of `credbroker issuer create`.
type issuerForm struct {
	New                        bool
	Name, Description, URL     string
	DiscoveryURL, JWKSURL      string
	Audiences, Algorithms      string // one per line
	Leeway                     string
	RejectReplay               bool
	Revision                   int64
	Info                       *credbroker.TrustedIssuer // the stored issuer, on edit
	Errors                     map[string]string
	DefaultAlgorithms, MaxSkew string
}

// Err returns the message for a field of the form.
func (f *issuerForm) Err(field string) string { return f.Errors[field] }

// issuerFields are the issuer form's inputs that can carry an error.
var issuerFields = []string{"name", "description", "url", "discovery_url", "jwks_url", "audiences", "algorithms", "leeway"}

func issuerInput(field string) string {
	f := baseField(field)
	if f == "leeway_seconds" {
		f = "leeway"
	}
	if slices.Contains(issuerFields, f) {
		return f
	}
	return ""
}

func issuerFormOf(i *credbroker.TrustedIssuer) *issuerForm {
	f := &issuerForm{
		Name: i.Name, Description: i.Description, URL: i.URL, DiscoveryURL: i.DiscoveryURL, JWKSURL: i.JWKSURL,
		Audiences: strings.Join(i.Audiences, "\n"), Algorithms: strings.Join(i.Algorithms, "\n"),
		Leeway: seconds(i.LeewaySeconds), RejectReplay: i.RejectReplay, Revision: i.Revision, Info: i,
	}
	return f
}

func readIssuerForm(r *http.Request) *issuerForm {
	f := &issuerForm{
		Name: textField(r, "name"), Description: textField(r, "description"), URL: textField(r, "url"),
		DiscoveryURL: textField(r, "discovery_url"), JWKSURL: textField(r, "jwks_url"),
		Audiences: textField(r, "audiences"), Algorithms: textField(r, "algorithms"), Leeway: textField(r, "leeway"),
		RejectReplay: r.PostForm.Get("reject_replay") != "",
	}
	f.Revision, _ = strconv.ParseInt(textField(r, "revision"), 10, 64)
	return f
}

// spec turns the form into a TrustedIssuer, or returns the fields the
// console itself cannot read.
func (f *issuerForm) spec() (credbroker.TrustedIssuer, map[string]string) {
	errs := map[string]string{}
	spec := credbroker.TrustedIssuer{
		Name: f.Name, Description: f.Description, URL: f.URL, DiscoveryURL: f.DiscoveryURL, JWKSURL: f.JWKSURL,
		Audiences: lines(f.Audiences), Algorithms: lines(f.Algorithms), RejectReplay: f.RejectReplay, Revision: f.Revision,
	}
	if f.Leeway != "" {
		d, err := time.ParseDuration(f.Leeway)
		if err != nil || d < 0 || d%time.Second != 0 {
			errs["leeway"] = "not a duration: write it like 30s or 2m (at most 5m), or leave it empty for 60s"
		}
		spec.LeewaySeconds = int(d / time.Second)
	}
	return spec, errs
}

func (c *Console) showIssuer(w http.ResponseWriter, r *http.Request, a *signedIn, status int, f *issuerForm, general, fix string) {
	f.DefaultAlgorithms = strings.Join(credbroker.DefaultIssuerAlgorithms, ", ")
	f.MaxSkew = seconds(int(credbroker.MaxIssuerLeeway / time.Second))
	title := "New trusted issuer"
	if !f.New {
		title = "Issuer " + f.Name
	}
	v := a.view(title, "identity", f)
	v.Error, v.Fix = general, fix
	c.render(w, r, status, "issuer", v)
}

func (c *Console) issuerNew(w http.ResponseWriter, r *http.Request, a *signedIn) {
	c.showIssuer(w, r, a, http.StatusOK, &issuerForm{New: true}, "", "")
}

func (c *Console) issuerCreate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	f := readIssuerForm(r)
	f.New = true
	spec, errs := f.spec()
	if len(errs) > 0 {
		f.Errors = errs
		c.showIssuer(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	spec.Revision = 0
	out, err := c.svc.CreateIssuer(r.Context(), a.tok, spec)
	if err != nil {
		f.Errors = map[string]string{}
		general, fix := fieldError(f.Errors, err, issuerInput)
		c.showIssuer(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"issuers/"+url.PathEscape(out.Name), "Issuer "+out.Name+" trusted.")
}

func (c *Console) issuerEdit(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetIssuer(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.showIssuer(w, r, a, http.StatusOK, issuerFormOf(in), "", "")
}

func (c *Console) issuerUpdate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetIssuer(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	f := readIssuerForm(r)
	f.Info = in
	spec, errs := f.spec()
	if len(errs) > 0 {
		f.Errors = errs
		c.showIssuer(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	if spec.Revision == 0 {
		// Without the revision it was read at, the update could silently
		// overwrite another change.
		c.showIssuer(w, r, a, http.StatusBadRequest, f, "The form did not say which revision it edits.", "Reload the issuer and apply the change again.")
		return
	}
	out, err := c.svc.UpdateIssuer(r.Context(), a.tok, in.Name, spec)
	if err != nil {
		f.Errors = map[string]string{}
		general, fix := fieldError(f.Errors, err, issuerInput)
		c.showIssuer(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"issuers/"+url.PathEscape(out.Name), "Issuer "+out.Name+" saved (revision "+strconv.FormatInt(out.Revision, 10)+").")
}

// deleteView is the confirmation page of an issuer's or a binding's
// deletion.
type deleteView struct {
	Kind, Name, Path, Note string
}

func issuerDeleteView(name string) deleteView {
	return deleteView{Kind: "issuer", Name: name, Path: Prefix + "issuers/" + url.PathEscape(name),
		Note: "Its tokens are refused from then on. An issuer that a binding names cannot be deleted until the binding is."}
}

func bindingDeleteView(name string) deleteView {
	return deleteView{Kind: "binding", Name: name, Path: Prefix + "bindings/" + url.PathEscape(name),
		Note: "The tokens it accepts are refused from then on, unless another binding accepts them."}
}

// confirmDelete shows the confirmation page of dv, with the error of a
// failed attempt.
func (c *Console) confirmDelete(w http.ResponseWriter, r *http.Request, a *signedIn, status int, dv deleteView, msg, fix string) {
	v := a.view("Delete "+dv.Kind+" "+dv.Name, "identity", dv)
	v.Error, v.Fix = msg, fix
	c.render(w, r, status, "identity_delete", v)
}

func (c *Console) issuerDeletePage(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetIssuer(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.confirmDelete(w, r, a, http.StatusOK, issuerDeleteView(in.Name), "", "")
}

func (c *Console) issuerDelete(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetIssuer(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	if r.PostForm.Get("confirm") != in.Name {
		c.confirmDelete(w, r, a, http.StatusBadRequest, issuerDeleteView(in.Name),
			"The name typed does not match, so nothing was deleted.", "Type the issuer's name exactly to confirm.")
		return
	}
	if err := c.svc.DeleteIssuer(r.Context(), a.tok, in.Name); err != nil {
		msg, fix := publicError(err)
		c.confirmDelete(w, r, a, statusOf(err), issuerDeleteView(in.Name), msg, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"identity", "Issuer "+in.Name+" deleted: its tokens are no longer trusted.")
}

// bindingForm is the create and edit form of a binding: every flag of
// `credbroker binding create`, the list flags as text areas of one entry
// per line.
type bindingForm struct {
	New                         bool
	Name, Issuer, Description   string
	Subject                     string
	Claims, ClaimGlobs          string // CLAIM=VALUE and CLAIM=GLOB lines
	PlanTemplate, Plans         string
	TagClaims                   string // [KEY=]CLAIM lines
	SessionName, SourceIdentity string
	AuditClaims                 string
	Revision                    int64
	Info                        *credbroker.Binding // the stored binding, on edit
	Issuers                     []string            // names for the issuer choice
	Errors                      map[string]string
}

// Err returns the message for a field of the form.
func (f *bindingForm) Err(field string) string { return f.Errors[field] }

// bindingFields are the binding form's inputs that can carry an error.
var bindingFields = []string{"name", "issuer", "description", "subject", "claims", "claim_globs", "plan_template", "plans",
	"tag_claims", "session_name", "source_identity", "audit_claims"}

func bindingInput(field string) string {
	f := baseField(field)
	if f == "claims" && strings.Contains(field, ".globs") {
		f = "claim_globs"
	}
	if slices.Contains(bindingFields, f) {
		return f
	}
	return ""
}

func bindingFormOf(b *credbroker.Binding) *bindingForm {
	f := &bindingForm{
		Name: b.Name, Issuer: b.Issuer, Description: b.Description, Subject: b.Subject,
		PlanTemplate: b.PlanTemplate, Plans: b.Plans, SessionName: b.SessionName, SourceIdentity: b.SourceIdentity,
		AuditClaims: strings.Join(b.AuditClaims, "\n"), Revision: b.Revision, Info: b,
	}
	var vals, globs, tags []string
	for _, c := range b.Claims {
		for _, v := range c.Values {
			vals = append(vals, c.Claim+"="+v)
		}
		for _, g := range c.Globs {
			globs = append(globs, c.Claim+"="+g)
		}
	}
	for _, t := range b.TagClaims {
		if t.Key == t.Claim {
			tags = append(tags, t.Claim)
		} else {
			tags = append(tags, t.Key+"="+t.Claim)
		}
	}
	f.Claims, f.ClaimGlobs, f.TagClaims = strings.Join(vals, "\n"), strings.Join(globs, "\n"), strings.Join(tags, "\n")
	return f
}

func readBindingForm(r *http.Request) *bindingForm {
	f := &bindingForm{
		Name: textField(r, "name"), Issuer: textField(r, "issuer"), Description: textField(r, "description"),
		Subject: textField(r, "subject"), Claims: textField(r, "claims"), ClaimGlobs: textField(r, "claim_globs"),
		PlanTemplate: textField(r, "plan_template"), Plans: textField(r, "plans"), TagClaims: textField(r, "tag_claims"),
		SessionName: textField(r, "session_name"), SourceIdentity: textField(r, "source_identity"),
		AuditClaims: textField(r, "audit_claims"),
	}
	f.Revision, _ = strconv.ParseInt(textField(r, "revision"), 10, 64)
	return f
}

// spec turns the form into a Binding, as the CLI's flags make one: the
// values and globs of a claim form one rule, in the order first named.
func (f *bindingForm) spec() (credbroker.Binding, map[string]string) {
	errs := map[string]string{}
	spec := credbroker.Binding{
		Name: f.Name, Issuer: f.Issuer, Description: f.Description, Subject: f.Subject,
		PlanTemplate: f.PlanTemplate, Plans: f.Plans, SessionName: f.SessionName, SourceIdentity: f.SourceIdentity,
		AuditClaims: lines(f.AuditClaims), Revision: f.Revision,
	}
	index := map[string]int{}
	add := func(input, text string, glob bool) {
		for n, l := range lines(text) {
			name, val, ok := strings.Cut(l, "=")
			if !ok || name == "" {
				errs[input] = "line " + strconv.Itoa(n+1) + ": expected CLAIM=VALUE; write repository=acme/app"
				return
			}
			i, seen := index[name]
			if !seen {
				i = len(spec.Claims)
				index[name] = i
				spec.Claims = append(spec.Claims, credbroker.ClaimRule{Claim: name})
			}
			if glob {
				spec.Claims[i].Globs = append(spec.Claims[i].Globs, val)
			} else {
				spec.Claims[i].Values = append(spec.Claims[i].Values, val)
			}
		}
	}
	add("claims", f.Claims, false)
	add("claim_globs", f.ClaimGlobs, true)
	for _, l := range lines(f.TagClaims) {
		key, claim, ok := strings.Cut(l, "=")
		if !ok {
			key, claim = l, l
		}
		spec.TagClaims = append(spec.TagClaims, credbroker.ClaimTag{Key: key, Claim: claim})
	}
	return spec, errs
}

// withError puts a service error on the binding form. A rule's error
// (claims[i]) is shown on the claim globs when that rule has only globs.
func (f *bindingForm) withError(spec credbroker.Binding, err error) (general, fix string) {
	f.Errors = map[string]string{}
	return fieldError(f.Errors, err, func(field string) string {
		in := bindingInput(field)
		if i, err := parseIndex(field, "claims["); err == nil && in == "claims" && !strings.Contains(field, ".values") &&
			i >= 0 && i < len(spec.Claims) && len(spec.Claims[i].Values) == 0 {
			return "claim_globs"
		}
		return in
	})
}

// parseIndex reads the number after prefix in field ("claims[3]..." is 3).
func parseIndex(field, prefix string) (int, error) {
	rest, ok := strings.CutPrefix(field, prefix)
	if !ok {
		return 0, strconv.ErrSyntax
	}
	n, _, _ := strings.Cut(rest, "]")
	return strconv.Atoi(n)
}

func (c *Console) showBinding(w http.ResponseWriter, r *http.Request, a *signedIn, status int, f *bindingForm, general, fix string) {
	if list, err := c.svc.ListIssuers(r.Context(), a.tok); err == nil {
		for _, i := range list {
			f.Issuers = append(f.Issuers, i.Name)
		}
	}
	title := "New binding"
	if !f.New {
		title = "Binding " + f.Name
	}
	v := a.view(title, "identity", f)
	v.Error, v.Fix = general, fix
	c.render(w, r, status, "binding", v)
}

func (c *Console) bindingNew(w http.ResponseWriter, r *http.Request, a *signedIn) {
	c.showBinding(w, r, a, http.StatusOK, &bindingForm{New: true, Issuer: r.URL.Query().Get("issuer")}, "", "")
}

func (c *Console) bindingCreate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	f := readBindingForm(r)
	f.New = true
	spec, errs := f.spec()
	if len(errs) > 0 {
		f.Errors = errs
		c.showBinding(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	spec.Revision = 0
	out, err := c.svc.CreateBinding(r.Context(), a.tok, spec)
	if err != nil {
		general, fix := f.withError(spec, err)
		c.showBinding(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"bindings/"+url.PathEscape(out.Name), "Binding "+out.Name+" created.")
}

func (c *Console) bindingEdit(w http.ResponseWriter, r *http.Request, a *signedIn) {
	b, err := c.svc.GetBinding(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.showBinding(w, r, a, http.StatusOK, bindingFormOf(b), "", "")
}

func (c *Console) bindingUpdate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	b, err := c.svc.GetBinding(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	f := readBindingForm(r)
	f.Info = b
	spec, errs := f.spec()
	if len(errs) > 0 {
		f.Errors = errs
		c.showBinding(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	if spec.Revision == 0 {
		c.showBinding(w, r, a, http.StatusBadRequest, f, "The form did not say which revision it edits.", "Reload the binding and apply the change again.")
		return
	}
	out, err := c.svc.UpdateBinding(r.Context(), a.tok, b.Name, spec)
	if err != nil {
		general, fix := f.withError(spec, err)
		c.showBinding(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"bindings/"+url.PathEscape(out.Name), "Binding "+out.Name+" saved (revision "+strconv.FormatInt(out.Revision, 10)+").")
}

func (c *Console) bindingDeletePage(w http.ResponseWriter, r *http.Request, a *signedIn) {
	b, err := c.svc.GetBinding(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.confirmDelete(w, r, a, http.StatusOK, bindingDeleteView(b.Name), "", "")
}

func (c *Console) bindingDelete(w http.ResponseWriter, r *http.Request, a *signedIn) {
	b, err := c.svc.GetBinding(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	if r.PostForm.Get("confirm") != b.Name {
		c.confirmDelete(w, r, a, http.StatusBadRequest, bindingDeleteView(b.Name),
			"The name typed does not match, so nothing was deleted.", "Type the binding's name exactly to confirm.")
		return
	}
	if err := c.svc.DeleteBinding(r.Context(), a.tok, b.Name); err != nil {
		msg, fix := publicError(err)
		c.confirmDelete(w, r, a, statusOf(err), bindingDeleteView(b.Name), msg, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"identity", "Binding "+b.Name+" deleted.")
}
