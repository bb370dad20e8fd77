package httpapi

import (
	"time"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
)

// appendVendResult appends the JSON of r followed by a newline, byte for
// byte what json.NewEncoder(w).Encode(r) writes, without reflection: the
// vend answer is the broker's hottest response. ok is false, with b as it
// was, when r holds what only encoding/json can report on (an expiration
// outside the years 0-9999), so the caller falls back to it.
func appendVendResult(b []byte, r *credbroker.VendResult) (_ []byte, ok bool) {
	if y := r.Expiration.Year(); !r.Expiration.IsZero() && (y < 0 || y > 9999) {
		return b, false
	}
	b = append(b, `{"access_key_id":`...)
	b = appendJSONString(b, r.AccessKeyID)
	b = append(b, `,"secret_access_key":`...)
	b = appendJSONString(b, r.SecretAccessKey)
	if r.SessionToken != "" {
		b = append(b, `,"session_token":`...)
		b = appendJSONString(b, r.SessionToken)
	}
	if !r.Expiration.IsZero() {
		b = append(b, `,"expiration":"`...)
		b = r.Expiration.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"region":`...)
	b = appendJSONString(b, r.Region)
	b = append(b, `,"partition":`...)
	b = appendJSONString(b, r.Partition)
	b = append(b, `,"connector":`...)
	b = appendJSONString(b, r.Connector)
	b = append(b, `,"connector_id":`...)
	b = appendJSONString(b, r.ConnectorID)
	if r.RoleARN != "" {
		b = append(b, `,"role_arn":`...)
		b = appendJSONString(b, r.RoleARN)
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, w)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...), true
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string the way encoding/json
// writes one by default: control characters, quote and backslash escaped,
// <, > and & escaped for HTML, U+2028 and U+2029 escaped for JavaScript,
// and each byte of invalid UTF-8 replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
