package endpoint

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// privatePrefix names the private directories of channels, in the
// temporary directory, so that a later run finds those a killed run left.
const privatePrefix = "credbroker-profiles-"

// youngEmpty is how long an empty private directory is left alone: its
// owner may have made it and not yet locked it.
const youngEmpty = time.Minute

// PrivateDir is a directory of mode 0700 that its process holds an
// exclusive flock(2) on while it lives. The kernel drops the lock when the
// process ends, however it ends, so a later run can tell a directory whose
// owner was killed (lock free) from one in use (lock held), whatever the
// process IDs have become since, and remove it (CleanStale). A channel
// keeps its files in one; so does the single-profile delivery of package
// taskrun, whose credentials file holds secrets.
type PrivateDir struct {
	path string
	lock *os.File // the directory itself, opened and locked
}

// MakePrivateDir makes and locks a new private directory in parent
// (os.TempDir() when empty).
func MakePrivateDir(parent string) (*PrivateDir, error) {
	if parent == "" {
		parent = os.TempDir()
	}
	path, err := os.MkdirTemp(parent, privatePrefix)
	if err != nil {
		return nil, err
	}
	// os.Open sets O_CLOEXEC: the task does not inherit the lock, so a
	// task that outlives a killed credbroker does not keep its directory.
	f, err := os.Open(path)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(path)
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &PrivateDir{path: path, lock: f}, nil
}

// Path returns the directory's path.
func (d *PrivateDir) Path() string { return d.path }

// Remove deletes the directory and everything in it, then drops the lock.
func (d *PrivateDir) Remove() error {
	err := os.RemoveAll(d.path)
	d.lock.Close()
	return err
}

// CleanStale removes the private directories that runs which were killed
// (kill -9, a crash, a lost machine) left in parent
// (os.TempDir() when empty), and returns how many it removed. It only
// touches directories of this user that no live process holds: never a
// symbolic link, another user's directory, or one in use. Problems are
// logged at debug level and skipped: cleaning up never fails a run. now
// is the clock (time.Now when nil), against which an empty directory is
// judged too young to take.
func CleanStale(parent string, now func() time.Time, log *slog.Logger) int {
	if parent == "" {
		parent = os.TempDir()
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	matches, err := filepath.Glob(filepath.Join(parent, privatePrefix+"*"))
	if err != nil {
		return 0
	}
	removed := 0
	for _, path := range matches {
		switch stale, err := staleDir(path, now); {
		case err != nil:
			log.Debug("left a private directory alone", "dir", path, "reason", err.Error())
		case stale:
			if err := os.RemoveAll(path); err != nil {
				log.Debug("cannot remove a stale private directory", "dir", path, "err", err.Error())
				continue
			}
			removed++
			log.Info("removed the private directory of a run that ended without cleaning up", "dir", path)
		}
	}
	return removed
}

// staleDir reports whether path is a private directory of this user whose
// owner is gone. It takes the directory's lock to find out, and lets it go
// before returning; a directory it calls stale stays free for the caller
// to remove, since no owner locks a directory it did not make itself.
func staleDir(path string, now func() time.Time) (bool, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return false, errors.New("not a directory")
	case !ok || int(st.Uid) != os.Getuid():
		return false, errors.New("owned by another user")
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_DIRECTORY, 0)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false, errors.New("in use")
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	names, err := f.Readdirnames(1)
	if len(names) == 0 && (err == nil || errors.Is(err, io.EOF)) && now().Sub(fi.ModTime()) < youngEmpty {
		// Made a moment ago and not locked yet, or left empty: harmless
		// either way, and the next run takes it.
		return false, errors.New("empty and recent")
	}
	return true, nil
}
