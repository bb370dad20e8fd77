package taskrun

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
)

// The files credbroker writes for a task (a profile delivery's credentials
// file, the endpoint's token, a job's runtime variables) live in a run
// directory of their own, run-PID-..., under one private base per user:
//
//	$XDG_RUNTIME_DIR/credbroker   when XDG_RUNTIME_DIR is set: a tmpfs the
//	                              system empties at logout and at boot
//	$TMPDIR/credbroker-UID        otherwise (os.TempDir without TMPDIR)
//
// A run removes its directory when it ends. One that cannot (kill -9, a
// crash, a power cut) leaves it behind, and the next run of the same user
// removes every run directory whose process is gone before it starts.

// basePath returns where the base of the run directories is for the
// environment environ.
func basePath(environ []string) string {
	if d := lookupEnv(environ, "XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return filepath.Join(d, "credbroker")
		}
	}
	tmp := lookupEnv(environ, "TMPDIR")
	if tmp == "" || !filepath.IsAbs(tmp) {
		tmp = os.TempDir()
	}
	return filepath.Join(tmp, "credbroker-"+strconv.Itoa(os.Getuid()))
}

// runBase returns the base of the run directories for the environment
// environ, created with mode 0700 if needed. A base that another user owns,
// or that group or others may use, is refused: its files would be theirs
// to read.
func runBase(environ []string) (string, error) {
	base := basePath(environ)
	if err := os.Mkdir(base, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("run directory %s: %w", base, err)
	}
	if err := checkPrivateDir(base); err != nil {
		return "", err
	}
	return base, nil
}

// lookupEnv returns the value of name in environ ("" when absent).
func lookupEnv(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(environ[i], "="); ok && k == name {
			return v
		}
	}
	return ""
}

// sweepOnce sweeps each base once per process.
var sweepOnce sync.Map // base -> *sync.Once

// sweepStale removes, once per process and base, the run directories of
// processes that are gone: every run does it before it starts, whatever
// its delivery, so that what a killed run left does not wait for another
// run that writes files.
func sweepStale(environ []string) {
	base := basePath(environ)
	once, _ := sweepOnce.LoadOrStore(base, new(sync.Once))
	once.(*sync.Once).Do(func() {
		if checkPrivateDir(base) == nil {
			sweepRunDirs(base)
		}
	})
}

// newRunDir makes a run directory for this process under the base of
// environ, after removing the run directories of processes that are gone.
// The caller removes it when done.
func newRunDir(environ []string, what string) (string, error) {
	base, err := runBase(environ)
	if err != nil {
		return "", err
	}
	sweepStale(environ)
	dir, err := os.MkdirTemp(base, "run-"+strconv.Itoa(os.Getpid())+"-"+what+"-")
	if err != nil {
		return "", fmt.Errorf("run directory: %w", err)
	}
	return dir, nil
}

// sweepRunDirs removes the run directories under base whose process is no
// longer running. What it cannot remove it leaves; a directory whose PID
// was reused by another process is removed once that one is gone too.
func sweepRunDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), "run-")
		if !ok || !e.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(base, e.Name()))
	}
}
