package vars

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
)

// undefinedFix says how to define a variable that a reference names.
const undefinedFix = "define it with --var %s=VALUE, in a --vars file, or as a runtime variable written by an earlier task"

// syntaxFix says how to write a reference.
const syntaxFix = `write a reference as ${NAME} or ${bamboo.NAME}, where NAME holds letters, digits, '_', '.' and '-'; write $${ for a literal "${"`

// Expand returns text with every "${NAME}" and "${bamboo.NAME}" replaced by
// the value of NAME, under the layers' precedence. "$${" becomes a literal
// "${"; a '$' not followed by '{' is kept.
//
// Values are inserted as they are: a value holding "${...}" is not expanded
// again. A reference to an undefined variable is an error, as are an
// unterminated "${", an empty "${}" and an invalid name; each is a
// *credbroker.Error with CodeInvalid and Field set to field, whose message
// gives the position in text (line and column, in characters, from 1). An
// error names at most the variable, never a value.
func (s *Set) Expand(field, text string) (string, error) {
	if !strings.Contains(text, "${") {
		return text, nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()

	var b strings.Builder
	b.Grow(len(text) + 64)
	lit := 0 // text[lit:i] is literal text not yet written
	for i := 0; ; {
		at, escape, end, found := nextRef(text, i)
		if !found {
			break
		}
		if escape {
			b.WriteString(text[lit:at])
			b.WriteString("${")
			i = at + 3
			lit = i
			continue
		}
		if end < 0 {
			return "", posError(field, text, at, `unterminated "${"`)
		}
		ref := text[at+2 : end]
		name := Canonical(ref)
		if ref == "" {
			return "", posError(field, text, at, `empty reference "${}"`)
		}
		if problem, off := checkName(name); problem != "" {
			pos := at + 2 + len(ref) - len(name) + off
			if problem != problemChar {
				pos = at
			}
			return "", posError(field, text, pos, problem)
		}
		v, ok := s.lookup(name)
		if !ok {
			fix := fmt.Sprintf(undefinedFix, name)
			if s.ci != nil {
				fix += ", or as a Bamboo plan or global variable (" + cienv.BambooVariable(name) + " in the environment)"
			}
			return "", &credbroker.Error{
				Code:    credbroker.CodeInvalid,
				Field:   field,
				Message: fmt.Sprintf("undefined variable %q", name),
				Fix:     fix,
			}
		}
		b.WriteString(text[lit:at])
		b.WriteString(v.Value)
		i = end + 1
		lit = i
	}
	b.WriteString(text[lit:])
	return b.String(), nil
}

// nextRef finds, from byte offset i of text, the next "$${" (a literal
// "${": escape is true) or "${" reference, starting at offset at. For a
// reference, end is the offset of its closing "}", or -1 when there is
// none. found is false when text holds neither after i.
func nextRef(text string, i int) (at int, escape bool, end int, found bool) {
	for {
		k := strings.IndexByte(text[i:], '$')
		if k < 0 {
			return 0, false, 0, false
		}
		i += k
		rest := text[i:]
		switch {
		case strings.HasPrefix(rest, "$${"):
			return i, true, 0, true
		case strings.HasPrefix(rest, "${"):
			if e := strings.IndexByte(rest[2:], '}'); e >= 0 {
				return i, false, i + 2 + e, true
			}
			return i, false, -1, true
		}
		i++
	}
}

// References returns the references of text as written ("bamboo.NAME" or
// "NAME"), in order, exactly the ones Expand substitutes: "$${" is a
// literal, and scanning stops at an unterminated "${". The names are not
// checked; Expand reports a bad one.
func References(text string) []string {
	var out []string
	for i := 0; ; {
		at, escape, end, found := nextRef(text, i)
		switch {
		case !found || !escape && end < 0:
			return out
		case escape:
			i = at + 3
		default:
			out = append(out, text[at+2:end])
			i = end + 1
		}
	}
}

// posError returns a syntax error at byte offset off of text.
func posError(field, text string, off int, problem string) error {
	return &credbroker.Error{
		Code:    credbroker.CodeInvalid,
		Field:   field,
		Message: problem + " at " + position(text, off),
		Fix:     syntaxFix,
	}
}

// position renders byte offset off of text as "column C", or as
// "line L, column C" when text has several lines; both count from 1 and
// the column counts characters.
func position(text string, off int) string {
	line := 1 + strings.Count(text[:off], "\n")
	start := strings.LastIndexByte(text[:off], '\n') + 1
	col := 1 + utf8.RuneCountInString(text[start:off])
	if !strings.Contains(text, "\n") {
		return fmt.Sprintf("column %d", col)
	}
	return fmt.Sprintf("line %d, column %d", line, col)
}
