package policy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

const connS3 = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "Read", "Effect": "Allow", "Action": ["s3:Get*", "s3:List*"], "Resource": ["arn:aws:s3:::artifacts", "arn:aws:s3:::artifacts/*"]},
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::artifacts/builds/*",
     "Condition": {"StringEquals": {"s3:x-amz-acl": "private"}}},
    {"Sid": "Read", "Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
  ]
}`

var connARNs = []string{
	"arn:aws:iam::aws:policy/ReadOnlyAccess",
	"arn:aws:iam::123456789012:policy/deploy",
}

func TestNarrowAccepts(t *testing.T) {
	tests := []struct {
		name       string
		conn, req  Set
		wantPolicy string // "" for none; compared as JSON
		wantARNs   []string
	}{
		{
			name:       "empty request keeps the connector's set",
			conn:       Set{Policy: connS3, ARNs: connARNs},
			req:        Set{},
			wantPolicy: connS3,
			wantARNs:   connARNs,
		},
		{
			name:       "connector without session policies accepts any valid request",
			conn:       Set{},
			req:        Set{Policy: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`, ARNs: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
			wantPolicy: `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`,
			wantARNs:   []string{"arn:aws:iam::aws:policy/AdministratorAccess"},
		},
		{
			name:       "narrower inline policy gets the connector's denies",
			conn:       Set{Policy: connS3},
			req:        Set{Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/builds/*"}]}`},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Action":"s3:GetObject","Effect":"Allow","Resource":"arn:aws:s3:::artifacts/builds/*"},{"Action":"s3:DeleteBucket","Effect":"Deny","Resource":"*"}]}`,
		},
		{
			name:       "conditional connector statement covers the same condition",
			conn:       Set{Policy: connS3},
			req:        Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::artifacts/builds/42/*","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}}}]}`},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Action":"s3:PutObject","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}},"Effect":"Allow","Resource":"arn:aws:s3:::artifacts/builds/42/*"},{"Action":"s3:DeleteBucket","Effect":"Deny","Resource":"*"}]}`,
		},
		{
			name: "request deny statements of any form are fine",
			conn: Set{Policy: connS3},
			req: Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::artifacts"},
				{"Effect":"Deny","NotAction":"s3:ListBucket","NotResource":"arn:aws:s3:::artifacts"}]}`},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Action":"s3:ListBucket","Effect":"Allow","Resource":"arn:aws:s3:::artifacts"},{"Effect":"Deny","NotAction":"s3:ListBucket","NotResource":"arn:aws:s3:::artifacts"},{"Action":"s3:DeleteBucket","Effect":"Deny","Resource":"*"}]}`,
		},
		{
			name:     "subset of managed policies",
			conn:     Set{ARNs: connARNs},
			req:      Set{ARNs: connARNs[1:]},
			wantARNs: connARNs[1:],
		},
		{
			name:       "ARNs only still carry the connector's denies",
			conn:       Set{Policy: connS3, ARNs: connARNs},
			req:        Set{ARNs: connARNs[:1]},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Action":"s3:DeleteBucket","Effect":"Deny","Resource":"*"}]}`,
			wantARNs:   connARNs[:1],
		},
		{
			name:       "case-insensitive actions",
			conn:       Set{Policy: connS3},
			req:        Set{Policy: `{"Statement":{"Effect":"Allow","Action":"S3:GETOBJECT","Resource":"arn:aws:s3:::artifacts/x"}}`},
			wantPolicy: `{"Version":"2012-10-17","Statement":[{"Action":"S3:GETOBJECT","Effect":"Allow","Resource":"arn:aws:s3:::artifacts/x"},{"Action":"s3:DeleteBucket","Effect":"Deny","Resource":"*"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Narrow(tt.conn, tt.req)
			if err != nil {
				t.Fatalf("Narrow: %v", err)
			}
			if !jsonEqual(t, got.Policy, tt.wantPolicy) {
				t.Errorf("policy:\n got %s\nwant %s", got.Policy, tt.wantPolicy)
			}
			if !slices.Equal(got.ARNs, tt.wantARNs) {
				t.Errorf("ARNs = %v, want %v", got.ARNs, tt.wantARNs)
			}
			if got.Policy != "" {
				if _, err := Validate("result", got.Policy); err != nil {
					t.Errorf("result is not a valid policy: %v", err)
				}
			}
		})
	}
}

func TestNarrowRefuses(t *testing.T) {
	tests := []struct {
		name      string
		conn, req Set
		code      credbroker.Code
		field     string
		msg       string
	}{
		{
			name: "ARN not among the connector's",
			conn: Set{Policy: connS3, ARNs: connARNs},
			req:  Set{ARNs: []string{"arn:aws:iam::aws:policy/AdministratorAccess"}},
			code: credbroker.CodeForbidden, field: "policy_arns", msg: "AdministratorAccess",
		},
		{
			name: "ARN when the connector has only an inline policy",
			conn: Set{Policy: connS3},
			req:  Set{ARNs: connARNs[:1]},
			code: credbroker.CodeForbidden, field: "policy_arns", msg: "ReadOnlyAccess",
		},
		{
			name: "inline policy when the connector has only ARNs",
			conn: Set{ARNs: connARNs},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "no inline session policy",
		},
		{
			name: "wider action",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":["s3:GetObject","s3:*"],"Resource":"arn:aws:s3:::artifacts/x"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: `Statement allows "s3:*" on "arn:aws:s3:::artifacts/x"`,
		},
		{
			name: "wider resource",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::artifacts/x","arn:aws:s3:::other/*"]}]}`},
			code: credbroker.CodeForbidden, field: "policy", msg: `Statement[0] allows "s3:GetObject" on "arn:aws:s3:::other/*"`,
		},
		{
			name: "pair split across two connector statements",
			conn: Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::a/*"},{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]}`},
			req:  Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/x"}]}`},
			code: credbroker.CodeForbidden, field: "policy", msg: `"s3:GetObject" on "arn:aws:s3:::b/x"`,
		},
		{
			name: "dropping the connector's condition",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::artifacts/builds/1"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "s3:PutObject",
		},
		{
			name: "a different condition",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::artifacts/builds/1","Condition":{"StringEquals":{"s3:x-amz-acl":"public-read"}}}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "s3:PutObject",
		},
		{
			name: "NotAction in an Allow",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","NotAction":"s3:*","Resource":"*"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "NotAction or NotResource",
		},
		{
			name: "NotResource in an Allow",
			conn: Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","NotResource":"arn:aws:s3:::secret/*"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "NotAction or NotResource",
		},
		{
			name: "connector NotAction allow cannot cover",
			conn: Set{Policy: `{"Statement":{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}}`},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`},
			code: credbroker.CodeForbidden, field: "policy", msg: "s3:GetObject",
		},
		{
			name: "invalid request policy",
			conn: Set{Policy: connS3},
			req:  Set{Policy: `{"Statement":{"Effect":"Allow","Action":"s3:GetObject"}}`},
			code: credbroker.CodeInvalid, field: "policy.Statement.Resource", msg: "no Resource",
		},
		{
			name: "denies make the result too large",
			conn: Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Deny","Action":"s3:DeleteBucket","Resource":"arn:aws:s3:::` + strings.Repeat("d", 1000) + `"}]}`},
			req:  Set{Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::` + strings.Repeat("r", 1000) + `"}]}`},
			code: credbroker.CodeUnprocessable, field: "policy", msg: "at most 2048",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Narrow(tt.conn, tt.req)
			e := credbroker.AsError(err)
			if e == nil {
				t.Fatalf("Narrow = %+v, %v; want an error", got, err)
			}
			if e.Code != tt.code || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got code=%s field=%q message=%q; want code=%s field=%q message containing %q",
					e.Code, e.Field, e.Message, tt.code, tt.field, tt.msg)
			}
		})
	}
}

func TestNarrowDoesNotAliasARNs(t *testing.T) {
	conn := Set{ARNs: slices.Clone(connARNs)}
	got, err := Narrow(conn, Set{})
	if err != nil {
		t.Fatal(err)
	}
	got.ARNs[0] = "changed"
	if conn.ARNs[0] == "changed" {
		t.Fatal("Narrow returned the connector's slice")
	}
}

func jsonEqual(t *testing.T, a, b string) bool {
	t.Helper()
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if err := json.Unmarshal([]byte(a), &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func BenchmarkNarrow(b *testing.B) {
	conn := Set{Policy: connS3, ARNs: connARNs}
	req := Set{
		Policy: `{"Version":"2012-10-17","Statement":[
			{"Effect":"Allow","Action":["s3:GetObject","s3:ListBucket"],"Resource":["arn:aws:s3:::artifacts","arn:aws:s3:::artifacts/builds/*"]},
			{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::artifacts/builds/7/*","Condition":{"StringEquals":{"s3:x-amz-acl":"private"}}},
			{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::artifacts/secret/*"}]}`,
		ARNs: connARNs[:1],
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Narrow(conn, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate("policy", connS3); err != nil {
			b.Fatal(err)
		}
	}
}
