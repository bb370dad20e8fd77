package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
	"github.com/credbroker/credbroker/endpoint"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/preflight"
	"github.com/credbroker/credbroker/taskrun"
	"github.com/credbroker/credbroker/vars"
)

// profileFlags are --profile and --default-profile: several named
// credentials for one command, each described by source flags.
type profileFlags struct {
	specs []string
	def   string
}

func (p *profileFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVar(&p.specs, "profile", nil, "a named profile, NAME=FLAG=VALUE,FLAG=VALUE... of the source flags above without their dashes, e.g. "+
		"'prod=role-arn=arn:aws:iam::123456789012:role/deploy,duration=1h' (repeatable); the source flags given outside --profile apply to every profile")
	f.StringVar(&p.def, "default-profile", "", "the profile that is [default] in the config file (default: the one named default, else the first --profile)")
}

// given reports whether profiles are asked for.
func (p *profileFlags) given() bool { return len(p.specs) > 0 || p.def != "" }

// namedSource is one profile's source flags.
type namedSource struct {
	name  string
	flags *sourceFlags
	raw   *jobfile.Credentials
}

// jobFlagNames are the flags of a build's variables and identity, which
// the whole command shares and a profile cannot set.
var jobFlagNames = func() map[string]bool {
	var s sourceFlags
	c := &cobra.Command{}
	s.registerJob(c, false)
	names := map[string]bool{}
	c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
	return names
}

// parse turns the --profile flags into each profile's source flags: the
// source flags of cmd that were given, then the profile's own.
func (p *profileFlags) parse(cmd *cobra.Command) ([]namedSource, error) {
	if len(p.specs) == 0 {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "--default-profile", "given without --profile").
			WithFix("add the profiles: --profile NAME=FLAG=VALUE,...")
	}
	job := jobFlagNames()
	var out []namedSource
	seen := map[string]bool{}
	for _, spec := range p.specs {
		name, rest, _ := strings.Cut(spec, "=")
		field := "--profile " + name
		switch {
		case !endpoint.ValidProfileName(name):
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "--profile", "invalid profile name %q", name).
				WithFix("write --profile NAME=FLAG=VALUE,...; a name is 1 to 64 letters, digits, '_', '.' or '-'")
		case seen[name]:
			return nil, credbroker.Errorf(credbroker.CodeInvalid, field, "profile %s is given twice", name).WithFix("give each profile once")
		}
		seen[name] = true
		sf := &sourceFlags{}
		tmp := &cobra.Command{}
		sf.register(tmp)
		fs := tmp.Flags()
		// The flags given outside --profile first, as if given again.
		var err error
		cmd.Flags().Visit(func(f *pflag.Flag) {
			if err != nil || fs.Lookup(f.Name) == nil || job[f.Name] {
				return
			}
			vals := []string{f.Value.String()}
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				vals = sv.GetSlice()
			}
			for _, v := range vals {
				if err == nil {
					err = fs.Set(f.Name, v)
				}
			}
		})
		if err != nil {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, field, "%s", err)
		}
		if rest != "" {
			for _, item := range strings.Split(rest, ",") {
				key, val, ok := strings.Cut(item, "=")
				key = strings.TrimPrefix(key, "--")
				fl := fs.Lookup(key)
				switch {
				case !ok && fl != nil && fl.Value.Type() == "bool":
					val, ok = "true", true
				case !ok:
					return nil, credbroker.Errorf(credbroker.CodeInvalid, field, "%q is not FLAG=VALUE", item).
						WithFix("write --profile " + name + "=FLAG=VALUE,FLAG=VALUE; a value cannot hold a comma")
				}
				if fl == nil || job[key] {
					return nil, credbroker.Errorf(credbroker.CodeInvalid, field, "%q is not a source flag", key).
						WithFix("use the source flags of `credbroker exec --help` without their dashes (region, role-arn, connector, ...); variables and the build's identity are given once, outside --profile")
				}
				if err := fs.Set(key, val); err != nil {
					if e := credbroker.AsError(err); e != nil {
						c := *e
						c.Field = field + " --" + key
						return nil, &c
					}
					return nil, credbroker.Errorf(credbroker.CodeInvalid, field+" --"+key, "%s", err)
				}
			}
		}
		raw := sf.credentials()
		if err := sf.check(raw); err != nil {
			return nil, inProfile(name, err)
		}
		out = append(out, namedSource{name: name, flags: sf, raw: raw})
	}
	if p.def != "" && !seen[p.def] {
		var names []string
		for _, n := range out {
			names = append(names, n.name)
		}
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "--default-profile", "no profile %q", p.def).
			WithFix("name one of " + strings.Join(names, ", "))
	}
	return out, nil
}

// inProfile names the profile in the field of each problem of err, after
// the flag: "--profile prod --role-arn".
func inProfile(name string, err error) error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range multi.Unwrap() {
			out = append(out, inProfile(name, e))
		}
		return errors.Join(out...)
	}
	if e := credbroker.AsError(err); e != nil {
		c := *e
		c.Field = strings.TrimSpace("--profile " + name + " " + e.Field)
		return &c
	}
	return fmt.Errorf("--profile %s: %w", name, err)
}

// resolveProfiles resolves every profile as exec resolves its one source,
// with the variables of the command's --vars, --global-vars and --var, and
// returns them with the values to mask.
func (p *profileFlags) resolveProfiles(ctx context.Context, a *app, cmd *cobra.Command, base *sourceFlags) ([]taskrun.Profile, []string, error) {
	named, err := p.parse(cmd)
	if err != nil {
		return nil, nil, err
	}
	kind, err := base.ciKind("")
	if err != nil {
		return nil, nil, err
	}
	vs, err := base.varSources(a, kind).Load()
	if err != nil {
		return nil, nil, err
	}
	a.hide.addVars(vs)
	secrets := vs.Secrets()
	b, _ := base.buildInfo(a, kind)
	var out []taskrun.Profile
	for _, n := range named {
		res, token, err := a.resolveNamed(ctx, n, vs, b)
		if token != "" {
			secrets = append(secrets, token)
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, taskrun.Profile{Name: n.name, Creds: res})
	}
	return out, secrets, nil
}

// resolveNamed resolves one profile; its agent token, when it has one,
// comes back to be masked.
func (a *app) resolveNamed(ctx context.Context, n namedSource, vs *vars.Set, b credbroker.Build) (*credbroker.Resolved, string, error) {
	src, err := taskrun.ExpandCredentials(n.raw, vs, "", a.getenv)
	a.hide.add(src.Token)
	if err != nil {
		return nil, "", inProfile(n.name, flagNames(err))
	}
	b.Task = taskrun.ProfileTask(b.Task, n.name)
	res, err := a.resolver()(ctx, src, b)
	if err != nil {
		return nil, src.Token, inProfile(n.name, flagNames(err))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.hide.writer(a.io.Stderr), "credbroker: warning: profile %s: %s\n", n.name, w)
	}
	return res, src.Token, nil
}

// credentialProcess is the command a task's profiles run to get their
// credentials: this very binary's credential-process.
func credentialProcess() ([]string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find credbroker's own binary for the profiles' credential_process: %w", err)
	}
	return []string{self, "credential-process"}, nil
}

// execProfiles is exec with --profile: the command gets every profile in
// one AWS config file.
func (a *app) execProfiles(cmd *cobra.Command, sf *sourceFlags, pf *profileFlags, args []string) error {
	own := func(err error) error { return &exitError{code: taskrun.ExitOwnFailure, err: err} }
	if cmd.Flags().Changed("delivery") {
		return own(credbroker.Errorf(credbroker.CodeInvalid, "--delivery", "not used with --profile: the profiles are one AWS config file, each refreshing on its own").
			WithFix("drop --delivery"))
	}
	log, err := a.logger(a.hide.writer(a.io.Stderr))
	if err != nil {
		return own(err)
	}
	self, err := credentialProcess()
	if err != nil {
		return own(err)
	}
	profiles, secrets, err := pf.resolveProfiles(cmd.Context(), a, cmd, sf)
	if err != nil {
		return own(err)
	}
	r := &taskrun.Runner{Stdout: a.io.Stdout, Stderr: a.io.Stderr, Environ: a.io.Environ, Logger: log, CredentialProcess: self}
	code, err := r.Run(cmd.Context(), &taskrun.Command{
		Argv: args, Profiles: profiles, DefaultProfile: pf.def, Stdin: a.io.Stdin, Secrets: secrets,
	})
	if err != nil || code != 0 {
		// The account guard and the refreshes speak of source fields:
		// name them by their flags.
		return &exitError{code: code, err: flagNames(err)}
	}
	return nil
}

// checkProfiles is check with --profile: each profile is checked as exec
// would resolve it, its findings named "--profile NAME --FLAG".
func (a *app) checkProfiles(cmd *cobra.Command, sf *sourceFlags, pf *profileFlags, opts preflight.Options) *preflight.Report {
	named, err := pf.parse(cmd)
	if err != nil {
		return preflight.FromError(err, nil)
	}
	kind, err := sf.ciKind("")
	if err != nil {
		return preflight.FromError(err, flagField)
	}
	rep := &preflight.Report{}
	b, id := sf.buildInfo(a, kind)
	for i, n := range named {
		pb := b
		pb.Task = taskrun.ProfileTask(b.Task, n.name)
		name := n.name
		ci := id
		if i > 0 {
			ci = cienv.Identity{} // what the CI gave, said once
		}
		rep.Merge(preflight.Source(cmd.Context(), preflight.SourceInput{
			Credentials: n.raw, Build: pb, CI: ci, Vars: sf.varSources(a, kind),
			Names: func(f string) string { return "--profile " + name + " " + flagField(f) },
		}, opts))
	}
	return rep
}
