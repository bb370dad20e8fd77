package identity

import (
	"testing"

	"github.com/credbroker/credbroker/internal/rules"
)

// FuzzNames: each hand-written check agrees with its expression on every
// input.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "github", "gitlab-internal", "-a", "a-", "A", "b_1.x", "a\n", "é", "a b",
		"a123456789012345678901234567890123456789012345678901234567890123", "a1234567890123456789012345678901234567890123456789012345678901234"} {
		f.Add(s)
	}
	names := []rules.Rule{
		rules.New("binding name", `^[A-Za-z0-9_.-]{1,64}$`, validBindingName),
		rules.New("issuer name", `^[a-z0-9][a-z0-9-]{0,63}$`, validIssuerName),
	}
	f.Fuzz(func(t *testing.T, s string) { rules.Agree(t, s, names...) })
}
