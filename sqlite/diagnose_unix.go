//go:build unix

package sqlite

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// writeProblem says why the store at path cannot be written, as the file
// system tells: a read-only file system, a file or directory the process
// may not write, or a full disk. It returns "" when it finds none of
// these, and never names the path (the message may reach API clients).
//
// It runs only after a write failed. Besides asking access(2) and
// statfs(2), it creates and removes an empty file beside the database:
// a file system that the kernel made read-only after an error (ext4's
// errors=remount-ro) still passes access(2).
func writeProblem(path string) string {
	const wOK = 0x2 // W_OK of access(2)
	dir := filepath.Dir(path)
	classify := func(err error) string {
		switch {
		case errors.Is(err, syscall.EROFS):
			return "the file system holding it is read-only"
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return "the broker's user may not write the database file or its directory (permissions or file attributes)"
		case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
			return "the disk is full"
		}
		return ""
	}
	for _, p := range []string{path, dir} {
		if why := classify(syscall.Access(p, wOK)); why != "" {
			return why
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	probe := filepath.Join(dir, ".credbroker-probe-"+hex.EncodeToString(b[:]))
	f, err := os.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.Write([]byte{0})
		f.Close()
		os.Remove(probe)
	}
	if why := classify(err); why != "" {
		return why
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err == nil && (st.Bfree == 0 || st.Bavail == 0 && syscall.Geteuid() != 0) {
		return "the disk is full"
	}
	return ""
}
