package credbroker

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFieldLen is the longest plan key, build number, job key or task name
// a request may carry, in bytes.
const MaxFieldLen = 128

// SafeRune reports whether r may appear in a free-text field that ends up
// in tables, logs and terminals: not a control character (C0, DEL, C1),
// not a format character (Unicode Cf: the bidirectional overrides and
// isolates, zero-width characters, the byte order mark), not a line or
// paragraph separator, and not U+FFFD, which stands for bytes that are not
// UTF-8. Such characters let a value start a fake table row, hide or
// reorder text, or send escape sequences to a terminal.
func SafeRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 0x20 && r != 0x7f
	}
	return r != utf8.RuneError && r > 0x9f && !unicode.Is(unicode.Cf, r) && !unicode.In(r, unicode.Zl, unicode.Zp)
}

// safeASCII reports whether s is printable ASCII, the common case.
func safeASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// SafeText reports whether every character of s is a SafeRune and s is
// valid UTF-8.
func SafeText(s string) bool {
	if safeASCII(s) {
		return true
	}
	for _, r := range s {
		if !SafeRune(r) {
			return false
		}
	}
	return true
}

// CheckField refuses a free-text field value longer than max bytes, or
// holding a character SafeRune refuses. The error is CodeInvalid, names
// the field, and does not repeat the value.
func CheckField(field, s string, max int) error {
	if len(s) > max {
		return Errorf(CodeInvalid, field, "longer than %d characters (%d bytes)", max, len(s)).
			WithFix("shorten it")
	}
	if safeASCII(s) {
		return nil
	}
	for i, r := range s {
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			return Errorf(CodeInvalid, field, "is not UTF-8 text (byte %d)", i+1).WithFix("send UTF-8 text")
		}
		if !SafeRune(r) {
			return Errorf(CodeInvalid, field, "holds the control or formatting character %U (byte %d)", r, i+1).
				WithFix("use letters, digits, spaces and punctuation only: no newlines, tabs, escape sequences or direction overrides")
		}
	}
	return nil
}

// EscapeText returns s fit to print in a table cell or a log: every
// character SafeRune refuses, and every byte that is not UTF-8, is written
// as a Go escape (\n, \x1b, \u202e), and a backslash as two, so that what
// is printed can always be told apart from what it stands for.
func EscapeText(s string) string {
	if safeASCII(s) && strings.IndexByte(s, '\\') < 0 {
		return s // the common case: nothing to escape, nothing to copy
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(hex2(s[i]))
		case SafeRune(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\n', '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// CleanField returns s escaped as EscapeText does and cut to at most max
// bytes (at a character boundary): what the audit keeps of a value that
// was refused.
func CleanField(s string, max int) string {
	if len(s) <= max && safeASCII(s) && strings.IndexByte(s, '\\') < 0 {
		return s
	}
	e := EscapeText(truncateUTF8(s, max))
	return truncateUTF8(e, max)
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&15]})
}
