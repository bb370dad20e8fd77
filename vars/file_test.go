package vars

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/credbroker/credbroker"
)

func TestParseFile(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Var
	}{
		{"empty", "", nil},
		{"comments and blanks", "# comment\n\n   \n\t# indented comment\n", nil},
		{"simple", "region=eu-west-1\n", []Var{{"region", "eu-west-1", false}}},
		{"no final newline", "a=1\nb=2", []Var{{"a", "1", false}, {"b", "2", false}}},
		{"value literal", `q="quoted" 'x' \n $HOME ${y}  ` + "\n", []Var{{"q", `"quoted" 'x' \n $HOME ${y}  `, false}}},
		{"equals in value", "url=https://x/?a=b&c=d\n", []Var{{"url", "https://x/?a=b&c=d", false}}},
		{"empty value", "e=\n", []Var{{"e", "", false}}},
		{"hash in value", "h=a # not a comment\n", []Var{{"h", "a # not a comment", false}}},
		{"secret marker", "secret apiKey=abc\n", []Var{{"apiKey", "abc", true}}},
		{"secret by name", "dbPassword=abc\n", []Var{{"dbPassword", "abc", true}}},
		{"export", "export region=x\n", []Var{{"region", "x", false}}},
		{"secret export", "secret export k=v\n", []Var{{"k", "v", true}}},
		{"keywords with tabs", "secret\t\texport\tk=v\n", []Var{{"k", "v", true}}},
		{"variable called secret", "secret=v\n", []Var{{"secret", "v", true}}},
		{"variable called export", "export=v\n", []Var{{"export", "v", false}}},
		{"indented", "   a=1\n", []Var{{"a", "1", false}}},
		{"bamboo prefix", "bamboo.region=x\n", []Var{{"region", "x", false}}},
		{"crlf", "a=1\r\nb=2\r\n# c\r\n\r\n", []Var{{"a", "1", false}, {"b", "2", false}}},
		{"cr at eof", "a=1\r", []Var{{"a", "1", false}}},
		{"one cr dropped", "a=1\r\r\nb=\r", []Var{{"a", "1\r", false}, {"b", "", false}}},
		{"value leading space kept", "a= 1\n", []Var{{"a", " 1", false}}},
		{
			"later duplicate wins, secret sticks",
			"a=1\nb=2\nsecret a=3\na=4\n",
			[]Var{{"a", "4", true}, {"b", "2", false}},
		},
		{"bamboo duplicate", "x=1\nbamboo.x=2\n", []Var{{"x", "2", false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFile(strings.NewReader(tt.in), "vars.env")
			if err != nil {
				t.Fatalf("ParseFile: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("ParseFile = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// secretValue is a value in bad lines that no error may repeat.
const secretValue = "hunter2-S3CRET-value"

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		field string
		msg   string
	}{
		{"no equals", "ok=1\n" + secretValue + "\n", "ci.env:2", problemNoEquals},
		{"secret no equals", "secret " + secretValue + "\n", "ci.env:1", problemNoEquals},
		{"keyword alone", "secret\n", "ci.env:1", problemNoEquals},
		{"empty name", "=" + secretValue + "\n", "ci.env:1", problemEmpty},
		{"bamboo only", "bamboo.=" + secretValue + "\n", "ci.env:1", problemEmpty},
		{"bamboo twice", "bamboo.bamboo.=" + secretValue + "\n", "ci.env:1", problemPrefix},
		{"bamboo twice before a name", "bamboo.bamboo.region=" + secretValue + "\n", "ci.env:1", problemPrefix},
		{"space before equals", "# c\n\nname =" + secretValue + "\n", "ci.env:3", problemSpace},
		{"bad char", "my name=" + secretValue + "\n", "ci.env:1", problemChar + " (character 3 of the name)"},
		{"bad char after prefix", "bamboo.a/b=" + secretValue + "\n", "ci.env:1", problemChar + " (character 9 of the name)"},
		{"secret looks like name", "hunter2:S3CRET=" + secretValue + "\n", "ci.env:1", problemChar + " (character 8 of the name)"},
		{"name too long", strings.Repeat("n", MaxNameLen+1) + "=" + secretValue + "\n", "ci.env:1", problemTooLong},
		{"value too long", "a=" + secretValue + strings.Repeat("v", MaxValueLen) + "\n", "ci.env:1", problemValueLong},
		{"line too long", "a=" + strings.Repeat("v", maxLineLen+1) + secretValue + "\n", "ci.env:1", problemLineLong},
		{"crlf bad line", "a=1\r\n" + secretValue + "\r\n", "ci.env:2", problemNoEquals},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFile(strings.NewReader(tt.in), "ci.env")
			if err == nil {
				t.Fatalf("ParseFile = %+v, want an error", got)
			}
			e := credbroker.AsError(err)
			if e == nil {
				t.Fatalf("error %T %v is not a *credbroker.Error", err, err)
			}
			if e.Code != credbroker.CodeInvalid || e.Field != tt.field || e.Fix == "" {
				t.Errorf("error %+v: want CodeInvalid, Field %q and a fix", e, tt.field)
			}
			if e.Message != tt.msg {
				t.Errorf("message %q, want %q", e.Message, tt.msg)
			}
			for _, part := range []string{secretValue, "hunter2", "S3CRET"} {
				if strings.Contains(err.Error(), part) {
					t.Errorf("error %q repeats line content %q", err, part)
				}
			}
		})
	}
}

func TestParseFileTooLarge(t *testing.T) {
	line := "a=" + strings.Repeat("v", 1000) + "\n"
	in := strings.Repeat(line, MaxFileSize/len(line)+2)
	_, err := ParseFile(strings.NewReader(in), "big.env")
	e := credbroker.AsError(err)
	if e == nil || e.Message != problemFileLarge || e.Field != "big.env" {
		t.Fatalf("want file too large on big.env, got %v", err)
	}
	// Exactly at the limit is fine.
	in = in[:MaxFileSize-1]
	in = in[:strings.LastIndexByte(in, '\n')+1]
	in += "b=" + strings.Repeat("w", MaxFileSize-len(in)-3) + "\n"
	if len(in) != MaxFileSize {
		t.Fatalf("test input is %d bytes, want %d", len(in), MaxFileSize)
	}
	vs, err := ParseFile(strings.NewReader(in), "big.env")
	if err != nil {
		t.Fatalf("file of exactly MaxFileSize: %v", err)
	}
	if last := vs[len(vs)-1]; last.Name != "b" {
		t.Fatalf("last variable %q, want b", last.Name)
	}
}

func TestParseFileValueAtLimit(t *testing.T) {
	in := "secret export " + strings.Repeat("n", MaxNameLen) + "=" + strings.Repeat("v", MaxValueLen) + "\r\n"
	vs, err := ParseFile(strings.NewReader(in), "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || len(vs[0].Value) != MaxValueLen {
		t.Fatalf("got %d vars", len(vs))
	}
}

func TestParseFileReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("a=1\n"), iotest.ErrReader(boom))
	_, err := ParseFile(r, "vars.env")
	if !errors.Is(err, boom) {
		t.Fatalf("error %v does not wrap the read error", err)
	}
	if !strings.Contains(err.Error(), "vars.env") {
		t.Errorf("error %q does not name the source", err)
	}
}

func TestParseAssignment(t *testing.T) {
	good := []struct {
		in   string
		want Var
	}{
		{"a=1", Var{"a", "1", false}},
		{"bamboo.a==x=", Var{"a", "=x=", false}},
		{"secret k=v", Var{"k", "v", true}},
		{"myToken=abc", Var{"myToken", "abc", true}},
		{"multi=line\none\r", Var{"multi", "line\none\r", false}},
		{"e=", Var{"e", "", false}},
	}
	for _, tt := range good {
		got, err := ParseAssignment(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseAssignment(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	bad := []string{"", "   ", secretValue, "=" + secretValue, "#a=" + secretValue, "a b=" + secretValue, "a =" + secretValue}
	for _, in := range bad {
		_, err := ParseAssignment(in)
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeInvalid || e.Field != "--var" || e.Fix == "" {
			t.Errorf("ParseAssignment(%q) = %v, want a CodeInvalid error on --var", in, err)
			continue
		}
		if strings.Contains(err.Error(), secretValue) {
			t.Errorf("ParseAssignment(%q): error %q repeats the value", in, err)
		}
	}
}

// TestParseFileTakesValidLines (issue 11, defect 7): a bad line does not
// lose the good ones, which a caller needs to mask their secrets; each bad
// line is reported by its number, never its text.
func TestParseFileTakesValidLines(t *testing.T) {
	in := "a=1\nbad line " + secretValue + "\nsecret mintedToken=" + secretValue + "x\n=" + secretValue + "\nb=2\n"
	vs, err := ParseFile(strings.NewReader(in), "ci.env")
	if err == nil {
		t.Fatal("no error for two bad lines")
	}
	want := []Var{{Name: "a", Value: "1"}, {Name: "mintedToken", Value: secretValue + "x", Secret: true}, {Name: "b", Value: "2"}}
	if len(vs) != len(want) {
		t.Fatalf("variables %+v, want %+v", vs, want)
	}
	for i := range want {
		if vs[i] != want[i] {
			t.Fatalf("variable %d: %+v, want %+v", i, vs[i], want[i])
		}
	}
	msg := err.Error()
	if !strings.Contains(msg, "ci.env:2: ") || !strings.Contains(msg, "ci.env:4: ") || strings.Contains(msg, "ci.env:1") {
		t.Errorf("error %q, want lines 2 and 4", msg)
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "bad line") {
		t.Errorf("error %q repeats a line", msg)
	}
	// Many bad lines: ten named, the rest counted.
	vs, err = ParseFile(strings.NewReader(strings.Repeat("nope\n", 25)+"c=3\n"), "ci.env")
	if len(vs) != 1 || strings.Count(err.Error(), "expected NAME=VALUE") != 10 || !strings.Contains(err.Error(), "15 more bad lines") {
		t.Errorf("25 bad lines: %v, %v", vs, err)
	}
}
