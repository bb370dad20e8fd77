package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/credbroker/credbroker"
)

// DefaultMaxBodyBytes is the default limit of a request body.
const DefaultMaxBodyBytes = 64 << 10

// Audit list limits.
const (
	DefaultAuditLimit = 1000
	MaxAuditLimit     = 10000
)

// bufPool holds the buffers request bodies are read into and responses are
// encoded into. Buffers are wiped before they go back, because they held
// secrets (vended keys, connector secret keys), and big ones are dropped.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuf = 256 << 10

func getBuf() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

func putBuf(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuf {
		return
	}
	clear(b.Bytes()[:b.Cap()])
	b.Reset()
	bufPool.Put(b)
}

// invalid builds a CodeInvalid error about field.
func invalid(field, format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeInvalid, field, format, args...)
}

// isJSON reports whether a Content-Type header value is application/json,
// with or without parameters, without the allocations of
// mime.ParseMediaType.
func isJSON(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.EqualFold(strings.TrimSpace(ct), "application/json")
}

// readJSON checks that r carries a JSON body and decodes it into v, with
// the body limited to limit bytes. w is the connection's own
// ResponseWriter, so that an oversized body also closes the connection.
func readJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	if !isJSON(r.Header.Get("Content-Type")) {
		return invalid("Content-Type", "the request body must be application/json").WithCause(errMediaType)
	}
	return decodeBody(http.MaxBytesReader(w, r.Body, limit), v)
}

// decodeBody decodes exactly one JSON object from body into v, refusing
// fields v does not have. Every failure is a CodeInvalid *credbroker.Error;
// a body over the limit carries the *http.MaxBytesError as its cause.
func decodeBody(body io.Reader, v any) error {
	buf := getBuf()
	defer putBuf(buf)
	if _, err := buf.ReadFrom(body); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return invalid("body", "the request body is larger than %d bytes", tooLarge.Limit).WithCause(tooLarge)
		}
		return invalid("body", "the request body could not be read").WithCause(err)
	}
	data := bytes.TrimLeft(buf.Bytes(), " \t\r\n")
	if len(data) == 0 {
		return invalid("body", "the request body is empty; send a JSON object")
	}
	if data[0] != '{' {
		return invalid("body", "the request body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("body", "the request body must hold exactly one JSON value")
	}
	return nil
}

// jsonError turns an encoding/json error into a CodeInvalid error that
// names the offending field where it can.
func jsonError(err error) *credbroker.Error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return invalid("body", "the request body is not valid JSON: %s (at byte %d)", syntax.Error(), syntax.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		kind := ""
		if typ.Type != nil {
			kind = typ.Type.Kind().String()
		}
		return invalid(field, "expected %s, got JSON %s", jsonKind(kind), typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return invalid("body", "the request body is truncated JSON")
	}
	msg := err.Error()
	if strings.Contains(msg, "unknown field") || strings.Contains(msg, "unknown object member") {
		if name, ok := quoted(msg); ok {
			return invalid("body", "unknown field %q", name)
		}
		return invalid("body", "the request body has an unknown field")
	}
	return invalid("body", "the request body is not valid for this request")
}

// jsonKind names a Go kind in JSON terms.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer"
	case "float32", "float64":
		return "a number"
	}
	return "another type"
}

// quoted returns the first double-quoted Go string in s.
func quoted(s string) (string, bool) {
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return "", false
	}
	q, err := strconv.QuotedPrefix(s[i:])
	if err != nil {
		return "", false
	}
	name, err := strconv.Unquote(q)
	return name, err == nil
}

// decodeVendRequest decodes a vend request body.
func decodeVendRequest(body io.Reader) (credbroker.VendRequest, error) {
	var req credbroker.VendRequest
	err := decodeBody(body, &req)
	return req, err
}

// query returns the parameters of r after checking that each one is in
// allowed and given at most once: a misspelt filter must not silently
// widen a query.
func query(r *http.Request, allowed ...string) (url.Values, error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalid("query", "the query string is malformed")
	}
	for name, vals := range q {
		known := false
		for _, a := range allowed {
			if name == a {
				known = true
				break
			}
		}
		field := name
		if field == "" {
			field = "query"
		}
		if !known {
			return nil, invalid(field, "unknown query parameter %q", name)
		}
		if len(vals) > 1 {
			return nil, invalid(field, "query parameter %q is given more than once", name)
		}
	}
	return q, nil
}

// planQuery returns the plan parameter of r, the only one it may carry.
func planQuery(r *http.Request) (string, error) {
	if r.URL.RawQuery == "" {
		return "", nil
	}
	q, err := query(r, "plan")
	if err != nil {
		return "", err
	}
	return q.Get("plan"), nil
}

// auditFilter parses the query of GET /v1/audit.
func auditFilter(r *http.Request) (credbroker.AuditFilter, error) {
	f := credbroker.AuditFilter{Limit: DefaultAuditLimit}
	q, err := query(r, "since", "until", "plan", "connector", "outcome", "action", "after", "limit")
	if err != nil {
		return f, err
	}
	parseTime := func(name string) (time.Time, error) {
		s := q.Get(name)
		if s == "" {
			return time.Time{}, nil
		}
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, invalid(name, "%q is not an RFC 3339 time", s).WithFix("use a time like 2026-01-02T15:04:05Z")
		}
		return t, nil
	}
	if f.Since, err = parseTime("since"); err != nil {
		return f, err
	}
	if f.Until, err = parseTime("until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, invalid("until", "is before since")
	}
	f.Plan, f.Connector, f.Action = q.Get("plan"), q.Get("connector"), q.Get("action")
	switch f.Outcome = q.Get("outcome"); f.Outcome {
	case "", credbroker.OutcomeGranted, credbroker.OutcomeRefused:
	default:
		return f, invalid("outcome", "%q is not an outcome; use %s or %s", f.Outcome, credbroker.OutcomeGranted, credbroker.OutcomeRefused)
	}
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return f, invalid("after", "%q is not a sequence number (a non-negative integer)", s)
		}
		f.AfterSeq = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxAuditLimit {
			return f, invalid("limit", "%q is not a number from 1 to %d", s, MaxAuditLimit)
		}
		f.Limit = n
	}
	return f, nil
}
