//go:build unix

package seal

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// syncDir makes a rename or creation in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// matchOwner gives f the owner of orig, so that a key file rotated by root
// stays readable by the user the broker runs as. A differing group is
// matched where allowed; it grants nothing, since the file is mode 0600.
func matchOwner(f *os.File, orig fs.FileInfo) error {
	want, ok := orig.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	have, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if have.Uid != want.Uid {
		if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
			return fmt.Errorf("chown to uid %d: %w", want.Uid, err)
		}
		return nil
	}
	if have.Gid != want.Gid {
		_ = f.Chown(-1, int(want.Gid))
	}
	return nil
}
