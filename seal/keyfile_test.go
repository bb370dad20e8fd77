package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// writeKeyFile writes data at path with exactly mode, whatever the umask.
func writeKeyFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// readBytes returns the contents of path.
func readBytes(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// keyFileJSON renders a key file by hand, independently of encodeKeyFile.
func keyFileJSON(keys map[int][]byte) []byte {
	versions := make([]int, 0, len(keys))
	for v := range keys {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	var parts []string
	for _, v := range versions {
		parts = append(parts, fmt.Sprintf(`{"version": %d, "created": "2024-01-01T00:00:00Z", "key": %q}`, v, base64.StdEncoding.EncodeToString(keys[v])))
	}
	return []byte(`{"format": "credbroker-keys-v1", "keys": [` + strings.Join(parts, ", ") + "]}\n")
}

// fileKeys parses the key file at path by hand: version to key and
// version to created.
func fileKeys(t testing.TB, path string) (keys map[int][]byte, created map[int]string) {
	t.Helper()
	var doc struct {
		Format string `json:"format"`
		Keys   []struct {
			Version int    `json:"version"`
			Created string `json:"created"`
			Key     string `json:"key"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(readBytes(t, path), &doc); err != nil {
		t.Fatalf("key file %s: %v", path, err)
	}
	if doc.Format != KeyFileFormat {
		t.Fatalf("format = %q", doc.Format)
	}
	keys, created = map[int][]byte{}, map[int]string{}
	for _, k := range doc.Keys {
		b, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil || len(b) != KeySize {
			t.Fatalf("version %d: bad key (%v, %d bytes)", k.Version, err, len(b))
		}
		keys[k.Version] = b
		created[k.Version] = k.Created
	}
	return keys, created
}

// dirNames lists dir.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func perm(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestLoadOrCreate(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "conf", "credbroker", "keys.json")
	ring, created, err := LoadOrCreate(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("created = false for a new file")
	}
	if ring.Path() != path || fmt.Sprint(ring.Versions()) != "[1]" {
		t.Fatalf("ring %s", ring)
	}
	if m := perm(t, path); m != 0o600 {
		t.Errorf("key file mode %04o, want 0600", m)
	}
	for _, d := range []string{filepath.Join(base, "conf"), filepath.Dir(path)} {
		if m := perm(t, d); m != 0o700 {
			t.Errorf("directory %s mode %04o, want 0700", d, m)
		}
	}
	keys, createdAt := fileKeys(t, path)
	if len(keys) != 1 || createdAt[1] != "2025-03-04T05:06:07Z" {
		t.Fatalf("file holds versions %v created %v", keys, createdAt)
	}
	before := readBytes(t, path)
	s, err := ring.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}

	noClock := func() time.Time {
		t.Error("the clock was read while loading an existing file")
		return time.Time{}
	}
	again, created, err := LoadOrCreate(path, noClock)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("created = true for an existing file")
	}
	if !bytes.Equal(readBytes(t, path), before) {
		t.Fatal("second LoadOrCreate changed the file")
	}
	if got, err := again.Open(fixedRef, s); err != nil || string(got) != "secret" {
		t.Fatalf("ring loaded again: Open = %q, %v", got, err)
	}
	byKeys, err := NewRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := byKeys.Open(fixedRef, s); err != nil {
		t.Fatalf("the file's key does not open what the created ring sealed: %v", err)
	}
}

func TestLoadOrCreateNeverOverwrites(t *testing.T) {
	cases := map[string]struct {
		data []byte
		mode os.FileMode
		want string
	}{
		"empty":          {nil, 0o600, "is corrupt: it is empty"},
		"garbage":        {[]byte("\x00\x01garbage"), 0o600, "is corrupt"},
		"group-readable": {keyFileJSON(map[int][]byte{1: fixedKey1}), 0o640, "group or others"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			writeKeyFile(t, path, c.data, c.mode)
			ring, created, err := LoadOrCreate(path, fixedNow)
			if ring != nil || created {
				t.Fatalf("got ring %v, created %v", ring, created)
			}
			wantError(t, err, credbroker.CodeInvalid, path, c.want)
			if !bytes.Equal(readBytes(t, path), c.data) || perm(t, path) != c.mode {
				t.Fatal("LoadOrCreate changed an existing file")
			}
		})
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "keys.json")
	const n = 8
	rings := make([]*Ring, n)
	createdCount := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, created, err := LoadOrCreate(path, fixedNow)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			rings[i] = r
			if created {
				createdCount++
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if createdCount != 1 {
		t.Fatalf("%d callers created the file, want 1", createdCount)
	}
	s, err := rings[0].Seal(fixedRef, []byte("shared"))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rings {
		if _, err := r.Open(fixedRef, s); err != nil {
			t.Fatalf("ring %d has another key: %v", i, err)
		}
	}
}

func TestLoadCorruptFiles(t *testing.T) {
	secret, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k := base64.StdEncoding.EncodeToString(secret)
	valid := keyFileJSON(map[int][]byte{1: secret, 2: fixedKey2})
	entry := func(version, key string) string {
		return `{"format":"credbroker-keys-v1","keys":[{"version":` + version + `,"key":"` + key + `"}]}`
	}
	cases := map[string]struct{ data, want string }{
		"empty":               {"", "it is empty"},
		"whitespace":          {" \n\t", "it is empty"},
		"garbage":             {"\x89PNG\r\n\x1a\n" + k, "not valid JSON"},
		"not json":            {"key = " + k, "not valid JSON (error at byte 1)"},
		"truncated":           {string(valid[:len(valid)/2]), "it is truncated"},
		"cut after key":       {string(valid[:bytes.Index(valid, []byte(k))+10]), "it is truncated"},
		"array":               {"[" + `"` + k + `"]`, "not a JSON object"},
		"string":              {`"` + k + `"`, "not a JSON object"},
		"wrong format":        {strings.Replace(string(valid), "credbroker-keys-v1", "credbroker-keys-v2", 1), `"format" is not "credbroker-keys-v1"`},
		"no format":           {`{"keys":[{"version":1,"key":"` + k + `"}]}`, `"format" is not`},
		"no keys":             {`{"format":"credbroker-keys-v1","keys":[]}`, "holds no keys"},
		"keys null":           {`{"format":"credbroker-keys-v1","keys":null}`, "holds no keys"},
		"bad base64":          {entry("1", "!"+k[1:]), `version 1: "key" is not valid base64`},
		"url base64":          {entry("1", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)))), "not valid base64"},
		"short key":           {entry("1", k[:22]+"=="), `version 1: "key" is 16 bytes, not 32`},
		"long key":            {entry("1", base64.StdEncoding.EncodeToString(append(bytes.Clone(secret), 7))), `"key" is 33 bytes, not 32`},
		"empty key":           {entry("1", ""), `"key" is 0 bytes`},
		"version zero":        {entry("0", k), "key 1 has version 0, outside 1 to 2147483647"},
		"version negative":    {entry("-3", k), "has version -3"},
		"version too large":   {entry("2147483648", k), "has version 2147483648"},
		"version as string":   {entry(`"1"`, k), `field "keys.version" has the wrong type`},
		"version fractional":  {entry("1.5", k), `field "keys.version" has the wrong type`},
		"duplicate versions":  {`{"format":"credbroker-keys-v1","keys":[{"version":1,"key":"` + k + `"},{"version":1,"key":"` + base64.StdEncoding.EncodeToString(fixedKey1) + `"}]}`, "version 1 appears more than once"},
		"bad created":         {`{"format":"credbroker-keys-v1","keys":[{"version":1,"created":"` + k + `","key":"` + k + `"}]}`, `version 1: "created" is not an RFC 3339 time`},
		"unknown field":       {`{"format":"credbroker-keys-v1","keys":[{"version":1,"kye":"` + k + `"}]}`, "a field credbroker does not know"},
		"unknown secret name": {`{"format":"credbroker-keys-v1","` + k + `":1,"keys":[{"version":1,"key":"` + k + `"}]}`, "a field credbroker does not know"},
		"trailing data":       {string(valid) + `{"format":"x"}`, "data after the JSON object"},
		"trailing garbage":    {string(valid) + k, "data after the JSON object"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "keys.json")
			data := []byte(c.data)
			writeKeyFile(t, path, data, 0o600)

			ring, err := Load(path)
			if ring != nil {
				t.Fatal("got a ring")
			}
			wantError(t, err, credbroker.CodeInvalid, "key file "+path+" is corrupt: ", c.want, "; nothing was changed")
			assertNoSecret(t, err, secret, fixedKey2, []byte(k[:12]))

			_, _, err = LoadOrCreate(path, fixedNow)
			wantError(t, err, credbroker.CodeInvalid, path, c.want)
			_, err = Rotate(path, fixedNow)
			wantError(t, err, credbroker.CodeInvalid, path, c.want)
			assertNoSecret(t, err, secret, fixedKey2, []byte(k[:12]))

			if !bytes.Equal(readBytes(t, path), data) || perm(t, path) != 0o600 {
				t.Fatal("the key file was changed")
			}
			if names := dirNames(t, dir); len(names) != 1 {
				t.Fatalf("directory holds %v", names)
			}
		})
	}
}

func TestLoadValidFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	// Any order of versions; "created" optional; indentation free.
	data := `{
	  "keys": [
	    {"key": "` + base64.StdEncoding.EncodeToString(fixedKey2) + `", "version": 2},
	    {"version": 1, "created": "2024-05-06T07:08:09+02:00", "key": "` + base64.StdEncoding.EncodeToString(fixedKey1) + `"}
	  ],
	  "format": "credbroker-keys-v1"
	}`
	writeKeyFile(t, path, []byte(data), 0o400)
	ring, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ring.ActiveVersion() != 2 || fmt.Sprint(ring.Versions()) != "[1 2]" {
		t.Fatalf("ring %s", ring)
	}
	for v, blob := range map[int][]byte{1: fixedBlobV1, 2: fixedBlobV2} {
		if got, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: v, Blob: blob}); err != nil || !bytes.Equal(got, fixedText) {
			t.Fatalf("version %d: %q, %v", v, got, err)
		}
	}
}

func TestLoadMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "keys.json")
	_, err := Load(path)
	wantError(t, err, credbroker.CodeNotFound, "key file "+path+" does not exist", "restore it from backup")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%q does not match fs.ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Error("Load created the directory")
	}
}

func TestLoadNotRegular(t *testing.T) {
	path := t.TempDir()
	_, err := Load(path)
	wantError(t, err, credbroker.CodeInvalid, "key file "+path+" is not a regular file")
}

func TestLoadUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: permission bits do not stop root from reading")
	}
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeyFile(t, path, keyFileJSON(map[int][]byte{1: fixedKey1}), 0o200)
	_, err := Load(path)
	wantError(t, err, credbroker.CodeUnavailable, "key file "+path+" cannot be read: permission denied")
}

func TestLoadRefusesLoosePermissions(t *testing.T) {
	if !checkPerm {
		t.Skip("no Unix permission bits here")
	}
	data := keyFileJSON(map[int][]byte{1: fixedKey1})
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o602, 0o620, 0o644, 0o666, 0o601, 0o610} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			writeKeyFile(t, path, data, mode)
			_, err := Load(path)
			e := wantError(t, err, credbroker.CodeInvalid, "key file "+path, fmt.Sprintf("mode %04o", mode), "group or others")
			if e.Fix != "chmod 600 "+path {
				t.Errorf("Fix = %q, want %q", e.Fix, "chmod 600 "+path)
			}
			_, err = Rotate(path, fixedNow)
			wantError(t, err, credbroker.CodeInvalid, "group or others")
			if !bytes.Equal(readBytes(t, path), data) || perm(t, path) != mode {
				t.Fatal("the key file was changed")
			}
		})
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		path := filepath.Join(t.TempDir(), "keys.json")
		writeKeyFile(t, path, data, mode)
		if _, err := Load(path); err != nil {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	// A path a shell would split is quoted in the fix.
	path := filepath.Join(t.TempDir(), "my keys.json")
	writeKeyFile(t, path, data, 0o644)
	_, err := Load(path)
	if e := credbroker.AsError(err); e == nil || e.Fix != "chmod 600 '"+path+"'" {
		t.Errorf("Fix for a path with a space: %v", err)
	}
}

func TestRotateRewrapReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	ring1, _, err := LoadOrCreate(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	keysBefore, _ := fileKeys(t, path)
	plain := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	s1, err := ring1.Seal(fixedRef, plain)
	if err != nil {
		t.Fatal(err)
	}

	later := func() time.Time { return fixedNow().Add(48 * time.Hour) }
	v, err := Rotate(path, later)
	if err != nil {
		t.Fatal(err)
	}
	if v != 2 {
		t.Fatalf("Rotate = %d, want 2", v)
	}
	if m := perm(t, path); m != 0o600 {
		t.Errorf("rotated file mode %04o, want 0600", m)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "keys.json" {
		t.Errorf("directory holds %v after rotation", names)
	}
	keys, created := fileKeys(t, path)
	if len(keys) != 2 || !bytes.Equal(keys[1], keysBefore[1]) || bytes.Equal(keys[2], keys[1]) {
		t.Fatal("rotation did not keep version 1 and add a new version 2")
	}
	if created[1] != "2025-03-04T05:06:07Z" || created[2] != "2025-03-06T05:06:07Z" {
		t.Errorf("created = %v", created)
	}

	ring2, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if ring2.ActiveVersion() != 2 {
		t.Fatalf("active version %d after rotation", ring2.ActiveVersion())
	}
	s2, err := ring2.Rewrap(fixedRef, s1)
	if err != nil {
		t.Fatal(err)
	}
	if s2.KeyVersion != 2 || !bytes.Equal(s2.Blob[offDataNonce:], s1.Blob[offDataNonce:]) {
		t.Fatal("Rewrap did not move the record to version 2 with its ciphertext untouched")
	}
	if got, err := ring2.Open(fixedRef, s2); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("ring with both versions: %q, %v", got, err)
	}
	if got, err := ring2.Open(fixedRef, s1); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("old record with both versions: %q, %v", got, err)
	}
	onlyNew, err := NewRing(map[int][]byte{2: keys[2]})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := onlyNew.Open(fixedRef, s2); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("ring without the old version: %q, %v", got, err)
	}
	if same, err := ring2.Rewrap(fixedRef, s2); err != nil || !bytes.Equal(same.Blob, s2.Blob) || same.KeyVersion != 2 {
		t.Fatalf("Rewrap of an active record: %v", err)
	}

	// The ring loaded before the rotation lacks version 2 until it reloads.
	_, err = ring1.Open(fixedRef, s2)
	wantError(t, err, credbroker.CodeUnavailable, "master key version 2", "which key file "+path+" lacks")
	if !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("%q does not match ErrUnknownKeyVersion", err)
	}
	if err := ring1.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, err := ring1.Open(fixedRef, s2); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("after Reload: %q, %v", got, err)
	}
	if ring1.ActiveVersion() != 2 {
		t.Fatalf("active version %d after Reload", ring1.ActiveVersion())
	}

	if v, err := Rotate(path, nil); err != nil || v != 3 {
		t.Fatalf("second Rotate = %d, %v", v, err)
	}
}

func TestRotateConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, _, err := LoadOrCreate(path, fixedNow); err != nil {
		t.Fatal(err)
	}
	first, _ := fileKeys(t, path)
	const n = 8
	got := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := Rotate(path, fixedNow)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
	}
	wg.Wait()
	close(got)
	var versions []int
	for v := range got {
		versions = append(versions, v)
	}
	slices.Sort(versions)
	if fmt.Sprint(versions) != "[2 3 4 5 6 7 8 9]" {
		t.Fatalf("rotations returned %v", versions)
	}
	keys, _ := fileKeys(t, path)
	if len(keys) != n+1 || !bytes.Equal(keys[1], first[1]) {
		t.Fatalf("file holds %d versions after %d rotations, or lost version 1", len(keys), n)
	}
}

func TestRotateFailureLeavesFileIntact(t *testing.T) {
	check := func(t *testing.T, dir, path string, before []byte, err error) {
		t.Helper()
		wantError(t, err, credbroker.CodeUnavailable, "cannot rotate key file "+path, "the file was not changed")
		if !bytes.Equal(readBytes(t, path), before) || perm(t, path) != 0o600 {
			t.Fatal("the key file was changed")
		}
		if names := dirNames(t, dir); len(names) != 1 {
			t.Fatalf("directory holds %v: a temporary file was left behind", names)
		}
		ring, err := Load(path)
		if err != nil || fmt.Sprint(ring.Versions()) != "[1]" {
			t.Fatalf("after the failed rotation: %v, %v", ring, err)
		}
	}

	t.Run("rename fails", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys.json")
		if _, _, err := LoadOrCreate(path, fixedNow); err != nil {
			t.Fatal(err)
		}
		before := readBytes(t, path)
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			t.Fatal(err)
		}
		renamed := false
		_, err = rotate(path, fixedNow, func(oldpath, newpath string) error {
			renamed = true
			if !strings.HasPrefix(filepath.Base(oldpath), ".keys.json.") || newpath != real {
				t.Errorf("rename(%s, %s)", oldpath, newpath)
			}
			// The new file is complete and synced when the rename comes.
			keys, _ := fileKeys(t, oldpath)
			if len(keys) != 2 || perm(t, oldpath) != 0o600 {
				t.Errorf("temporary file holds %d keys, mode %04o", len(keys), perm(t, oldpath))
			}
			return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: errors.New("injected failure")}
		})
		if !renamed {
			t.Fatal("rename was not called")
		}
		check(t, dir, path, before, err)
		if !strings.Contains(err.Error(), "injected failure") {
			t.Errorf("%q does not give the reason", err)
		}
	})

	t.Run("temporary file name too long", func(t *testing.T) {
		// Works as root too: the kernel refuses a name over 255 bytes,
		// which the temporary name is when the key file's is 250.
		dir := t.TempDir()
		path := filepath.Join(dir, strings.Repeat("k", 250))
		if _, _, err := LoadOrCreate(path, fixedNow); err != nil {
			t.Skipf("this file system refuses a 250-byte name: %v", err)
		}
		before := readBytes(t, path)
		_, err := Rotate(path, fixedNow)
		check(t, dir, path, before, err)
	})

	t.Run("read-only directory", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: permission bits do not stop root from writing; the other subtests cover failures as root")
		}
		dir := t.TempDir()
		path := filepath.Join(dir, "keys.json")
		if _, _, err := LoadOrCreate(path, fixedNow); err != nil {
			t.Fatal(err)
		}
		before := readBytes(t, path)
		if err := os.Chmod(dir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
		_, err := Rotate(path, fixedNow)
		check(t, dir, path, before, err)
	})

	t.Run("missing file", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "keys.json")
		_, err := Rotate(path, fixedNow)
		wantError(t, err, credbroker.CodeNotFound, path)
		if names := dirNames(t, dir); len(names) != 0 {
			t.Fatalf("Rotate of a missing file left %v", names)
		}
	})
}

func TestReloadKeepsKeysInUse(t *testing.T) {
	other, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		data []byte
		code credbroker.Code
		want string
	}{
		"version dropped":  {keyFileJSON(map[int][]byte{2: fixedKey2, 3: other}), credbroker.CodeInvalid, "no longer holds master key version 1"},
		"key replaced":     {keyFileJSON(map[int][]byte{1: other, 2: fixedKey2}), credbroker.CodeInvalid, "holds another key for version 1"},
		"file corrupt":     {[]byte("{"), credbroker.CodeInvalid, "is corrupt"},
		"made public":      {keyFileJSON(map[int][]byte{1: fixedKey1, 2: fixedKey2, 3: other}), credbroker.CodeInvalid, "group or others"},
		"file not present": {nil, credbroker.CodeNotFound, "does not exist"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "keys.json")
			writeKeyFile(t, path, keyFileJSON(map[int][]byte{1: fixedKey1, 2: fixedKey2}), 0o600)
			ring, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case c.data == nil:
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			case name == "made public":
				writeKeyFile(t, path, c.data, 0o644)
			default:
				writeKeyFile(t, path, c.data, 0o600)
			}
			err = ring.Reload()
			wantError(t, err, c.code, path, c.want)
			assertNoSecret(t, err, fixedKey1, fixedKey2, other)
			if fmt.Sprint(ring.Versions()) != "[1 2]" {
				t.Fatalf("versions %v after a refused reload", ring.Versions())
			}
			if got, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: fixedBlobV1}); err != nil || !bytes.Equal(got, fixedText) {
				t.Fatalf("ring no longer opens version 1: %v", err)
			}
		})
	}
}

func TestConcurrentRotateAndReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	ring, _, err := LoadOrCreate(path, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := Load(path) // another broker sharing the store
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var rotations sync.WaitGroup
	rotations.Add(1)
	go func() {
		defer rotations.Done()
		for range 10 {
			if _, err := Rotate(path, fixedNow); err != nil {
				t.Error(err)
				return
			}
			if err := ring.Reload(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var workers sync.WaitGroup
	for g := range 6 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			ref := credbroker.SecretRef{Kind: "connector", ID: fmt.Sprintf("c%d", g)}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				plain := []byte(fmt.Sprintf("secret-%d-%d", g, i))
				s, err := ring.Seal(ref, plain)
				if err != nil {
					t.Error(err)
					return
				}
				if s, err = ring.Rewrap(ref, s); err != nil {
					t.Error(err)
					return
				}
				got, err := peer.Open(ref, s)
				if errors.Is(err, ErrUnknownKeyVersion) {
					if err = peer.Reload(); err == nil {
						got, err = peer.Open(ref, s)
					}
				}
				if err != nil || !bytes.Equal(got, plain) {
					t.Errorf("peer open: %q, %v", got, err)
					return
				}
			}
		}()
	}
	rotations.Wait()
	close(stop)
	workers.Wait()
	if ring.ActiveVersion() != 11 {
		t.Fatalf("active version %d after 10 rotations", ring.ActiveVersion())
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2 := base64.StdEncoding.EncodeToString(fixedKey1), base64.StdEncoding.EncodeToString(fixedKey2)

	single, err := ParseKeys(" " + k1 + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if single.ActiveVersion() != 1 || single.Path() != "" {
		t.Fatalf("single key: %s", single)
	}
	if got, err := single.Open(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: fixedBlobV1}); err != nil || !bytes.Equal(got, fixedText) {
		t.Fatalf("single key does not open version 1: %v", err)
	}

	multi, err := ParseKeys(" 2:" + k2 + " , 1: " + k1)
	if err != nil {
		t.Fatal(err)
	}
	if multi.ActiveVersion() != 2 || fmt.Sprint(multi.Versions()) != "[1 2]" {
		t.Fatalf("pairs: %s", multi)
	}
	if _, err := multi.Open(fixedRef, credbroker.Sealed{KeyVersion: 2, Blob: fixedBlobV2}); err != nil {
		t.Fatal(err)
	}
	err = multi.Reload()
	wantError(t, err, credbroker.CodeInvalid, "given as a value")

	short := base64.StdEncoding.EncodeToString(fixedKey1[:16])
	cases := map[string]string{
		"":                               "it is empty",
		"  \t":                           "it is empty",
		"not base64 at all!":             "the key is not valid standard base64",
		k1[:40]:                          "the key is 30 bytes, not 32",
		short:                            "the key is 16 bytes, not 32",
		"1:":                             "version 1: the key is 0 bytes, not 32",
		":" + k1:                         "entry 1: the version is not a number",
		"0:" + k1:                        "entry 1: the version is not a number from 1 to 2147483647",
		"2147483648:" + k1:               "entry 1: the version is not a number",
		"x:" + k1:                        "entry 1: the version is not a number",
		k1 + ":1":                        "entry 1: the version is not a number",
		"1:" + k1 + ",1:" + k2:           "version 1 appears more than once",
		"1:" + k1 + ",,2:" + k2:          "entry 2 is not VERSION:BASE64",
		"1:" + k1 + "," + k2:             "entry 2 is not VERSION:BASE64",
		"1:" + k1 + ",2:" + short:        "version 2: the key is 16 bytes",
		"1:" + k1 + ",2:" + k2 + ",":     "entry 3 is not VERSION:BASE64",
		strings.TrimRight(k1, "="):       "not valid standard base64",
		"1=" + k1:                        "not valid standard base64",
		"1:" + k1 + ";2:" + k2:           "not valid standard base64",
		strings.ReplaceAll(k2, "I", "-"): "not valid standard base64",
	}
	for value, want := range cases {
		ring, err := ParseKeys(value)
		if ring != nil {
			t.Errorf("ParseKeys(%q) gave a ring", value)
			continue
		}
		e := wantError(t, err, credbroker.CodeInvalid, "the master key value is not valid: ", want)
		if e.Field != "master_key" {
			t.Errorf("Field = %q", e.Field)
		}
		assertNoSecret(t, err, fixedKey1, fixedKey2, []byte(k1[:12]), []byte(k2[:12]))
		if len(strings.TrimSpace(value)) >= 8 && strings.Contains(err.Error(), strings.TrimSpace(value)) {
			t.Errorf("error %q quotes the value", err)
		}
	}
}
