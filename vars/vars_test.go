package vars

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/credbroker/credbroker"
)

func TestIsSecretName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"awsSessionTokenPassword", true},
		{"AWS_SECRET", true},
		{"myToken", true},
		{"TOKEN", true},
		{"db.password", true},
		{"DB_PASSWORD", true},
		{"gpgPassphrase", true},
		{"deploySshKey", true},
		{"SSHKEY", true},
		{"sshkey_path", true},
		{"secretary", true}, // over-masking is the safe side
		{"region", false},
		{"awsAccessKeyId", false},
		{"ssh_key", false}, // "sshKey" is one word; an underscore breaks it
		{"pass", false},
		{"tok", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := IsSecretName(tt.name); got != tt.want {
			t.Errorf("IsSecretName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCheckName(t *testing.T) {
	good := []string{"x", "region", "bamboo.region", "a.b-c_D9", strings.Repeat("n", MaxNameLen)}
	for _, n := range good {
		if err := CheckName("name", n); err != nil {
			t.Errorf("CheckName(%q) = %v, want nil", n, err)
		}
	}
	// "bamboo.bamboo.x" would be the variable "bamboo.x", which every
	// lookup reads as "x": refused, so no name is stored that no reference
	// can reach (found by FuzzParseFile).
	bad := []string{"", "bamboo.", "bamboo.bamboo.", "bamboo.bamboo.x", "a b", "a$b", "a=b", "ä", strings.Repeat("n", MaxNameLen+1), "x}"}
	for _, n := range bad {
		err := CheckName("name", n)
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeInvalid || e.Field != "name" || e.Fix == "" {
			t.Errorf("CheckName(%q) = %#v, want a CodeInvalid *credbroker.Error on field name with a fix", n, err)
		}
	}
}

func TestSetPrecedence(t *testing.T) {
	var s Set // the zero value is usable
	s.Set(Global, "region", "us-east-1", false)
	s.Set(Plan, "bamboo.region", "eu-west-1", false)
	s.Set(Global, "only.global", "g", false)

	v, ok := s.Lookup("region")
	if !ok || v.Value != "eu-west-1" {
		t.Fatalf("plan should win over global: got %+v, %v", v, ok)
	}
	s.Set(Runtime, "region", "ap-south-1", false)
	if v, _ := s.Lookup("bamboo.region"); v.Value != "ap-south-1" || v.Name != "region" {
		t.Fatalf("runtime should win over plan: got %+v", v)
	}
	if v, ok := s.Lookup("only.global"); !ok || v.Value != "g" {
		t.Fatalf("global lookup: got %+v, %v", v, ok)
	}
	if _, ok := s.Lookup("missing"); ok {
		t.Fatal("Lookup of an undefined name reported ok")
	}
}

func TestSetSecretness(t *testing.T) {
	s := New()
	s.Set(Global, "plain", "v1", false)
	s.Set(Global, "marked", "v2", true)
	s.Set(Global, "awsSessionTokenPassword", "v3", false)
	for name, want := range map[string]bool{"plain": false, "marked": true, "awsSessionTokenPassword": true} {
		if v, _ := s.Lookup(name); v.Secret != want {
			t.Errorf("%s: Secret = %v, want %v", name, v.Secret, want)
		}
	}
}

func TestSecretsIncludesShadowedAndDedupes(t *testing.T) {
	s := New()
	s.Set(Global, "dbPassword", "global-pw", false)
	s.Set(Plan, "dbPassword", "plan-pw", false) // shadows the global value
	s.Set(Runtime, "apiKey", "plan-pw", true)   // same value again
	s.Set(Runtime, "emptySecret", "", true)     // empty values are not masks
	s.Set(Plan, "region", "eu-west-1", false)   // not secret
	got := s.Secrets()
	want := []string{"global-pw", "plan-pw"}
	if !slices.Equal(got, want) {
		t.Fatalf("Secrets() = %q, want %q", got, want)
	}
}

func TestAllEffectiveSorted(t *testing.T) {
	s := New()
	s.Set(Runtime, "b", "rb", false)
	s.Set(Global, "b", "gb", false)
	s.Set(Global, "a", "ga", false)
	s.Set(Plan, "c", "pc", true)
	got := s.All()
	want := []Var{{"a", "ga", false}, {"b", "rb", false}, {"c", "pc", true}}
	if !slices.Equal(got, want) {
		t.Fatalf("All() = %+v, want %+v", got, want)
	}
}

func TestCloneIsIndependent(t *testing.T) {
	s := New()
	s.Set(Global, "a", "1", false)
	c := s.Clone()
	c.Set(Global, "a", "2", false)
	c.Set(Plan, "b", "3", false)
	s.Set(Runtime, "z", "4", false)
	if v, _ := s.Lookup("a"); v.Value != "1" {
		t.Errorf("original changed by clone: a = %q", v.Value)
	}
	if _, ok := s.Lookup("b"); ok {
		t.Error("variable set on the clone appeared in the original")
	}
	if _, ok := c.Lookup("z"); ok {
		t.Error("variable set on the original appeared in the clone")
	}
	if v, _ := c.Lookup("a"); v.Value != "2" {
		t.Errorf("clone: a = %q, want 2", v.Value)
	}
}

func TestSetInvalidLayerPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Set with an invalid layer did not panic")
		}
	}()
	New().Set(Layer(7), "a", "b", false)
}

func TestLoad(t *testing.T) {
	s := New()
	s.Load(Plan, []Var{{Name: "bamboo.a", Value: "1"}, {Name: "b", Value: "2", Secret: true}})
	if v, _ := s.Lookup("a"); v.Value != "1" {
		t.Errorf("a = %q", v.Value)
	}
	if v, _ := s.Lookup("b"); !v.Secret {
		t.Error("b lost its secret mark")
	}
}

// TestConcurrentUse is for the race detector.
func TestConcurrentUse(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				name := fmt.Sprintf("v%d", i%10)
				s.Set(Layer(g%3), name, "x", g%2 == 0)
				s.Lookup(name)
				s.Secrets()
				s.All()
				s.Clone()
				_, _ = s.Expand("f", "${"+name+"}")
			}
		})
	}
	wg.Wait()
}

func testSet() *Set {
	s := New()
	s.Set(Global, "region", "us-east-1", false)
	s.Set(Plan, "region", "eu-west-1", false)
	s.Set(Global, "accountId", "123456789012", false)
	s.Set(Global, "deployRole", "deployer", false)
	s.Set(Runtime, "awsSessionTokenPassword", "TOKEN!value", false)
	s.Set(Global, "nested", "${region}", false)
	s.Set(Global, "dollar", "$", false)
	s.Set(Global, "empty", "", false)
	s.Set(Global, "a.b-c_D9", "odd", false)
	s.Set(Global, "bamboo.x", "bx", false) // defines x
	return s
}

func TestExpand(t *testing.T) {
	s := testSet()
	tests := []struct {
		text string
		want string
	}{
		{"", ""},
		{"plain text", "plain text"},
		{"${region}", "eu-west-1"},
		{"${bamboo.region}", "eu-west-1"},
		{"${x}/${bamboo.x}", "bx/bx"},
		{"arn:aws:iam::${accountId}:role/${bamboo.deployRole}", "arn:aws:iam::123456789012:role/deployer"},
		{"${awsSessionTokenPassword}", "TOKEN!value"},
		{"[${empty}]", "[]"},
		{"${a.b-c_D9}", "odd"},
		{"no recursion: ${nested}", "no recursion: ${region}"},
		{"${dollar}{region}", "${region}"},
		{"$${region}", "${region}"},
		{"$${", "${"},
		{"$$${region}", "$${region}"},
		{"cost $5", "cost $5"},
		{"$", "$"},
		{"$$", "$$"},
		{"a$b$", "a$b$"},
		{"{region}", "{region}"},
		{"}${region}{", "}eu-west-1{"},
		{"$${region} and ${region}", "${region} and eu-west-1"},
		{"ünïcode ${region} ✓", "ünïcode eu-west-1 ✓"},
	}
	for _, tt := range tests {
		got, err := s.Expand("field", tt.text)
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tt.text, got, err, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	s := testSet()
	tests := []struct {
		text    string
		message string
	}{
		{"${missing}", `undefined variable "missing"`},
		{"${bamboo.missing}", `undefined variable "missing"`},
		{"${bamboo.bamboo.x}", `variable name repeats the "bamboo." prefix at column 1`},
		{"ok ${region} ${nope}", `undefined variable "nope"`},
		{"${region", `unterminated "${" at column 1`},
		{"abc ${", `unterminated "${" at column 5`},
		{"x\ny ${", `unterminated "${" at line 2, column 3`},
		{"${}", `empty reference "${}" at column 1`},
		{"é ${bamboo.}", "empty variable name at column 3"},
		{"${a b}", "invalid character in variable name at column 4"},
		{"${bamboo.a/b}", "invalid character in variable name at column 11"},
		{"ab\n\n  ${$}", "invalid character in variable name at line 3, column 5"},
		{"${" + strings.Repeat("n", MaxNameLen+1) + "}", "variable name longer than 255 characters at column 1"},
	}
	for _, tt := range tests {
		got, err := s.Expand("connector", tt.text)
		if err == nil {
			t.Errorf("Expand(%q) = %q, want an error", tt.text, got)
			continue
		}
		var e *credbroker.Error
		if !errors.As(err, &e) {
			t.Errorf("Expand(%q): error %T is not a *credbroker.Error", tt.text, err)
			continue
		}
		if e.Code != credbroker.CodeInvalid || e.Field != "connector" || e.Fix == "" {
			t.Errorf("Expand(%q): error %+v: want CodeInvalid, Field connector and a fix", tt.text, e)
		}
		if e.Message != tt.message {
			t.Errorf("Expand(%q): message %q, want %q", tt.text, e.Message, tt.message)
		}
		if got != "" {
			t.Errorf("Expand(%q) returned %q with its error", tt.text, got)
		}
	}
}

func TestExpandUndefinedFix(t *testing.T) {
	_, err := New().Expand("connector", "${bamboo.deployConnector}")
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("want *credbroker.Error, got %v", err)
	}
	if !strings.Contains(e.Fix, "--var deployConnector=VALUE") || !strings.Contains(e.Fix, "--vars") || !strings.Contains(e.Fix, "runtime variable") {
		t.Errorf("fix %q does not say how to define the variable", e.Fix)
	}
	if want := `connector: undefined variable "deployConnector"; ` + e.Fix; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

// TestExpandErrorsHoldNoValue checks that a failing expansion that also
// holds good references does not leak their values.
func TestExpandErrorsHoldNoValue(t *testing.T) {
	s := testSet()
	for _, text := range []string{
		"${awsSessionTokenPassword} ${missing}",
		"${awsSessionTokenPassword} ${",
		"${awsSessionTokenPassword} ${a b}",
	} {
		_, err := s.Expand("f", text)
		if err == nil {
			t.Fatalf("Expand(%q): no error", text)
		}
		if strings.Contains(err.Error(), "TOKEN!value") {
			t.Errorf("Expand(%q): error %q holds a secret value", text, err)
		}
	}
}

func TestExpandNoDollarReturnsSameString(t *testing.T) {
	s := testSet()
	text := strings.Repeat("plain ", 100)
	allocs := testing.AllocsPerRun(100, func() {
		got, err := s.Expand("f", text)
		if err != nil || got != text {
			t.Fatal("plain text changed")
		}
	})
	if allocs != 0 {
		t.Errorf("Expand of plain text allocated %v times", allocs)
	}
}
