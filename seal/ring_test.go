package seal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/credbroker/credbroker"
)

const authMessage = "sealed secret connector/abc failed authentication: altered, moved from another record, or sealed under another master key"

func TestSealOpenRoundTrip(t *testing.T) {
	ring, _ := testRing(t, 1, 3, 2)
	if got := ring.ActiveVersion(); got != 3 {
		t.Fatalf("ActiveVersion = %d, want 3", got)
	}
	if got := fmt.Sprint(ring.Versions()); got != "[1 2 3]" {
		t.Fatalf("Versions = %s, want [1 2 3]", got)
	}
	refs := []credbroker.SecretRef{
		fixedRef,
		{Kind: "variable", ID: "-/db.password"},
		{Kind: "variable", ID: "OPS-DEPLOY/token"},
		credbroker.KeyCheckRef,
	}
	for _, ref := range refs {
		for _, n := range []int{0, 1, 40, 4096} {
			plain := bytes.Repeat([]byte{'s'}, n)
			s, err := ring.Seal(ref, plain)
			if err != nil {
				t.Fatalf("Seal(%s, %d bytes): %v", ref, n, err)
			}
			if s.KeyVersion != 3 {
				t.Errorf("KeyVersion = %d, want 3", s.KeyVersion)
			}
			if len(s.Blob) != n+Overhead {
				t.Errorf("blob of %d bytes is %d long, want %d", n, len(s.Blob), n+Overhead)
			}
			if n >= 8 && bytes.Contains(s.Blob, plain) {
				t.Errorf("blob holds the plaintext")
			}
			got, err := ring.Open(ref, s)
			if err != nil {
				t.Fatalf("Open(%s): %v", ref, err)
			}
			if !bytes.Equal(got, plain) || got == nil {
				t.Fatalf("Open(%s) = %q, want %q", ref, got, plain)
			}
		}
	}
}

func TestBlobLayout(t *testing.T) {
	if Overhead != offCiphertext+tagSize || offCiphertext != 77 {
		t.Fatalf("Overhead %d, ciphertext at %d: the documented layout changed", Overhead, offCiphertext)
	}
	if len(fixedBlobV1) != len(fixedText)+Overhead || fixedBlobV1[0] != formatV1 {
		t.Fatal("fixed blob does not have the documented layout")
	}
}

func TestSealIsRandomized(t *testing.T) {
	ring, _ := testRing(t, 1)
	a, err := ring.Seal(fixedRef, fixedText)
	if err != nil {
		t.Fatal(err)
	}
	b, err := ring.Seal(fixedRef, fixedText)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Blob, b.Blob) {
		t.Fatal("two seals of the same plaintext gave the same blob")
	}
	// Fresh data key and nonces: no field is shared.
	if bytes.Equal(a.Blob[offWrapNonce:offWrapped], b.Blob[offWrapNonce:offWrapped]) ||
		bytes.Equal(a.Blob[offDataNonce:offCiphertext], b.Blob[offDataNonce:offCiphertext]) ||
		bytes.Equal(a.Blob[offCiphertext:], b.Blob[offCiphertext:]) {
		t.Fatal("two seals share a nonce or a ciphertext")
	}
}

func TestFixedBlobsOpen(t *testing.T) {
	ring, err := NewRing(map[int][]byte{1: fixedKey1, 2: fixedKey2})
	if err != nil {
		t.Fatal(err)
	}
	for v, blob := range map[int][]byte{1: fixedBlobV1, 2: fixedBlobV2} {
		got, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: v, Blob: blob})
		if err != nil {
			t.Fatalf("fixed blob of version %d: %v", v, err)
		}
		if !bytes.Equal(got, fixedText) {
			t.Fatalf("fixed blob of version %d opened to %q", v, got)
		}
	}
}

func TestEveryByteFlipRefused(t *testing.T) {
	ring, keys := testRing(t, 1, 2)
	plain := []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	s, err := ring.Seal(fixedRef, plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range s.Blob {
		for _, mask := range []byte{0x01, 0x03, 0x80, 0xff} {
			blob := bytes.Clone(s.Blob)
			blob[i] ^= mask
			tampered := credbroker.Sealed{KeyVersion: s.KeyVersion, Blob: blob}
			got, err := ring.Open(fixedRef, tampered)
			if err == nil || got != nil {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want refused", i, mask, got, err)
			}
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("byte %d ^ %#x: error %q does not match ErrAuthFailed", i, mask, err)
			}
			assertNoSecret(t, err, plain, keys[1], keys[2])

			// The same with the record's version column following the
			// altered header, when it names a version at all.
			if i >= offVersion && i < offWrapNonce {
				tampered.KeyVersion = int(binary.BigEndian.Uint32(blob[offVersion:]))
				if got, err := ring.Open(fixedRef, tampered); err == nil || got != nil {
					t.Fatalf("byte %d ^ %#x with version %d: Open = %q, %v; want refused", i, mask, tampered.KeyVersion, got, err)
				}
			}

			// Rewrap checks the wrapped key; an altered ciphertext gets
			// through it but still never opens.
			rw, err := ring.Rewrap(fixedRef, tampered)
			if i < offDataNonce && err == nil {
				t.Fatalf("byte %d ^ %#x: Rewrap accepted an altered header or wrapped key", i, mask)
			}
			if err == nil {
				if got, err := ring.Open(fixedRef, rw); err == nil || got != nil {
					t.Fatalf("byte %d ^ %#x: rewrapped altered blob opened", i, mask)
				}
			}
		}
	}
}

func TestTruncatedOrExtendedRefused(t *testing.T) {
	ring, _ := testRing(t, 1)
	s, err := ring.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(s.Blob) {
		got, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: s.Blob[:n]})
		if err == nil || got != nil {
			t.Fatalf("blob cut to %d bytes opened", n)
		}
		if n == 0 {
			wantError(t, err, credbroker.CodeInternal, "connector/abc is empty")
		} else if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("blob cut to %d bytes: %q does not match ErrAuthFailed", n, err)
		}
	}
	long := append(bytes.Clone(s.Blob), 0)
	if _, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: long}); err == nil {
		t.Fatal("blob with a byte appended opened")
	}
}

func TestMovedBlobRefused(t *testing.T) {
	ring, _ := testRing(t, 1)
	s, err := ring.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	for _, other := range []credbroker.SecretRef{
		{Kind: "connector", ID: "abd"},
		{Kind: "connector", ID: "abc "},
		{Kind: "connector", ID: "ab"},
		{Kind: "variable", ID: "abc"},
		{Kind: "connecto", ID: "r/abc"},
		credbroker.KeyCheckRef,
	} {
		got, err := ring.Open(other, s)
		if err == nil || got != nil {
			t.Fatalf("blob of %s opened as %s", fixedRef, other)
		}
		if !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("moved to %s: %q does not match ErrAuthFailed", other, err)
		}
		if _, err := ring.Rewrap(other, s); err == nil {
			t.Fatalf("blob of %s rewrapped as %s", fixedRef, other)
		}
	}
	_, err = ring.Open(credbroker.SecretRef{Kind: "connector", ID: "xyz"}, s)
	wantError(t, err, credbroker.CodeInternal, "sealed secret connector/xyz failed authentication: altered, moved from another record, or sealed under another master key")
}

func TestWrongRingRefused(t *testing.T) {
	ring, _ := testRing(t, 1, 2)
	other, _ := testRing(t, 1, 2)
	s, err := ring.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := other.Open(fixedRef, s)
	if got != nil {
		t.Fatalf("another ring opened the blob: %q", got)
	}
	e := wantError(t, err, credbroker.CodeInternal, authMessage)
	if e.Message != authMessage {
		t.Errorf("Message = %q, want %q", e.Message, authMessage)
	}
	if !errors.Is(err, ErrAuthFailed) {
		t.Errorf("%q does not match ErrAuthFailed", err)
	}
	if _, err := other.Rewrap(fixedRef, s); !errors.Is(err, ErrAuthFailed) {
		t.Errorf("Rewrap with another ring: %v, want ErrAuthFailed", err)
	}
}

func TestVersionColumnMismatchRefused(t *testing.T) {
	ring, _ := testRing(t, 1, 2)
	s, err := ring.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	s.KeyVersion = 1
	_, err = ring.Open(fixedRef, s)
	wantError(t, err, credbroker.CodeInternal, "connector/abc is inconsistent", "version 1", "says 2")
}

func TestUnknownKeyVersion(t *testing.T) {
	newer, keys := testRing(t, 1, 7)
	older, err := NewRing(map[int][]byte{1: keys[1]})
	if err != nil {
		t.Fatal(err)
	}
	s, err := newer.Seal(fixedRef, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = older.Open(fixedRef, s)
	wantError(t, err, credbroker.CodeUnavailable, "connector/abc", "master key version 7", "the master key value lacks", "versions 1")
	if !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("%q does not match ErrUnknownKeyVersion", err)
	}
	if errors.Is(err, ErrAuthFailed) {
		t.Errorf("%q matches ErrAuthFailed", err)
	}
	if _, err := older.Rewrap(fixedRef, s); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Errorf("Rewrap: %v, want ErrUnknownKeyVersion", err)
	}
}

func TestRewrapInMemory(t *testing.T) {
	old, keys := testRing(t, 1)
	k2, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys[2] = k2
	both, err := NewRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, err := NewRing(map[int][]byte{2: k2})
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte("secret value")
	s1, err := old.Seal(fixedRef, plain)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := both.Rewrap(fixedRef, s1)
	if err != nil {
		t.Fatal(err)
	}
	if s2.KeyVersion != 2 || binary.BigEndian.Uint32(s2.Blob[offVersion:]) != 2 {
		t.Fatalf("rewrapped KeyVersion = %d, header %d, want 2", s2.KeyVersion, binary.BigEndian.Uint32(s2.Blob[offVersion:]))
	}
	if !bytes.Equal(s2.Blob[offDataNonce:], s1.Blob[offDataNonce:]) {
		t.Fatal("Rewrap changed the ciphertext")
	}
	if bytes.Equal(s2.Blob[:offDataNonce], s1.Blob[:offDataNonce]) {
		t.Fatal("Rewrap did not change the wrapped key")
	}
	for name, r := range map[string]*Ring{"both": both, "only new": onlyNew} {
		got, err := r.Open(fixedRef, s2)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%s ring: Open(rewrapped) = %q, %v", name, got, err)
		}
	}
	if _, err := onlyNew.Open(fixedRef, s1); !errors.Is(err, ErrUnknownKeyVersion) {
		t.Fatalf("ring without version 1 opened the old record: %v", err)
	}
	again, err := both.Rewrap(fixedRef, s2)
	if err != nil {
		t.Fatal(err)
	}
	if again.KeyVersion != s2.KeyVersion || !bytes.Equal(again.Blob, s2.Blob) {
		t.Fatal("Rewrap of an active-version record changed it")
	}
	if _, err := old.Open(fixedRef, s1); err != nil {
		t.Fatalf("the original record no longer opens: %v", err)
	}
}

func TestInvalidRefs(t *testing.T) {
	ring, _ := testRing(t, 1)
	s, err := ring.Seal(fixedRef, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []credbroker.SecretRef{{}, {Kind: "connector"}, {ID: "abc"}, {Kind: "a/b", ID: "c"}} {
		_, err := ring.Seal(ref, []byte("x"))
		wantError(t, err, credbroker.CodeInvalid, "secret reference")
		_, err = ring.Open(ref, s)
		wantError(t, err, credbroker.CodeInvalid, "secret reference")
		_, err = ring.Rewrap(ref, s)
		wantError(t, err, credbroker.CodeInvalid, "secret reference")
	}
}

func TestNewRingErrors(t *testing.T) {
	good := bytes.Repeat([]byte{1}, KeySize)
	tooHigh := maxVersion
	tooHigh++ // wraps to negative where int is 32 bits: still refused
	cases := map[string]map[int][]byte{
		"empty":       {},
		"version 0":   {0: good},
		"negative":    {-1: good},
		"too high":    {tooHigh: good},
		"short key":   {1: good[:31]},
		"long key":    {1: append(bytes.Clone(good), 0)},
		"missing key": {1: nil},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			r, err := NewRing(keys)
			if r != nil {
				t.Fatal("got a ring")
			}
			wantError(t, err, credbroker.CodeInvalid, "master key")
			assertNoSecret(t, err, good)
		})
	}
}

func TestNewRingCopiesKeys(t *testing.T) {
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	ring, err := NewRing(map[int][]byte{1: key})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ring.Seal(fixedRef, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	clear(key)
	if _, err := ring.Open(fixedRef, s); err != nil {
		t.Fatalf("ring depends on the caller's key slice: %v", err)
	}
}

func TestZeroRingDoesNotPanic(t *testing.T) {
	var ring Ring
	if _, err := ring.Seal(fixedRef, []byte("x")); err == nil {
		t.Fatal("zero Ring sealed")
	}
	if _, err := ring.Open(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: fixedBlobV1}); err == nil {
		t.Fatal("zero Ring opened")
	}
	if _, err := ring.Rewrap(fixedRef, credbroker.Sealed{KeyVersion: 1, Blob: fixedBlobV1}); err == nil {
		t.Fatal("zero Ring rewrapped")
	}
	if ring.ActiveVersion() != 0 || ring.Versions() != nil {
		t.Fatal("zero Ring reports keys")
	}
}

func TestStringShowsNoKey(t *testing.T) {
	ring, keys := testRing(t, 1, 2)
	for _, text := range []string{ring.String(), fmt.Sprint(ring), fmt.Sprintf("%+v", ring), fmt.Sprintf("%#v", *ring.set.Load())} {
		if strings.Contains(text, "[17 17") {
			t.Fatalf("text shows key bytes: %s", text)
		}
		assertNoSecret(t, errors.New(text), keys[1], keys[2])
	}
	if want := "master key ring (the master key value; versions 1, 2; active 2)"; ring.String() != want {
		t.Errorf("String = %q, want %q", ring.String(), want)
	}
}

func TestConcurrentUse(t *testing.T) {
	ring, _ := testRing(t, 1, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ref := credbroker.SecretRef{Kind: "variable", ID: fmt.Sprintf("-/v%d", g)}
			for i := range 200 {
				plain := []byte(fmt.Sprintf("secret %d %d", g, i))
				s, err := ring.Seal(ref, plain)
				if err != nil {
					errs <- err
					return
				}
				s, err = ring.Rewrap(ref, s)
				if err != nil {
					errs <- err
					return
				}
				got, err := ring.Open(ref, s)
				if err != nil || !bytes.Equal(got, plain) {
					errs <- fmt.Errorf("open %s: %q, %v", ref, got, err)
					return
				}
				_ = ring.Versions()
				_ = ring.ActiveVersion()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
