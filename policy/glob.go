package policy

import "strings"

// The number of colon-separated segments of an action ("service:name") and
// of an ARN ("arn:partition:service:region:account:resource"; the resource
// part may hold more colons).
const (
	actionSegments   = 2
	resourceSegments = 6
)

// coversAction reports whether the action pattern b matches every action
// that the pattern a matches. Actions compare case-insensitively.
func coversAction(b, a string) bool {
	return covers(strings.ToLower(b), strings.ToLower(a), actionSegments)
}

// coversResource reports whether the resource pattern b matches every
// resource that the pattern a matches. A policy variable in a (${...}) may
// stand for any text, so it is read as "*"; one in b is only known to cover
// the identical text.
func coversResource(b, a string) bool {
	if a == b {
		return true
	}
	if strings.Contains(b, "${") || strings.ContainsRune(b, varStar) {
		return false
	}
	return covers(b, starVariables(a), resourceSegments)
}

// varStar stands for a policy variable of the covered pattern: a wildcard
// like '*', but one whose value may hold colons. It cannot occur in a valid
// policy (STS allows characters up to U+00FF only).
const varStar = '\uE000'

// covers reports whether b covers a both when wildcards may match the
// colons between segments and when they may not: the answer is sound
// whichever way IAM reads them.
func covers(b, a string, segments int) bool {
	if b == "*" {
		return true
	}
	if !globCovers([]rune(b), []rune(a)) {
		return false
	}
	bs := strings.SplitN(b, ":", segments)
	as := strings.SplitN(a, ":", segments)
	if len(bs) != len(as) {
		return false
	}
	for i := range bs {
		if i < len(as)-1 && strings.ContainsRune(as[i], varStar) {
			// A variable's value may hold colons and so shift the
			// segments after it: nothing is known about them.
			return false
		}
		if !globCovers([]rune(bs[i]), []rune(as[i])) {
			return false
		}
	}
	return true
}

// globCovers decides, conservatively, whether the glob b matches every
// string the glob a matches. b's '*' may consume any run of a's symbols
// (literals and wildcards alike), b's '?' exactly one symbol of a that is
// not a '*' (or varStar), and a literal of b only the same literal. When this finds a
// way to consume a with b, every expansion of a is matched by b, so a true
// answer is always right; a false answer may be too cautious.
func globCovers(b, a []rune) bool {
	// next[j] tells whether b[i+1:] covers a[j:]; cur[j] the same for b[i:].
	next := make([]bool, len(a)+1)
	cur := make([]bool, len(a)+1)
	next[len(a)] = true // the empty b covers only the empty a
	for i := len(b) - 1; i >= 0; i-- {
		for j := len(a); j >= 0; j-- {
			switch c := b[i]; {
			case c == '*':
				cur[j] = next[j] || (j < len(a) && cur[j+1])
			case j == len(a):
				cur[j] = false
			case c == '?':
				cur[j] = a[j] != '*' && a[j] != varStar && next[j+1]
			default:
				cur[j] = a[j] == c && c != varStar && next[j+1]
			}
		}
		next, cur = cur, next
	}
	return next[0]
}

// starVariables replaces each policy variable ${...} in s with varStar.
func starVariables(s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var out strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			break
		}
		out.WriteString(s[:i])
		out.WriteRune(varStar)
		s = s[i+j+1:]
	}
	out.WriteString(s)
	return out.String()
}
