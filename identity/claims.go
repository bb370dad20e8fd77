package identity

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxClaimPath bounds a claim name or path in a binding.
const maxClaimPath = 256

// checkClaimPath refuses a claim name that is empty, too long, not
// printable, or a JSON pointer with an empty step or a bad escape.
func checkClaimPath(path string) error {
	switch {
	case path == "":
		return fmt.Errorf("no claim named")
	case len(path) > maxClaimPath:
		return fmt.Errorf("a claim name of more than %d bytes", maxClaimPath)
	case !utf8.ValidString(path):
		return fmt.Errorf("a claim name that is not UTF-8 text")
	}
	for _, r := range path {
		if r < 0x20 || r == 0x7f || r == '{' || r == '}' {
			return fmt.Errorf("a claim name holding %q", r)
		}
	}
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	for _, step := range strings.Split(path[1:], "/") {
		if step == "" {
			return fmt.Errorf("an empty step in the claim path %q", path)
		}
		for i := 0; i < len(step); i++ {
			if step[i] == '~' && (i+1 == len(step) || step[i+1] != '0' && step[i+1] != '1') {
				return fmt.Errorf("a bad escape in the claim path %q: write ~0 for ~ and ~1 for /", path)
			}
		}
	}
	return nil
}

// lookup returns the claim a path names: a top-level claim by name, or a
// nested one by JSON pointer ("/ext/team", with ~1 for '/' and ~0 for '~'
// in a step).
func lookup(claims map[string]any, path string) (any, bool) {
	if !strings.HasPrefix(path, "/") {
		v, ok := claims[path]
		return v, ok
	}
	var cur any = claims
	for _, step := range strings.Split(path[1:], "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		step = strings.ReplaceAll(strings.ReplaceAll(step, "~1", "/"), "~0", "~")
		if cur, ok = m[step]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// scalar renders a claim value that is a string, a number or a boolean as
// text; false for anything else (a list, an object, null).
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// values renders a claim as the texts a rule is matched against: a scalar
// as itself, a list as each of its scalar elements.
func values(v any) []string {
	if s, ok := scalar(v); ok {
		return []string{s}
	}
	list, ok := v.([]any)
	if !ok {
		return nil
	}
	var out []string
	for _, e := range list {
		if s, ok := scalar(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// template is a text with {claim} placeholders; {{ and }} are literal
// braces.
type template struct {
	parts []tmplPart
}

type tmplPart struct {
	text  string
	claim bool // text names a claim
}

// parseTemplate parses a template.
func parseTemplate(s string) (*template, error) {
	t := &template{}
	var lit strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '{' && i+1 < len(s) && s[i+1] == '{', c == '}' && i+1 < len(s) && s[i+1] == '}':
			lit.WriteByte(c)
			i++
		case c == '{':
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("the { at byte %d is not closed", i+1)
			}
			name := s[i+1 : i+end]
			if err := checkClaimPath(name); err != nil {
				return nil, fmt.Errorf("placeholder at byte %d: %w", i+1, err)
			}
			if lit.Len() > 0 {
				t.parts = append(t.parts, tmplPart{text: lit.String()})
				lit.Reset()
			}
			t.parts = append(t.parts, tmplPart{text: name, claim: true})
			i += end
		case c == '}':
			return nil, fmt.Errorf("the } at byte %d closes nothing; write }} for a literal one", i+1)
		default:
			lit.WriteByte(c)
		}
	}
	if lit.Len() > 0 {
		t.parts = append(t.parts, tmplPart{text: lit.String()})
	}
	return t, nil
}

// claims lists the claims the template names.
func (t *template) claims() []string {
	var out []string
	for _, p := range t.parts {
		if p.claim {
			out = append(out, p.text)
		}
	}
	return out
}

// render fills the template from claims; the error names a claim that is
// missing or not one value.
func (t *template) render(claims map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if !p.claim {
			b.WriteString(p.text)
			continue
		}
		v, ok := lookup(claims, p.text)
		if !ok {
			return "", fmt.Errorf("claim %s is missing", p.text)
		}
		s, ok := scalar(v)
		if !ok {
			return "", fmt.Errorf("claim %s is not a single value", p.text)
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// renderWith fills the template with fill for every claim.
func (t *template) renderWith(fill string) string {
	var b strings.Builder
	for _, p := range t.parts {
		if p.claim {
			b.WriteString(fill)
		} else {
			b.WriteString(p.text)
		}
	}
	return b.String()
}

// CleanPlanKey turns s into a plan key PROJECT-PLAN, as a binding's plan
// template result is cleaned: letters upper-cased, the first '-' kept as
// the separator, every other character outside A-Z, 0-9 and _ made '_',
// and the result cut to 128 bytes. It reports false when no plan key can
// be made: no '-', an empty project or plan, or a project that does not
// start with a letter.
func CleanPlanKey(s string) (string, bool) {
	project, plan, ok := strings.Cut(s, "-")
	if !ok || project == "" || plan == "" {
		return "", false
	}
	clean := func(part string) string {
		var b strings.Builder
		for _, r := range strings.ToUpper(part) {
			if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' {
				b.WriteRune(r)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	key := clean(project) + "-" + clean(plan)
	if key[0] < 'A' || key[0] > 'Z' {
		return "", false
	}
	if len(key) > maxPlanKey {
		key = key[:maxPlanKey]
	}
	if dash := strings.IndexByte(key, '-'); dash < 0 || dash == len(key)-1 {
		return "", false
	}
	return key, true
}

// maxPlanKey is the longest plan key (credbroker.MaxFieldLen).
const maxPlanKey = 128
