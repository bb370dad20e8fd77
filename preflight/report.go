package preflight

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/credbroker/credbroker/mask"
)

// Severity says how bad a finding is.
type Severity string

// The severities of a finding.
const (
	// SevError: the task cannot get its credentials as written.
	SevError Severity = "error"
	// SevWarning: it can, but something will differ from what was asked
	// (a duration lowered), is unsafe, or cannot be known before the job
	// runs.
	SevWarning Severity = "warning"
	// SevOK: a check passed.
	SevOK Severity = "ok"
	// SevInfo: something to know, neither good nor bad.
	SevInfo Severity = "info"
)

// Finding is one line of a check: how bad, where (task and field, named as
// the user wrote them) and what, with the fix. It never holds a secret
// value.
type Finding struct {
	Severity Severity `json:"severity"`
	Task     string   `json:"task"`
	Field    string   `json:"field"`
	Message  string   `json:"message"`
	Fix      string   `json:"fix"`
}

// String renders the finding on one line:
// "error   [task] field: message; fix: fix".
func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-7s ", f.Severity)
	if f.Task != "" {
		fmt.Fprintf(&b, "[%s] ", f.Task)
	}
	if f.Field != "" {
		b.WriteString(f.Field)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(f.Message))
	if f.Fix != "" {
		b.WriteString("; fix: ")
		b.WriteString(oneLine(f.Fix))
	}
	return b.String()
}

// oneLine folds line breaks and runs of spaces, so a finding stays one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Findings are a check's findings, in the order they were made.
type Findings []Finding

// Find returns the first finding of severity sev about field whose
// message holds msg, or nil.
func (fs Findings) Find(sev Severity, field, msg string) *Finding {
	for i, f := range fs {
		if f.Severity == sev && f.Field == field && strings.Contains(f.Message, msg) {
			return &fs[i]
		}
	}
	return nil
}

// Count returns the number of findings of severity sev.
func (fs Findings) Count(sev Severity) int {
	n := 0
	for _, f := range fs {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

// Report is the outcome of a check: its findings in the order they were
// made, and the secret values met on the way, which Write masks.
type Report struct {
	Findings Findings
	// secrets are masked in the output besides the variables' own, as a
	// second guard: no finding is built from a secret value.
	secrets []string
}

// Count returns the number of findings of severity sev.
func (r *Report) Count(sev Severity) int { return r.Findings.Count(sev) }

// Failed reports whether any finding is an error.
func (r *Report) Failed() bool { return r.Count(SevError) > 0 }

// Summary counts the findings: "1 error(s), 2 warning(s), 5 ok".
func (r *Report) Summary() string {
	return fmt.Sprintf("%d error(s), %d warning(s), %d ok", r.Count(SevError), r.Count(SevWarning), r.Count(SevOK))
}

// Write prints the findings to w, one line each, or as a JSON array of
// {severity, task, field, message, fix} when asJSON; every secret value
// the check met is masked on the way.
func (r *Report) Write(w io.Writer, asJSON bool) error {
	m := mask.New(w, mask.Options{Secrets: r.secrets})
	var err error
	if asJSON {
		out := r.Findings
		if out == nil {
			out = Findings{}
		}
		enc := json.NewEncoder(m)
		enc.SetIndent("", "  ")
		err = enc.Encode(out)
	} else {
		for _, f := range r.Findings {
			if _, err = fmt.Fprintln(m, f.String()); err != nil {
				break
			}
		}
	}
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	return err
}

// Merge appends o's findings to r's, and the secrets o met, which Write
// masks.
func (r *Report) Merge(o *Report) {
	r.Findings = append(r.Findings, o.Findings...)
	r.secrets = append(r.secrets, o.secrets...)
}

func (r *Report) add(sev Severity, task, field, msg, fix string) {
	r.Findings = append(r.Findings, Finding{Severity: sev, Task: task, Field: field, Message: msg, Fix: fix})
}
