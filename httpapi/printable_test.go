package httpapi

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"line\nforged: ok":    "line forged: ok",
		"esc\x1b[31mred":      "esc [31mred",
		"bad \xff utf8":       "bad ? utf8",
		"c1 \u0085 next line": "c1   next line",
	} {
		if got := printable(in, 100); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
	if got := printable("abcdef", 3); got != "abc" {
		t.Errorf("cut: %q", got)
	}
}
