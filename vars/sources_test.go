package vars

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

func TestSourcesLayering(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	s := Sources{
		BrokerGlobal: []Var{{Name: "a", Value: "broker-global"}, {Name: "onlyBrokerGlobal", Value: "bg"}},
		GlobalFiles:  []string{write("global.vars", "a=global-file\nb=global-file\n")},
		BrokerPlan:   []Var{{Name: "b", Value: "broker-plan"}, {Name: "c", Value: "broker-plan"}},
		Job:          []Var{{Name: "c", Value: "job"}, {Name: "d", Value: "job"}},
		PlanFiles:    []string{write("one.vars", "d=file-one\ne=file-one\n"), write("two.vars", "e=file-two\nf=file-two\n")},
		Assignments:  []string{"f=flag", "g=flag", "secret h=flag-secret"},
		RuntimeFile:  write("runtime", "g=runtime\nsecret i=runtime-secret\n"),
	}
	vs, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"onlyBrokerGlobal": "bg", "a": "global-file", "b": "broker-plan", "c": "job", "d": "file-one",
		"e": "file-two", "f": "flag", "g": "runtime", "h": "flag-secret", "i": "runtime-secret",
	} {
		if v, ok := vs.Lookup(name); !ok || v.Value != want {
			t.Errorf("%s = %q (%v), want %q", name, v.Value, ok, want)
		}
	}
	if got := strings.Join(vs.Secrets(), ","); got != "flag-secret,runtime-secret" {
		t.Errorf("secrets %q", got)
	}

	// A runtime file that does not exist yet holds no variables.
	s.RuntimeFile = filepath.Join(dir, "not-written-yet")
	if _, err := s.Load(); err != nil {
		t.Fatalf("missing runtime file: %v", err)
	}
}

func TestSourcesErrorsNameTheFlag(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.vars")
	if err := os.WriteFile(bad, []byte("secret tokenPassword s3cr3t-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		s     Sources
		field string
		msg   string
	}{
		{Sources{GlobalFiles: []string{filepath.Join(dir, "none")}}, "--global-vars", "cannot read variables file"},
		{Sources{PlanFiles: []string{filepath.Join(dir, "none")}}, "--vars", "no such file or directory"},
		{Sources{PlanFiles: []string{bad}}, bad + ":1", "expected NAME=VALUE"},
		{Sources{Assignments: []string{"novalue"}}, "--var", "expected NAME=VALUE"},
		{Sources{RuntimeFile: bad}, bad + ":1", "expected NAME=VALUE"},
	}
	for _, c := range cases {
		_, err := c.s.Load()
		e := credbroker.AsError(err)
		if e == nil || e.Field != c.field || !strings.Contains(e.Message, c.msg) || e.Code != credbroker.CodeInvalid {
			t.Errorf("%+v: got %v, want field %s and %q", c.s, err, c.field, c.msg)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t-value") {
			t.Errorf("the error repeats a value: %v", err)
		}
	}
	// A runtime file that cannot be read is an error, unlike one that does
	// not exist yet.
	if _, err := (Sources{RuntimeFile: dir}).Load(); err == nil {
		t.Fatal("a directory as the runtime file was read as empty")
	}
}

// The CI layer lies below Global, is asked only for referenced names no
// layer defines, and what it gives is masked by the naming rule.
func TestSourcesCILayer(t *testing.T) {
	env := map[string]string{
		"bamboo_awsSecretKeyPassword": "ci-secret-value",
		"bamboo_region":               "ci-region",
		"bamboo_custom_bucket":        "ci-bucket",
		"bamboo_unreferencedPassword": "never-read",
	}
	var asked []string
	s := Sources{
		Assignments: []string{"region=flag-region"},
		CI: func(name string) (string, bool) {
			asked = append(asked, name)
			v, ok := env["bamboo_"+strings.ReplaceAll(name, ".", "_")]
			return v, ok
		},
	}
	vs, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 0 || len(vs.Secrets()) != 0 {
		t.Fatalf("the CI layer was read before any reference: %v", asked)
	}
	got, err := vs.Expand("secret_access_key", "${bamboo.awsSecretKeyPassword} ${region} ${custom.bucket}")
	if err != nil || got != "ci-secret-value flag-region ci-bucket" {
		t.Fatalf("got %q, %v", got, err)
	}
	if strings.Join(asked, ",") != "awsSecretKeyPassword,custom.bucket" {
		t.Fatalf("asked for %v", asked)
	}
	if sec := vs.Secrets(); len(sec) != 1 || sec[0] != "ci-secret-value" {
		t.Fatalf("secrets %v", sec)
	}
	// Read once: the value is a variable from then on.
	vs.Expand("f", "${awsSecretKeyPassword}")
	if len(asked) != 2 {
		t.Fatalf("asked again: %v", asked)
	}
	if v, ok := vs.Clone().Lookup("awsSecretKeyPassword"); !ok || !v.Secret || len(asked) != 2 {
		t.Fatalf("clone: %+v %v, asked %v", v, ok, asked)
	}
	var names []string
	for _, v := range vs.All() {
		names = append(names, v.Name)
	}
	if strings.Join(names, ",") != "awsSecretKeyPassword,custom.bucket,region" {
		t.Fatalf("All: %v", names)
	}
	// A higher layer shadows it.
	vs.Set(Runtime, "awsSecretKeyPassword", "runtime-value", true)
	if v, _ := vs.Lookup("awsSecretKeyPassword"); v.Value != "runtime-value" {
		t.Fatalf("runtime: %q", v.Value)
	}
	_, err = vs.Expand("connector", "${deployConnector}")
	e := credbroker.AsError(err)
	if e == nil || !strings.Contains(e.Fix, "bamboo_deployConnector in the environment") {
		t.Fatalf("undefined: %v", err)
	}
	if strings.Contains(fmtAll(vs), "never-read") {
		t.Fatal("an unreferenced CI variable was read")
	}
}

func fmtAll(vs *Set) string {
	var b strings.Builder
	for _, v := range vs.All() {
		b.WriteString(v.Value + "\n")
	}
	return b.String() + strings.Join(vs.Secrets(), "\n")
}
