package credbroker

import (
	"strings"
	"testing"
)

// cleanTagValueRef is CleanTagValue without its ASCII fast path: rune by
// rune, every time.
func cleanTagValueRef(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == MaxTagValue {
			break
		}
		if TagRune(r) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
		n++
	}
	return b.String()
}

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

// FuzzCleanTagValue: the fast path never changes the answer.
func FuzzCleanTagValue(f *testing.F) {
	for _, s := range []string{"OPS-DEPLOY", "42", "a b\tc", "日本", "\xff\xfe", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := CleanTagValue(s), cleanTagValueRef(s); got != want {
			t.Fatalf("CleanTagValue(%q) = %q, want %q", s, got, want)
		}
	})
}
