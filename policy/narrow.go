package policy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
)

// Set is a set of session policies: an inline policy (JSON, possibly
// empty) and managed policy ARNs.
type Set struct {
	Policy string
	ARNs   []string
}

// Empty reports whether s holds no session policy at all.
func (s Set) Empty() bool { return s.Policy == "" && len(s.ARNs) == 0 }

// Narrow returns the session policies to use when a request asks for req
// on a connector that has conn: conn itself when req is empty, otherwise
// req (with conn's Deny statements added) if req grants no more than conn.
// The package documentation gives the rules. Widening is a
// *credbroker.Error with CodeForbidden; an invalid policy is CodeInvalid or
// CodeUnprocessable.
func Narrow(conn, req Set) (Set, error) {
	if req.Empty() {
		return Set{Policy: conn.Policy, ARNs: slices.Clone(conn.ARNs)}, nil
	}
	var rdoc *document
	var rcompact string
	if req.Policy != "" {
		var err error
		if rdoc, rcompact, err = parse("policy", req.Policy); err != nil {
			return Set{}, err
		}
	}
	if conn.Empty() {
		return Set{Policy: rcompact, ARNs: slices.Clone(req.ARNs)}, nil
	}
	for _, a := range req.ARNs {
		if !slices.Contains(conn.ARNs, a) {
			return Set{}, credbroker.Errorf(credbroker.CodeForbidden, "policy_arns",
				"managed policy %s is not one of the connector's session policies, so it could widen them", a).
				WithFix("name only managed policies the connector already has, or none")
		}
	}
	var cdoc *document
	if conn.Policy != "" {
		var err error
		if cdoc, _, err = parse("connector.policy", conn.Policy); err != nil {
			return Set{}, err
		}
	}
	if rdoc != nil {
		if cdoc == nil {
			return Set{}, credbroker.Errorf(credbroker.CodeForbidden, "policy",
				"the connector has no inline session policy to compare a request policy with, so the request policy could widen its permissions").
				WithFix("name a subset of the connector's managed policy ARNs instead")
		}
		if err := checkCovered(cdoc, rdoc); err != nil {
			return Set{}, err
		}
	}
	out := Set{ARNs: slices.Clone(req.ARNs)}
	var stmts []json.RawMessage
	if rdoc != nil {
		for i := range rdoc.stmts {
			b, err := json.Marshal(rdoc.stmts[i].raw)
			if err != nil {
				return Set{}, credbroker.Errorf(credbroker.CodeInternal, "policy", "encode statement: %v", err)
			}
			stmts = append(stmts, b)
		}
	}
	if cdoc != nil {
		for i := range cdoc.stmts {
			s := &cdoc.stmts[i]
			if s.allow() {
				continue
			}
			raw := make(map[string]json.RawMessage, len(s.raw))
			for k, v := range s.raw {
				if k != "Sid" { // Sids could collide with the request's
					raw[k] = v
				}
			}
			b, err := json.Marshal(raw)
			if err != nil {
				return Set{}, credbroker.Errorf(credbroker.CodeInternal, "policy", "encode statement: %v", err)
			}
			stmts = append(stmts, b)
		}
	}
	if len(stmts) > 0 {
		var buf bytes.Buffer
		buf.WriteByte('{')
		if cdoc.hasVersion {
			buf.WriteString(`"Version":`)
			v, _ := json.Marshal(cdoc.version)
			buf.Write(v)
			buf.WriteByte(',')
		}
		buf.WriteString(`"Statement":[`)
		for i, s := range stmts {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(s)
		}
		buf.WriteString("]}")
		out.Policy = buf.String()
		if n := utf8.RuneCountInString(out.Policy); n > MaxSize {
			return Set{}, credbroker.Errorf(credbroker.CodeUnprocessable, "policy",
				"the effective session policy (the request's statements and the connector's Deny statements) is %d characters; STS allows at most %d", n, MaxSize).
				WithFix("shorten the request policy")
		}
	}
	return out, nil
}

// checkCovered returns a CodeForbidden error naming the first request
// permission that no Allow statement of conn covers.
func checkCovered(conn, req *document) error {
	for i := range req.stmts {
		rs := &req.stmts[i]
		if !rs.allow() {
			continue
		}
		if rs.notAction != nil || rs.notResource != nil {
			return credbroker.Errorf(credbroker.CodeForbidden, "policy",
				"%s uses NotAction or NotResource in an Allow statement, which cannot be shown to stay within the connector's session policy", rs.path).
				WithFix("list the actions and resources with Action and Resource")
		}
		for _, a := range rs.action {
			for _, r := range rs.resource {
				if !allowedBy(conn, rs, a, r) {
					return credbroker.Errorf(credbroker.CodeForbidden, "policy",
						"%s allows %q on %q, which the connector's session policy does not allow", rs.path, a, r).
						WithFix("narrow the request policy to actions and resources the connector allows, or ask an administrator to widen the connector")
				}
			}
		}
	}
	return nil
}

// allowedBy reports whether one Allow statement of conn covers the action
// pattern a on the resource pattern r, for a request statement rs.
func allowedBy(conn *document, rs *statement, a, r string) bool {
	for i := range conn.stmts {
		cs := &conn.stmts[i]
		if !cs.allow() || cs.action == nil || cs.resource == nil {
			continue
		}
		if cs.condition != nil && !reflect.DeepEqual(cs.condition, rs.condition) {
			continue
		}
		if slices.ContainsFunc(cs.action, func(p string) bool { return coversAction(p, a) }) &&
			slices.ContainsFunc(cs.resource, func(p string) bool { return coversResource(p, r) }) {
			return true
		}
	}
	return false
}
