//go:build unix

package seal

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func owner(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func TestRotateKeepsOwner(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, _, err := LoadOrCreate(path, fixedNow); err != nil {
		t.Fatal(err)
	}
	wantUID, wantGID := owner(t, path)
	if os.Geteuid() == 0 {
		// Root rotating the key file of an unprivileged broker must leave
		// it readable by that broker.
		wantUID, wantGID = 65534, 65534
		if err := os.Chown(path, int(wantUID), int(wantGID)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Rotate(path, fixedNow); err != nil {
		t.Fatal(err)
	}
	if uid, gid := owner(t, path); uid != wantUID || gid != wantGID {
		t.Fatalf("rotated file owned by %d:%d, want %d:%d", uid, gid, wantUID, wantGID)
	}
}

func TestRotateThroughSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "store", "keys.json")
	if _, _, err := LoadOrCreate(real, fixedNow); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "keys.json")
	if err := os.Symlink(filepath.Join("store", "keys.json"), link); err != nil {
		t.Fatal(err)
	}
	if v, err := Rotate(link, fixedNow); err != nil || v != 2 {
		t.Fatalf("Rotate through a link = %d, %v", v, err)
	}
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("Rotate replaced the symbolic link with a file")
	}
	if keys, _ := fileKeys(t, real); len(keys) != 2 {
		t.Fatalf("target holds %d versions, want 2", len(keys))
	}
	if names := dirNames(t, dir); len(names) != 2 {
		t.Fatalf("link directory holds %v", names)
	}
}
