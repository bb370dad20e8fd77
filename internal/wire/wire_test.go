package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The shapes encoding/json writes, which the encoders must reproduce.
type container struct {
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	Token           string `json:"Token"`
	Expiration      string `json:"Expiration"`
}

type process struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	Expiration      string `json:"Expiration,omitempty"`
}

func std(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func stdContainer(t testing.TB, cr credbroker.Credentials) []byte {
	return std(t, container{cr.AccessKeyID, cr.SecretAccessKey, cr.SessionToken, cr.Expires.UTC().Format(time.RFC3339)})
}

func stdProcess(t testing.TB, cr credbroker.Credentials) []byte {
	p := process{Version: 1, AccessKeyID: cr.AccessKeyID, SecretAccessKey: cr.SecretAccessKey, SessionToken: cr.SessionToken}
	if cr.CanExpire() {
		p.Expiration = cr.Expires.UTC().Format(time.RFC3339)
	}
	return std(t, p)
}

func TestEncodersMatchEncodingJSON(t *testing.T) {
	exp := time.Date(2026, 12, 1, 22, 51, 3, 120000000, time.FixedZone("x", 3600))
	cases := map[string]credbroker.Credentials{
		"session":          {AccessKeyID: "ASIAEXAMPLEKEY", SecretAccessKey: "wJalr/XUtnFEMI+K7MDENG", SessionToken: "FwoGZXIvYXdzE==", Expires: exp},
		"long-lived keys":  {AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s"},
		"zero value":       {},
		"escapes":          {AccessKeyID: "a\"b\\c\n\r\t\b\f\x00\x1f<>&\u2028\u2029é日本", SecretAccessKey: "\xff\xfe", SessionToken: "ok\xc3", Expires: exp},
		"far future, UTC":  {AccessKeyID: "A", SecretAccessKey: "B", Expires: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
		"only the token":   {SessionToken: strings.Repeat("t", 800), Expires: exp},
		"expiry, no token": {AccessKeyID: "A", SecretAccessKey: "B", Expires: exp},
	}
	for name, cr := range cases {
		if got, want := AppendProcess(nil, cr), stdProcess(t, cr); !bytes.Equal(got, want) {
			t.Errorf("%s: credential_process:\n got %s\nwant %s", name, got, want)
		}
		if cr.CanExpire() {
			if got, want := AppendContainer(nil, cr), stdContainer(t, cr); !bytes.Equal(got, want) {
				t.Errorf("%s: container:\n got %s\nwant %s", name, got, want)
			}
		}
	}
	if got := AppendString([]byte("x"), "y"); string(got) != `x"y"` {
		t.Errorf("AppendString does not append: %q", got)
	}
}

// FuzzEncoders: for any strings and times, the encoders write exactly what
// encoding/json writes.
func FuzzEncoders(f *testing.F) {
	f.Add("ASIAX", "secret/+=", "tok", int64(1700000000), int32(5))
	f.Add("\xff", "\u2028", "\x00<&>", int64(0), int32(0))
	f.Add("", "", "", int64(-62135596800), int32(0))
	f.Fuzz(func(t *testing.T, id, secret, token string, sec int64, nsec int32) {
		cr := credbroker.Credentials{AccessKeyID: id, SecretAccessKey: secret, SessionToken: token,
			Expires: time.Unix(sec%(1<<38), int64(nsec)%1e9)}
		if got, want := AppendProcess(nil, cr), stdProcess(t, cr); !bytes.Equal(got, want) {
			t.Fatalf("credential_process:\n got %s\nwant %s", got, want)
		}
		if got, want := AppendContainer(nil, cr), stdContainer(t, cr); !bytes.Equal(got, want) {
			t.Fatalf("container:\n got %s\nwant %s", got, want)
		}
	})
}

func TestCacheEncodesEachSetOnce(t *testing.T) {
	calls := 0
	c := NewCache(func(b []byte, cr credbroker.Credentials) []byte {
		calls++
		return AppendProcess(b, cr)
	})
	exp := time.Now().Add(time.Hour)
	a := credbroker.Credentials{AccessKeyID: "ASIAONE", SecretAccessKey: "s1", SessionToken: "t1", Expires: exp}
	first, length := c.Answer(a)
	if length[0] != strconv.Itoa(len(first)) {
		t.Fatalf("length %v of a %d-byte answer", length, len(first))
	}
	if again, _ := c.Answer(a); &again[0] != &first[0] || calls != 1 {
		t.Fatalf("the same credentials were encoded %d times", calls)
	}
	// The same instant in another zone is the same answer.
	a2 := a
	a2.Expires = exp.In(time.FixedZone("y", -7200))
	c.Answer(a2)
	if calls != 1 {
		t.Fatalf("the same instant in another zone was encoded again")
	}
	for _, change := range []func(*credbroker.Credentials){
		func(cr *credbroker.Credentials) { cr.AccessKeyID = "ASIATWO" },
		func(cr *credbroker.Credentials) { cr.SecretAccessKey = "s2" },
		func(cr *credbroker.Credentials) { cr.SessionToken = "t2" },
		func(cr *credbroker.Credentials) { cr.Expires = exp.Add(time.Second) },
	} {
		b := a
		change(&b)
		n := calls
		if got, l := c.Answer(b); !bytes.Equal(got, AppendProcess(nil, b)) || l[0] != strconv.Itoa(len(got)) || calls != n+1 {
			t.Fatalf("changed credentials %v: encoded %d more times, body %s", b, calls-n, got)
		}
		if got, _ := c.Answer(a); !bytes.Equal(got, first) {
			t.Fatalf("back to the first credentials: %s", got)
		}
	}
}

func BenchmarkCache(b *testing.B) {
	cr := credbroker.Credentials{AccessKeyID: "ASIABENCH", SecretAccessKey: strings.Repeat("s", 40), SessionToken: strings.Repeat("t", 800), Expires: time.Now().Add(time.Hour)}
	c := NewCache(AppendContainer)
	b.ReportAllocs()
	for b.Loop() {
		c.Answer(cr)
	}
}
