package credbroker

import (
	"strings"
	"testing"
)

func TestCleanTagValue(t *testing.T) {
	long := strings.Repeat("a", MaxTagValue+5)
	cases := map[string]string{
		"OPS-DEPLOY":         "OPS-DEPLOY",
		"OPS-DEPLOY-JOB1 #3": "OPS-DEPLOY-JOB1 -3",
		"a,b;c*d":            "a-b-c-d",
		"Grüße/日本@x":         "Grüße/日本@x",
		"\xff":               "-",
		"":                   "",
		long:                 long[:MaxTagValue],
	}
	for in, want := range cases {
		if got := CleanTagValue(in); got != want {
			t.Errorf("CleanTagValue(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCleanTagValue: the ASCII fast path never changes the answer of the
// rune-by-rune rule.
func FuzzCleanTagValue(f *testing.F) {
	for _, s := range []string{"OPS-DEPLOY", "42", "a b\tc", "日本", "\xff\xfe", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CleanTagValue(s), cleanTagRunes(s); got != want {
			t.Fatalf("CleanTagValue(%q) = %q, want %q", s, got, want)
		}
	})
}
