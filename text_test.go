package credbroker

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// TestAuditHashOfOldRecords: a record without the fields added later
// (Tags) hashes exactly as the code that wrote it did, so that existing
// trails keep verifying. The value was computed by the code before Tags
// existed (commit fce09cb).
func TestAuditHashOfOldRecords(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 8, 0, 0, 0, time.UTC)
	r := AuditRecord{Time: t0, Action: ActionVend, TokenID: "tok_0123456789abcdef", Plan: "OPS-DEPLOY", Build: "42",
		Job: "OPS-DEPLOY-JOB1", Task: "upload", Connector: "deploy", RoleARN: "arn:aws:iam::123456789012:role/deploy",
		AccessKeyID: "ASIAEXAMPLE00000001", Expiration: t0.Add(time.Hour), Outcome: OutcomeGranted, Detail: "issued"}
	r.Chain(41, "9f2c0000000000000000000000000000000000000000000000000000000000aa")
	const want = "5ae66c286b49bc7f9a461a0e4a915c36ab49611fff76f6bb70120a0dc75dec43"
	if r.Hash != want {
		t.Fatalf("hash of a record without tags %s, want %s as before", r.Hash, want)
	}
	// With tags the hash differs, and differs by their order and split.
	seen := map[string]string{want: "none"}
	for name, tags := range map[string][]Tag{
		"one":        {{Key: "team", Value: "ops"}},
		"split":      {{Key: "team=", Value: "ops"}},
		"split2":     {{Key: "team", Value: "=ops"}},
		"two":        {{Key: "a", Value: "b"}, {Key: "c", Value: "d"}},
		"swapped":    {{Key: "c", Value: "d"}, {Key: "a", Value: "b"}},
		"joined":     {{Key: "a", Value: "bcd"}},
		"empty":      {{}},
		"empty pair": {{}, {}},
	} {
		c := r
		c.Tags = tags
		h := c.ComputeHash()
		if other, dup := seen[h]; dup {
			t.Errorf("tags %s hash like %s", name, other)
		}
		seen[h] = name
	}
}

func TestReservedTagKey(t *testing.T) {
	for k, want := range map[string]bool{
		"credbroker:job": true, "CREDBROKER:plan": true, "CredBroker:": true, "credbroker:x:y": true,
		"credbro\u212Aer:job": true, // Kelvin sign, folds to k
		"cred\u0130roker:job": false, "credbroker": false, "credbroker-job": false, "team": false, "": false,
		"xcredbroker:job": false, "cr\u0130dbroker:": false,
	} {
		if got := ReservedTagKey(k); got != want {
			t.Errorf("ReservedTagKey(%q) = %v, want %v", k, got, want)
		}
	}
}

func TestCheckFieldAndEscape(t *testing.T) {
	ok := []string{"", "42", "OPS-DEPLOY-JOB1", "build #7 (retry)", "déploiement", "日本語", "a\\b", strings.Repeat("x", MaxFieldLen)}
	for _, s := range ok {
		if err := CheckField("build", s, MaxFieldLen); err != nil {
			t.Errorf("CheckField(%q): %v", s, err)
		}
	}
	bad := []string{"a\nb", "a\rb", "a\tb", "\x1b[2J", "\x00", "\x7f", "\u0085", "\u202e", "\u2066", "\u200b", "\ufeff", "\u2028", "\u2029", "\xff", "\xc3", "\ufffd",
		strings.Repeat("x", MaxFieldLen+1)}
	for _, s := range bad {
		err := CheckField("build", s, MaxFieldLen)
		e := AsError(err)
		if e == nil || e.Code != CodeInvalid || e.Field != "build" {
			t.Errorf("CheckField(%q): %v, want invalid build", s, err)
			continue
		}
		if len(s) > 1 && strings.Contains(err.Error(), s) {
			t.Errorf("CheckField(%q): the error repeats the value", s)
		}
		esc := EscapeText(s)
		if !SafeText(esc) || !utf8.ValidString(esc) {
			t.Errorf("EscapeText(%q) = %q is not safe", s, esc)
		}
	}
	for in, want := range map[string]string{
		"a\nb": `a\nb`, "\x1b[2J": `\x1b[2J`, "\u202eabc": `\u202eabc`, "a\\nb": `a\\nb`, "\xff": `\xff`, "plain": "plain", "é": "é",
	} {
		if got := EscapeText(in); got != want {
			t.Errorf("EscapeText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := CleanField(strings.Repeat("é", 100), 11); got != strings.Repeat("é", 5) {
		t.Errorf("CleanField cuts inside a character: %q", got)
	}
}

// FuzzEscapeText: whatever a value holds, its escaped form is safe to
// print, no longer than needed, and tells different values apart.
func FuzzEscapeText(f *testing.F) {
	for _, s := range []string{"", "a\nb", "\x1b]0;title\x07", "\u202e\u2066\u200b", "\xff\xfe", `a\nb`, "日本\u0085"} {
		f.Add(s, "plain")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := EscapeText(a), EscapeText(b)
		if !SafeText(ea) {
			t.Fatalf("EscapeText(%q) = %q holds an unsafe character", a, ea)
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("EscapeText does not tell %q and %q apart: %q, %q", a, b, ea, eb)
		}
		if CheckField("f", a, 1<<20) == nil && !strings.Contains(a, `\`) && ea != a {
			t.Fatalf("a safe value %q was changed to %q", a, ea)
		}
		if err := CheckField("f", a, 1<<20); (err == nil) != SafeText(a) {
			t.Fatalf("CheckField(%q) = %v but SafeText says %v", a, err, SafeText(a))
		}
		for _, r := range a {
			if !SafeRune(r) && CheckField("f", a, 1<<20) == nil {
				t.Fatalf("%q holds %U and was accepted", a, r)
			}
			if SafeRune(r) && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r)) {
				t.Fatalf("SafeRune accepts %U", r)
			}
		}
		c := CleanField(a, 64)
		if len(c) > 64 || !SafeText(c) || !utf8.ValidString(c) {
			t.Fatalf("CleanField(%q) = %q", a, c)
		}
	})
}
