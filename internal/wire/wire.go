// Package wire writes the JSON of the answers credbroker serves most
// often, byte for byte what encoding/json writes, without reflection:
// JSON strings, the container-credentials answer the AWS SDKs read from
// AWS_CONTAINER_CREDENTIALS_FULL_URI, and the credential_process output
// they read from a profile's command. A Cache keeps the encoding of the
// last credentials it was given, so that a server answering the same
// credentials over and over encodes them once per set.
package wire

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/credbroker/credbroker"
)

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string the way encoding/json writes
// one by default: control characters, quote and backslash escaped, <, >
// and & escaped for HTML, U+2028 and U+2029 escaped for JavaScript, and
// each byte of invalid UTF-8 replaced by U+FFFD.
func AppendString(b []byte, s string) []byte {
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

// appendTime appends t in UTC as RFC 3339, as a JSON string: its digits,
// signs, colons and letters need no escaping.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// AppendContainer appends the container-credentials answer for cr and a
// newline: {"AccessKeyId","SecretAccessKey","Token","Expiration"}. Token
// is always present, empty for long-lived keys, because botocore reads it
// unconditionally; Expiration is cr.Expires, which the caller sets for
// long-lived keys too (botocore needs one).
func AppendContainer(b []byte, cr credbroker.Credentials) []byte {
	b = append(b, `{"AccessKeyId":`...)
	b = AppendString(b, cr.AccessKeyID)
	b = append(b, `,"SecretAccessKey":`...)
	b = AppendString(b, cr.SecretAccessKey)
	b = append(b, `,"Token":`...)
	b = AppendString(b, cr.SessionToken)
	b = append(b, `,"Expiration":`...)
	b = appendTime(b, cr.Expires)
	return append(b, "}\n"...)
}

// AppendProcess appends the credential_process output for cr and a
// newline: {"Version":1,"AccessKeyId","SecretAccessKey","SessionToken",
// "Expiration"}, the last two left out when empty (long-lived keys).
func AppendProcess(b []byte, cr credbroker.Credentials) []byte {
	b = append(b, `{"Version":1,"AccessKeyId":`...)
	b = AppendString(b, cr.AccessKeyID)
	b = append(b, `,"SecretAccessKey":`...)
	b = AppendString(b, cr.SecretAccessKey)
	if cr.SessionToken != "" {
		b = append(b, `,"SessionToken":`...)
		b = AppendString(b, cr.SessionToken)
	}
	if cr.CanExpire() {
		b = append(b, `,"Expiration":`...)
		b = appendTime(b, cr.Expires)
	}
	return append(b, "}\n"...)
}

// Cache holds the encoding of the last credentials it encoded. It is safe
// for concurrent use; callers must not change the bytes it returns.
type Cache struct {
	encode func(b []byte, cr credbroker.Credentials) []byte
	last   atomic.Pointer[encoded]
}

type encoded struct {
	cr     credbroker.Credentials
	body   []byte
	length []string // len(body), as a Content-Length header value
}

// NewCache returns a cache of encode's output (AppendContainer or
// AppendProcess).
func NewCache(encode func(b []byte, cr credbroker.Credentials) []byte) *Cache {
	return &Cache{encode: encode}
}

// Answer returns the encoding of cr, with its length as a Content-Length
// header value: the one made last time when cr is the same set of
// credentials, else a new one, which it keeps.
func (c *Cache) Answer(cr credbroker.Credentials) (body []byte, length []string) {
	if e := c.last.Load(); e != nil && same(e.cr, cr) {
		return e.body, e.length
	}
	e := &encoded{cr: cr, body: c.encode(nil, cr)}
	e.length = []string{strconv.Itoa(len(e.body))}
	c.last.Store(e)
	return e.body, e.length
}

// same reports whether a and b encode alike. Credentials served from one
// cache share their strings, so the comparisons are mostly of pointers.
func same(a, b credbroker.Credentials) bool {
	return a.AccessKeyID == b.AccessKeyID && a.SecretAccessKey == b.SecretAccessKey &&
		a.SessionToken == b.SessionToken && a.Expires.Equal(b.Expires)
}
