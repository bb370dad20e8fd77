package credbroker

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestMaskKeyID(t *testing.T) {
	for in, want := range map[string]string{"": "", "AKIAIOSFODNN7EXAMPLE": "****MPLE", "SHORT": "****", "12345678": "****", "123456789": "****6789"} {
		if got := MaskKeyID(in); got != want {
			t.Errorf("MaskKeyID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCredentialsNeverPrintSecrets(t *testing.T) {
	c := Credentials{AccessKeyID: "ASIAEXAMPLEKEYID1234", SecretAccessKey: "the-secret-key", SessionToken: "the-session-token", Expires: time.Now().Add(time.Hour), Source: "test"}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("creds", "c", c)
	out := buf.String() + c.String() + fmt.Sprint(c) + fmt.Sprintf("%v %s", c, c)
	for _, s := range []string{"the-secret-key", "the-session-token", "ASIAEXAMPLEKEYID1234"} {
		if strings.Contains(out, s) {
			t.Fatalf("%q printed: %s", s, out)
		}
	}
	if !strings.Contains(out, "****1234") {
		t.Fatalf("masked key ID missing: %s", out)
	}
}

func TestSessionName(t *testing.T) {
	cases := []struct {
		b    Build
		want string
	}{
		{Build{}, "credbroker"},
		{Build{Plan: "OPS-DEPLOY", Number: "42"}, "OPS-DEPLOY-42"},
		{Build{Plan: "OPS-DEPLOY", Job: "OPS-DEPLOY-JOB1", Number: "42"}, "OPS-DEPLOY-JOB1-42"},
		{Build{Plan: "OPS-DEPLOY", Job: "JOB1", Number: "7"}, "OPS-DEPLOY-JOB1-7"},
		{Build{Plan: "a b/c", Number: "1"}, "a-b-c-1"},
	}
	for _, c := range cases {
		if got := SessionName(c.b); got != c.want {
			t.Errorf("SessionName(%+v) = %q, want %q", c.b, got, c.want)
		}
	}
	long := SessionName(Build{Plan: strings.Repeat("P", 80), Number: "123456"})
	if len(long) > 64 || !strings.HasSuffix(long, "-123456") || !ValidSTSName(long, 64) {
		t.Errorf("long name %q", long)
	}
}

func FuzzSessionName(f *testing.F) {
	f.Add("OPS-DEPLOY", "42", "JOB1")
	f.Add("", "", "")
	f.Add("ünïcödé plan", "#1", "a/b")
	f.Fuzz(func(t *testing.T, plan, number, job string) {
		n := SessionName(Build{Plan: plan, Number: number, Job: job})
		if !ValidSTSName(n, 64) {
			t.Fatalf("SessionName gave %q, which STS refuses", n)
		}
	})
}

func chain(n int) []AuditRecord {
	var recs []AuditRecord
	seq, hash := int64(0), AuditGenesis
	for i := range n {
		r := AuditRecord{Time: time.Date(2026, 1, 1, 0, 0, i, 123456789, time.UTC), Action: ActionVend, Plan: "OPS-A", Outcome: OutcomeGranted, AccessKeyID: fmt.Sprint("ASIA", i)}
		r.Chain(seq, hash)
		seq, hash = r.Seq, r.Hash
		recs = append(recs, r)
	}
	return recs
}

func TestVerifyAudit(t *testing.T) {
	recs := chain(5)
	if p, last, _ := VerifyAudit(0, AuditGenesis, recs); len(p) != 0 || last != 5 {
		t.Fatalf("clean chain: %v", p)
	}
	edited := chain(5)
	edited[2].Plan = "OPS-B"
	if p, _, _ := VerifyAudit(0, AuditGenesis, edited); len(p) != 1 || p[0].Seq != 3 || !strings.Contains(p[0].Problem, "edited") {
		t.Fatalf("edited: %v", p)
	}
	deleted := append(chain(5)[:2:2], chain(5)[3:]...)
	if p, _, _ := VerifyAudit(0, AuditGenesis, deleted); len(p) == 0 || p[0].Seq != 4 || !strings.Contains(p[0].Problem, "missing") {
		t.Fatalf("deleted: %v", p)
	}
	swapped := chain(5)
	swapped[1], swapped[2] = swapped[2], swapped[1]
	if p, _, _ := VerifyAudit(0, AuditGenesis, swapped); len(p) == 0 {
		t.Fatal("reordered records passed")
	}
	// Microsecond truncation keeps the hash stable across stores.
	r := recs[0]
	r.Time = r.Time.Truncate(time.Microsecond)
	if r.ComputeHash() != recs[0].Hash {
		t.Fatal("hash changed after a round trip at microsecond precision")
	}
}

func TestErrors(t *testing.T) {
	e := Errorf(CodeInvalid, "region", "unknown region %q", "mars-1").WithFix("use us-east-1")
	if e.Error() != `region: unknown region "mars-1"; use us-east-1` {
		t.Fatalf("%q", e.Error())
	}
	wrapped := fmt.Errorf("context: %w", e.WithCause(errors.New("raw db text")))
	if ErrorCode(wrapped) != CodeInvalid || AsError(wrapped) != e {
		t.Fatal("code lost through wrapping")
	}
	if PublicMessage(wrapped) != e.Error() || strings.Contains(PublicMessage(wrapped), "raw db text") {
		t.Fatalf("public message %q", PublicMessage(wrapped))
	}
	if PublicMessage(errors.New("pq: secret table")) == "pq: secret table" || ErrorCode(errors.New("x")) != CodeInternal {
		t.Fatal("a plain error's text would reach a client")
	}
}

func TestTokenActive(t *testing.T) {
	now := time.Now()
	tok := &Token{}
	if !tok.Active(now) {
		t.Fatal("token without expiry inactive")
	}
	tok.ExpiresAt = now
	if tok.Active(now) {
		t.Fatal("token active at its expiry")
	}
	tok.ExpiresAt, tok.RevokedAt = time.Time{}, now.Add(-time.Second)
	if tok.Active(now) {
		t.Fatal("revoked token active")
	}
}
