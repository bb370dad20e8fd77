package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"testing"
)

// secret40 is a 40-byte secret, the length of an AWS secret access key.
var secret40 = []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")

func BenchmarkSeal(b *testing.B) {
	ring, _ := testRing(b, 1)
	b.SetBytes(int64(len(secret40)))
	for b.Loop() {
		if _, err := ring.Seal(fixedRef, secret40); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	ring, _ := testRing(b, 1)
	s, err := ring.Seal(fixedRef, secret40)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(secret40)))
	for b.Loop() {
		if _, err := ring.Open(fixedRef, s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRewrap(b *testing.B) {
	old, keys := testRing(b, 1)
	s, err := old.Seal(fixedRef, secret40)
	if err != nil {
		b.Fatal(err)
	}
	k2, err := GenerateKey()
	if err != nil {
		b.Fatal(err)
	}
	keys[2] = k2
	ring, err := NewRing(keys)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ring.Rewrap(fixedRef, s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineGCMSeal is one bare AES-256-GCM Seal of the same 40
// bytes with a cipher set up beforehand: the floor the envelope builds on.
func BenchmarkBaselineGCMSeal(b *testing.B) {
	key := make([]byte, KeySize)
	nonce := make([]byte, nonceSize)
	rand.Read(key)
	rand.Read(nonce)
	block, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		b.Fatal(err)
	}
	out := make([]byte, 0, len(secret40)+tagSize)
	b.SetBytes(int64(len(secret40)))
	for b.Loop() {
		out = aead.Seal(out[:0], nonce, secret40, nil)
	}
}

// BenchmarkBaselineGCMSetupSeal adds what one record's envelope step costs
// beyond the bare Seal: AES key expansion, GCM setup and a random nonce.
func BenchmarkBaselineGCMSetupSeal(b *testing.B) {
	key := make([]byte, KeySize)
	rand.Read(key)
	nonce := make([]byte, nonceSize)
	out := make([]byte, 0, len(secret40)+tagSize)
	b.SetBytes(int64(len(secret40)))
	for b.Loop() {
		aead, err := newGCM(key)
		if err != nil {
			b.Fatal(err)
		}
		rand.Read(nonce)
		out = aead.Seal(out[:0], nonce, secret40, nil)
	}
}
