package taskrun

import (
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/vars"
)

// expandScript substitutes only ${bamboo.NAME} references in a command or
// script, as Bamboo does: "${HOME}" and other shell syntax reach the shell
// untouched. "$${bamboo." writes a literal "${bamboo.". An undefined
// variable is an error naming the field.
func expandScript(vs *vars.Set, field, text string) (string, error) {
	const open = "${bamboo."
	if !strings.Contains(text, open) {
		return text, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(text, open)
		if i < 0 {
			b.WriteString(text)
			return b.String(), nil
		}
		if i > 0 && text[i-1] == '$' {
			// "$${bamboo." is an escape: drop one '$', keep the rest.
			b.WriteString(text[:i-1])
			b.WriteString(open)
			text = text[i+len(open):]
			continue
		}
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", credbroker.Errorf(credbroker.CodeInvalid, field, "unterminated ${bamboo. reference").
				WithFix("close it with '}', or write $${ for a literal ${")
		}
		name := text[i+len(open) : i+end]
		if err := vars.CheckName(field, name); err != nil {
			return "", err
		}
		v, ok := vs.Lookup(name)
		if !ok {
			return "", credbroker.Errorf(credbroker.CodeInvalid, field, "undefined variable %q", name).
				WithFix("define it with --var " + name + "=VALUE, in a --vars file, in the job's variables, or as a runtime variable written by an earlier task")
		}
		b.WriteString(text[:i])
		b.WriteString(v.Value)
		text = text[i+end+1:]
	}
}
