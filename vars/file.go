package vars

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/credbroker/credbroker"
)

// Size limits of variables files and values.
const (
	// MaxValueLen is the longest value accepted, in bytes (1 MiB).
	MaxValueLen = 1 << 20
	// MaxFileSize is the largest variables file accepted, in bytes (16 MiB).
	MaxFileSize = 16 << 20
)

// maxLineLen is the longest line a file may have: a value at its limit
// behind the longest prefix and name, and a CR LF.
const maxLineLen = len("secret export ") + MaxNameLen + 1 + MaxValueLen + 2

// Problems a line can have. None of them holds any part of the line, which
// may carry a secret.
const (
	problemNoEquals  = "expected NAME=VALUE"
	problemSpace     = "space before '='"
	problemValueLong = "value longer than 1 MiB"
	problemLineLong  = "line too long: a value may be at most 1 MiB"
	problemFileLarge = "file larger than 16 MiB"
	lineFix          = `write one NAME=VALUE per line ("secret NAME=VALUE" for a secret); lines starting with # are comments`
	assignmentFix    = `write --var NAME=VALUE, or --var "secret NAME=VALUE" for a secret`
	spaceFix         = "remove the space: VALUE is everything after '=', taken literally"
	valueLongFix     = "keep each value at most 1 MiB; pass larger data as a file path instead"
	fileLargeFix     = "keep the variables file at most 16 MiB"
	assignmentField  = "--var"
)

// maxLineErrors bounds the line errors ParseFile reports one by one.
const maxLineErrors = 10

// ParseFile reads variables in the file format described in the package
// documentation from r. source names the file in errors ("vars.env").
//
// It takes every valid line: the variables it returns are those of the
// valid lines, also when some lines are not valid, so that a caller can
// still mask the secrets of a file it refuses. The error then names each
// bad line (the first ten, and how many more there are): errors.Join of
// *credbroker.Error values with CodeInvalid and Field "source:line", which
// never hold a line's content. A file larger than MaxFileSize, or a line
// longer than a value may be, ends the reading there. A failure to read r
// is returned wrapped.
//
// A name defined on several lines appears once, where it first appears,
// with the value of its last line; it is secret if any of its lines marks
// it secret. Every variable's Secret is also true when IsSecretName says
// so. Names are returned without a "bamboo." prefix.
func ParseFile(r io.Reader, source string) ([]Var, error) {
	lr := &io.LimitedReader{R: r, N: MaxFileSize + 1}
	// bufio.ScanLines splits at '\n' and drops one '\r' before it (and at
	// the end of the input): exactly the "trailing CR dropped" rule.
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineLen)

	var out []Var
	var errs []error
	bad := 0
	fail := func(err error) ([]Var, error) {
		return out, errors.Join(append(errs, err)...)
	}
	index := make(map[string]int)
	line := 0
	for sc.Scan() {
		line++
		if lr.N <= 0 {
			return fail(fileTooLarge(source))
		}
		v, skip, problem, fix := parseLine(sc.Text(), true)
		if problem != "" {
			if bad++; bad <= maxLineErrors {
				errs = append(errs, lineError(source, line, problem, fix))
			}
			continue
		}
		if skip {
			continue
		}
		if at, dup := index[v.Name]; dup {
			v.Secret = v.Secret || out[at].Secret
			out[at] = v
			continue
		}
		index[v.Name] = len(out)
		out = append(out, v)
	}
	if bad > maxLineErrors {
		errs = append(errs, &credbroker.Error{Code: credbroker.CodeInvalid, Field: source,
			Message: fmt.Sprintf("%d more bad lines", bad-maxLineErrors), Fix: lineFix})
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			if lr.N <= 0 {
				return fail(fileTooLarge(source))
			}
			return fail(lineError(source, line+1, problemLineLong, valueLongFix))
		}
		return fail(fmt.Errorf("read %s: %w", source, err))
	}
	if lr.N <= 0 {
		return fail(fileTooLarge(source))
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// ParseAssignment parses the value of a --var flag: NAME=VALUE, optionally
// preceded by "secret " to mark the variable secret. VALUE is everything
// after the first '=' and may hold any character. An error is a
// *credbroker.Error with CodeInvalid and Field "--var" that does not repeat
// the flag's text.
func ParseAssignment(s string) (Var, error) {
	v, skip, problem, fix := parseLine(s, false)
	if skip || problem == problemNoEquals {
		problem, fix = problemNoEquals, assignmentFix
	}
	if problem != "" {
		return Var{}, &credbroker.Error{Code: credbroker.CodeInvalid, Field: assignmentField, Message: problem, Fix: fix}
	}
	return v, nil
}

// parseLine parses one line of a file (inFile: '#' starts a comment) or a
// --var value. It returns skip for a blank or comment line, and otherwise
// the variable or a problem and its fix. A problem holds no part of s.
func parseLine(s string, inFile bool) (v Var, skip bool, problem, fix string) {
	s = strings.TrimLeft(s, " \t")
	if s == "" || (inFile && s[0] == '#') {
		return Var{}, true, "", ""
	}
	secret := false
	if rest, ok := cutKeyword(s, "secret"); ok {
		secret, s = true, rest
	}
	if rest, ok := cutKeyword(s, "export"); ok {
		s = rest
	}
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return Var{}, false, problemNoEquals, lineFix
	}
	if strings.HasSuffix(name, " ") || strings.HasSuffix(name, "\t") {
		return Var{}, false, problemSpace, spaceFix
	}
	if p, at := checkName(Canonical(name)); p != "" {
		if p == problemChar {
			at += len(name) - len(Canonical(name))
			return Var{}, false, p + " (character " + strconv.Itoa(at+1) + " of the name)", nameFix
		}
		return Var{}, false, p, nameFix
	}
	if len(value) > MaxValueLen {
		return Var{}, false, problemValueLong, valueLongFix
	}
	name = Canonical(name)
	return Var{Name: name, Value: value, Secret: secret || IsSecretName(name)}, false, "", ""
}

// cutKeyword reports whether s starts with the word kw followed by a space
// or tab, and returns the rest after the blanks.
func cutKeyword(s, kw string) (string, bool) {
	if len(s) <= len(kw) || s[:len(kw)] != kw || (s[len(kw)] != ' ' && s[len(kw)] != '\t') {
		return s, false
	}
	return strings.TrimLeft(s[len(kw):], " \t"), true
}

// lineError returns a problem at source:line.
func lineError(source string, line int, problem, fix string) error {
	return &credbroker.Error{
		Code:    credbroker.CodeInvalid,
		Field:   source + ":" + strconv.Itoa(line),
		Message: problem,
		Fix:     fix,
	}
}

// fileTooLarge returns the error for a file over MaxFileSize.
func fileTooLarge(source string) error {
	return &credbroker.Error{
		Code:    credbroker.CodeInvalid,
		Field:   source,
		Message: problemFileLarge,
		Fix:     fileLargeFix,
	}
}
