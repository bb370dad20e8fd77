package sqlstore

import (
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect reads every row with row and closes rows.
func collect[T any](rows *sql.Rows, row func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := row(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString reads a row of one text column.
func scanString(sc scanner) (v string, err error) { err = sc.Scan(&v); return v, err }

// scanInt64 reads a row of one integer column.
func scanInt64(sc scanner) (v int64, err error) { err = sc.Scan(&v); return v, err }

// micros is t as unix microseconds, or NULL for the zero time.
func micros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

// fromMicros reverses micros, in UTC.
func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
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
	return s.Blob, int64(s.KeyVersion)
}

// sealedOf reverses sealedArgs.
func sealedOf(blob []byte, version sql.NullInt64) credbroker.Sealed {
	if len(blob) == 0 || !version.Valid {
		return credbroker.Sealed{}
	}
	return credbroker.Sealed{KeyVersion: int(version.Int64), Blob: blob}
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

// params returns the markers of parameters from to from+n-1, separated by
// commas.
func (s *Store) params(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(s.d.Placeholder(from + i))
	}
	return b.String()
}
