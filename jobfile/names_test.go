package jobfile

import (
	"regexp"
	"testing"
)

// The regular expressions the hand-written checks replace.
var (
	taskNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	varNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)
	envNameRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// FuzzNames: each hand-written name check agrees with the regular
// expression it replaces, for any string.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "a", "_", "9", "build-1.2_x", "bamboo.x", "a b", "é", "a\n", "-a", ".", "A_Z",
		"0123456789012345678901234567890123456789012345678901234567890123", "01234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range []struct {
			name string
			re   *regexp.Regexp
			fn   func(string) bool
		}{{"task", taskNameRE, validTaskName}, {"variable", varNameRE, validVarName}, {"environment", envNameRE, validEnvName}} {
			if got, want := c.fn(s), c.re.MatchString(s); got != want {
				t.Fatalf("%s name %q: %v, the expression says %v", c.name, s, got, want)
			}
		}
	})
}
