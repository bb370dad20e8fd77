package credbroker

import (
	"strings"
	"testing"
)

func TestAccountOfARN(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sts::123456789012:assumed-role/deploy/OPS-DEPLOY-42": "123456789012",
		"arn:aws-cn:sts::210987654321:federated-user/ci":              "210987654321",
		"arn:aws:iam::123456789012:role/path/with:colon":              "123456789012",
		"arn:aws:iam::aws:policy/ReadOnlyAccess":                      "",
		"arn:aws:sts::12345678901:assumed-role/x/y":                   "",
		"":                                     "",
		"not:an:arn:at:all:123456789012":       "",
		"arn:aws:sts::123456789012":            "",
		"arn:aws:s3:::bucket/123456789012:x:y": "",
	} {
		if got := AccountOfARN(arn); got != want {
			t.Errorf("AccountOfARN(%q) = %q, want %q", arn, got, want)
		}
	}
}

func TestCheckAccount(t *testing.T) {
	allowed := []string{"111111111111", "222222222222"}
	if err := CheckAccount("f", nil, "333333333333", "x"); err != nil {
		t.Fatalf("no guard: %v", err)
	}
	if err := CheckAccount("f", allowed, "222222222222", "x"); err != nil {
		t.Fatalf("allowed: %v", err)
	}
	e := AsError(CheckAccount("f", allowed, "333333333333", "the credentials"))
	if e == nil || e.Code != CodeForbidden || e.Field != "f" ||
		e.Message != "account 333333333333 of the credentials is not an allowed account (111111111111, 222222222222)" {
		t.Fatalf("got %#v", e)
	}
	e = AsError(CheckAccount("f", allowed, "", "the credentials"))
	if e == nil || e.Code != CodeUnprocessable || !strings.Contains(e.Message, "not known") {
		t.Fatalf("unknown account: %#v", e)
	}
}

func TestCheckAccountIDs(t *testing.T) {
	if err := CheckAccountIDs("ids", []string{"012345678901"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ids   []string
		field string
		msg   string
	}{
		{[]string{"012345678901", "12345678901"}, "ids[1]", `"12345678901" is not an AWS account ID`},
		{[]string{"１２３４５６７８９０１２"}, "ids[0]", "not an AWS account ID"},
		{[]string{strings.Repeat("9", 40)}, "ids[0]", "not an AWS account ID"},
	} {
		e := AsError(CheckAccountIDs("ids", tt.ids))
		if e == nil || e.Code != CodeInvalid || e.Field != tt.field || e.Message != tt.msg && !strings.HasSuffix(e.Message, tt.msg) {
			t.Errorf("%q: got %#v", tt.ids, e)
		}
		if e != nil && len(tt.ids[len(tt.ids)-1]) > 20 && strings.Contains(e.Message, tt.ids[0]) {
			t.Errorf("a long value is repeated: %q", e.Message)
		}
	}
}
