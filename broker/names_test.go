package broker

import (
	"regexp"
	"testing"
)

// The regular expressions the hand-written name checks replace.
var (
	connectorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	projectKeyRE    = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	tokenNameRE     = regexp.MustCompile(`^[A-Za-z0-9_.@ -]{1,64}$`)
)

// FuzzNames: each hand-written check agrees with its expression on every
// input.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "deploy", "con_x", "-a", "a-b.c_d", "OPS", "O_9", "ops", "bamboo agents@ci", "a\n", "é",
		"a123456789012345678901234567890123456789012345678901234567890123", "a1234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name string
			re   *regexp.Regexp
			fn   func(string) bool
		}{{"connector", connectorNameRE, validConnectorName}, {"project key", projectKeyRE, validProjectKey}, {"token", tokenNameRE, validTokenName}} {
			if got, want := c.fn(s), c.re.MatchString(s); got != want {
				t.Fatalf("%s name %q: %v, the expression says %v", c.name, s, got, want)
			}
		}
	})
}
