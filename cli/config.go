package cli

import (
	"errors"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
)

// configFlag is the flag that names serve's settings file.
const configFlag = "config"

// envForFlag is the environment variable that sets a flag of serve:
// CREDBROKER_ and the flag's name in capitals, dashes as underscores
// (--sts-rate: CREDBROKER_STS_RATE).
func envForFlag(name string) string {
	return "CREDBROKER_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applySettings gives each flag of cmd that the command line did not set
// its value from the environment (envForFlag), else from the settings
// file that --config (or $CREDBROKER_CONFIG) names: flags first, then the
// environment, then the file, then the defaults. Every problem of the
// file is reported at once, with its line; values are never repeated in
// an error, since a value may be a secret.
func (a *app) applySettings(cmd *cobra.Command) error {
	flags := settableFlags(cmd)
	var errs []error
	fromEnv := map[string]bool{}
	for _, f := range flags {
		if f.Changed {
			continue
		}
		env := envForFlag(f.Name)
		v, ok := a.getenv(env)
		if !ok || v == "" {
			continue
		}
		if err := setFlag(f, []string{v}, false); err != nil {
			errs = append(errs, credbroker.Errorf(credbroker.CodeInvalid, "$"+env, "%s for --%s", err.Error(), f.Name).WithFix(fixFor(f)))
			continue
		}
		fromEnv[f.Name] = true
	}
	path, _ := cmd.Flags().GetString(configFlag)
	if path == "" {
		path = a.env(envForFlag(configFlag))
	}
	if path != "" {
		known := make([]string, 0, len(flags))
		byName := map[string]*pflag.Flag{}
		for _, f := range flags {
			known = append(known, f.Name)
			byName[f.Name] = f
		}
		sort.Strings(known)
		settings, err := jobfile.LoadSettings(path, known)
		var bad jobfile.Errors
		if err != nil {
			fileErrs, ok := err.(jobfile.Errors)
			if !ok || len(settings) == 0 {
				return err
			}
			bad = append(bad, fileErrs...)
		}
		for _, s := range settings {
			f := byName[s.Key]
			if f.Changed || fromEnv[f.Name] {
				continue // the command line and the environment win
			}
			vals := s.Values
			if !s.List {
				vals = []string{s.Value}
			}
			if err := setFlag(f, vals, s.List); err != nil {
				bad = append(bad, &credbroker.Error{Code: credbroker.CodeInvalid, File: path, Line: s.Line, Field: s.Key, Message: err.Error(), Fix: fixFor(f)})
			}
		}
		if len(bad) > 0 {
			sort.SliceStable(bad, func(i, j int) bool { return bad[i].Line < bad[j].Line })
			errs = append(errs, bad)
		}
	}
	return joinErrors(errs)
}

// settableFlags are the flags of cmd a settings file may set: its own and
// the global ones, but not --help or --config itself.
func settableFlags(cmd *cobra.Command) []*pflag.Flag {
	var out []*pflag.Flag
	add := func(f *pflag.Flag) {
		if f.Name != "help" && f.Name != configFlag {
			out = append(out, f)
		}
	}
	cmd.Flags().VisitAll(add)
	cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
		if cmd.Flags().Lookup(f.Name) == nil {
			add(f)
		}
	})
	return out
}

// setFlag sets f to vals; list says they came as a list, which only a
// flag that takes several values accepts.
func setFlag(f *pflag.Flag, vals []string, list bool) error {
	_, multi := f.Value.(pflag.SliceValue)
	if list && !multi {
		return errors.New("takes one value, not a list")
	}
	for _, v := range vals {
		if err := f.Value.Set(v); err != nil {
			return errors.New("not a valid " + typeName(f))
		}
	}
	f.Changed = true
	return nil
}

// typeName says in words what a flag's value is.
func typeName(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "duration":
		return "duration"
	case "int", "int64":
		return "whole number"
	case "float64":
		return "number"
	case "bool":
		return "true or false"
	}
	return "value"
}

// fixFor is the fix of a bad value for f: an example of a good one.
func fixFor(f *pflag.Flag) string {
	switch f.Value.Type() {
	case "duration":
		return "write a duration such as 30s, 5m or 1h"
	case "int", "int64":
		return "write a whole number such as 20"
	case "float64":
		return "write a number such as 100 or 2.5"
	case "bool":
		return "write true or false"
	}
	return "see credbroker serve --help for --" + f.Name
}

// joinErrors is nil for no errors, the error itself for one, and all of
// them, one per line, for several.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	var all jobfile.Errors
	for _, err := range errs {
		switch e := err.(type) {
		case jobfile.Errors:
			all = append(all, e...)
		default:
			if ce := credbroker.AsError(err); ce != nil {
				all = append(all, ce)
			}
		}
	}
	return all
}
