package jobfile

import (
	"testing"

	"github.com/credbroker/credbroker/internal/rules"
)

// FuzzNames: each hand-written name check agrees with the regular
// expression it replaces, for any string.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "a", "_", "9", "build-1.2_x", "bamboo.x", "a b", "é", "a\n", "-a", ".", "A_Z",
		"0123456789012345678901234567890123456789012345678901234567890123", "01234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	names := []rules.Rule{
		rules.New("task name", `^[A-Za-z0-9_.-]{1,64}$`, validTaskName),
		rules.New("variable name", `^[A-Za-z_][A-Za-z0-9_.-]*$`, validVarName),
		rules.New("environment variable name", `^[A-Za-z_][A-Za-z0-9_]*$`, validEnvName),
	}
	f.Fuzz(func(t *testing.T, s string) { rules.Agree(t, s, names...) })
}
