package policy

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzValidate(f *testing.F) {
	for _, s := range []string{
		connS3,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
		`{"Version":"2008-10-17","Statement":[{"Effect":"Deny","NotAction":["iam:*"],"NotResource":"*","Condition":{"Bool":{"aws:SecureTransport":false}}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}`,
		`{"Statement":[]}`,
		`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Effect":"Deny"}}`,
		"{\n\t\"Statement\": [\n",
		`[[[[[[[[[[`,
		`"\u00e9"`,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		compact, err := Validate("policy", doc)
		if err != nil {
			if compact != "" {
				t.Fatalf("error with a result: %q, %v", compact, err)
			}
			return
		}
		if !json.Valid([]byte(compact)) {
			t.Fatalf("compact form is not JSON: %q", compact)
		}
		if n := utf8.RuneCountInString(compact); n > MaxSize {
			t.Fatalf("accepted %d characters", n)
		}
		again, err := Validate("policy", compact)
		if err != nil || again != compact {
			t.Fatalf("compact form does not validate to itself: %q, %v", again, err)
		}
	})
}

// FuzzNarrow checks that whatever Narrow accepts grants no concrete
// (action, resource) pair that the connector's policy does not grant, and
// keeps every concrete denial of the connector's policy.
func FuzzNarrow(f *testing.F) {
	seeds := []struct{ conn, req, action, resource, fill string }{
		{connS3, `{"Statement":{"Effect":"Allow","Action":"s3:Get*","Resource":"arn:aws:s3:::artifacts/*"}}`, "s3:GetObject", "arn:aws:s3:::artifacts/x", "ab"},
		{connS3, `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`, "s3:DeleteBucket", "arn:aws:s3:::artifacts", ""},
		{`{"Statement":{"Effect":"Allow","Action":"s3:Get?bject","Resource":"arn:aws:s3:::b/*"}}`, `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/${aws:username}"}}`, "s3:GetObject", "arn:aws:s3:::b/${aws:username}", ":"},
		{`{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::*:x"}}`, `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::a*:x"}}`, "s3:x", "arn:aws:s3:::a:b:x", "::"},
		{`{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"},{"Effect":"Deny","Action":"s3:Delete*","Resource":"*"}]}`, `{"Statement":{"Effect":"Allow","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/k"}}`, "s3:DeleteObject", "arn:aws:s3:::b/k", "z"},
		{`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}}`, `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":true}}}}`, "s3:GetObject", "arn:aws:s3:::b", ""},
	}
	for _, s := range seeds {
		f.Add(s.conn, s.req, s.action, s.resource, s.fill)
	}
	f.Fuzz(func(t *testing.T, connPolicy, reqPolicy, action, resource, fill string) {
		conn := Set{Policy: connPolicy}
		got, err := Narrow(conn, Set{Policy: reqPolicy})
		if err != nil {
			return
		}
		cdoc, _, cerr := parse("c", connPolicy)
		if cerr != nil {
			return // Narrow accepted because the connector has no valid policy to check against
		}
		if got.Policy == "" {
			return
		}
		rdoc, _, err := parse("r", got.Policy)
		if err != nil {
			t.Fatalf("Narrow returned an invalid policy %q: %v", got.Policy, err)
		}
		pairs := [][2]string{{action, resource}}
		for i := range rdoc.stmts {
			s := &rdoc.stmts[i]
			for _, a := range s.action {
				for _, r := range s.resource {
					pairs = append(pairs, [2]string{expand(a, fill), expand(r, fill)})
				}
			}
		}
		for _, p := range pairs {
			// Unconditioned statements only; statements with a condition
			// are checked in the world where that condition holds.
			if allows(rdoc, p[0], p[1], nil) && !allows(cdoc, p[0], p[1], nil) {
				t.Fatalf("result %s allows %q on %q; connector %s does not", got.Policy, p[0], p[1], connPolicy)
			}
			if denies(cdoc, p[0], p[1], nil) && !denies(rdoc, p[0], p[1], nil) {
				t.Fatalf("result %s lost the connector's denial of %q on %q", got.Policy, p[0], p[1])
			}
			for i := range rdoc.stmts {
				c := rdoc.stmts[i].condition
				if c == nil {
					continue
				}
				if allows(rdoc, p[0], p[1], c) && !allows(cdoc, p[0], p[1], c) {
					t.Fatalf("under condition %v, result %s allows %q on %q; connector %s does not", c, got.Policy, p[0], p[1], connPolicy)
				}
			}
		}
	})
}

// expand turns a pattern into one concrete string it matches.
func expand(p, fill string) string {
	p = strings.ReplaceAll(p, "*", fill)
	r, _ := utf8.DecodeRuneInString(fill + "x")
	return strings.ReplaceAll(p, "?", string(r))
}

// allows evaluates doc for a concrete request, in a world where exactly the
// statements with no condition, or with condition cond, apply.
func allows(d *document, action, resource string, cond any) bool {
	return evaluate(d, action, resource, cond, "Allow") && !denies(d, action, resource, cond)
}

func denies(d *document, action, resource string, cond any) bool {
	return evaluate(d, action, resource, cond, "Deny")
}

func evaluate(d *document, action, resource string, cond any, effect string) bool {
	for i := range d.stmts {
		s := &d.stmts[i]
		if s.effect != effect {
			continue
		}
		if s.condition != nil && !equalJSON(s.condition, cond) {
			continue
		}
		am := matchAny(s.action, strings.ToLower(action), true)
		if s.notAction != nil {
			am = !matchAny(s.notAction, strings.ToLower(action), true)
		}
		rm := matchAny(s.resource, resource, false)
		if s.notResource != nil {
			rm = !matchAny(s.notResource, resource, false)
		}
		if am && rm {
			return true
		}
	}
	return false
}

func equalJSON(a, b any) bool {
	if b == nil {
		return false
	}
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func matchAny(patterns []string, s string, fold bool) bool {
	for _, p := range patterns {
		if fold {
			p = strings.ToLower(p)
		}
		if match([]rune(p), []rune(s)) {
			return true
		}
	}
	return false
}

// match is plain glob matching of a concrete string, wildcards crossing
// colons; a policy variable in the pattern is compared as text.
func match(p, s []rune) bool {
	// ok[j]: p[i:] matches s[j:], computed from the end of p backwards.
	ok := make([]bool, len(s)+1)
	ok[len(s)] = true
	next := make([]bool, len(s)+1)
	for i := len(p) - 1; i >= 0; i-- {
		for j := len(s); j >= 0; j-- {
			switch {
			case p[i] == '*':
				next[j] = ok[j] || (j < len(s) && next[j+1])
			case j == len(s):
				next[j] = false
			case p[i] == '?':
				next[j] = ok[j+1]
			default:
				next[j] = s[j] == p[i] && ok[j+1]
			}
		}
		ok, next = next, ok
	}
	return ok[0]
}
