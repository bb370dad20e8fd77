package broker

import (
	"crypto/sha256"
	"regexp"
	"testing"
)

// planKeyRE is the rule validPlanKey implements by hand.
var planKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*-[A-Z0-9_]+$`)

func TestValidPlanKey(t *testing.T) {
	for s, want := range map[string]bool{
		"OPS-DEPLOY": true, "A-1": true, "OPS_2-B_3": true,
		"": false, "-A": false, "A-": false, "ops-deploy": false, "OPS-DE-PLOY": false,
		"OPS": false, "1OPS-A": false, "OPS-DEPLOY\n": false, "OPS–DEPLOY": false, "_A-B": false,
	} {
		if got := validPlanKey(s); got != want {
			t.Errorf("validPlanKey(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzValidPlanKey: the hand-written check agrees with the regular
// expression on every input.
func FuzzValidPlanKey(f *testing.F) {
	for _, s := range []string{"OPS-DEPLOY", "A-", "-", "A--B", "Z_9-0", "OPS-DEPLOY-JOB1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validPlanKey(s), planKeyRE.MatchString(s); got != want {
			t.Fatalf("validPlanKey(%q) = %v, the rule says %v", s, got, want)
		}
	})
}

// tokenIDRE is the rule validTokenID implements by hand.
var tokenIDRE = regexp.MustCompile(`^tok_[0-9a-f]{16}$`)

// FuzzTokenID: validTokenID agrees with its rule, and tokenHash with the
// token hash as first defined (SHA-256 of the prefix, ID and secret), for
// every input.
func FuzzTokenID(f *testing.F) {
	for _, s := range []string{"tok_0123456789abcdef", "tok_0123456789ABCDEF", "tok_", "tok_0123456789abcdef0", "xok_0123456789abcdef"} {
		f.Add(s, "secret")
	}
	f.Fuzz(func(t *testing.T, id, secret string) {
		if got, want := validTokenID(id), tokenIDRE.MatchString(id); got != want {
			t.Fatalf("validTokenID(%q) = %v, the rule says %v", id, got, want)
		}
		want := sha256.Sum256([]byte("credbroker-token-v1\x00" + id + "\x00" + secret))
		if got := tokenHash(id, secret); got != want {
			t.Fatalf("tokenHash(%q, %q) differs from the defined hash", id, secret)
		}
	})
}
