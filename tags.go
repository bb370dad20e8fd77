package credbroker

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The session tag keys that name the build, sent on AssumeRole by the
// agent and by the broker. A role's trust policy must allow sts:TagSession
// for them to be accepted (or tagging is turned off).
const (
	TagKeyPlan  = "credbroker:plan"
	TagKeyBuild = "credbroker:build"
	TagKeyJob   = "credbroker:job"
)

// TagKeyPrefix starts every session tag key credbroker sets itself. A
// request, a job or a task may not use it, in any case: a role's policies
// trust aws:PrincipalTag/credbroker:* to name the build.
const TagKeyPrefix = "credbroker:"

// ReservedTagKey reports whether key starts with TagKeyPrefix, ignoring
// case the way case-insensitive comparisons elsewhere may (Unicode simple
// folding, and the upper- and lower-case mappings, so that a Kelvin sign
// U+212A for the k does not slip past).
func ReservedTagKey(key string) bool {
	p := TagKeyPrefix
	for _, r := range key {
		if p == "" {
			return true
		}
		c, n := utf8.DecodeRuneInString(p)
		if r != c && !strings.EqualFold(string(r), string(c)) && unicode.ToLower(unicode.ToUpper(r)) != c {
			return false
		}
		p = p[n:]
	}
	return p == ""
}

// MaxTagValue is STS's limit on a session tag value's length.
const MaxTagValue = 256

// BuildTags returns the session tags that name build b: credbroker:plan,
// credbroker:build and credbroker:job, for each part of b that is known.
// Values are made acceptable to STS rather than refused: a character STS
// does not allow in a tag becomes '-', and a value is cut to MaxTagValue
// characters.
func BuildTags(b Build) []Tag {
	out := make([]Tag, 0, 3)
	for _, t := range [...]Tag{{Key: TagKeyPlan, Value: b.Plan}, {Key: TagKeyBuild, Value: b.Number}, {Key: TagKeyJob, Value: b.Job}} {
		if v := CleanTagValue(t.Value); v != "" {
			out = append(out, Tag{Key: t.Key, Value: v})
		}
	}
	return out
}

// CleanTagValue replaces the characters STS refuses in a tag value and
// cuts it to MaxTagValue characters.
func CleanTagValue(s string) string {
	if cleanASCIITag(s) {
		return s // the common case: nothing to replace, nothing to copy
	}
	return cleanTagRunes(s)
}

// cleanTagRunes is CleanTagValue rune by rune, without the fast path.
func cleanTagRunes(s string) string {
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

// tagASCII marks the ASCII characters TagRune accepts.
var tagASCII = func() (set [utf8.RuneSelf]bool) {
	for r := range rune(utf8.RuneSelf) {
		set[r] = TagRune(r)
	}
	return set
}()

// cleanASCIITag reports whether s is ASCII that CleanTagValue would
// return unchanged.
func cleanASCIITag(s string) bool {
	if len(s) > MaxTagValue {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || !tagASCII[c] {
			return false
		}
	}
	return true
}

// TagRune reports whether STS accepts r in a tag key or value:
// [\p{L}\p{Z}\p{N}_.:/=+\-@].
func TagRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.In(r, unicode.Z) || unicode.IsNumber(r) || strings.ContainsRune("_.:/=+-@", r)
}
