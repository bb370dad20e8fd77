package broker

import (
	"testing"

	"github.com/credbroker/credbroker/internal/rules"
)

// FuzzNames: each hand-written check agrees with its expression on every
// input.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "deploy", "con_x", "-a", "a-b.c_d", "OPS", "O_9", "ops", "bamboo agents@ci", "a\n", "é",
		"a123456789012345678901234567890123456789012345678901234567890123", "a1234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	names := []rules.Rule{
		rules.New("connector name", `^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`, validConnectorName),
		rules.New("project key", `^[A-Z][A-Z0-9_]*$`, validProjectKey),
		rules.New("token name", `^[A-Za-z0-9_.@ -]{1,64}$`, validTokenName),
	}
	f.Fuzz(func(t *testing.T, s string) { rules.Agree(t, s, names...) })
}
