package testpeers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Process is a peer program started by [StartProcess]. It runs until the test
// ends or Stop is called; its standard output and standard error go to the
// file LogPath.
type Process struct {
	// Name labels the process in messages.
	Name string
	// LogPath is the file that receives the process's stdout and stderr.
	LogPath string

	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	waitErr  error         // set before done is closed
	stopOnce sync.Once
}

// StartProcess starts cmd, which the caller has prepared (Path, Args, Env,
// Dir, and SysProcAttr if needed; Stdout and Stderr must be nil), with its
// output in a log file in a new t.TempDir(). It makes the process the leader
// of its own process group and, on Linux, asks the kernel to kill it if the
// test binary dies. In t.Cleanup it stops the process (SIGTERM to the group,
// SIGKILL after 10 s) and, when the test failed, logs the tail of its output.
// A failure to start fails the test.
func StartProcess(t testing.TB, name string, cmd *exec.Cmd) *Process {
	t.Helper()
	p, err := startProcess(t, name, t.TempDir(), cmd)
	if err != nil {
		t.Fatalf("testpeers: %v", err)
	}
	return p
}

func startProcess(t testing.TB, name, logDir string, cmd *exec.Cmd) (*Process, error) {
	t.Helper()
	if cmd.Stdout != nil || cmd.Stderr != nil {
		return nil, fmt.Errorf("start %s: Stdout and Stderr must be nil", name)
	}
	logFile, err := os.CreateTemp(logDir, name+"-*.log")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	p := &Process{Name: name, LogPath: logFile.Name(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("testpeers: last lines of %s output (%s):\n%s", p.Name, p.LogPath, p.Tail(40))
		}
	})
	return p, nil
}

// Stop ends the process and its process group: SIGTERM, then SIGKILL if it
// has not exited after 10 seconds. It waits for the exit and is safe to call
// more than once.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		if p.Exited() {
			return
		}
		terminate(p.cmd)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			kill(p.cmd)
			<-p.done
		}
	})
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err is the process's exit error (nil for a clean exit) once Done is
// closed; nil before.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// Pid is the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// WaitHTTP waits, as WaitReady does, until a GET of url answers 200.
func (p *Process) WaitHTTP(timeout time.Duration, url string) error {
	return p.WaitReady(timeout, httpProbe(http.MethodGet, url, nil, http.StatusOK))
}

// Tail returns the last n lines of the process's output.
func (p *Process) Tail(n int) string {
	f, err := os.Open(p.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		if _, err := f.Seek(-maxTail, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read log: %v)", err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WaitReady calls probe every 100 ms until it returns nil, the process exits,
// or timeout passes. The error it returns on failure includes the tail of the
// process's output.
func (p *Process) WaitReady(timeout time.Duration, probe func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := probe(ctx)
		cancel()
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited before it was ready (%v); last output:\n%s", p.Name, p.waitErr, p.Tail(40))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; last output:\n%s", p.Name, timeout, err, p.Tail(40))
		}
		select {
		case <-p.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// portInUse reports whether the process died because its port was taken
// between FreePort and its bind.
func (p *Process) portInUse() bool {
	return p.Exited() && strings.Contains(p.Tail(200), "address already in use")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; the servers this package
// starts retry with new ports when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testpeers: find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Run runs the program at path with args in the environment env (nil means
// [Env]()) and a two-minute limit, and returns what it wrote to stdout and
// stderr. err is non-nil when the program could not start, timed out or
// exited non-zero; Run never fails the test itself. It stops with the test's
// context, so call it from the test body, not from a t.Cleanup function.
func Run(t testing.TB, env []string, path string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if env == nil {
		env = Env()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.WaitDelay = 5 * time.Second
	var out, errOut bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errOut
	err = cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %w", path, strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), err
}

// httpProbe returns a readiness probe that sends method to url with header
// and wants the status want.
func httpProbe(method, url string, header http.Header, want int) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			return err
		}
		for k, vs := range header {
			req.Header[k] = vs
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != want {
			return fmt.Errorf("%s %s: status %d, want %d", method, url, resp.StatusCode, want)
		}
		return nil
	}
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(errors.New("testpeers: crypto/rand failed: " + err.Error()))
	}
	return hex.EncodeToString(b)
}
