package seal

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// The fixed keys and blobs below were made once with this package. They
// pin the blob format: a change that stops them opening breaks every
// stored secret.
var (
	fixedKey1 = bytes.Repeat([]byte{0x11}, KeySize)
	fixedKey2 = bytes.Repeat([]byte{0x22}, KeySize)
	fixedRef  = credbroker.SecretRef{Kind: "connector", ID: "abc"}
	fixedText = []byte("fuzz-seed-secret")
	// fixedBlobV1 is fixedText sealed for fixedRef under fixedKey1 as version 1.
	fixedBlobV1 = mustHex("0100000001a2f861c17eb19cfbc33b06ed05b3299167c5d276b943de7e005f214a84cdff8d4c4430be88336cda67af9b54b7f16f601d8aff5209f34ebd6d77c10872af682bde55d8d757686da8febf89a308ca225a70bf7b759f1570fc287d5e9ca9471e13fac9946350aaac33")
	// fixedBlobV2 is fixedText sealed for fixedRef under fixedKey2 as version 2.
	fixedBlobV2 = mustHex("010000000226aea134dcb372ee60e5f42cfa17551d3d71f9d7b327f8f94553738fab3d888ea87f716e93b7e15c9d1f3f9fce3b399dda1c2357e7bd9cda54b2012c736c8ab70dfe17b7ad68cec179571e04089cb05906278b3208c9d521d8ccb4f54faf39fe0025fd522e2b25a9")
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// fixedNow is the injected clock of the tests.
func fixedNow() time.Time { return time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC) }

// testRing returns a ring with a random key for each version, and the keys.
func testRing(t testing.TB, versions ...int) (*Ring, map[int][]byte) {
	t.Helper()
	keys := make(map[int][]byte)
	for _, v := range versions {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys[v] = k
	}
	r, err := NewRing(keys)
	if err != nil {
		t.Fatal(err)
	}
	return r, keys
}

// wantError checks that err is a *credbroker.Error with code and that its
// text holds every part.
func wantError(t testing.TB, err error, code credbroker.Code, parts ...string) *credbroker.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s error containing %q", code, parts)
	}
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("error %q (%T) is not a *credbroker.Error", err, err)
	}
	if e.Code != code {
		t.Errorf("error %q has code %s, want %s", err, e.Code, code)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
	if e.Fix == "" {
		t.Errorf("error %q has no Fix", err)
	}
	return e
}

// assertNoSecret checks that neither err's text nor any error in its chain
// shows one of the secrets, raw or in base64 or hex.
func assertNoSecret(t testing.TB, err error, secrets ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	var texts []string
	for e := err; e != nil; e = errors.Unwrap(e) {
		texts = append(texts, e.Error(), fmt.Sprintf("%+v", e))
	}
	for _, s := range secrets {
		forms := []string{string(s), base64.StdEncoding.EncodeToString(s), hex.EncodeToString(s)}
		for _, text := range texts {
			for _, f := range forms {
				if len(f) >= 8 && strings.Contains(text, f) {
					t.Errorf("error %q shows secret material", text)
				}
			}
		}
	}
}
