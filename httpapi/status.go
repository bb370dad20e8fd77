package httpapi

import (
	"errors"
	"net/http"

	"github.com/credbroker/credbroker"
)

// StatusForCode is the one mapping from a credbroker error code to an HTTP
// status. CodeInternal, an empty code and any code it does not know map to
// 500.
func StatusForCode(code credbroker.Code) int {
	switch code {
	case credbroker.CodeInvalid:
		return http.StatusBadRequest
	case credbroker.CodeUnauthorized:
		return http.StatusUnauthorized
	case credbroker.CodeForbidden:
		return http.StatusForbidden
	case credbroker.CodeNotFound:
		return http.StatusNotFound
	case credbroker.CodeConflict:
		return http.StatusConflict
	case credbroker.CodeUnprocessable:
		return http.StatusUnprocessableEntity
	case credbroker.CodeThrottled:
		return http.StatusTooManyRequests
	case credbroker.CodeUpstream:
		return http.StatusBadGateway
	case credbroker.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// codeForStatus is the reverse of StatusForCode, for error responses that
// carry no usable code (a proxy's HTML error page). Statuses with no code of
// their own fall back by class.
func codeForStatus(status int) credbroker.Code {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType,
		http.StatusMethodNotAllowed:
		return credbroker.CodeInvalid
	case http.StatusUnauthorized:
		return credbroker.CodeUnauthorized
	case http.StatusForbidden:
		return credbroker.CodeForbidden
	case http.StatusNotFound:
		return credbroker.CodeNotFound
	case http.StatusConflict:
		return credbroker.CodeConflict
	case http.StatusUnprocessableEntity:
		return credbroker.CodeUnprocessable
	case http.StatusTooManyRequests:
		return credbroker.CodeThrottled
	case http.StatusBadGateway:
		return credbroker.CodeUpstream
	case http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return credbroker.CodeUnavailable
	}
	if status >= 400 && status < 500 {
		return credbroker.CodeInvalid
	}
	return credbroker.CodeInternal
}

// knownCode reports whether c is one of credbroker's codes.
func knownCode(c credbroker.Code) bool {
	switch c {
	case credbroker.CodeInvalid, credbroker.CodeUnauthorized, credbroker.CodeForbidden,
		credbroker.CodeNotFound, credbroker.CodeConflict, credbroker.CodeUnprocessable,
		credbroker.CodeThrottled, credbroker.CodeUpstream, credbroker.CodeUnavailable,
		credbroker.CodeInternal:
		return true
	}
	return false
}

// Causes that select a protocol status instead of the code's status. They
// sit in a credbroker.Error's Err, so the code (invalid) stays what a client
// sees.
var (
	errMediaType = errors.New("unsupported media type")
	errNoRoute   = errors.New("no such route")
	errMethod    = errors.New("method not allowed")
	// errHeaderTooLarge selects 431.
	errHeaderTooLarge = errors.New("request header fields too large")
)

// genericMessage is what a client sees of an internal error.
const genericMessage = "internal error; the broker log has the details"

// errorStatus returns the HTTP status, the code and the public message of
// err. Failures of the protocol itself (a body too large, a wrong media
// type, an unknown path or method) keep their own statuses; everything else
// goes through StatusForCode. A 500 always shows a generic message.
func errorStatus(err error) (status int, code credbroker.Code, msg string) {
	code = credbroker.ErrorCode(err)
	if !knownCode(code) {
		code = credbroker.CodeInternal
	}
	status = StatusForCode(code)
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, errMediaType):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, errMethod):
		status = http.StatusMethodNotAllowed
	case errors.Is(err, errNoRoute):
		status = http.StatusNotFound
	case errors.Is(err, errHeaderTooLarge):
		status = http.StatusRequestHeaderFieldsTooLarge
	}
	if status == http.StatusInternalServerError {
		return status, credbroker.CodeInternal, genericMessage
	}
	return status, code, credbroker.PublicMessage(err)
}
