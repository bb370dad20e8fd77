package identity

import (
	"strings"
	"unicode/utf8"
)

// checkGlob refuses a malformed glob: one that ends in a lone backslash or
// is not UTF-8.
func checkGlob(p string) error {
	if !utf8.ValidString(p) {
		return errGlob("is not UTF-8 text")
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' {
			if i == len(p)-1 {
				return errGlob("ends with a lone backslash")
			}
			i++
		}
	}
	return nil
}

type errGlob string

func (e errGlob) Error() string { return string(e) }

// Match reports whether s matches the glob pattern: * matches any run of
// characters ('/' and ':' included), ? one character, \x the character x;
// everything else itself. A malformed pattern matches only what it would
// if its last backslash were literal. Matching takes time proportional to
// len(pattern) × len(s) at most: no backtracking blow-up.
func Match(pattern, s string) bool {
	// The classic two-pointer wildcard match: on a mismatch, go back to
	// just after the last star and let it swallow one more character.
	var p, i int
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p, i
				p++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[i:])
				p++
				i += n
				continue
			case '\\':
				if p+1 < len(pattern) {
					if pattern[p+1] == s[i] {
						p += 2
						i++
						continue
					}
				} else if s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last star swallow one more character (a whole rune, so
		// that ? after it stays on rune boundaries).
		_, n := utf8.DecodeRuneInString(s[starI:])
		starI += n
		p, i = starP+1, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// hasWildcard reports whether a glob has a * or ? that is not escaped.
func hasWildcard(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

// matchesAll reports whether a glob matches every string: only stars.
func matchesAll(p string) bool {
	return p != "" && strings.Trim(p, "*") == ""
}
