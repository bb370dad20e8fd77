// Package rules holds, for tests, the regular expressions that
// hand-written checks replace: a name rule checked by hand at every start-up
// or request is held, by a fuzz target, to the expression that states it.
package rules

import (
	"regexp"
	"testing"
)

// Rule is a hand-written check and the expression it replaces.
type Rule struct {
	name  string
	re    *regexp.Regexp
	check func(string) bool
}

// New returns the rule named name: check must agree with pattern.
func New(name, pattern string, check func(string) bool) Rule {
	return Rule{name: name, re: regexp.MustCompile(pattern), check: check}
}

// Agree fails t unless every rule's check and expression agree on s.
func Agree(t testing.TB, s string, rules ...Rule) {
	t.Helper()
	for _, r := range rules {
		if got, want := r.check(s), r.re.MatchString(s); got != want {
			t.Fatalf("%s %q: the check says %v, the expression %s says %v", r.name, s, got, r.re, want)
		}
	}
}
