package httpapi

import (
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/wire"
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
	b = wire.AppendString(b, r.AccessKeyID)
	b = append(b, `,"secret_access_key":`...)
	b = wire.AppendString(b, r.SecretAccessKey)
	if r.SessionToken != "" {
		b = append(b, `,"session_token":`...)
		b = wire.AppendString(b, r.SessionToken)
	}
	if !r.Expiration.IsZero() {
		b = append(b, `,"expiration":"`...)
		b = r.Expiration.AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	b = append(b, `,"region":`...)
	b = wire.AppendString(b, r.Region)
	b = append(b, `,"partition":`...)
	b = wire.AppendString(b, r.Partition)
	b = append(b, `,"connector":`...)
	b = wire.AppendString(b, r.Connector)
	b = append(b, `,"connector_id":`...)
	b = wire.AppendString(b, r.ConnectorID)
	if r.RoleARN != "" {
		b = append(b, `,"role_arn":`...)
		b = wire.AppendString(b, r.RoleARN)
	}
	if len(r.Warnings) > 0 {
		b = append(b, `,"warnings":[`...)
		for i, w := range r.Warnings {
			if i > 0 {
				b = append(b, ',')
			}
			b = wire.AppendString(b, w)
		}
		b = append(b, ']')
	}
	return append(b, "}\n"...), true
}
