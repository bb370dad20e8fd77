package awscreds

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/credbroker/credbroker"
)

func mustRegion(t testing.TB, region string) Partition {
	t.Helper()
	p, err := LookupRegion(region)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckRoleARN(t *testing.T) {
	aws, cn := mustRegion(t, "us-east-1"), mustRegion(t, "cn-north-1")
	ok := []struct {
		arn string
		p   Partition
	}{
		{"arn:aws:iam::123456789012:role/deploy", aws},
		{"arn:aws:iam::123456789012:role/ci/teams/deploy+x=y,z.w@v-u_t", aws},
		{"arn:aws-cn:iam::123456789012:role/deploy", cn},
		{"arn:aws-us-gov:iam::123456789012:role/d", mustRegion(t, "us-gov-west-1")},
	}
	for _, tt := range ok {
		if err := CheckRoleARN("role_arn", tt.arn, tt.p); err != nil {
			t.Errorf("%s: %v", tt.arn, err)
		}
	}
	bad := []struct {
		arn  string
		p    Partition
		code credbroker.Code
		msg  string
	}{
		{"arn:aws:iam::123456789012:role/deploy", cn, credbroker.CodeUnprocessable,
			`role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"; use arn:aws-cn:iam::... or a region of "aws"`},
		{"arn:aws-cn:iam::123456789012:role/deploy", aws, credbroker.CodeUnprocessable,
			`role ARN is in partition "aws-cn" but region us-east-1 is in "aws"; use arn:aws:iam::... or a region of "aws-cn"`},
		{"arn:aws-mars:iam::123456789012:role/deploy", aws, credbroker.CodeInvalid, `names partition "aws-mars"`},
		{"deploy", aws, credbroker.CodeInvalid, "is not an ARN"},
		{"arn:aws:iam::123456789012", aws, credbroker.CodeInvalid, "is not an ARN"},
		{"arn:aws:s3:::bucket", aws, credbroker.CodeInvalid, `not an IAM ARN (service "s3")`},
		{"arn:aws:iam:us-east-1:123456789012:role/x", aws, credbroker.CodeInvalid, "has a region"},
		{"arn:aws:iam::12345678901:role/x", aws, credbroker.CodeInvalid, "12 digits"},
		{"arn:aws:iam::aws:role/x", aws, credbroker.CodeInvalid, "12 digits"},
		{"arn:aws:iam::123456789012:user/x", aws, credbroker.CodeInvalid, "not a role ARN"},
		{"arn:aws:iam::123456789012:role/", aws, credbroker.CodeInvalid, "name is empty"},
		{"arn:aws:iam::123456789012:role/a b", aws, credbroker.CodeInvalid, "holds ' '"},
		{"arn:aws:iam::123456789012:role/" + strings.Repeat("n", 65), aws, credbroker.CodeInvalid, "at most 64"},
		{"arn:aws:iam::123456789012:role/pa th/x", aws, credbroker.CodeInvalid, "path holds ' '"},
	}
	for _, tt := range bad {
		t.Run(tt.arn, func(t *testing.T) {
			wantError(t, CheckRoleARN("role_arn", tt.arn, tt.p), tt.code, "role_arn", tt.msg)
		})
	}
}

func TestCheckPolicyARNs(t *testing.T) {
	aws := mustRegion(t, "eu-west-1")
	if err := CheckPolicyARNs("policy_arns", []string{
		"arn:aws:iam::aws:policy/ReadOnlyAccess",
		"arn:aws:iam::123456789012:policy/team/deploy",
		"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
	}, aws); err != nil {
		t.Fatal(err)
	}
	if err := CheckPolicyARNs("policy_arns", nil, aws); err != nil {
		t.Fatal(err)
	}
	eleven := make([]string, 11)
	for i := range eleven {
		eleven[i] = fmt.Sprintf("arn:aws:iam::aws:policy/P%d", i)
	}
	wantError(t, CheckPolicyARNs("policy_arns", eleven, aws), credbroker.CodeInvalid, "policy_arns", "at most 10")
	if err := CheckPolicyARNs("policy_arns", eleven[:10], aws); err != nil {
		t.Fatalf("ten ARNs refused: %v", err)
	}
}

func TestCheckPolicyARNsErrors(t *testing.T) {
	aws, gov := mustRegion(t, "eu-west-1"), mustRegion(t, "us-gov-east-1")
	tests := []struct {
		arns  []string
		p     Partition
		code  credbroker.Code
		field string
		msg   string
	}{
		{[]string{"arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B"}, gov, credbroker.CodeUnprocessable, "policy_arns[0]",
			`policy ARN is in partition "aws" but region us-gov-east-1 is in "aws-us-gov"`},
		{[]string{"arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:role/B"}, aws, credbroker.CodeInvalid, "policy_arns[1]", "not a policy ARN"},
		{[]string{"arn:aws:iam::abc:policy/A"}, aws, credbroker.CodeInvalid, "policy_arns[0]", `"aws" for an AWS managed policy`},
		{[]string{"ReadOnlyAccess"}, aws, credbroker.CodeInvalid, "policy_arns[0]", "is not an ARN"},
		{[]string{"arn:aws:iam::aws:policy/" + strings.Repeat("p", 129)}, aws, credbroker.CodeInvalid, "policy_arns[0]", "at most 128"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.arns, ","), func(t *testing.T) {
			wantError(t, CheckPolicyARNs("policy_arns", tt.arns, tt.p), tt.code, tt.field, tt.msg)
		})
	}
}

func FuzzCheckRoleARN(f *testing.F) {
	for _, s := range []string{
		"arn:aws:iam::123456789012:role/deploy",
		"arn:aws-cn:iam::123456789012:role/a/b/c",
		"arn:aws:iam::123456789012:role/",
		"arn:aws:iam:::role/x",
		"arn:::::",
		"arn:aws:iam::123456789012:role/\xff",
		"",
	} {
		f.Add(s, "us-east-1")
		f.Add(s, "cn-north-1")
	}
	f.Fuzz(func(t *testing.T, s, region string) {
		p, err := LookupRegion(region)
		if err != nil {
			return
		}
		err = CheckRoleARN("role_arn", s, p)
		if err == nil {
			a, perr := arn.Parse(s)
			if perr != nil || a.Partition != p.ID || a.Service != "iam" || a.Region != "" ||
				!credbroker.ValidAccountID(a.AccountID) || !strings.HasPrefix(a.Resource, "role/") {
				t.Fatalf("accepted %q in %s", s, p.ID)
			}
			return
		}
		if e := credbroker.AsError(err); e == nil || e.Field != "role_arn" ||
			(e.Code != credbroker.CodeInvalid && e.Code != credbroker.CodeUnprocessable) {
			t.Fatalf("error %#v", err)
		}
	})
}

func FuzzCheckPolicyARNs(f *testing.F) {
	f.Add("arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/x/y")
	f.Add("arn:aws-cn:iam::aws:policy/A", "arn:aws:iam::aws:policy/B")
	f.Add("arn:aws:iam::aws:policy/", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		p := mustRegion(t, "us-east-1")
		err := CheckPolicyARNs("policy_arns", []string{a, b}, p)
		if err != nil {
			if e := credbroker.AsError(err); e == nil || !strings.HasPrefix(e.Field, "policy_arns[") {
				t.Fatalf("error %#v", err)
			}
			return
		}
		for _, s := range []string{a, b} {
			x, perr := arn.Parse(s)
			if perr != nil || x.Partition != "aws" || !strings.HasPrefix(x.Resource, "policy/") {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func BenchmarkCheckRoleARN(b *testing.B) {
	p := mustRegion(b, "us-east-1")
	b.ReportAllocs()
	for b.Loop() {
		if err := CheckRoleARN("role_arn", "arn:aws:iam::123456789012:role/ci/deploy", p); err != nil {
			b.Fatal(err)
		}
	}
}
