package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
)

// outputFlag is --output (-o), the one output switch of every command that
// prints something in more than one form: table (or a command's own
// text) and json everywhere, plus a command's own formats (export's env
// and ini). Spellings users already have stay accepted as aliases.
type outputFlag struct {
	value   string
	formats []string          // the formats, the default first
	aliases map[string]string // alias -> format
	given   bool
}

// addOutput registers --output on cmd with formats (the first is the
// default) and aliases of them, and returns it.
func addOutput(cmd *cobra.Command, formats []string, aliases map[string]string, usage string) *outputFlag {
	o := &outputFlag{value: formats[0], formats: formats, aliases: aliases}
	cmd.Flags().VarP(o, "output", "o", usage)
	return o
}

// addAlias registers another flag name for the same switch (export's
// --format), hidden from --help.
func (o *outputFlag) addAlias(cmd *cobra.Command, name string) {
	cmd.Flags().Var(o, name, "same as --output")
	_ = cmd.Flags().MarkHidden(name)
}

// String implements pflag.Value.
func (o *outputFlag) String() string { return o.value }

// Type implements pflag.Value: the word --help shows for the value.
func (o *outputFlag) Type() string { return "format" }

// Set implements pflag.Value.
func (o *outputFlag) Set(s string) error {
	v := s
	if a, ok := o.aliases[s]; ok {
		v = a
	}
	if !slices.Contains(o.formats, v) {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "unknown format %q", s).
			WithFix("use " + orList(o.formats))
	}
	if o.given && v != o.value {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "the output format is given twice, as %s and %s", o.value, v).
			WithFix("give --output once")
	}
	o.value, o.given = v, true
	return nil
}

// is reports whether the output format is f.
func (o *outputFlag) is(f string) bool { return o.value == f }

// orList renders "a, b or c".
func orList(vs []string) string {
	if len(vs) < 2 {
		return strings.Join(vs, "")
	}
	return strings.Join(vs[:len(vs)-1], ", ") + " or " + vs[len(vs)-1]
}

// durationFlag is a duration flag: 90s, 15m, 1h30m, or a bare number of
// seconds (900), as a job file's durations are written
// (jobfile.ParseDuration). Every --duration takes one.
type durationFlag struct{ d time.Duration }

// String implements pflag.Value.
func (f *durationFlag) String() string {
	if f.d == 0 {
		return ""
	}
	return credbroker.FormatDuration(f.d)
}

// Type implements pflag.Value.
func (f *durationFlag) Type() string { return "duration" }

// Set implements pflag.Value.
func (f *durationFlag) Set(s string) error {
	d, err := jobfile.ParseDuration(s)
	if err != nil || d <= 0 {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "%q is not a duration", s).
			WithFix("write a duration such as 900s, 30m or 1h (a bare number is seconds)")
	}
	f.d = d
	return nil
}

// addDuration registers a duration flag.
func addDuration(fs *pflag.FlagSet, name, usage string) *durationFlag {
	f := &durationFlag{}
	fs.Var(f, name, usage)
	return f
}

// flagError turns a flag parsing error into the one error family the CLI
// prints: a problem of a flag's value keeps its own message and fix, with
// the flag as its field.
func flagError(c *cobra.Command, err error) error {
	var iv *pflag.InvalidValueError
	if errors.As(err, &iv) {
		if e := credbroker.AsError(iv.Unwrap()); e != nil {
			out := *e
			out.Field = "--" + iv.GetFlag().Name
			return &out
		}
	}
	return credbroker.Errorf(credbroker.CodeInvalid, "flags", "%s", err).WithFix(fmt.Sprintf("see `%s --help`", c.CommandPath()))
}
