package postgres

import (
	"encoding/json"
	"time"

	"github.com/credbroker/credbroker"
)

// scanner is a pgx.Row or pgx.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// micros is t as unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// microsOrNil is t as unix microseconds, or nil (NULL) for the zero time.
func microsOrNil(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

// ceilMicros is t in unix microseconds, rounded up: a stored time (whole
// microseconds) is at or after t exactly when it is at or after
// ceilMicros(t).
func ceilMicros(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// fromMicros reverses micros, in UTC.
func fromMicros(v *int64) time.Time {
	if v == nil {
		return time.Time{}
	}
	return time.UnixMicro(*v).UTC()
}

// nullString is s, or NULL when s is empty.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sealedArgs are the blob and key version columns of s: both NULL when
// nothing is sealed.
func sealedArgs(s credbroker.Sealed) (blob, version any) {
	if s.Empty() {
		return nil, nil
	}
	return s.Blob, int32(s.KeyVersion)
}

// sealedOf reverses sealedArgs.
func sealedOf(blob []byte, version *int32) credbroker.Sealed {
	if len(blob) == 0 || version == nil {
		return credbroker.Sealed{}
	}
	return credbroker.Sealed{KeyVersion: int(*version), Blob: blob}
}

// jsonList renders a list column: a JSON array, "[]" when empty.
func jsonList[T any](v []T) (string, error) {
	if len(v) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// parseList reverses jsonList; an empty array is nil.
func parseList[T any](s string, dst *[]T) error {
	if s == "[]" {
		*dst = nil
		return nil
	}
	var v []T
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return err
	}
	if len(v) == 0 {
		v = nil
	}
	*dst = v
	return nil
}
