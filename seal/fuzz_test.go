package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

// FuzzOpen feeds arbitrary blobs, versions and record IDs to Open and
// Rewrap. Neither may panic, and nothing opens except the two fixed valid
// blobs under their own record and version.
func FuzzOpen(f *testing.F) {
	ring, err := NewRing(map[int][]byte{1: fixedKey1, 2: fixedKey2})
	if err != nil {
		f.Fatal(err)
	}
	valid := map[int][]byte{1: fixedBlobV1, 2: fixedBlobV2}

	f.Add(fixedBlobV1, 1, "abc")
	f.Add(fixedBlobV2, 2, "abc")
	f.Add(fixedBlobV2, 1, "abc")
	f.Add(fixedBlobV1, 1, "abd")
	f.Add(fixedBlobV1[:Overhead], 1, "abc")
	f.Add(fixedBlobV1[:Overhead-1], 1, "abc")
	f.Add(append(bytes.Clone(fixedBlobV2), 0), 2, "abc")
	f.Add([]byte{}, 0, "abc")
	f.Add([]byte{formatV1}, 1, "abc")
	f.Add(make([]byte, Overhead), 0, "abc")
	f.Add(bytes.Repeat([]byte{0xff}, 200), -1, "")
	f.Add(append([]byte{formatV1, 0, 0, 0, 9}, make([]byte, Overhead)...), 9, "abc")
	// Header and wrapped key of a valid blob before another ciphertext.
	f.Add(append(bytes.Clone(fixedBlobV2[:offDataNonce]), fixedBlobV1[offDataNonce:]...), 2, "abc")

	f.Fuzz(func(t *testing.T, blob []byte, version int, id string) {
		ref := credbroker.SecretRef{Kind: "connector", ID: id}
		s := credbroker.Sealed{KeyVersion: version, Blob: bytes.Clone(blob)}
		want, known := valid[version]
		isValid := known && id == "abc" && bytes.Equal(blob, want)

		got, err := ring.Open(ref, s)
		switch {
		case err == nil && !isValid:
			t.Fatalf("forged blob opened to %q", got)
		case err != nil && isValid:
			t.Fatalf("valid blob refused: %v", err)
		case err != nil && got != nil:
			t.Fatal("Open returned plaintext with an error")
		case err == nil && !bytes.Equal(got, fixedText):
			t.Fatalf("valid blob opened to %q", got)
		case err != nil && credbroker.AsError(err) == nil:
			t.Fatalf("error %T is not a *credbroker.Error", err)
		}
		if !bytes.Equal(s.Blob, blob) {
			t.Fatal("Open changed its input")
		}

		rw, err := ring.Rewrap(ref, s)
		if err != nil {
			return
		}
		// Rewrap authenticates only the wrapped key, which must be one of
		// a valid blob, under its own version and record.
		if !known || id != "abc" || len(blob) < offDataNonce || !bytes.Equal(blob[:offDataNonce], want[:offDataNonce]) {
			t.Fatalf("Rewrap accepted a forged wrapped key (version %d)", version)
		}
		if rw.KeyVersion != 2 || int(binary.BigEndian.Uint32(rw.Blob[offVersion:])) != 2 {
			t.Fatalf("Rewrap gave version %d", rw.KeyVersion)
		}
		if !bytes.Equal(rw.Blob[offDataNonce:], blob[offDataNonce:]) {
			t.Fatal("Rewrap changed the ciphertext")
		}
		got, err = ring.Open(ref, rw)
		if (err == nil) != isValid {
			t.Fatalf("rewrapped blob: Open = %q, %v (valid %v)", got, err, isValid)
		}
	})
}

// FuzzParseKeys checks that ParseKeys never panics, never quotes its input
// in an error, and gives a usable ring when it succeeds.
func FuzzParseKeys(f *testing.F) {
	k1 := base64.StdEncoding.EncodeToString(fixedKey1)
	k2 := base64.StdEncoding.EncodeToString(fixedKey2)
	for _, seed := range []string{"", k1, "1:" + k1, "1:" + k1 + ",2:" + k2, "2:" + k2 + ", 1:" + k1, "0:" + k1, "1:" + k1 + ",1:" + k2, k1 + ",", ":", ",", "1:,2:", "9999999999:" + k1} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, value string) {
		ring, err := ParseKeys(value)
		if err != nil {
			if ring != nil {
				t.Fatal("ring with an error")
			}
			e := credbroker.AsError(err)
			if e == nil || e.Code != credbroker.CodeInvalid {
				t.Fatalf("error %v is not CodeInvalid", err)
			}
			if v := strings.TrimSpace(value); len(v) >= 24 && strings.Contains(err.Error(), v) {
				t.Fatalf("error %q quotes the value", err)
			}
			return
		}
		vs := ring.Versions()
		if len(vs) == 0 || ring.ActiveVersion() != vs[len(vs)-1] {
			t.Fatalf("versions %v, active %d", vs, ring.ActiveVersion())
		}
		s, err := ring.Seal(fixedRef, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ring.Open(fixedRef, s); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzKeyFile checks that the key file parser never panics and that what
// it accepts survives a write and a read unchanged.
func FuzzKeyFile(f *testing.F) {
	f.Add(keyFileJSON(map[int][]byte{1: fixedKey1, 2: fixedKey2}))
	f.Add(keyFileJSON(map[int][]byte{7: fixedKey1}))
	f.Add([]byte(`{"format":"credbroker-keys-v1","keys":[{"version":1,"key":"` + base64.StdEncoding.EncodeToString(fixedKey1) + `"}]}`))
	f.Add([]byte(`{"format":"credbroker-keys-v1","keys":[]}`))
	f.Add([]byte(`{"format":"credbroker-keys-v1","keys":[{"version":1,"created":"x","key":""}]}`))
	f.Add([]byte("{"))
	f.Add([]byte("[]"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, problem := parseKeyFile(data)
		if problem != "" {
			if entries != nil {
				t.Fatal("entries with a problem")
			}
			return
		}
		if len(entries) == 0 {
			t.Fatal("no entries and no problem")
		}
		out, err := encodeKeyFile(entries)
		if err != nil {
			t.Fatal(err)
		}
		again, problem := parseKeyFile(out)
		if problem != "" {
			t.Fatalf("re-encoded file refused: %s", problem)
		}
		if len(again) != len(entries) {
			t.Fatalf("%d entries became %d", len(entries), len(again))
		}
		for i := range entries {
			if again[i].version != entries[i].version || again[i].created != entries[i].created || !bytes.Equal(again[i].key, entries[i].key) {
				t.Fatalf("entry %d changed in a round trip", i)
			}
		}
	})
}
