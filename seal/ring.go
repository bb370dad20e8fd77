package seal

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/credbroker/credbroker"
)

// ErrUnknownKeyVersion is in the chain of the error Open and Rewrap return
// for a record sealed under a master key version the ring lacks. A broker
// whose key file may have been extended by another broker can then call
// [Ring.Reload] and try again once:
//
//	plain, err := ring.Open(ref, s)
//	if errors.Is(err, seal.ErrUnknownKeyVersion) && ring.Reload() == nil {
//		plain, err = ring.Open(ref, s)
//	}
var ErrUnknownKeyVersion = errors.New("unknown master key version")

// ErrAuthFailed is in the chain of the error Open and Rewrap return for a
// blob that fails authentication: altered, moved from another record, or
// sealed under another master key.
var ErrAuthFailed = errors.New("sealed secret failed authentication")

// Ring is a master key ring: versioned key-encryption keys, the highest
// version active. It seals, opens and re-wraps secrets. A Ring is safe for
// concurrent use; [Ring.Reload] may run while other goroutines seal and
// open. Make one with [Load], [LoadOrCreate], [ParseKeys] or [NewRing].
type Ring struct {
	path     string     // the key file, or "" for keys given as a value
	reloadMu sync.Mutex // serializes Reload
	set      atomic.Pointer[keySet]
}

// keySet is an immutable set of master keys.
type keySet struct {
	keys     map[int][]byte
	versions []int // ascending
	active   int
}

// entry is one master key as read from a file or a value.
type entry struct {
	version int
	created string // RFC 3339, or "" when unknown
	key     []byte
}

// newKeySet copies already validated entries into a key set.
func newKeySet(entries []entry) *keySet {
	ks := &keySet{keys: make(map[int][]byte, len(entries))}
	for _, e := range entries {
		ks.keys[e.version] = slices.Clone(e.key)
		ks.versions = append(ks.versions, e.version)
	}
	slices.Sort(ks.versions)
	ks.active = ks.versions[len(ks.versions)-1]
	return ks
}

// GenerateKey returns a new random 256-bit master key.
func GenerateKey() ([]byte, error) {
	k := make([]byte, KeySize)
	if err := readRandom(k); err != nil {
		return nil, err
	}
	return k, nil
}

// readRandom fills b from crypto/rand.
func readRandom(b []byte) error {
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("read random bytes: %w", err)
	}
	return nil
}

// NewRing returns a ring of the given keys, by version; each key must be
// [KeySize] bytes and each version between 1 and 2147483647. The keys are
// copied. It is meant for tests and for callers that keep keys elsewhere.
func NewRing(keys map[int][]byte) (*Ring, error) {
	if len(keys) == 0 {
		return nil, credbroker.Errorf(credbroker.CodeInvalid, "", "master key ring is empty").
			WithFix("give at least one key")
	}
	entries := make([]entry, 0, len(keys))
	for v, k := range keys {
		if v < 1 || v > maxVersion {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "", "master key version %d is out of range", v).
				WithFix("number key versions from 1 to 2147483647")
		}
		if len(k) != KeySize {
			return nil, credbroker.Errorf(credbroker.CodeInvalid, "", "master key version %d is %d bytes, not %d", v, len(k), KeySize).
				WithFix("use a 32-byte key from GenerateKey")
		}
		entries = append(entries, entry{version: v, key: k})
	}
	r := &Ring{}
	r.set.Store(newKeySet(entries))
	return r, nil
}

// ActiveVersion returns the version new records are sealed under: the
// highest in the ring.
func (r *Ring) ActiveVersion() int {
	ks := r.set.Load()
	if ks == nil {
		return 0
	}
	return ks.active
}

// Versions returns the key versions the ring holds, ascending.
func (r *Ring) Versions() []int {
	ks := r.set.Load()
	if ks == nil {
		return nil
	}
	return slices.Clone(ks.versions)
}

// Path returns the key file the ring was loaded from, or "" when the keys
// were given as a value.
func (r *Ring) Path() string { return r.path }

// String describes the ring without any key material, for logs.
func (r *Ring) String() string {
	return fmt.Sprintf("master key ring (%s; versions %s; active %d)", r.source(), joinInts(r.Versions()), r.ActiveVersion())
}

// source names where the keys come from, for messages.
func (r *Ring) source() string {
	if r.path == "" {
		return "the master key value"
	}
	return "key file " + r.path
}

// keys returns the current key set, or an error for a Ring not made by a
// constructor.
func (r *Ring) keys() (*keySet, error) {
	ks := r.set.Load()
	if ks == nil {
		return nil, credbroker.Errorf(credbroker.CodeInternal, "", "master key ring has no keys").
			WithFix("make the ring with seal.Load, seal.LoadOrCreate, seal.ParseKeys or seal.NewRing")
	}
	return ks, nil
}

// refString returns ref.String() after checking that it names one record
// without ambiguity.
func refString(ref credbroker.SecretRef) (string, error) {
	if ref.Kind == "" || ref.ID == "" || strings.Contains(ref.Kind, "/") {
		return "", credbroker.Errorf(credbroker.CodeInvalid, "", "secret reference %q is not valid: it needs a kind without \"/\" and an id", ref.String()).
			WithFix("seal and open secrets under a reference such as connector/ID or variable/SCOPE/NAME")
	}
	return ref.String(), nil
}

// Seal encrypts plaintext for the record ref under a fresh data key wrapped
// by the active master key. The result opens only with the same ref and a
// ring holding that master key version.
func (r *Ring) Seal(ref credbroker.SecretRef, plaintext []byte) (credbroker.Sealed, error) {
	name, err := refString(ref)
	if err != nil {
		return credbroker.Sealed{}, err
	}
	ks, err := r.keys()
	if err != nil {
		return credbroker.Sealed{}, err
	}
	dek := make([]byte, KeySize)
	defer clear(dek)
	var nonce [nonceSize]byte
	if err := readRandom(dek); err != nil {
		return credbroker.Sealed{}, sealFailed(name, err)
	}
	if err := readRandom(nonce[:]); err != nil {
		return credbroker.Sealed{}, sealFailed(name, err)
	}
	aead, err := newGCM(dek)
	if err != nil {
		return credbroker.Sealed{}, sealFailed(name, err)
	}
	out := make([]byte, 0, Overhead+len(plaintext))
	out, err = appendWrap(out, ks.keys[ks.active], ks.active, name, dek)
	if err != nil {
		return credbroker.Sealed{}, sealFailed(name, err)
	}
	out = append(out, nonce[:]...)
	out = aead.Seal(out, nonce[:], plaintext, dataAAD(name))
	return credbroker.Sealed{KeyVersion: ks.active, Blob: out}, nil
}

// Open authenticates and decrypts s, sealed for the record ref. It returns
// the whole plaintext or an error, never part of it. An error matches
// [ErrAuthFailed] when s was altered, moved from another record or sealed
// under another master key, and [ErrUnknownKeyVersion] when the ring lacks
// the master key version of s.
func (r *Ring) Open(ref credbroker.SecretRef, s credbroker.Sealed) ([]byte, error) {
	name, err := refString(ref)
	if err != nil {
		return nil, err
	}
	ks, err := r.keys()
	if err != nil {
		return nil, err
	}
	b, err := r.parse(ks, name, s)
	if err != nil {
		return nil, err
	}
	dek, err := unwrap(ks.keys[b.version], name, b)
	if err != nil {
		return nil, authFailed(name, err)
	}
	defer clear(dek)
	aead, err := newGCM(dek)
	if err != nil {
		return nil, authFailed(name, err)
	}
	plain, err := aead.Open(nil, b.data[:nonceSize], b.data[nonceSize:], dataAAD(name))
	if err != nil {
		return nil, authFailed(name, ErrAuthFailed)
	}
	if plain == nil {
		plain = []byte{}
	}
	return plain, nil
}

// Rewrap re-wraps the data key of s under the active master key, leaving
// the ciphertext as it is; the plaintext is never decrypted. A record
// already on the active version is returned unchanged once its wrapped key
// authenticates. Errors are those of [Ring.Open], except that a damaged
// ciphertext behind an intact wrapped key is not detected here: it still
// fails when opened.
func (r *Ring) Rewrap(ref credbroker.SecretRef, s credbroker.Sealed) (credbroker.Sealed, error) {
	name, err := refString(ref)
	if err != nil {
		return credbroker.Sealed{}, err
	}
	ks, err := r.keys()
	if err != nil {
		return credbroker.Sealed{}, err
	}
	b, err := r.parse(ks, name, s)
	if err != nil {
		return credbroker.Sealed{}, err
	}
	dek, err := unwrap(ks.keys[b.version], name, b)
	if err != nil {
		return credbroker.Sealed{}, authFailed(name, err)
	}
	defer clear(dek)
	if b.version == ks.active {
		return s, nil
	}
	out := make([]byte, 0, len(s.Blob))
	out, err = appendWrap(out, ks.keys[ks.active], ks.active, name, dek)
	if err != nil {
		return credbroker.Sealed{}, credbroker.Errorf(credbroker.CodeInternal, "", "re-wrapping sealed secret %s failed", name).
			WithFix("retry; the stored record was not changed").WithCause(err)
	}
	out = append(out, b.data...)
	return credbroker.Sealed{KeyVersion: ks.active, Blob: out}, nil
}

// parse checks the framing of s and that ks holds its key version.
func (r *Ring) parse(ks *keySet, name string, s credbroker.Sealed) (blob, error) {
	const fix = "the stored record is damaged: restore it from backup, or set the secret again"
	if len(s.Blob) == 0 {
		return blob{}, credbroker.Errorf(credbroker.CodeInternal, "", "sealed secret %s is empty", name).WithFix(fix)
	}
	b, err := parseBlob(s.Blob)
	if err != nil {
		return blob{}, credbroker.Errorf(credbroker.CodeInternal, "", "sealed secret %s is not a valid sealed value (%v)", name, err).
			WithFix(fix).WithCause(ErrAuthFailed)
	}
	if b.version != s.KeyVersion {
		return blob{}, credbroker.Errorf(credbroker.CodeInternal, "",
			"sealed secret %s is inconsistent: the record says master key version %d but its blob says %d", name, s.KeyVersion, b.version).
			WithFix(fix).WithCause(ErrAuthFailed)
	}
	if _, ok := ks.keys[b.version]; !ok {
		return blob{}, credbroker.Errorf(credbroker.CodeUnavailable, "",
			"sealed secret %s is sealed under master key version %d, which %s lacks (it holds versions %s)",
			name, b.version, r.source(), joinInts(ks.versions)).
			WithFix(fmt.Sprintf("install the key file that holds version %d (the one from the broker that rotated the master key) and reload or restart the broker", b.version)).
			WithCause(ErrUnknownKeyVersion)
	}
	return b, nil
}

// authFailed is the error for a blob that fails authentication.
func authFailed(name string, cause error) error {
	return credbroker.Errorf(credbroker.CodeInternal, "",
		"sealed secret %s failed authentication: altered, moved from another record, or sealed under another master key", name).
		WithFix("check that the broker uses the key file the secret was sealed with; otherwise restore the record from backup or set the secret again").
		WithCause(cause)
}

// sealFailed is the error for a failure of the platform's crypto.
func sealFailed(name string, cause error) error {
	return credbroker.Errorf(credbroker.CodeInternal, "", "sealing secret %s failed", name).
		WithFix("retry; if it persists, check the system's random number source").WithCause(cause)
}

// joinInts renders versions as "1, 2, 3".
func joinInts(vs []int) string {
	strs := make([]string, len(vs))
	for i, v := range vs {
		strs[i] = strconv.Itoa(v)
	}
	return strings.Join(strs, ", ")
}
