package taskrun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
	"github.com/credbroker/credbroker/mask"
	"github.com/credbroker/credbroker/vars"
)

// Resolver turns a substituted source into a credentials provider (cached)
// with its region and partition.
type Resolver func(ctx context.Context, src credbroker.Source, b credbroker.Build) (*credbroker.Resolved, error)

// JobOptions are what a job run needs besides the job file.
type JobOptions struct {
	// Vars holds the global and plan variables (the caller loads the job
	// file's variables below the plan variables of the command line);
	// runtime variables are added as tasks write them.
	Vars *vars.Set
	// Build identifies the build, for session names and the broker.
	Build credbroker.Build
	// Resolve resolves each task's credentials.
	Resolve Resolver
	// Env looks up credbroker's own environment (CREDBROKER_TOKEN, ...).
	Env Env
	// Secrets are masked in every task's output besides the secret
	// variables (the agent's broker token, say).
	Secrets []string
}

// TaskError is a task's failure, with the task's name and exit code.
type TaskError struct {
	Task string
	Code int
	Err  error
}

// Error says which task failed and why.
func (e *TaskError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("task %s: %v", e.Task, e.Err)
	}
	return fmt.Sprintf("task %s failed with exit code %d", e.Task, e.Code)
}

// Unwrap returns the cause.
func (e *TaskError) Unwrap() error { return e.Err }

// RunJob runs the job's tasks in order and stops at the first that fails;
// it returns that task's exit code (0 when all succeed) and a *TaskError
// describing the failure.
func (r *Runner) RunJob(ctx context.Context, job *jobfile.Job, o JobOptions) (int, error) {
	vs := o.Vars
	if vs == nil {
		vs = vars.New()
	}
	dir, err := newRunDir(r.Environ, "job")
	if err != nil {
		return ExitOwnFailure, fmt.Errorf("job directory: %w", err)
	}
	defer os.RemoveAll(dir)

	var keyIDs []string
	for i := range job.Tasks {
		t := &job.Tasks[i]
		if err := ctx.Err(); err != nil {
			return ExitOwnFailure, &TaskError{Task: t.Name, Code: ExitOwnFailure, Err: err}
		}
		fmt.Fprintf(r.Stderr, "==> [%s] task %d of %d\n", t.Name, i+1, len(job.Tasks))
		start := r.now()
		code, err := r.runTask(ctx, job, i, vs, o, dir, &keyIDs)
		if err != nil || code != 0 {
			return code, &TaskError{Task: t.Name, Code: code, Err: err}
		}
		fmt.Fprintf(r.Stderr, "<== [%s] done in %s\n", t.Name, r.now().Sub(start).Round(1e6))
	}
	return 0, nil
}

func (r *Runner) runTask(ctx context.Context, job *jobfile.Job, i int, vs *vars.Set, o JobOptions, dir string, keyIDs *[]string) (int, error) {
	t := &job.Tasks[i]
	path := fmt.Sprintf("tasks[%d]", i)
	b := o.Build
	b.Task = t.Name
	secrets := append(vs.Secrets(), o.Secrets...)

	var resolved *credbroker.Resolved
	if t.Credentials != nil {
		src, err := ExpandCredentials(t.Credentials, vs, path+".credentials", o.Env)
		if err != nil {
			return ExitOwnFailure, err
		}
		if src.Token != "" {
			secrets = append(secrets, src.Token)
		}
		resolved, err = o.Resolve(ctx, src, b)
		if err != nil {
			return ExitOwnFailure, inBlock(err, jobfile.SourceFieldNamer(t.Credentials, path+".credentials"))
		}
		for _, w := range resolved.Warnings {
			fmt.Fprintf(r.Stderr, "[%s] warning: %s\n", t.Name, mask.String(w, secrets...))
		}
	}

	if t.SetVariables != nil {
		cr, err := resolved.Provider.Retrieve(ctx)
		if err != nil {
			return ExitOwnFailure, err
		}
		*keyIDs = append(*keyIDs, cr.AccessKeyID)
		for _, v := range CredentialVariables(t.SetVariables.Namespace, cr, resolved.Region, resolved.Partition) {
			vs.Set(vars.Runtime, v.Name, v.Value, v.Secret)
		}
		fmt.Fprintf(r.Stderr, "[%s] set %s.accessKeyId (%s), %s.secretAccessKey, %s.sessionToken, %s.expiration, %s.region, %s.partition\n",
			t.Name, t.SetVariables.Namespace, credbroker.MaskKeyID(cr.AccessKeyID), t.SetVariables.Namespace, t.SetVariables.Namespace,
			t.SetVariables.Namespace, t.SetVariables.Namespace, t.SetVariables.Namespace)
		return 0, nil
	}

	var profiles []Profile
	for _, p := range t.Profiles {
		pb := b
		pb.Task = ProfileTask(t.Name, p.Name)
		src, err := ExpandCredentials(p.Credentials, vs, path+".profiles."+p.Name, o.Env)
		if err != nil {
			return ExitOwnFailure, err
		}
		if src.Token != "" {
			secrets = append(secrets, src.Token)
		}
		res, err := o.Resolve(ctx, src, pb)
		if err != nil {
			if e, ok := err.(*credbroker.Error); !ok || e.Field == "" {
				return ExitOwnFailure, fmt.Errorf("profile %s: %w", p.Name, err)
			}
			return ExitOwnFailure, inBlock(err, jobfile.SourceFieldNamer(p.Credentials, path+".profiles."+p.Name))
		}
		for _, w := range res.Warnings {
			fmt.Fprintf(r.Stderr, "[%s] profile %s: warning: %s\n", t.Name, p.Name, w)
		}
		profiles = append(profiles, Profile{Name: p.Name, Creds: res})
	}

	c := &Command{Name: t.Name, Timeout: t.Timeout, Creds: resolved, Delivery: Delivery(t.Delivery), OwnGroup: true, Secrets: secrets, KeyIDs: *keyIDs,
		Profiles: profiles, DefaultProfile: t.DefaultProfile}
	var err error
	for _, e := range t.Env {
		v, xerr := vs.Expand(path+".env."+e.Name, e.Value)
		if xerr != nil {
			return ExitOwnFailure, xerr
		}
		c.Env = append(c.Env, e.Name+"="+v)
	}
	for j, a := range t.Command {
		v, xerr := expandScript(vs, fmt.Sprintf("%s.command[%d]", path, j), a)
		if xerr != nil {
			return ExitOwnFailure, xerr
		}
		c.Argv = append(c.Argv, v)
	}
	if c.Script, err = expandScript(vs, path+".run", t.Run); err != nil {
		return ExitOwnFailure, err
	}
	if c.Dir, err = vs.Expand(path+".dir", t.Dir); err != nil {
		return ExitOwnFailure, err
	}
	if c.Dir != "" && !filepath.IsAbs(c.Dir) {
		c.Dir = filepath.Join(job.Dir, c.Dir)
	}
	// The CI's variables are read as references need them: mask those
	// the task's fields read too.
	c.Secrets = append(c.Secrets, vs.Secrets()...)

	// The runtime-variables file: the task appends NAME=value lines.
	c.VariablesFile = filepath.Join(dir, fmt.Sprintf("variables-%d", i))
	if err := os.WriteFile(c.VariablesFile, nil, 0o600); err != nil {
		return ExitOwnFailure, fmt.Errorf("runtime variables file: %w", err)
	}
	defer os.Remove(c.VariablesFile)

	code, err := r.Run(ctx, c)
	if err != nil {
		return code, err
	}
	f, ferr := os.Open(c.VariablesFile)
	if ferr != nil {
		return ExitOwnFailure, fmt.Errorf("runtime variables file: %w", ferr)
	}
	defer f.Close()
	// Every valid line is taken, also when others are not: their secrets
	// are masked in whatever follows. A bad line fails the task, by its
	// number (its text may be a secret that cannot be recognised).
	set, perr := vars.ParseFile(f, "$CREDBROKER_VARIABLES of task "+t.Name)
	vs.Load(vars.Runtime, set)
	if perr != nil {
		if code == 0 {
			return ExitOwnFailure, perr
		}
		return code, nil
	}
	if len(set) > 0 {
		fmt.Fprintf(r.Stderr, "[%s] set %d runtime variable(s)\n", t.Name, len(set))
	}
	return code, nil
}

// inBlock names the fields of err's problems (a joined error is several)
// by their path in the job file, as check names them: the source's
// role_arn becomes tasks[0].credentials.role.arn. Problems that are not
// *credbroker.Error, or name no field, are kept as they are.
func inBlock(err error, names func(string) string) error {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range multi.Unwrap() {
			out = append(out, inBlock(e, names))
		}
		return errors.Join(out...)
	}
	if e, ok := err.(*credbroker.Error); ok && e.Field != "" {
		c := *e
		c.Field = names(e.Field)
		return &c
	}
	return err
}
