package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
)

// MaxSize is STS's limit on an inline session policy: 2,048 characters once
// the whitespace outside strings is removed.
const MaxSize = 2048

// The policy language versions IAM knows.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// maxRaw bounds the input before it is parsed at all; a document this long
// is refused whatever its whitespace.
const maxRaw = 64 << 10

// document is a parsed, valid policy.
type document struct {
	version    string
	hasVersion bool
	stmts      []statement
}

// statement is one parsed statement. raw keeps its elements as written, so
// a statement can be copied into another policy unchanged.
type statement struct {
	path        string
	raw         map[string]json.RawMessage
	effect      string
	action      []string
	notAction   []string
	resource    []string
	notResource []string
	condition   any // nil when absent
}

func (s *statement) allow() bool { return s.effect == "Allow" }

// Validate checks that doc is a session policy STS accepts (see the package
// documentation for the rules) and returns it compacted, ready to send.
// field names the input for errors, such as "policy"; the path inside the
// document is appended to it.
func Validate(field, doc string) (compact string, err error) {
	_, compact, err = parse(field, doc)
	return compact, err
}

func parse(field, doc string) (*document, string, error) {
	if strings.TrimSpace(doc) == "" {
		return nil, "", invalid(field, "", "the policy is empty").
			WithFix(`give a JSON document such as {"Version":"2012-10-17","Statement":[...]}`)
	}
	if len(doc) > maxRaw {
		return nil, "", credbroker.Errorf(credbroker.CodeUnprocessable, field,
			"the policy is %d bytes long; STS allows at most %d characters", len(doc), MaxSize).
			WithFix("shorten the policy, or use managed policy ARNs")
	}
	if err := checkChars(field, doc); err != nil {
		return nil, "", err
	}
	var check json.RawMessage
	if err := json.Unmarshal([]byte(doc), &check); err != nil {
		return nil, "", syntaxError(field, doc, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(doc)); err != nil {
		return nil, "", syntaxError(field, doc, err)
	}
	compact := buf.String()
	if n := utf8.RuneCountInString(compact); n > MaxSize {
		return nil, "", credbroker.Errorf(credbroker.CodeUnprocessable, field,
			"the policy is %d characters with whitespace removed; STS allows at most %d", n, MaxSize).
			WithFix("shorten the policy (fewer statements, wildcards), or use managed policy ARNs")
	}
	if err := checkDuplicateKeys(field, compact); err != nil {
		return nil, "", err
	}
	d, err := parseDocument(field, []byte(compact))
	if err != nil {
		return nil, "", err
	}
	return d, compact, nil
}

// checkChars enforces STS's character set: tab, line feed, carriage return
// and U+0020 to U+00FF.
func checkChars(field, doc string) error {
	for i, r := range doc {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(doc[i:]); size == 1 {
				line, col := position(doc, i)
				return invalid(field, "", "the policy is not valid UTF-8 at line %d, column %d", line, col)
			}
		}
		if r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xFF) {
			continue
		}
		line, col := position(doc, i)
		return invalid(field, "", "character %U at line %d, column %d is not allowed in a session policy", r, line, col).
			WithFix(`STS accepts tab, line feed, carriage return and U+0020 to U+00FF; write other characters as \u escapes inside strings`)
	}
	return nil
}

// position turns a byte offset into a 1-based line and column (in
// characters).
func position(doc string, off int) (line, col int) {
	if off > len(doc) {
		off = len(doc)
	}
	line = 1 + strings.Count(doc[:off], "\n")
	start := strings.LastIndexByte(doc[:off], '\n') + 1
	return line, utf8.RuneCountInString(doc[start:off]) + 1
}

func syntaxError(field, doc string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Offset counts the bytes read before the error: the offending
		// character is the one before it, or the end of the input.
		off := int(se.Offset) - 1
		if strings.HasPrefix(se.Error(), "unexpected end") {
			off = len(doc)
		}
		if off < 0 {
			off = 0
		}
		line, col := position(doc, off)
		return invalid(field, "", "the policy is not valid JSON: %s at line %d, column %d", se.Error(), line, col).
			WithFix("fix the JSON syntax (a missing comma or quote is the usual cause)")
	}
	return invalid(field, "", "the policy is not valid JSON: %s", err.Error())
}

// checkDuplicateKeys refuses an object with the same key twice: JSON
// parsers disagree on which one wins, so the document would not mean one
// thing.
func checkDuplicateKeys(field, compact string) error {
	dec := json.NewDecoder(strings.NewReader(compact))
	return walkDuplicates(field, dec, "")
}

func walkDuplicates(field string, dec *json.Decoder, path string) error {
	tok, err := dec.Token()
	if err != nil {
		return invalid(field, path, "the policy is not valid JSON: %s", err.Error())
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return invalid(field, path, "the policy is not valid JSON: %s", err.Error())
			}
			k, _ := kt.(string)
			kp := joinPath(path, k)
			if seen[k] {
				return invalid(field, kp, "the key %q appears twice in one object", k).
					WithFix("keep one of them")
			}
			seen[k] = true
			if err := walkDuplicates(field, dec, kp); err != nil {
				return err
			}
		}
	case '[':
		for i := 0; dec.More(); i++ {
			if err := walkDuplicates(field, dec, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return invalid(field, path, "the policy is not valid JSON: %s", err.Error())
	}
	return nil
}

func parseDocument(field string, b []byte) (*document, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil || top == nil {
		return nil, invalid(field, "", "the policy must be a JSON object").
			WithFix(`give a JSON object such as {"Version":"2012-10-17","Statement":[...]}`)
	}
	d := &document{}
	for k := range top {
		switch k {
		case "Version", "Id", "Statement":
		default:
			return nil, invalid(field, k, "unknown policy element %q", k).
				WithFix("a session policy has Version, Id and Statement (names are case-sensitive)")
		}
	}
	if raw, ok := top["Version"]; ok {
		var v string
		if err := json.Unmarshal(raw, &v); err != nil || (v != Version2012 && v != Version2008) {
			return nil, invalid(field, "Version", "Version must be %q or %q", Version2012, Version2008).
				WithFix(`use "Version": "2012-10-17"`)
		}
		d.version, d.hasVersion = v, true
	}
	if raw, ok := top["Id"]; ok {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil {
			return nil, invalid(field, "Id", "Id must be a string")
		}
	}
	raw, ok := top["Statement"]
	if !ok {
		return nil, invalid(field, "Statement", "the policy has no Statement").
			WithFix("add a Statement array with at least one statement")
	}
	switch {
	case len(raw) > 0 && raw[0] == '{':
		s, err := parseStatement(field, "Statement", raw)
		if err != nil {
			return nil, err
		}
		d.stmts = append(d.stmts, s)
	case len(raw) > 0 && raw[0] == '[':
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, invalid(field, "Statement", "Statement must be an object or an array of objects")
		}
		if len(list) == 0 {
			return nil, invalid(field, "Statement", "Statement is an empty array").
				WithFix("add at least one statement")
		}
		for i, r := range list {
			s, err := parseStatement(field, fmt.Sprintf("Statement[%d]", i), r)
			if err != nil {
				return nil, err
			}
			d.stmts = append(d.stmts, s)
		}
	default:
		return nil, invalid(field, "Statement", "Statement must be an object or an array of objects")
	}
	return d, nil
}

func parseStatement(field, path string, raw json.RawMessage) (statement, error) {
	s := statement{path: path}
	if len(raw) == 0 || raw[0] != '{' {
		return s, invalid(field, path, "a statement must be a JSON object")
	}
	if err := json.Unmarshal(raw, &s.raw); err != nil {
		return s, invalid(field, path, "a statement must be a JSON object")
	}
	for k := range s.raw {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition":
		case "Principal", "NotPrincipal":
			return s, credbroker.Errorf(credbroker.CodeUnprocessable, joinField(field, joinPath(path, k)),
				"a session policy cannot name a %s", k).
				WithFix("remove the " + k + " element: a session policy applies to the session that carries it")
		default:
			return s, invalid(field, joinPath(path, k), "unknown statement element %q", k).
				WithFix("a statement has Sid, Effect, Action or NotAction, Resource or NotResource, and Condition (names are case-sensitive)")
		}
	}
	if r, ok := s.raw["Sid"]; ok {
		var sid string
		if err := json.Unmarshal(r, &sid); err != nil {
			return s, invalid(field, joinPath(path, "Sid"), "Sid must be a string")
		}
	}
	r, ok := s.raw["Effect"]
	if !ok {
		return s, invalid(field, joinPath(path, "Effect"), "the statement has no Effect").
			WithFix(`add "Effect": "Allow" or "Effect": "Deny"`)
	}
	if err := json.Unmarshal(r, &s.effect); err != nil || (s.effect != "Allow" && s.effect != "Deny") {
		return s, invalid(field, joinPath(path, "Effect"), `Effect must be "Allow" or "Deny"`)
	}
	var err error
	if s.action, s.notAction, err = pair(field, path, s.raw, "Action", "NotAction", checkAction); err != nil {
		return s, err
	}
	if s.resource, s.notResource, err = pair(field, path, s.raw, "Resource", "NotResource", checkResource); err != nil {
		return s, err
	}
	if r, ok := s.raw["Condition"]; ok {
		if s.condition, err = parseCondition(field, joinPath(path, "Condition"), r); err != nil {
			return s, err
		}
	}
	return s, nil
}

// pair reads the element that must be given exactly once among name and
// notName.
func pair(field, path string, raw map[string]json.RawMessage, name, notName string, check func(string) string) (pos, neg []string, err error) {
	r, has := raw[name]
	nr, hasNot := raw[notName]
	switch {
	case has && hasNot:
		return nil, nil, invalid(field, joinPath(path, notName), "a statement has either %s or %s, not both", name, notName)
	case !has && !hasNot:
		return nil, nil, invalid(field, joinPath(path, name), "the statement has no %s (or %s)", name, notName)
	}
	p := joinPath(path, name)
	if hasNot {
		r, p = nr, joinPath(path, notName)
	}
	list, err := stringList(field, p, r)
	if err != nil {
		return nil, nil, err
	}
	for i, v := range list {
		if msg := check(v); msg != "" {
			ip := p
			if len(list) > 1 || (len(r) > 0 && r[0] == '[') {
				ip = fmt.Sprintf("%s[%d]", p, i)
			}
			return nil, nil, invalid(field, ip, "%q %s", v, msg)
		}
	}
	if hasNot {
		return nil, list, nil
	}
	return list, nil, nil
}

func stringList(field, path string, raw json.RawMessage) ([]string, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, invalid(field, path, "must be a string or an array of strings")
		}
		return []string{s}, nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil || list == nil {
		return nil, invalid(field, path, "must be a string or an array of strings")
	}
	if len(list) == 0 {
		return nil, invalid(field, path, "is an empty array").WithFix("name at least one, or remove the statement")
	}
	return list, nil
}

func checkAction(a string) string {
	if a == "*" {
		return ""
	}
	if strings.ContainsAny(a, " \t\r\n") {
		return "is not an action: it contains whitespace"
	}
	svc, name, ok := strings.Cut(a, ":")
	if !ok || svc == "" || name == "" || strings.Contains(name, ":") {
		return `is not an action: write "service:Action" (for example "s3:GetObject") or "*"`
	}
	return ""
}

func checkResource(r string) string {
	if r == "*" || strings.HasPrefix(r, "arn:") {
		return ""
	}
	return `is not a resource: write an ARN ("arn:...") or "*"`
}

// parseCondition decodes a Condition block (numbers kept as written, so
// that equality is textual) and checks its shape: an object of condition
// operators, each an object of condition keys.
func parseCondition(field, path string, raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalid(field, path, "Condition must be an object")
	}
	ops, ok := v.(map[string]any)
	if !ok {
		return nil, invalid(field, path, "Condition must be an object of condition operators")
	}
	for op, keys := range ops {
		km, ok := keys.(map[string]any)
		if !ok {
			return nil, invalid(field, joinPath(path, op), "a condition operator must map condition keys to values")
		}
		for k, val := range km {
			if !conditionValue(val) {
				return nil, invalid(field, joinPath(joinPath(path, op), k),
					"a condition value must be a string, number, boolean or an array of them")
			}
		}
	}
	return v, nil
}

func conditionValue(v any) bool {
	switch t := v.(type) {
	case string, json.Number, bool:
		return true
	case []any:
		for _, e := range t {
			switch e.(type) {
			case string, json.Number, bool:
			default:
				return false
			}
		}
		return true
	}
	return false
}

func joinPath(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func joinField(field, path string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	}
	return field + "." + path
}

func invalid(field, path, format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeInvalid, joinField(field, path), format, args...)
}
