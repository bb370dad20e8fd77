package console

import (
	"html/template"
	"net/url"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when":    when,
	"ago":     ago,
	"secs":    func(n int) string { return seconds(n) },
	"join":    strings.Join,
	"path":    url.PathEscape,
	"query":   url.QueryEscape,
	"short":   short,
	"mask":    credbroker.MaskKeyID,
	"scope":   func(s credbroker.Scope) string { return s.String() },
	"fieldOf": fieldOf,
}

// fieldRef is one input of a form, for its label and error.
type fieldRef struct {
	Name, Label, Err string
}

// fieldErrs is a form whose fields can carry errors.
type fieldErrs interface{ Err(field string) string }

func fieldOf(f fieldErrs, name, label string) fieldRef {
	return fieldRef{Name: name, Label: label, Err: f.Err(name)}
}

// when renders a time in UTC, or "never" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago renders how long before now t was, roughly.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + (-d).Round(time.Second).String()
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return d.Round(time.Minute).String() + " ago"
	case d < 48*time.Hour:
		return d.Round(time.Hour).String() + " ago"
	}
	return t.UTC().Format("2006-01-02")
}

// short abbreviates a hash.
func short(s string) string {
	if len(s) <= 12 {
		return s
	}
	return s[:12] + "…"
}
