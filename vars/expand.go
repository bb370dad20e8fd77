package vars

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
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
	i := 0
	for {
		k := strings.IndexByte(text[i:], '$')
		if k < 0 {
			break
		}
		i += k
		rest := text[i:]
		switch {
		case strings.HasPrefix(rest, "$${"):
			b.WriteString(text[lit:i])
			b.WriteString("${")
			i += 3
			lit = i
			continue
		case !strings.HasPrefix(rest, "${"):
			i++
			continue
		}
		end := strings.IndexByte(rest[2:], '}')
		if end < 0 {
			return "", posError(field, text, i, `unterminated "${"`)
		}
		ref := rest[2 : 2+end]
		name := Canonical(ref)
		if ref == "" {
			return "", posError(field, text, i, `empty reference "${}"`)
		}
		if problem, at := checkName(name); problem != "" {
			off := i + 2 + len(ref) - len(name) + at
			if problem != problemChar {
				off = i
			}
			return "", posError(field, text, off, problem)
		}
		v, ok := s.lookup(name)
		if !ok {
			return "", &credbroker.Error{
				Code:    credbroker.CodeInvalid,
				Field:   field,
				Message: fmt.Sprintf("undefined variable %q", name),
				Fix:     fmt.Sprintf(undefinedFix, name),
			}
		}
		b.WriteString(text[lit:i])
		b.WriteString(v.Value)
		i += 2 + end + 1
		lit = i
	}
	b.WriteString(text[lit:])
	return b.String(), nil
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
