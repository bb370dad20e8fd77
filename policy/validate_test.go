package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name, doc, compact string
	}{
		{
			name:    "statement array",
			doc:     "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"arn:aws:s3:::b/*\"}\n  ]\n}",
			compact: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`,
		},
		{
			name:    "single statement object, no version",
			doc:     `{"Statement":{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"*"}}`,
			compact: `{"Statement":{"Effect":"Deny","NotAction":["iam:*","sts:*"],"NotResource":"*"}}`,
		},
		{
			name:    "old version, Id, Sid, Condition",
			doc:     `{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Allow","Action":["s3:List*"],"Resource":["*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1","eu-west-2"]},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10}}}]}`,
			compact: `{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"A1","Effect":"Allow","Action":["s3:List*"],"Resource":["*"],"Condition":{"StringEquals":{"aws:RequestedRegion":["eu-west-1","eu-west-2"]},"Bool":{"aws:SecureTransport":true},"NumericLessThan":{"s3:max-keys":10}}}]}`,
		},
		{
			name:    "spaces inside strings are kept",
			doc:     `{ "Statement" : [ { "Effect" : "Allow" , "Action" : "*" , "Resource" : "arn:aws:s3:::my bucket/a b" } ] }`,
			compact: `{"Statement":[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::my bucket/a b"}]}`,
		},
		{
			name:    "latin-1 characters",
			doc:     `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/café"}]}`,
			compact: `{"Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/café"}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validate("policy", tt.doc)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if got != tt.compact {
				t.Errorf("compact:\n got %s\nwant %s", got, tt.compact)
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	allow := `"Effect":"Allow","Action":"s3:*","Resource":"*"`
	tests := []struct {
		name  string
		doc   string
		code  credbroker.Code
		field string
		msg   string // substring of the message
	}{
		{"empty", "  ", credbroker.CodeInvalid, "policy", "empty"},
		{"syntax error has line and column", "{\n  \"Statement\": [\n    {\"Effect\": \"Allow\" \"Action\": \"s3:*\"}\n  ]\n}", credbroker.CodeInvalid, "policy", "line 3, column 24"},
		{"truncated", `{"Statement":[`, credbroker.CodeInvalid, "policy", "line 1, column 15"},
		{"trailing data", `{"Statement":[{` + allow + `}]} x`, credbroker.CodeInvalid, "policy", "not valid JSON"},
		{"not an object", `["Allow"]`, credbroker.CodeInvalid, "policy", "JSON object"},
		{"null", `null`, credbroker.CodeInvalid, "policy", "JSON object"},
		{"bad version", `{"Version":"2012-10-18","Statement":[{` + allow + `}]}`, credbroker.CodeInvalid, "policy.Version", "Version must be"},
		{"numeric version", `{"Version":2012,"Statement":[{` + allow + `}]}`, credbroker.CodeInvalid, "policy.Version", "Version must be"},
		{"unknown top element", `{"Statement":[{` + allow + `}],"statement":[]}`, credbroker.CodeInvalid, "policy.statement", "unknown policy element"},
		{"no statement", `{"Version":"2012-10-17"}`, credbroker.CodeInvalid, "policy.Statement", "no Statement"},
		{"empty statement array", `{"Statement":[]}`, credbroker.CodeInvalid, "policy.Statement", "empty array"},
		{"statement string", `{"Statement":"x"}`, credbroker.CodeInvalid, "policy.Statement", "object or an array"},
		{"statement element not object", `{"Statement":[{` + allow + `},3]}`, credbroker.CodeInvalid, "policy.Statement[1]", "JSON object"},
		{"no effect", `{"Statement":[{` + allow + `},{"Action":"s3:*","Resource":"*"}]}`, credbroker.CodeInvalid, "policy.Statement[1].Effect", "no Effect"},
		{"lowercase effect", `{"Statement":[{"Effect":"allow","Action":"s3:*","Resource":"*"}]}`, credbroker.CodeInvalid, "policy.Statement[0].Effect", `"Allow" or "Deny"`},
		{"no action", `{"Statement":{"Effect":"Allow","Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.Action", "no Action"},
		{"action and notaction", `{"Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"iam:*","Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.NotAction", "not both"},
		{"resource and notresource", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","NotResource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.NotResource", "not both"},
		{"no resource", `{"Statement":{"Effect":"Allow","Action":"s3:*"}}`, credbroker.CodeInvalid, "policy.Statement.Resource", "no Resource"},
		{"empty action array", `{"Statement":{"Effect":"Allow","Action":[],"Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.Action", "empty array"},
		{"action number", `{"Statement":{"Effect":"Allow","Action":5,"Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.Action", "string or an array"},
		{"action mixed array", `{"Statement":{"Effect":"Allow","Action":["s3:*",5],"Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.Action", "string or an array"},
		{"action without service", `{"Statement":{"Effect":"Allow","Action":["s3:*","GetObject"],"Resource":"*"}}`, credbroker.CodeInvalid, "policy.Statement.Action[1]", "is not an action"},
		{"resource not arn", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"bucket"}}`, credbroker.CodeInvalid, "policy.Statement.Resource", "is not a resource"},
		{"principal", `{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}}`, credbroker.CodeUnprocessable, "policy.Statement.Principal", "cannot name a Principal"},
		{"not principal", `{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"x"},"Action":"s3:*","Resource":"*"}]}`, credbroker.CodeUnprocessable, "policy.Statement[0].NotPrincipal", "NotPrincipal"},
		{"unknown statement element", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Actions":"x"}}`, credbroker.CodeInvalid, "policy.Statement.Actions", "unknown statement element"},
		{"condition not object", `{"Statement":{` + allow + `,"Condition":"x"}}`, credbroker.CodeInvalid, "policy.Statement.Condition", "Condition must be"},
		{"condition operator not object", `{"Statement":{` + allow + `,"Condition":{"StringEquals":"x"}}}`, credbroker.CodeInvalid, "policy.Statement.Condition.StringEquals", "condition operator"},
		{"condition value object", `{"Statement":{` + allow + `,"Condition":{"StringEquals":{"k":{"a":1}}}}}`, credbroker.CodeInvalid, "policy.Statement.Condition.StringEquals.k", "condition value"},
		{"sid number", `{"Statement":{"Sid":1,` + allow + `}}`, credbroker.CodeInvalid, "policy.Statement.Sid", "Sid must be"},
		{"duplicate key", `{"Statement":{` + allow + `,"Effect":"Deny"}}`, credbroker.CodeInvalid, "policy.Statement.Effect", "appears twice"},
		{"character outside latin-1", `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::b/中"}}`, credbroker.CodeInvalid, "policy", "U+4E2D at line 1, column 75"},
		{"control character", "{\"Statement\":\x01}", credbroker.CodeInvalid, "policy", "U+0001"},
		{"invalid utf-8", "{\"Statement\":\"\xff\"}", credbroker.CodeInvalid, "policy", "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Validate("policy", tt.doc)
			e := credbroker.AsError(err)
			if e == nil {
				t.Fatalf("Validate = %v, want a *credbroker.Error", err)
			}
			if e.Code != tt.code || e.Field != tt.field || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("got code=%s field=%q message=%q; want code=%s field=%q message containing %q",
					e.Code, e.Field, e.Message, tt.code, tt.field, tt.msg)
			}
		})
	}
}

func TestValidateSize(t *testing.T) {
	// One statement with a resource long enough to land exactly on the
	// limit, then one character over it.
	head := `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::`
	tail := `"}}`
	fill := MaxSize - len(head) - len(tail)
	exact := head + strings.Repeat("a", fill) + tail
	if _, err := Validate("policy", exact); err != nil {
		t.Fatalf("policy of exactly %d characters refused: %v", MaxSize, err)
	}
	// Whitespace outside strings does not count.
	spaced := strings.ReplaceAll(exact, `","`, "\",\n    \"")
	if _, err := Validate("policy", spaced); err != nil {
		t.Fatalf("policy of %d characters plus whitespace refused: %v", MaxSize, err)
	}
	over := head + strings.Repeat("a", fill+1) + tail
	_, err := Validate("policy", over)
	e := credbroker.AsError(err)
	if e == nil || e.Code != credbroker.CodeUnprocessable || !strings.Contains(e.Message, "2049 characters") || !strings.Contains(e.Message, "at most 2048") {
		t.Fatalf("over-long policy: %v", err)
	}
	// Latin-1 characters count once, though UTF-8 takes two bytes.
	latin := head + strings.Repeat("é", fill) + tail
	if _, err := Validate("policy", latin); err != nil {
		t.Fatalf("policy of %d latin-1 characters refused: %v", MaxSize, err)
	}
	huge := strings.Repeat(" ", maxRaw) + exact
	if _, err := Validate("policy", huge); credbroker.ErrorCode(err) != credbroker.CodeUnprocessable {
		t.Fatalf("huge input: %v", err)
	}
}

func TestValidateErrorIsDomainError(t *testing.T) {
	_, err := Validate("connector.policy", `{`)
	var e *credbroker.Error
	if !errors.As(err, &e) || e.Field != "connector.policy" {
		t.Fatalf("err = %#v", err)
	}
}
