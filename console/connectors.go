package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/policy"
)

// connectorForm is the create and edit form of a connector, as the
// administrator typed it: every setting the CLI has.
type connectorForm struct {
	New                               bool
	Name, Description                 string
	Principal, Base, BaseConnector    string
	AccessKeyID                       string
	Region, RoleARN, ExternalID       string
	FederatedName                     string
	Policy, PolicyARNs                string
	DefaultDuration, MaxDuration      string
	ScopeKind, ScopeKey               string
	AllowPlans, SessionMode           string
	AllowedAccountIDs                 string
	Tags, TransitiveTagKeys           string
	DisableTags                       bool
	STSEndpoints, Retries, MaxBackoff string
	Revision                          int64
	CurrentKeyID                      string // the stored key ID, masked
	HasSecret                         bool
	Errors                            map[string]string
	Info                              *credbroker.ConnectorInfo // the stored connector, on edit
	Connectors                        []string                  // names for the base connector choice
	PolicyMax                         int
	PolicyExcerpt                     []policyLine
}

// Principals are the principal types the form offers.
func (f *connectorForm) Principals() []string {
	return []string{"assumed-role", "federated-user", "session", "provided"}
}

// Bases are the kinds of base credentials.
func (f *connectorForm) Bases() []string { return []string{"keys", "default", "connector"} }

// ScopeKinds are the scopes.
func (f *connectorForm) ScopeKinds() []string { return []string{"system", "project", "plan"} }

// SessionModes are the session modes.
func (f *connectorForm) SessionModes() []string { return []string{"build", "plan"} }

// PolicySize is the policy's length as STS counts it: characters once the
// whitespace outside strings is removed (the raw length when it is not
// JSON).
func (f *connectorForm) PolicySize() int {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(f.Policy)); err != nil {
		return utf8.RuneCountInString(f.Policy)
	}
	return utf8.RuneCountInString(buf.String())
}

// policyLine is one line of the policy shown around a JSON error.
type policyLine struct {
	N    int
	Text string
	Bad  bool
}

// Err returns the message for a field of the form.
func (f *connectorForm) Err(field string) string { return f.Errors[field] }

// formOf fills a form from a stored connector.
func formOf(in *credbroker.ConnectorInfo) *connectorForm {
	f := &connectorForm{
		Name: in.Name, Description: in.Description, Principal: string(in.Principal), Base: string(in.Base),
		BaseConnector: in.BaseConnector, Region: in.Region, RoleARN: in.RoleARN, ExternalID: in.ExternalID,
		FederatedName: in.FederatedName, Policy: in.Policy, PolicyARNs: strings.Join(in.PolicyARNs, "\n"),
		ScopeKind: string(in.Scope.Kind), ScopeKey: in.Scope.Key, AllowPlans: strings.Join(in.AllowPlans, "\n"),
		AllowedAccountIDs: strings.Join(in.AllowedAccountIDs, "\n"),
		SessionMode:       string(in.SessionMode), TransitiveTagKeys: strings.Join(in.TransitiveTagKeys, "\n"),
		DisableTags: in.DisableTags, STSEndpoints: strings.Join(in.STSEndpoints, "\n"),
		Revision: in.Revision, CurrentKeyID: in.AccessKeyID, HasSecret: in.HasSecret, Info: in,
	}
	if in.Principal != credbroker.PrincipalProvided {
		f.DefaultDuration = seconds(in.DefaultDurationSeconds)
		f.MaxDuration = seconds(in.MaxDurationSeconds)
	}
	if in.Retries > 0 {
		f.Retries = strconv.Itoa(in.Retries)
	}
	if in.MaxBackoffSeconds > 0 {
		f.MaxBackoff = seconds(in.MaxBackoffSeconds)
	}
	var tags []string
	for _, t := range in.Tags {
		tags = append(tags, t.Key+"="+t.Value)
	}
	f.Tags = strings.Join(tags, "\n")
	return f
}

// seconds renders whole seconds as a duration ("1h0m0s" becomes "1h").
func seconds(n int) string {
	if n == 0 {
		return ""
	}
	s := (time.Duration(n) * time.Second).String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(s, "0m")
}

// readForm reads the posted form; the secret key is returned apart, so
// that it is never rendered back.
func readForm(r *http.Request) (f *connectorForm, secret string) {
	// Browsers send text areas' line breaks as CRLF.
	v := func(name string) string {
		return strings.TrimSpace(strings.ReplaceAll(r.PostForm.Get(name), "\r\n", "\n"))
	}
	f = &connectorForm{
		Name: v("name"), Description: v("description"), Principal: v("principal"), Base: v("base"),
		BaseConnector: v("base_connector"), AccessKeyID: v("access_key_id"), Region: v("region"),
		RoleARN: v("role_arn"), ExternalID: v("external_id"), FederatedName: v("federated_name"),
		Policy: v("policy"), PolicyARNs: v("policy_arns"),
		DefaultDuration: v("default_duration"), MaxDuration: v("max_duration"),
		ScopeKind: v("scope_kind"), ScopeKey: v("scope_key"), AllowPlans: v("allow_plans"),
		AllowedAccountIDs: v("allowed_account_ids"),
		SessionMode:       v("session_mode"), Tags: v("tags"), TransitiveTagKeys: v("transitive_tag_keys"),
		DisableTags: r.PostForm.Get("disable_tags") != "", STSEndpoints: v("sts_endpoints"),
		Retries: v("retries"), MaxBackoff: v("max_backoff"),
	}
	f.Revision, _ = strconv.ParseInt(v("revision"), 10, 64)
	return f, r.PostForm.Get("secret_access_key")
}

// lines splits a text area into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// accountLines splits the account guard's text area: one account per
// line, or several separated by commas or spaces.
func accountLines(s string) []string {
	var out []string
	for _, l := range lines(s) {
		out = append(out, credbroker.SplitAccountIDs(l)...)
	}
	return out
}

// spec turns the form into a ConnectorSpec, or returns the fields the
// console itself cannot read (durations, numbers, tags).
func (f *connectorForm) spec(secret string) (credbroker.ConnectorSpec, map[string]string) {
	errs := map[string]string{}
	spec := credbroker.ConnectorSpec{
		Name: f.Name, Description: f.Description, Principal: credbroker.PrincipalType(f.Principal),
		Base: credbroker.BaseKind(f.Base), AccessKeyID: f.AccessKeyID, SecretAccessKey: strings.TrimSpace(secret),
		Region: f.Region, RoleARN: f.RoleARN, ExternalID: f.ExternalID, FederatedName: f.FederatedName,
		Policy: f.Policy, PolicyARNs: lines(f.PolicyARNs),
		Scope:      credbroker.Scope{Kind: credbroker.ScopeKind(f.ScopeKind), Key: f.ScopeKey},
		AllowPlans: lines(f.AllowPlans), SessionMode: credbroker.SessionMode(f.SessionMode),
		AllowedAccountIDs: accountLines(f.AllowedAccountIDs),
		TransitiveTagKeys: lines(f.TransitiveTagKeys), DisableTags: f.DisableTags,
		STSEndpoints: lines(f.STSEndpoints), Revision: f.Revision,
	}
	if spec.Base == credbroker.BaseConnector {
		spec.BaseConnector = f.BaseConnector
	}
	if spec.Scope.Kind == credbroker.ScopeSystem {
		spec.Scope.Key = ""
	}
	duration := func(field, val string) int {
		if val == "" {
			return 0
		}
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 || d%time.Second != 0 {
			errs[field] = "not a duration: write it like 15m, 1h or 1h30m"
			return 0
		}
		return int(d / time.Second)
	}
	spec.DefaultDurationSeconds = duration("default_duration", f.DefaultDuration)
	spec.MaxDurationSeconds = duration("max_duration", f.MaxDuration)
	spec.MaxBackoffSeconds = duration("max_backoff", f.MaxBackoff)
	if f.Retries != "" {
		n, err := strconv.Atoi(f.Retries)
		if err != nil {
			errs["retries"] = "not a whole number: give 0 to 20 retries"
		}
		spec.Retries = n
	}
	for i, l := range lines(f.Tags) {
		k, val, ok := strings.Cut(l, "=")
		if !ok || strings.TrimSpace(k) == "" {
			errs["tags"] = fmt.Sprintf("line %d: expected KEY=VALUE, e.g. team=ops", i+1)
			continue
		}
		spec.Tags = append(spec.Tags, credbroker.Tag{Key: strings.TrimSpace(k), Value: strings.TrimSpace(val)})
	}
	return spec, errs
}

// fieldAliases map the service's field names onto the form's.
var fieldAliases = map[string]string{
	"default_duration_seconds": "default_duration",
	"max_duration_seconds":     "max_duration",
	"max_backoff_seconds":      "max_backoff",
	"duration":                 "default_duration",
	"scope":                    "scope_key",
	"sts":                      "sts_endpoints",
	"sts_endpoint":             "sts_endpoints",
	"allow_plan":               "allow_plans",
	"allowed_account_id":       "allowed_account_ids",
	"tag":                      "tags",
	"transitive_tag_key":       "transitive_tag_keys",
	"policy_arn":               "policy_arns",
}

// formFields are the form's inputs that can carry an error.
var formFields = []string{
	"name", "description", "principal", "base", "base_connector", "access_key_id", "secret_access_key", "region",
	"role_arn", "external_id", "federated_name", "policy", "policy_arns", "default_duration", "max_duration",
	"scope_key", "allow_plans", "allowed_account_ids", "session_mode", "tags", "transitive_tag_keys", "sts_endpoints", "retries", "max_backoff",
}

// formField returns the form input a service error's field names, or ""
// when it names none: "policy.Statement[0].Action" is the policy,
// "allow_plans[1]" the allowed plans.
func formField(field string) string {
	f := field
	if i := strings.IndexAny(f, ".["); i >= 0 {
		f = f[:i]
	}
	f = strings.TrimPrefix(strings.TrimPrefix(f, "--"), "role.")
	f = strings.ReplaceAll(f, "-", "_")
	if a, ok := fieldAliases[f]; ok {
		f = a
	}
	if slices.Contains(formFields, f) {
		return f
	}
	return ""
}

var lineRE = regexp.MustCompile(`at line (\d+)`)

// policyExcerpt returns the lines of doc around the line a JSON error
// names, the bad one marked.
func policyExcerpt(doc, msg string) []policyLine {
	m := lineRE.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	bad, _ := strconv.Atoi(m[1])
	all := strings.Split(strings.ReplaceAll(doc, "\r\n", "\n"), "\n")
	var out []policyLine
	for n := max(1, bad-2); n <= min(len(all), bad+2); n++ {
		out = append(out, policyLine{N: n, Text: all[n-1], Bad: n == bad})
	}
	return out
}

// withError puts a service error on the form: on its field when it names
// one, else on the whole form.
func (f *connectorForm) withError(err error) (general, fix string) {
	if f.Errors == nil {
		f.Errors = map[string]string{}
	}
	e := credbroker.AsError(err)
	if e == nil {
		return credbroker.PublicMessage(err), ""
	}
	field := formField(e.Field)
	if field == "" {
		msg, fix := publicError(err)
		return msg, fix
	}
	msg := e.Message
	if e.Field != field {
		msg = e.Field + ": " + msg
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	f.Errors[field] = msg
	if field == "policy" {
		f.PolicyExcerpt = policyExcerpt(f.Policy, e.Message)
	}
	return "Nothing was saved: " + strings.ReplaceAll(field, "_", " ") + " needs fixing (marked below).", ""
}

// connectorsView is the list page's data.
type connectorsView struct {
	Query      string
	Connectors []credbroker.ConnectorInfo
	Total      int
}

func (c *Console) connectorList(w http.ResponseWriter, r *http.Request, a *signedIn) {
	list, err := c.svc.ListConnectors(r.Context(), a.tok)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	data := connectorsView{Query: q, Total: len(list)}
	for _, in := range list {
		if q == "" || matches(q, in.Name, in.Description, string(in.Principal), in.Region, in.RoleARN,
			in.Scope.String(), strings.Join(in.AllowPlans, " ")) {
			data.Connectors = append(data.Connectors, in)
		}
	}
	c.render(w, r, http.StatusOK, "connectors", a.view("Connectors", "connectors", data))
}

// matches reports whether any of vals contains q, ignoring case.
func matches(q string, vals ...string) bool {
	q = strings.ToLower(q)
	for _, v := range vals {
		if strings.Contains(strings.ToLower(v), q) {
			return true
		}
	}
	return false
}

// showForm renders the connector form.
func (c *Console) showForm(w http.ResponseWriter, r *http.Request, a *signedIn, status int, f *connectorForm, general, fix string) {
	f.PolicyMax = policy.MaxSize
	if list, err := c.svc.ListConnectors(r.Context(), a.tok); err == nil {
		for _, in := range list {
			if in.Name != f.Name {
				f.Connectors = append(f.Connectors, in.Name)
			}
		}
	}
	title := "New connector"
	if !f.New {
		title = "Connector " + f.Name
	}
	v := a.view(title, "connectors", f)
	v.Error, v.Fix = general, fix
	c.render(w, r, status, "connector", v)
}

func (c *Console) connectorNew(w http.ResponseWriter, r *http.Request, a *signedIn) {
	f := &connectorForm{New: true, Principal: "assumed-role", Base: "keys", ScopeKind: "system", SessionMode: "build"}
	c.showForm(w, r, a, http.StatusOK, f, "", "")
}

func (c *Console) connectorCreate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	f, secret := readForm(r)
	f.New = true
	spec, errs := f.spec(secret)
	if len(errs) > 0 {
		f.Errors = errs
		c.showForm(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	spec.Revision = 0
	in, err := c.svc.CreateConnector(r.Context(), a.tok, spec)
	if err != nil {
		general, fix := f.withError(err)
		c.showForm(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"connectors/"+url.PathEscape(in.Name), "Connector "+in.Name+" created.")
}

func (c *Console) connectorEdit(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetConnector(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.showForm(w, r, a, http.StatusOK, formOf(in), "", "")
}

func (c *Console) connectorUpdate(w http.ResponseWriter, r *http.Request, a *signedIn) {
	ref := r.PathValue("name")
	in, err := c.svc.GetConnector(r.Context(), a.tok, ref)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	f, secret := readForm(r)
	f.Info, f.CurrentKeyID, f.HasSecret = in, in.AccessKeyID, in.HasSecret
	spec, errs := f.spec(secret)
	if len(errs) > 0 {
		f.Errors = errs
		c.showForm(w, r, a, http.StatusBadRequest, f, "Some fields need fixing; nothing was saved.", "")
		return
	}
	if spec.Revision == 0 {
		// A form always carries the revision it was read at; without one
		// the update could silently overwrite another change.
		f.Errors = map[string]string{}
		c.showForm(w, r, a, http.StatusBadRequest, f, "The form did not say which revision it edits.", "Reload the connector and apply the change again.")
		return
	}
	out, err := c.svc.UpdateConnector(r.Context(), a.tok, in.ID, spec)
	if err != nil {
		general, fix := f.withError(err)
		c.showForm(w, r, a, statusOf(err), f, general, fix)
		return
	}
	c.redirect(w, r, a.s, Prefix+"connectors/"+url.PathEscape(out.Name), "Connector "+out.Name+" saved (revision "+strconv.FormatInt(out.Revision, 10)+").")
}

func (c *Console) connectorDeletePage(w http.ResponseWriter, r *http.Request, a *signedIn) {
	in, err := c.svc.GetConnector(r.Context(), a.tok, r.PathValue("name"))
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.render(w, r, http.StatusOK, "connector_delete", a.view("Delete connector "+in.Name, "connectors", in))
}

func (c *Console) connectorDelete(w http.ResponseWriter, r *http.Request, a *signedIn) {
	name := r.PathValue("name")
	if r.PostForm.Get("confirm") != name {
		in, err := c.svc.GetConnector(r.Context(), a.tok, name)
		if err != nil {
			c.failed(w, r, a.s, err)
			return
		}
		v := a.view("Delete connector "+in.Name, "connectors", in)
		v.Error, v.Fix = "The name typed does not match, so nothing was deleted.", "Type the connector's name exactly to confirm."
		c.render(w, r, http.StatusBadRequest, "connector_delete", v)
		return
	}
	if err := c.svc.DeleteConnector(r.Context(), a.tok, name); err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.redirect(w, r, a.s, Prefix+"connectors", "Connector "+name+" deleted.")
}

// testView is the connector test's result: what the vend proves, never
// its secret.
type testView struct {
	Connector  string
	Plan       string
	Build      string
	RoleARN    string
	KeyID      string // masked
	Temporary  bool
	Expiration time.Time
	Region     string
	Partition  string
	Warnings   []string
}

func (c *Console) connectorTest(w http.ResponseWriter, r *http.Request, a *signedIn) {
	name := r.PathValue("name")
	plan, build := formValue(r, "plan"), formValue(r, "build")
	if build == "" {
		build = "console-test"
	}
	res, err := c.svc.TestConnector(r.Context(), a.tok, credbroker.VendRequest{Connector: name, Plan: plan, Build: build, Task: "console-test"})
	tv := testView{Connector: name, Plan: plan, Build: build}
	if err != nil {
		v := a.view("Test of "+name, "connectors", tv)
		v.Error, v.Fix = publicError(err)
		c.render(w, r, statusOf(err), "connector_test", v)
		return
	}
	tv.RoleARN, tv.KeyID, tv.Temporary = res.RoleARN, credbroker.MaskKeyID(res.AccessKeyID), res.SessionToken != ""
	tv.Expiration, tv.Region, tv.Partition, tv.Warnings = res.Expiration, res.Region, res.Partition, res.Warnings
	c.render(w, r, http.StatusOK, "connector_test", a.view("Test of "+name, "connectors", tv))
}

// signinLinkView is a console sign-in link: it grants access until it
// expires, so the page is never cached.
type signinLinkView struct {
	Connector  string
	Plan       string
	URL        string
	Expiration time.Time
}

func (c *Console) connectorSignin(w http.ResponseWriter, r *http.Request, a *signedIn) {
	name := r.PathValue("name")
	plan := formValue(r, "plan")
	res, err := c.svc.AdminConsole(r.Context(), a.tok, credbroker.ConsoleRequest{Connector: name, Plan: plan, Build: "console-signin",
		Destination: formValue(r, "destination")})
	sv := signinLinkView{Connector: name, Plan: plan}
	if err != nil {
		v := a.view("Console sign-in for "+name, "connectors", sv)
		v.Error, v.Fix = publicError(err)
		c.render(w, r, statusOf(err), "connector_signin", v)
		return
	}
	sv.URL, sv.Expiration = res.URL, res.Expiration
	c.render(w, r, http.StatusOK, "connector_signin", a.view("Console sign-in for "+name, "connectors", sv))
}
