package seal

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// KeyFileFormat is the "format" value of a key file.
const KeyFileFormat = "credbroker-keys-v1"

// maxKeyFileSize bounds what Load reads; a real key file is a few hundred
// bytes per version.
const maxKeyFileSize = 1 << 20

// fileKey is one key in a key file.
type fileKey struct {
	Version int    `json:"version"`
	Created string `json:"created,omitempty"`
	Key     string `json:"key"`
}

// keyFile is the JSON document of a key file.
type keyFile struct {
	Format string    `json:"format"`
	Keys   []fileKey `json:"keys"`
}

// Load reads the key file at path. The file must be a regular file that
// neither group nor others may read or write (mode 0600 or stricter). Every
// failure is a *credbroker.Error naming path; Load never changes the file.
func Load(path string) (*Ring, error) {
	entries, _, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	defer zeroEntries(entries)
	r := &Ring{path: path}
	r.set.Store(newKeySet(entries))
	return r, nil
}

// LoadOrCreate loads the key file at path, or creates it when it does not
// exist: its directory with mode 0700 if missing, then the file with mode
// 0600 and one new key (version 1, created at now()), opened with O_EXCL and
// synced to disk. It never overwrites an existing file. created reports that
// the file was made, so that the caller can log its path and tell the
// operator to back it up. Concurrent callers are serialized by an advisory
// lock on the directory, so only one creates the file and the others load
// it complete. A nil now means time.Now.
func LoadOrCreate(path string, now func() time.Time) (ring *Ring, created bool, err error) {
	ring, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ring, false, err
	}
	if now == nil {
		now = time.Now
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot create directory %s for key file %s: %s", dir, path, reason(err)).
			WithFix("create the directory (mode 700) for the user the broker runs as, or choose another key file path").WithCause(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, false, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot lock directory %s to create key file %s: %s", dir, path, reason(err)).
			WithFix("check the directory's permissions and file system").WithCause(err)
	}
	defer unlock()
	// Another process may have created it while this one waited.
	ring, err = Load(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ring, false, err
	}
	entries, err := createKeyFile(path, now)
	if errors.Is(err, fs.ErrExist) {
		// Created by a process that does not take the lock: use its file.
		ring, err = Load(path)
		return ring, false, err
	}
	if err != nil {
		return nil, false, err
	}
	defer zeroEntries(entries)
	ring = &Ring{path: path}
	ring.set.Store(newKeySet(entries))
	return ring, true, nil
}

// createKeyFile writes a new key file with one key at path in an existing
// directory, failing with an error matching fs.ErrExist when a file is
// already there.
func createKeyFile(path string, now func() time.Time) ([]entry, error) {
	key, err := GenerateKey()
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "", "cannot generate a master key for key file %s", path).
			WithFix("check the system's random number source").WithCause(err)
	}
	entries := []entry{{version: 1, created: timestamp(now()), key: key}}
	data, err := encodeKeyFile(entries)
	if err != nil {
		return nil, err
	}
	defer clear(data)

	// The file appears at path whole or not at all: written and synced
	// under a temporary name, then linked to path, which fails if path
	// exists. A reader never sees it half-written, and a crash leaves at
	// most a temporary file, never an empty key file that would stop every
	// later start.
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot create key file %s: %s", path, reason(err)).
			WithFix("make the directory writable by the user the broker runs as, or choose another key file path").WithCause(err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := writeSync(tmp, data); err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot write new key file %s: %s; it was not created", path, reason(err)).
			WithFix("free disk space or fix the directory's permissions, then start again").WithCause(err)
	}
	err = os.Link(tmpName, path)
	if errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if err == nil {
		if err := syncDir(dir); err != nil {
			return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "created key file %s but cannot sync its directory: %s", path, reason(err)).
				WithFix("check the file system; the file may not survive a crash, so verify it exists before sealing secrets").WithCause(err)
		}
		return entries, nil
	}
	// A file system without hard links: create the file in place.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot create key file %s: %s", path, reason(err)).
			WithFix("make the directory writable by the user the broker runs as, or choose another key file path").WithCause(err)
	}
	if err := writeSync(f, data); err != nil {
		// The file is ours (O_EXCL) and incomplete: remove it so that the
		// next start does not find a corrupt key file.
		_ = os.Remove(path)
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot write new key file %s: %s; it was removed", path, reason(err)).
			WithFix("free disk space or fix the directory's permissions, then start again").WithCause(err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, credbroker.Errorf(credbroker.CodeUnavailable, "", "created key file %s but cannot sync its directory: %s", path, reason(err)).
			WithFix("check the file system; the file may not survive a crash, so verify it exists before sealing secrets").WithCause(err)
	}
	return entries, nil
}

// writeSync sets f to mode 0600 (whatever the umask), writes data, syncs
// and closes it. f is closed in every case.
func writeSync(f *os.File, data []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Rotate adds a new random master key to the key file at path and returns
// its version, one above the highest; old versions stay, so records sealed
// under them still open. The file is replaced atomically: a temporary file
// in the same directory (mode 0600, the original's owner when the process
// may set it) is written and synced, renamed over the original, and the
// directory is synced. When path is a symbolic link, the file it points to
// is replaced and the link kept. Any failure before the rename leaves the original
// untouched and removes the temporary file. If only the final directory
// sync fails, Rotate returns the new version together with the error.
//
// A running broker sees the new key after [Ring.Reload] or a restart; its
// stored records are then re-wrapped with [Ring.Rewrap]. A nil now means
// time.Now.
func Rotate(path string, now func() time.Time) (newVersion int, err error) {
	return rotate(path, now, os.Rename)
}

// rotate is Rotate with the rename step given, so that tests can make it
// fail.
func rotate(path string, now func() time.Time, rename func(oldpath, newpath string) error) (int, error) {
	if now == nil {
		now = time.Now
	}
	// Replace the file a symbolic link points to, not the link.
	target := path
	if real, err := filepath.EvalSymlinks(path); err == nil {
		target = real
	}
	dir := filepath.Dir(target)
	unlock, err := lockDir(dir)
	if err != nil {
		return 0, rotateFailed(path, "cannot lock its directory "+dir, err)
	}
	defer unlock()

	entries, orig, err := readKeyFile(path)
	if err != nil {
		return 0, err
	}
	defer zeroEntries(entries)
	last := entries[len(entries)-1].version
	if last >= maxVersion {
		return 0, credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s already holds the highest possible key version; it was not changed", path).
			WithFix("re-wrap every secret under the active key, then start a new key file")
	}
	key, err := GenerateKey()
	if err != nil {
		return 0, rotateFailed(path, "cannot generate a key", err)
	}
	entries = append(entries, entry{version: last + 1, created: timestamp(now()), key: key})
	data, err := encodeKeyFile(entries)
	if err != nil {
		return 0, err
	}
	defer clear(data)

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(target)+".*.tmp")
	if err != nil {
		return 0, rotateFailed(path, "cannot create a temporary file in "+dir, err)
	}
	tmpName := tmp.Name()
	if err := matchOwner(tmp, orig); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmpName)
		return 0, rotateFailed(path, "cannot give the new file the owner of the old one", err)
	}
	if err := writeSync(tmp, data); err != nil {
		_ = os.Remove(tmpName)
		return 0, rotateFailed(path, "cannot write the new file", err)
	}
	if err := rename(tmpName, target); err != nil {
		_ = os.Remove(tmpName)
		return 0, rotateFailed(path, "cannot rename the new file over it", err)
	}
	if err := syncDir(dir); err != nil {
		return last + 1, credbroker.Errorf(credbroker.CodeUnavailable, "",
			"key file %s now holds version %d, but its directory cannot be synced: %s", path, last+1, reason(err)).
			WithFix("check the file system; after a crash, verify the key file holds the new version before re-wrapping secrets").WithCause(err)
	}
	return last + 1, nil
}

// rotateFailed is the error of a rotation that left the file unchanged.
func rotateFailed(path, what string, err error) error {
	return credbroker.Errorf(credbroker.CodeUnavailable, "", "cannot rotate key file %s: %s: %s; the file was not changed", path, what, reason(err)).
		WithFix("fix the cause (disk space, permissions or owner of the directory) and rotate again").WithCause(err)
}

// Reload reads the ring's key file again and adopts its keys, so that a
// broker can open records sealed under a version another broker added. The
// file must still hold every version the ring has, with the same key bytes;
// otherwise, and on any error, the ring keeps its keys. A ring whose keys
// were given as a value cannot reload.
func (r *Ring) Reload() error {
	if r.path == "" {
		return credbroker.Errorf(credbroker.CodeInvalid, "", "the master key was given as a value, not as a key file; there is nothing to reload").
			WithFix("restart the broker with the new value")
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	entries, _, err := readKeyFile(r.path)
	if err != nil {
		return err
	}
	defer zeroEntries(entries)
	next := newKeySet(entries)
	cur, err := r.keys()
	if err != nil {
		return err
	}
	for _, v := range cur.versions {
		k, ok := next.keys[v]
		if !ok {
			return credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s no longer holds master key version %d, which this broker still uses; the keys in use were kept", r.path, v).
				WithFix(fmt.Sprintf("put version %d back in the file (versions are only ever added), or restart the broker to drop it", v))
		}
		if subtle.ConstantTimeCompare(k, cur.keys[v]) != 1 {
			return credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s holds another key for version %d than the one in use; the keys in use were kept", r.path, v).
				WithFix("the file seems to belong to another installation: restore this broker's key file")
		}
	}
	r.set.Store(next)
	return nil
}

// readKeyFile reads and validates the key file at path. It returns the
// entries sorted by version and the file's information.
func readKeyFile(path string) ([]entry, fs.FileInfo, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, credbroker.Errorf(credbroker.CodeNotFound, "", "key file %s does not exist", path).
			WithFix("check the key file path; if the file was lost, restore it from backup: secrets sealed under it cannot be opened with a new key").WithCause(err)
	}
	if err != nil {
		return nil, nil, unreadable(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, unreadable(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s is not a regular file", path).
			WithFix("point the broker at the key file itself")
	}
	if checkPerm && fi.Mode().Perm()&0o077 != 0 {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s may be read or written by group or others (mode %04o); refusing to use it", path, fi.Mode().Perm()).
			WithFix("chmod 600 " + shellQuote(path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	defer clear(data)
	if err != nil {
		return nil, nil, unreadable(path, err)
	}
	entries, problem := parseKeyFile(data)
	if problem != "" {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "", "key file %s is corrupt: %s; nothing was changed", path, problem).
			WithFix("restore the key file from backup; credbroker never rewrites a key file it cannot read")
	}
	return entries, fi, nil
}

// unreadable is the error for a key file that cannot be read.
func unreadable(path string, err error) error {
	return credbroker.Errorf(credbroker.CodeUnavailable, "", "key file %s cannot be read: %s", path, reason(err)).
		WithFix("make it readable by the user the broker runs as (its owner, mode 600)").WithCause(err)
}

// parseKeyFile validates a key file's bytes. problem describes what is
// wrong without quoting the file, which holds key material.
func parseKeyFile(data []byte) (entries []entry, problem string) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, "it is empty"
	}
	if len(data) > maxKeyFileSize {
		return nil, "it is larger than 1 MiB"
	}
	var kf keyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&kf); err != nil {
		return nil, jsonProblem(err, dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "there is data after the JSON object"
	}
	if kf.Format != KeyFileFormat {
		return nil, fmt.Sprintf("its \"format\" is not %q", KeyFileFormat)
	}
	if len(kf.Keys) == 0 {
		return nil, "it holds no keys"
	}
	seen := make(map[int]bool, len(kf.Keys))
	for i, k := range kf.Keys {
		if k.Version < 1 || k.Version > maxVersion {
			zeroEntries(entries)
			return nil, fmt.Sprintf("key %d has version %d, outside 1 to %d", i+1, k.Version, maxVersion)
		}
		if seen[k.Version] {
			zeroEntries(entries)
			return nil, fmt.Sprintf("version %d appears more than once", k.Version)
		}
		seen[k.Version] = true
		if k.Created != "" {
			if _, err := time.Parse(time.RFC3339, k.Created); err != nil {
				zeroEntries(entries)
				return nil, fmt.Sprintf("version %d: \"created\" is not an RFC 3339 time", k.Version)
			}
		}
		key, err := base64.StdEncoding.DecodeString(k.Key)
		if err != nil {
			zeroEntries(entries)
			return nil, fmt.Sprintf("version %d: \"key\" is not valid base64", k.Version)
		}
		if len(key) != KeySize {
			clear(key)
			zeroEntries(entries)
			return nil, fmt.Sprintf("version %d: \"key\" is %d bytes, not %d", k.Version, len(key), KeySize)
		}
		entries = append(entries, entry{version: k.Version, created: k.Created, key: key})
	}
	slices.SortFunc(entries, func(a, b entry) int { return a.version - b.version })
	return entries, ""
}

// jsonProblem describes a JSON decoding error without quoting the input:
// encoding/json's own messages may quote a character of it.
func jsonProblem(err error, offset int64) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("it is not valid JSON (error at byte %d)", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("field %q has the wrong type", typ.Field)
		}
		return "it is not a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "it is truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return fmt.Sprintf("it has a field credbroker does not know near byte %d (a typo, or a file from a newer credbroker)", offset)
	}
	return fmt.Sprintf("it is not valid JSON (error near byte %d)", offset)
}

// encodeKeyFile renders entries as a key file.
func encodeKeyFile(entries []entry) ([]byte, error) {
	kf := keyFile{Format: KeyFileFormat}
	for _, e := range entries {
		kf.Keys = append(kf.Keys, fileKey{Version: e.version, Created: e.created, Key: base64.StdEncoding.EncodeToString(e.key)})
	}
	slices.SortFunc(kf.Keys, func(a, b fileKey) int { return a.Version - b.Version })
	data, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "", "cannot encode the key file").WithCause(err)
	}
	return append(data, '\n'), nil
}

// ParseKeys makes a ring from a master key given as a value (the
// CREDBROKER_MASTER_KEY environment variable or the configuration): either
// one standard base64 key of 32 bytes, which is version 1, or
// comma-separated VERSION:BASE64 pairs such as "1:KEY1,2:KEY2", the highest
// version active. Errors never quote the value.
func ParseKeys(value string) (*Ring, error) {
	value = strings.TrimSpace(value)
	if value == "" {
		return nil, badValue("it is empty")
	}
	var entries []entry
	defer func() { zeroEntries(entries) }()
	if !strings.Contains(value, ":") {
		key, problem := decodeKey(value)
		if problem != "" {
			return nil, badValue(problem)
		}
		entries = append(entries, entry{version: 1, key: key})
	} else {
		seen := make(map[int]bool)
		for i, part := range strings.Split(value, ",") {
			v, k, ok := strings.Cut(strings.TrimSpace(part), ":")
			if !ok {
				return nil, badValue(fmt.Sprintf("entry %d is not VERSION:BASE64", i+1))
			}
			version, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || version < 1 || version > maxVersion {
				return nil, badValue(fmt.Sprintf("entry %d: the version is not a number from 1 to %d", i+1, maxVersion))
			}
			if seen[version] {
				return nil, badValue(fmt.Sprintf("version %d appears more than once", version))
			}
			seen[version] = true
			key, problem := decodeKey(strings.TrimSpace(k))
			if problem != "" {
				return nil, badValue(fmt.Sprintf("version %d: %s", version, problem))
			}
			entries = append(entries, entry{version: version, key: key})
		}
	}
	r := &Ring{}
	r.set.Store(newKeySet(entries))
	return r, nil
}

// decodeKey decodes one base64 key of KeySize bytes.
func decodeKey(s string) ([]byte, string) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, "the key is not valid standard base64"
	}
	if len(key) != KeySize {
		clear(key)
		return nil, fmt.Sprintf("the key is %d bytes, not %d", len(key), KeySize)
	}
	return key, ""
}

// badValue is the error for a master key value that does not parse.
func badValue(problem string) error {
	return credbroker.Errorf(credbroker.CodeInvalid, "master_key", "the master key value is not valid: %s", problem).
		WithFix("give one base64-encoded 32-byte key (such as the output of `openssl rand -base64 32`), or comma-separated VERSION:BASE64 pairs such as 1:KEY1,2:KEY2")
}

// zeroEntries clears the key bytes of entries.
func zeroEntries(entries []entry) {
	for _, e := range entries {
		clear(e.key)
	}
}

// timestamp renders t for a key file's "created".
func timestamp(t time.Time) string {
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// reason returns the operating system's reason in err without the path
// (which the caller's message already names).
func reason(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err.Error()
	}
	return err.Error()
}

// shellQuote quotes path for a shell command in a Fix when it needs it.
func shellQuote(path string) string {
	if path != "" && strings.IndexFunc(path, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%,", r))
	}) < 0 {
		return path
	}
	return "'" + strings.ReplaceAll(path, "'", `'\''`) + "'"
}

// checkPerm says whether mode bits mean anything on this system.
const checkPerm = runtime.GOOS != "windows" && runtime.GOOS != "plan9"
