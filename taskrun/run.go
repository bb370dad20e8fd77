// Package taskrun runs build tasks with AWS credentials delivered to them
// and their output masked: one command for `credbroker exec`, or a whole
// job file for `credbroker run`.
package taskrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/endpoint"
	"github.com/credbroker/credbroker/mask"
)

// Delivery is how a task receives its credentials.
type Delivery string

// The delivery modes.
const (
	// DeliverEnv sets AWS_ACCESS_KEY_ID and friends in the environment.
	DeliverEnv Delivery = "env"
	// DeliverEndpoint runs a refreshing container-credentials endpoint.
	DeliverEndpoint Delivery = "endpoint"
	// DeliverProfile writes a private shared-credentials file and points
	// AWS_SHARED_CREDENTIALS_FILE and AWS_PROFILE at it.
	DeliverProfile Delivery = "profile"
)

// Exit codes of credbroker itself, following env(1) and timeout(1).
const (
	ExitTimeout     = 124 // the task ran out of time
	ExitOwnFailure  = 125 // credbroker failed before or around the task
	ExitCannotRun   = 126 // the command was found but could not be run
	ExitNotFound    = 127 // the command was not found
	exitSignalFloor = 128 // 128+N: the task died of signal N
)

// strippedEnv lists what is removed from the environment a task inherits:
// other credentials that would shadow the delivered ones, and the agent's
// own broker token, which a task must never see.
var strippedEnv = []string{
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
	"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME",
	"AWS_SHARED_CREDENTIALS_FILE",
	"CREDBROKER_TOKEN", "CREDBROKER_TOKEN_FILE", "CREDBROKER_MASTER_KEY", "CREDBROKER_VARIABLES",
}

// Command is one process to run with credentials delivered.
type Command struct {
	// Name prefixes every output line as "[Name] "; empty for none.
	Name string
	// Argv is run directly; Script, when Argv is empty, by /bin/sh -c.
	Argv   []string
	Script string
	Dir    string
	// Env holds extra NAME=value entries, already substituted.
	Env     []string
	Timeout time.Duration
	// Creds is what the task's credentials resolved to; nil for none.
	Creds    *credbroker.Resolved
	Delivery Delivery
	// Profiles, instead of Creds, are several named credentials,
	// delivered as one AWS config file whose profiles each refresh on
	// their own; DefaultProfile names its [default] (see
	// endpoint.ChannelOptions.Default).
	Profiles       []Profile
	DefaultProfile string
	// Stdin is the task's standard input; none when nil.
	Stdin io.Reader
	// OwnGroup starts the task in its own process group, so signals and
	// the timeout reach every process it started. Interactive commands
	// (credbroker exec) leave it false to keep the terminal.
	OwnGroup bool
	// VariablesFile, when set, is exported as CREDBROKER_VARIABLES.
	VariablesFile string
	// Secrets are values to mask besides the credentials' own.
	Secrets []string
	// KeyIDs are access key IDs to show only as ****WXYZ.
	KeyIDs []string
}

// Runner runs commands. Its fields are the environment of every task.
type Runner struct {
	Stdout, Stderr io.Writer
	// Environ is the environment tasks inherit (os.Environ()), before
	// credentials are removed from it and delivered.
	Environ []string
	Logger  *slog.Logger
	Now     func() time.Time
	// Signals are forwarded to the running task; nil means SIGINT,
	// SIGTERM, SIGHUP and SIGQUIT.
	Signals []os.Signal
	// GracePeriod is how long a task has to exit after SIGTERM on timeout
	// or cancellation before it is killed; 10 s when zero.
	GracePeriod time.Duration
	// CredentialProcess is the program and arguments that the
	// credential_process of a task's profiles runs: credbroker's own
	// binary and its credential-process command. Tasks with profiles
	// need it.
	CredentialProcess []string
}

func (r *Runner) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return time.Now()
	}
	return r.Now()
}

// maskedProvider registers every credential it hands out with the output
// masks, so a task that prints what it fetched from the endpoint shows
// nothing secret.
type maskedProvider struct {
	p     credbroker.Provider
	masks []*mask.Writer
	extra func() []string // Resolved.Secrets, or nil
	// onNew, when set, is told of each new set of credentials once it is
	// registered, before it is handed out.
	onNew func(credbroker.Credentials)

	// last is the set handed out last: the endpoint and the channel ask
	// for the same set again and again, which costs no lock then.
	last atomic.Pointer[credbroker.Credentials]
	mu   sync.Mutex
	seen map[string]bool // access key IDs and tokens already registered
}

func (m *maskedProvider) Retrieve(ctx context.Context) (credbroker.Credentials, error) {
	cr, err := m.p.Retrieve(ctx)
	if err != nil {
		return cr, err
	}
	if l := m.last.Load(); l != nil && l.AccessKeyID == cr.AccessKeyID && l.SessionToken == cr.SessionToken {
		return cr, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	// Rebuilding the masks' matcher costs milliseconds; do it once per
	// new set of credentials, not once per request to the endpoint.
	if key := cr.AccessKeyID + "\x00" + cr.SessionToken; !m.seen[key] {
		m.seen[key] = true
		secrets := cr.Secrets()
		if m.extra != nil {
			secrets = append(secrets, m.extra()...)
		}
		for _, w := range m.masks {
			w.AddSecrets(secrets)
			w.AddKeyID(cr.AccessKeyID)
		}
		if m.onNew != nil {
			m.onNew(cr)
		}
	}
	m.last.Store(&cr)
	return cr, nil
}

// Run runs c and returns its exit code. The error is for credbroker's own
// failures (credentials, delivery, start); a task that runs and fails is
// a non-zero exit code with a nil error.
func (r *Runner) Run(ctx context.Context, c *Command) (int, error) {
	sweepStale(r.Environ)
	var outDst, errDst io.Writer = r.Stdout, r.Stderr
	var outPrefix, errPrefix *prefixWriter
	if c.Name != "" {
		shared := &lockedWriter{w: r.Stdout}
		outPrefix = newPrefixWriter(shared, "["+c.Name+"] ")
		errDst = shared
		if r.Stderr != r.Stdout {
			errDst = &lockedWriter{w: r.Stderr}
		}
		errPrefix = newPrefixWriter(errDst, "["+c.Name+"] ")
		outDst, errDst = outPrefix, errPrefix
	}
	opts := mask.Options{Secrets: c.Secrets, KeyIDs: c.KeyIDs}
	stdout := mask.New(outDst, opts)
	stderr := mask.New(errDst, opts)
	masks := []*mask.Writer{stdout, stderr}
	defer func() {
		stdout.Close()
		stderr.Close()
		if outPrefix != nil {
			outPrefix.endLine()
			errPrefix.endLine()
		}
	}()

	env := cleanEnv(r.Environ)
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()

	if c.Creds != nil {
		prov := &maskedProvider{p: c.Creds.Provider, masks: masks, extra: c.Creds.Secrets}
		if c.Creds.Region != "" {
			env = append(env, "AWS_REGION="+c.Creds.Region, "AWS_DEFAULT_REGION="+c.Creds.Region)
		}
		switch c.Delivery {
		case DeliverEndpoint:
			dir, err := newRunDir(r.Environ, "endpoint")
			if err != nil {
				return ExitOwnFailure, err
			}
			cleanup = append(cleanup, func() { os.RemoveAll(dir) })
			srv, err := endpoint.Start(endpoint.Options{Provider: prov, Logger: r.logger(), Now: r.Now, Dir: dir})
			if err != nil {
				return ExitOwnFailure, err
			}
			cleanup = append(cleanup, func() { srv.Close() })
			// Fetch once now, so a failure stops the task before it starts.
			if _, err := prov.Retrieve(ctx); err != nil {
				return ExitOwnFailure, err
			}
			stdout.AddSecret(srv.Token())
			stderr.AddSecret(srv.Token())
			env = append(env, srv.Env()...)
		case DeliverProfile:
			cr, err := prov.Retrieve(ctx)
			if err != nil {
				return ExitOwnFailure, err
			}
			dir, entries, err := writeProfile(r.Environ, cr, c.Creds.Region)
			if err != nil {
				return ExitOwnFailure, err
			}
			cleanup = append(cleanup, func() { os.RemoveAll(dir) })
			env = append(env, entries...)
		case DeliverEnv, "":
			cr, err := prov.Retrieve(ctx)
			if err != nil {
				return ExitOwnFailure, err
			}
			env = append(env, EnvEntries(cr)...)
		default:
			return ExitOwnFailure, credbroker.Errorf(credbroker.CodeInvalid, "delivery", "unknown delivery %q", c.Delivery).
				WithFix("use env, endpoint or profile")
		}
	}
	if len(c.Profiles) > 0 {
		entries, closeChannel, err := r.deliverProfiles(ctx, c, masks)
		if err != nil {
			return ExitOwnFailure, err
		}
		cleanup = append(cleanup, closeChannel)
		env = append(withoutRegion(env), entries...)
	}
	if c.VariablesFile != "" {
		env = append(env, "CREDBROKER_VARIABLES="+c.VariablesFile)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); watchVariables(wctx, c.VariablesFile, masks) }()
		cleanup = append(cleanup, func() { stop(); <-done })
	}
	env = append(env, c.Env...)
	return r.spawn(ctx, c, env, stdout, stderr)
}

// EnvEntries returns the environment entries that carry cr.
func EnvEntries(cr credbroker.Credentials) []string {
	out := []string{
		"AWS_ACCESS_KEY_ID=" + cr.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + cr.SecretAccessKey,
	}
	if cr.SessionToken != "" {
		out = append(out, "AWS_SESSION_TOKEN="+cr.SessionToken)
	}
	if cr.CanExpire() {
		out = append(out, "AWS_CREDENTIAL_EXPIRATION="+cr.Expires.UTC().Format(time.RFC3339))
	}
	return out
}

// cleanEnv copies environ without the entries in strippedEnv.
func cleanEnv(environ []string) []string {
	out := make([]string, 0, len(environ)+8)
outer:
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		for _, s := range strippedEnv {
			if name == s {
				continue outer
			}
		}
		out = append(out, kv)
	}
	return out
}

// writeProfile writes a run directory (see newRunDir) with a
// shared-credentials file and a config file, and returns the directory and
// the environment entries that select them.
func writeProfile(environ []string, cr credbroker.Credentials, region string) (string, []string, error) {
	dir, err := newRunDir(environ, "profile")
	if err != nil {
		return "", nil, fmt.Errorf("profile directory: %w", err)
	}
	var creds strings.Builder
	creds.WriteString("[credbroker]\n")
	creds.WriteString("aws_access_key_id = " + cr.AccessKeyID + "\n")
	creds.WriteString("aws_secret_access_key = " + cr.SecretAccessKey + "\n")
	if cr.SessionToken != "" {
		creds.WriteString("aws_session_token = " + cr.SessionToken + "\n")
	}
	conf := "[profile credbroker]\n"
	if region != "" {
		conf += "region = " + region + "\n"
	}
	credFile := filepath.Join(dir, "credentials")
	confFile := filepath.Join(dir, "config")
	for _, f := range []struct{ path, body string }{{credFile, creds.String()}, {confFile, conf}} {
		if err := os.WriteFile(f.path, []byte(f.body), 0o600); err != nil {
			os.RemoveAll(dir)
			return "", nil, fmt.Errorf("profile file: %w", err)
		}
	}
	return dir, []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + credFile,
		"AWS_CONFIG_FILE=" + confFile,
		"AWS_PROFILE=credbroker",
	}, nil
}

// spawn starts the process, forwards signals, enforces the timeout and
// waits; it returns the task's exit code.
func (r *Runner) spawn(ctx context.Context, c *Command, env []string, stdout, stderr io.Writer) (int, error) {
	argv := c.Argv
	if len(argv) == 0 {
		if c.Script == "" {
			return ExitOwnFailure, credbroker.Errorf(credbroker.CodeInvalid, "command", "nothing to run").
				WithFix("give a command after --, or command:/run: in the job file")
		}
		argv = []string{"/bin/sh", "-c", c.Script}
	}
	if c.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.Timeout)
		defer cancel()
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		code := ExitNotFound
		msg := "command not found"
		if errors.Is(err, os.ErrPermission) {
			code, msg = ExitCannotRun, "command is not executable"
		}
		return code, credbroker.Errorf(credbroker.CodeInvalid, "command", "%s: %s", msg, argv[0]).
			WithFix("check the name and PATH")
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	cmd.Dir = c.Dir
	cmd.Stdin = c.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	if c.OwnGroup {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	}
	grace := r.GracePeriod
	if grace <= 0 {
		grace = 10 * time.Second
	}
	// Output copying must not outlive the task by much, even when it left
	// a background process holding the pipes.
	cmd.WaitDelay = grace

	sigs := r.Signals
	if sigs == nil {
		sigs = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}
	}
	sigCh := make(chan os.Signal, 4)
	signal.Notify(sigCh, sigs...)
	defer signal.Stop(sigCh)

	start := r.now()
	if err := cmd.Start(); err != nil {
		code := ExitCannotRun
		if errors.Is(err, os.ErrNotExist) {
			code = ExitNotFound
		}
		return code, credbroker.Errorf(credbroker.CodeInvalid, "command", "cannot start %s: %s", argv[0], startErr(err))
	}
	send := func(s os.Signal) {
		if c.OwnGroup {
			syscall.Kill(-cmd.Process.Pid, s.(syscall.Signal))
		} else {
			cmd.Process.Signal(s)
		}
	}
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timedOut bool
	var once sync.Once
	var killTimer *time.Timer
	for {
		select {
		case s := <-sigCh:
			r.logger().Debug("forwarding signal to task", "signal", s.String(), "task", c.Name)
			send(s)
		case <-ctx.Done():
			once.Do(func() {
				timedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
				r.logger().Info("stopping task", "task", c.Name, "reason", ctx.Err().Error())
				send(syscall.SIGTERM)
				killTimer = time.AfterFunc(grace, func() { send(syscall.SIGKILL) })
			})
			ctx = context.Background() // stop selecting on it
		case err := <-waited:
			if killTimer != nil {
				killTimer.Stop()
			}
			r.logger().Debug("task finished", "task", c.Name, "elapsed", r.now().Sub(start).String())
			code := exitCode(cmd, err)
			if timedOut {
				return ExitTimeout, credbroker.Errorf(credbroker.CodeInvalid, "timeout", "the task ran longer than %s and was stopped", c.Timeout).
					WithFix("raise the task's timeout or make it faster")
			}
			return code, nil
		}
	}
}

func startErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// exitCode turns the result of Wait into a shell-style exit code.
func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return ExitOwnFailure
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return exitSignalFloor + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}
