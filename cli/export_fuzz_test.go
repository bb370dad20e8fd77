package cli

import (
	"os/exec"
	"strings"
	"testing"
)

// FuzzShellQuote: what `credbroker export --format env` prints for a
// value, evaluated by a real POSIX shell (/bin/sh), gives back exactly
// that value: a secret with quotes, dollars, backquotes or newlines can
// neither break out of its assignment nor run anything.
func FuzzShellQuote(f *testing.F) {
	for _, s := range []string{
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "", "'", "''", `'\''`, `$(touch /tmp/x)`, "`id`",
		"a b\tc\nd", `\`, `"`, "$HOME", "${X:-y}", "!", "*", "~", "#", ";exit 3", "\xff\xfe",
	} {
		f.Add(s)
	}
	sh, err := exec.LookPath("sh")
	if err != nil {
		f.Fatalf("no POSIX shell to check the quoting with: %v", err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.IndexByte(s, 0) >= 0 {
			return // no shell value can hold a NUL byte
		}
		script := "X=" + shellQuote(s) + "\nprintf %s \"$X\""
		cmd := exec.Command(sh, "-c", script)
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh failed on the quoted form of %q: %v", s, err)
		}
		if string(out) != s {
			t.Fatalf("sh read %q back as %q", s, out)
		}
	})
}
