package vars

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

// fuzzValues are the values of the fuzz set. Each holds '!', which no
// variable name and no error text can hold, so finding one in an error
// means the error leaked a value.
var fuzzValues = map[string]string{
	"a":                       "!alpha-value!",
	"region":                  "eu-west-1!",
	"awsSessionTokenPassword": "!S3cr3t/t0ken+==!",
	"x.y-z_1":                 "!dotted!",
	"refs":                    "!${a}!",
}

func FuzzExpand(f *testing.F) {
	for _, seed := range []string{
		"",
		"plain text",
		"${a}",
		"${bamboo.region}",
		"arn:aws:iam::${a}:role/${x.y-z_1}",
		"$${a} $$ $ ${refs}",
		"${",
		"${}",
		"${bamboo.}",
		"${a b}",
		"${missing} ${awsSessionTokenPassword}",
		"${awsSessionTokenPassword} ${",
		"line\n${a}\n${é}",
		"$$${a}",
	} {
		f.Add(seed, "!fuzzed!")
	}
	f.Fuzz(func(t *testing.T, text, extra string) {
		s := New()
		values := []string{}
		for name, v := range fuzzValues {
			s.Set(Global, name, v, false)
			values = append(values, v)
		}
		// One more value from the fuzzer, marked so that it cannot be a
		// name or part of a message.
		extra = "!" + extra + "!"
		s.Set(Runtime, "extra", extra, true)
		values = append(values, extra)

		out, err := s.Expand("field", text)
		if err != nil {
			if out != "" {
				t.Errorf("output %q returned with error %v", out, err)
			}
			if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeInvalid || e.Field != "field" {
				t.Fatalf("error %#v is not a CodeInvalid *credbroker.Error on field", err)
			}
			msg := err.Error()
			for _, v := range values {
				if strings.Contains(msg, v) {
					t.Fatalf("error %q holds the value %q", msg, v)
				}
			}
			if strings.Contains(msg, "!") {
				t.Fatalf("error %q holds a '!', which only values have", msg)
			}
			return
		}
		if !strings.Contains(text, "$") && out != text {
			t.Fatalf("text without '$' changed: %q became %q", text, out)
		}
		if !strings.Contains(text, "${") && out != text {
			t.Fatalf("text without references changed: %q became %q", text, out)
		}
	})
}

// digits matches the numbers in an error: line, column, character.
var digits = regexp.MustCompile(`[0-9]+`)

// fileMessages are the only messages ParseFile may return, numbers aside:
// none can carry any part of the input.
var fileMessages = []string{
	problemNoEquals, problemSpace, problemValueLong, problemLineLong, problemFileLarge,
	problemEmpty, problemTooLong, problemPrefix, problemChar + " (character # of the name)",
}

func FuzzParseFile(f *testing.F) {
	for _, seed := range []string{
		"",
		"a=1\n",
		"# comment\n\nregion=eu-west-1\r\n",
		"secret export dbPassword=p@ss=word\n",
		"export x=\n",
		"secret\n",
		"bad line\n",
		"=value\n",
		"a b=c\n",
		"bamboo.bamboo.=x\n",
		"bamboo.bamboo.region=x\n",
		"bamboo.=x\n",
		"a=1\na=2\nsecret a=3\n",
		"\r\n\t# x\r\n secret   a=\r\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := ParseFile(strings.NewReader(string(data)), "src")
		if err != nil {
			errs := []error{err}
			if j, ok := err.(interface{ Unwrap() []error }); ok {
				errs = j.Unwrap()
			}
			for _, err := range errs {
				e := credbroker.AsError(err)
				if e == nil || e.Code != credbroker.CodeInvalid {
					t.Fatalf("error %#v is not a CodeInvalid *credbroker.Error", err)
				}
				if e.Field == "src" && digits.ReplaceAllString(e.Message, "#") == "# more bad lines" {
					continue
				}
				line, ok := strings.CutPrefix(e.Field, "src:")
				n, convErr := strconv.Atoi(line)
				if !ok || convErr != nil || n < 1 || n > strings.Count(string(data), "\n")+1 {
					t.Fatalf("field %q does not name a line of the input", e.Field)
				}
				if !slices.ContainsFunc(fileMessages, func(m string) bool {
					return digits.ReplaceAllString(m, "#") == digits.ReplaceAllString(e.Message, "#")
				}) {
					t.Fatalf("message %q is not one of the fixed messages", e.Message)
				}
			}
		}
		// Every valid line is taken, bad lines or not (issue 11: a bad
		// line must not unmask the good ones): the variables are those
		// of the lines that parse on their own, the last value and any
		// secret mark of a name winning. Only an unreadable tail (a file
		// or line over the limits) ends the reading early.
		if len(data) <= MaxFileSize && !strings.Contains(err2s(err), problemLineLong) {
			want := map[string]Var{}
			var order []string
			for _, l := range strings.SplitAfter(string(data), "\n") {
				l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
				v, skip, problem, _ := parseLine(l, true)
				if skip || problem != "" {
					continue
				}
				if old, ok := want[v.Name]; ok {
					v.Secret = v.Secret || old.Secret
				} else {
					order = append(order, v.Name)
				}
				want[v.Name] = v
			}
			if len(order) != len(vs) {
				t.Fatalf("%d variables taken, want the %d of the valid lines (%v)", len(vs), len(order), err)
			}
			for i, name := range order {
				if vs[i] != want[name] {
					t.Fatalf("variable %d is %+v, want %+v", i, vs[i], want[name])
				}
			}
		}
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, v := range vs {
			if err := CheckName("name", v.Name); err != nil || Canonical(v.Name) != v.Name {
				t.Fatalf("parsed an invalid or prefixed name %q", v.Name)
			}
			if seen[v.Name] {
				t.Fatalf("name %q returned twice", v.Name)
			}
			seen[v.Name] = true
			if strings.Contains(v.Value, "\n") || len(v.Value) > MaxValueLen {
				t.Fatalf("value of %q holds a newline or is too long", v.Name)
			}
			if IsSecretName(v.Name) && !v.Secret {
				t.Fatalf("%q is secret by name but not marked", v.Name)
			}
		}
		// Writing the variables back gives the same variables, except for
		// values ending in CR, which the format cannot carry.
		var b strings.Builder
		for _, v := range vs {
			if strings.HasSuffix(v.Value, "\r") {
				return
			}
			if v.Secret {
				b.WriteString("secret ")
			}
			b.WriteString(v.Name + "=" + v.Value + "\n")
		}
		again, err := ParseFile(strings.NewReader(b.String()), "again")
		if err != nil {
			t.Fatalf("re-parsing the written variables: %v", err)
		}
		if !slices.Equal(again, vs) {
			t.Fatalf("round trip changed the variables:\n%+v\n%+v", vs, again)
		}
	})
}

// err2s is err's text, "" for nil.
func err2s(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func BenchmarkExpand(b *testing.B) {
	s := New()
	s.Set(Global, "accountId", "123456789012", false)
	s.Set(Plan, "deployRole", "deployer-prod", false)
	s.Set(Global, "region", "eu-west-1", false)
	b.Run("two-refs", func(b *testing.B) {
		text := "arn:aws:iam::${bamboo.accountId}:role/${deployRole}"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Expand("role_arn", text); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("no-refs", func(b *testing.B) {
		text := "arn:aws:iam::123456789012:role/deployer-prod"
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Expand("role_arn", text); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzReferences: References finds the references Expand substitutes.
// With every name it finds defined, Expand never meets an undefined one.
func FuzzReferences(f *testing.F) {
	for _, s := range []string{"${a}", "x${bamboo.b}y", "$${a}", "$$${a}", "${a${b}}", "${}", "${a", "${bamboo.}", "${ bad }", "€${é}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		vs := New()
		for _, ref := range References(text) {
			vs.Set(Plan, ref, "v", false)
		}
		_, err := vs.Expand("f", text)
		if err != nil && strings.Contains(err.Error(), "undefined variable") {
			t.Fatalf("References(%q) = %q, but Expand says: %v", text, References(text), err)
		}
	})
}
