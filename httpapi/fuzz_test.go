package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// FuzzDecodeVendRequest: the vend body decoder never panics, accepts
// only a single well-formed JSON object, and refuses everything else with
// CodeInvalid.
func FuzzDecodeVendRequest(f *testing.F) {
	for _, seed := range []string{
		`{"connector":"deploy","plan":"OPS-DEPLOY","build":"42","duration_seconds":900}`,
		`{"connector":"d","tags":[{"key":"a","value":"b"}],"policy_arns":["arn:aws:iam::aws:policy/ReadOnlyAccess"]}`,
		`{"connector":"d","unknown":1}`,
		`{"connector":"d"}{"connector":"e"}`,
		`{"connector":"d"} ]`,
		`{"duration_seconds":1e400}`,
		`{"duration_seconds":"9"}`,
		`{"tags":[{"key":"a","vaule":"b"}]}`,
		`null`, `[]`, `""`, `{`, ``, "\xff\xfe", `{"connector":"\ud800"}`,
		strings.Repeat(`{"a":`, 600),
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body := http.MaxBytesReader(nil, io.NopCloser(bytes.NewReader(data)), httpapi.DefaultMaxBodyBytes)
		err := httpapi.DecodeVendRequest(body)
		if err == nil {
			trimmed := bytes.TrimSpace(data)
			if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
				t.Fatalf("accepted %q, which is not one JSON object", data)
			}
			return
		}
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeInvalid {
			t.Fatalf("rejected %q with %v (%T), want CodeInvalid", data, err, err)
		}
		if e.Message == "" {
			t.Fatalf("rejected %q with an empty message", data)
		}
	})
}

// FuzzAuditQuery: the audit query parser never panics, refuses with
// CodeInvalid, and what it accepts is within the limits.
func FuzzAuditQuery(f *testing.F) {
	for _, seed := range []string{
		"", "since=2026-01-02T15:04:05Z&until=2026-01-03T00:00:00.5%2B02:00&plan=OPS-X&limit=10&after=5",
		"limit=0", "limit=10001", "after=-1", "outcome=granted", "outcome=x", "since=x", "plan=a&plan=b", "%zz", "x=1", "=",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, q string) {
		flt, err := httpapi.ParseAuditQuery(q)
		if err != nil {
			if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeInvalid || e.Field == "" {
				t.Fatalf("query %q: %v (%T), want CodeInvalid naming a parameter", q, err, err)
			}
			return
		}
		if flt.Limit < 1 || flt.Limit > httpapi.MaxAuditLimit || flt.AfterSeq < 0 {
			t.Fatalf("query %q gave the filter %+v", q, flt)
		}
		if !flt.Since.IsZero() && !flt.Until.IsZero() && flt.Until.Before(flt.Since) {
			t.Fatalf("query %q: until before since accepted", q)
		}
	})
}
