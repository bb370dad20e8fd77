package credbroker

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Code classifies a failure so that each caller (the CLI, the HTTP layer)
// can react to it without parsing text. The HTTP layer maps codes to statuses
// in one place.
type Code string

// The error codes of credbroker.
const (
	CodeInvalid       Code = "invalid"       // malformed input: 400
	CodeUnauthorized  Code = "unauthorized"  // missing, wrong, expired or revoked token: 401
	CodeForbidden     Code = "forbidden"     // authenticated but not allowed: 403
	CodeNotFound      Code = "not_found"     // no such connector, token, variable: 404
	CodeConflict      Code = "conflict"      // already exists, or changed concurrently: 409
	CodeUnprocessable Code = "unprocessable" // well formed but refused by a rule (policy, partition, duration): 422
	CodeThrottled     Code = "throttled"     // rate limited, here or upstream: 429
	CodeUpstream      Code = "upstream"      // STS, IMDS or the federation endpoint failed: 502
	CodeUnavailable   Code = "unavailable"   // the store or another dependency is down; fail closed: 503
	CodeInternal      Code = "internal"      // a bug: 500
)

// Error is a domain error. Message is safe to show to any caller: it never
// holds a secret, nor raw upstream or database text. Field names the input
// that caused it, and Fix says what would fix it. File and Line, when set,
// locate that input in a file the user wrote (a job file: Field is then the
// path of the value in it, such as tasks[1].credentials.role.arn). Err,
// when set, is the underlying cause, kept for logs on the server side only.
type Error struct {
	Code    Code
	Field   string
	Message string
	Fix     string
	File    string
	Line    int
	Err     error
}

// Location renders "file:line", "file" or "line N"; "" when the error is
// not located in a file.
func (e *Error) Location() string {
	switch {
	case e.File != "" && e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line)
	case e.File != "":
		return e.File
	case e.Line > 0:
		return "line " + strconv.Itoa(e.Line)
	}
	return ""
}

// Error renders "file:line: field: message; fix" on one line, leaving out
// the parts that are not set.
func (e *Error) Error() string {
	var b strings.Builder
	if loc := e.Location(); loc != "" {
		b.WriteString(loc)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Fix != "" {
		b.WriteString("; ")
		b.WriteString(e.Fix)
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// WithFix returns e with Fix set; it allows Errorf(...).WithFix("...").
func (e *Error) WithFix(fix string) *Error {
	e.Fix = fix
	return e
}

// WithCause returns e with Err set to the underlying cause.
func (e *Error) WithCause(err error) *Error {
	e.Err = err
	return e
}

// ErrorCode returns the code of the first *Error in err's chain, or
// CodeInternal when there is none.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// AsError returns the first *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// PublicMessage returns the text of err that is safe to show to a remote
// caller: the message of the first *Error in the chain, or a generic text
// for anything else, so that no upstream or database text leaks.
func PublicMessage(err error) string {
	if e := AsError(err); e != nil {
		return e.Error()
	}
	return "internal error; the broker log has the details"
}
