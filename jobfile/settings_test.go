package jobfile

import (
	"strings"
	"testing"
)

var settingKeys = []string{"listen", "sts-rate", "sts-endpoint", "database-url"}

func TestParseSettings(t *testing.T) {
	got, err := ParseSettings("c.yaml", []byte("listen: 127.0.0.1:8420\nsts-endpoint: [https://a, https://b]\n# a comment\nsts-rate: 50\n"), settingKeys)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Key != "listen" || got[0].Value != "127.0.0.1:8420" || got[0].Line != 1 || got[0].List ||
		!got[1].List || strings.Join(got[1].Values, " ") != "https://a https://b" || got[1].Line != 2 ||
		got[2].Key != "sts-rate" || got[2].Value != "50" || got[2].Line != 4 {
		t.Fatalf("%+v", got)
	}
	for _, empty := range []string{"", "# nothing\n", "~\n"} {
		if got, err := ParseSettings("c.yaml", []byte(empty), settingKeys); err != nil || len(got) != 0 {
			t.Errorf("%q: %v, %v", empty, got, err)
		}
	}
	_, err = ParseSettings("c.yaml", []byte("listen: a\n---\nlisten: b\n"), settingKeys)
	if err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Fatalf("two documents: %v", err)
	}
	_, err = ParseSettings("c.yaml", []byte("listen: [a\n"), settingKeys)
	if err == nil || !strings.Contains(err.Error(), "c.yaml:") {
		t.Fatalf("broken YAML: %v", err)
	}
}

// FuzzParseSettings: any input gives settings or errors with a line, and
// no error repeats a value.
func FuzzParseSettings(f *testing.F) {
	f.Add([]byte("listen: 127.0.0.1:8420\nsts-rate: 50\n"))
	f.Add([]byte("database-url: postgres://u:pw@h/d\nsts-endpoint: [a, b]\n"))
	f.Add([]byte("listen: {a: b}\nlisten: x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseSettings("f.yaml", data, settingKeys)
		if err != nil {
			es, ok := err.(Errors)
			if !ok || len(es) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
		}
		for _, s := range got {
			if s.Line <= 0 {
				t.Fatalf("setting %q without a line", s.Key)
			}
			if err != nil && len(s.Value) >= 6 && strings.Contains(err.Error(), s.Value) && !strings.Contains(s.Value, s.Key) {
				t.Fatalf("the error repeats the value %q: %v", s.Value, err)
			}
		}
	})
}
