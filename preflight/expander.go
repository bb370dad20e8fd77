package preflight

import (
	"errors"
	"fmt"
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/vars"
)

// checkExpander substitutes variables for a check. A reference it cannot
// resolve now is a finding, not a failure: an error when nothing can
// define the variable, a warning when an earlier task or the broker might,
// information when an earlier set_variables task will. The field is then
// left empty and marked unresolved, and the checks that need it are
// skipped.
type checkExpander struct {
	vs   *vars.Set
	task string
	// pending maps runtime variables that an earlier set_variables task
	// sets, and whose values this check did not obtain, to that task.
	pending map[string]string
	// writers are the earlier tasks that run a command, which may write
	// runtime variables to $CREDBROKER_VARIABLES.
	writers []string
	// brokerUnfetched says the broker's variables were not fetched.
	brokerUnfetched bool
	unresolved      map[string]bool
	notes           []Finding
}

func newCheckExpander(vs *vars.Set, task string) *checkExpander {
	return &checkExpander{vs: vs, task: task, pending: map[string]string{}, unresolved: map[string]bool{}}
}

// Expand implements taskrun.Expander.
func (x *checkExpander) Expand(field, text string) (string, error) {
	if !x.check(field, text, false) {
		x.unresolved[field] = true
		return "", nil
	}
	return x.vs.Expand(field, text)
}

// check reports the references of text that do not resolve now, and says
// whether all of them do. In a command or script (scriptOnly), only
// ${bamboo.NAME} is a reference.
func (x *checkExpander) check(field, text string, scriptOnly bool) bool {
	ok := true
	seen := map[string]bool{}
	for _, ref := range vars.References(text) {
		if scriptOnly && !strings.HasPrefix(ref, "bamboo.") {
			continue
		}
		name := vars.Canonical(ref)
		if seen[name] || vars.CheckName("", name) != nil {
			continue // said already, or a syntax error that vars.Expand reports
		}
		seen[name] = true
		if _, defined := x.vs.Lookup(name); defined {
			continue
		}
		ok = false
		switch {
		case x.pending[name] != "":
			x.note(SevInfo, field, fmt.Sprintf("variable %q is set when task %s runs", name, x.pending[name]), "")
		case len(x.writers) > 0:
			x.note(SevWarning, field, fmt.Sprintf("variable %q is not defined now; an earlier task (%s) must write it to $CREDBROKER_VARIABLES", name, strings.Join(x.writers, ", ")),
				fmt.Sprintf("define %s, or make sure the earlier task writes it", name))
		case x.brokerUnfetched:
			x.note(SevWarning, field, fmt.Sprintf("variable %q is not defined here; it may be one of the broker's variables, which were not fetched", name),
				fmt.Sprintf("check without --offline, or define %s", name))
		default:
			x.note(SevError, field, fmt.Sprintf("undefined variable %q", name),
				fmt.Sprintf("define it with --var %s=VALUE, in a --vars file, in the job file's variables:, or on the broker", name))
		}
	}
	return ok
}

// hasErrors reports whether a reference could not resolve at all.
func (x *checkExpander) hasErrors() bool {
	for _, n := range x.notes {
		if n.Severity == SevError {
			return true
		}
	}
	return false
}

func (x *checkExpander) note(sev Severity, field, msg, fix string) {
	x.notes = append(x.notes, Finding{Severity: sev, Task: x.task, Field: field, Message: msg, Fix: fix})
}

// dropFields removes from err the problems of fields in skip.
func dropFields(err error, skip map[string]bool) error {
	if len(skip) == 0 {
		return err
	}
	var keepErrs []error
	var walk func(error)
	walk = func(e error) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, m := range multi.Unwrap() {
				walk(m)
			}
			return
		}
		if de := credbroker.AsError(e); de != nil && skip[de.Field] {
			return
		}
		keepErrs = append(keepErrs, e)
	}
	walk(err)
	return errors.Join(keepErrs...)
}
