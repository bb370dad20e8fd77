package console

import (
	"net/http"
	"net/url"

	"github.com/credbroker/credbroker"
)

// variablesView is the variables page's data.
type variablesView struct {
	Plan      string // the plan filter; "" lists every variable
	Variables []credbroker.Variable
	Form      credbroker.Variable // what the set form holds
	Errors    map[string]string
}

// Err returns the message for a field of the set form.
func (v *variablesView) Err(field string) string { return v.Errors[field] }

func (c *Console) variableList(w http.ResponseWriter, r *http.Request, a *signedIn) {
	q := r.URL.Query()
	data := &variablesView{Plan: q.Get("plan"), Form: credbroker.Variable{Plan: q.Get("set_plan"), Name: q.Get("set_name")}}
	data.Form.Secret = q.Get("secret") == "1"
	c.showVariables(w, r, a, http.StatusOK, data, "", "")
}

func (c *Console) showVariables(w http.ResponseWriter, r *http.Request, a *signedIn, status int, data *variablesView, msg, fix string) {
	list, err := c.svc.ListVariables(r.Context(), a.tok, data.Plan)
	if err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	data.Variables = list
	data.Form.Value = "" // a value typed is never rendered back: it may be a secret
	v := a.view("Variables", "variables", data)
	v.Error, v.Fix = msg, fix
	c.render(w, r, status, "variables", v)
}

func (c *Console) variableSet(w http.ResponseWriter, r *http.Request, a *signedIn) {
	v := credbroker.Variable{Plan: formValue(r, "plan"), Name: formValue(r, "name"), Value: r.PostForm.Get("value"),
		Secret: r.PostForm.Get("secret") != ""}
	if err := c.svc.SetVariable(r.Context(), a.tok, v); err != nil {
		data := &variablesView{Plan: formValue(r, "filter"), Form: v, Errors: map[string]string{}}
		if e := credbroker.AsError(err); e != nil && (e.Field == "name" || e.Field == "plan" || e.Field == "value") {
			data.Errors[e.Field] = e.Message + fixSuffix(e.Fix)
			c.showVariables(w, r, a, statusOf(err), data, "", "")
			return
		}
		msg, fix := publicError(err)
		c.showVariables(w, r, a, statusOf(err), data, msg, fix)
		return
	}
	scope := "global"
	if v.Plan != "" {
		scope = "plan " + v.Plan
	}
	c.redirect(w, r, a.s, Prefix+"variables?plan="+url.QueryEscape(formValue(r, "filter")), "Variable "+v.Name+" ("+scope+") saved.")
}

// variableRef names the variable a delete is about.
type variableRef struct {
	Plan, Name string
}

func (c *Console) variableDeletePage(w http.ResponseWriter, r *http.Request, a *signedIn) {
	q := r.URL.Query()
	ref := variableRef{Plan: q.Get("plan"), Name: q.Get("name")}
	c.render(w, r, http.StatusOK, "variable_delete", a.view("Delete variable "+ref.Name, "variables", ref))
}

func (c *Console) variableDelete(w http.ResponseWriter, r *http.Request, a *signedIn) {
	plan, name := formValue(r, "plan"), formValue(r, "name")
	if err := c.svc.DeleteVariable(r.Context(), a.tok, plan, name); err != nil {
		c.failed(w, r, a.s, err)
		return
	}
	c.redirect(w, r, a.s, Prefix+"variables", "Variable "+name+" deleted.")
}
