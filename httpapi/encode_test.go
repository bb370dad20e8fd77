package httpapi

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// encodeStd is what the hand-written encoder must reproduce.
func encodeStd(t testing.TB, r *credbroker.VendResult) []byte {
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAppendVendResultMatchesEncodingJSON(t *testing.T) {
	exp := time.Date(2026, 11, 25, 22, 51, 3, 120000000, time.UTC)
	cases := map[string]*credbroker.VendResult{
		"full": {
			AccessKeyID: "ASIAEXAMPLEKEY", SecretAccessKey: "wJalr/XUtnFEMI+K7MDENG", SessionToken: "FwoGZXIvYXdzE==",
			Expiration: exp, Region: "us-east-1", Partition: "aws", Connector: "deploy", ConnectorID: "con_0123",
			RoleARN: "arn:aws:iam::123456789012:role/deploy", Warnings: []string{"duration clamped to 1h: role chaining", "second"},
		},
		"long-lived keys, no optional fields": {
			AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s", Region: "cn-north-1", Partition: "aws-cn", Connector: "c", ConnectorID: "id",
		},
		"empty warnings list":      {Warnings: []string{}},
		"zero value":               {},
		"other zone and nanos":     {Expiration: time.Date(2027, 1, 2, 3, 4, 5, 6, time.FixedZone("x", -5*3600-30*60))},
		"escapes":                  {Connector: "a\"b\\c\n\r\t\b\f\x00\x1f<>&\u2028\u2029é日本", Region: "\xff\xfe", Partition: "ok\xc3"},
		"warning with html and nl": {Warnings: []string{"<script>&\n"}},
	}
	for name, r := range cases {
		got, ok := appendVendResult(nil, r)
		if !ok {
			t.Errorf("%s: fell back to encoding/json", name)
			continue
		}
		if want := encodeStd(t, r); !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// TestAppendVendResultFallsBack: a year encoding/json refuses is left to
// it, with the buffer untouched, so the error path stays the standard one.
func TestAppendVendResultFallsBack(t *testing.T) {
	for _, y := range []int{-1, 10000} {
		r := &credbroker.VendResult{Expiration: time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)}
		got, ok := appendVendResult([]byte("x"), r)
		if ok || string(got) != "x" {
			t.Errorf("year %d: ok %v, buffer %q; want a fallback with the buffer as it was", y, ok, got)
		}
		if err := json.NewEncoder(new(bytes.Buffer)).Encode(r); err == nil {
			t.Errorf("year %d: encoding/json accepted it; the fallback is not needed", y)
		}
	}
}

// FuzzAppendVendResult: for any strings, the hand-written encoder writes
// exactly what encoding/json writes.
func FuzzAppendVendResult(f *testing.F) {
	f.Add("ASIAX", "secret/+=", "tok", "us-east-1", "warn\n<&>", int64(1700000000), int32(5))
	f.Add("\xff", "\u2028", "\x00", "é", "", int64(0), int32(0))
	f.Fuzz(func(t *testing.T, id, secret, token, region, warning string, sec int64, nsec int32) {
		r := &credbroker.VendResult{
			AccessKeyID: id, SecretAccessKey: secret, SessionToken: token, Region: region,
			Partition: strings.ToUpper(region), Connector: warning, ConnectorID: id + secret, RoleARN: token,
			Expiration: time.Unix(sec%(1<<40), int64(nsec)%1e9).UTC(),
		}
		if warning != "" {
			r.Warnings = []string{warning, region}
		}
		got, ok := appendVendResult(nil, r)
		var want bytes.Buffer
		err := json.NewEncoder(&want).Encode(r)
		if !ok {
			if err == nil {
				t.Fatalf("fell back for %+v, which encoding/json encodes", r)
			}
			return
		}
		if err != nil {
			t.Fatalf("encoded %+v, which encoding/json refuses: %v", r, err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("\n got %s\nwant %s", got, want.Bytes())
		}
	})
}

func BenchmarkEncodeVendResult(b *testing.B) {
	r := &credbroker.VendResult{
		AccessKeyID: "ASIAEXAMPLEKEY12345", SecretAccessKey: strings.Repeat("s", 40), SessionToken: strings.Repeat("t", 800),
		Expiration: time.Now().Add(time.Hour), Region: "us-east-1", Partition: "aws", Connector: "deploy",
		ConnectorID: "con_0123456789abcdef", RoleARN: "arn:aws:iam::123456789012:role/deploy",
	}
	b.Run("encoding-json", func(b *testing.B) {
		var buf bytes.Buffer
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if err := json.NewEncoder(&buf).Encode(r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("hand-written", func(b *testing.B) {
		var buf []byte
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = appendVendResult(buf[:0], r)
		}
	})
}
