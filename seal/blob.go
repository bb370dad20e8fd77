package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
)

// KeySize is the size in bytes of a master key (KEK) and of a data key.
const KeySize = 32

// Overhead is how many bytes longer a sealed blob is than its plaintext:
// format byte, key version, two nonces, the wrapped data key and the
// ciphertext's tag.
const Overhead = 93

// The layout of a version 1 blob; see the package documentation.
const (
	formatV1 = 0x01

	nonceSize  = 12
	tagSize    = 16
	wrappedLen = KeySize + tagSize

	offVersion    = 1
	offWrapNonce  = offVersion + 4
	offWrapped    = offWrapNonce + nonceSize
	offDataNonce  = offWrapped + wrappedLen
	offCiphertext = offDataNonce + nonceSize
)

// maxVersion is the highest key version: versions are stored as uint32 and
// kept within int32 so that they fit an int on every platform and a
// database integer column.
const maxVersion = 1<<31 - 1

// Domain-separation labels of the two kinds of associated data.
const (
	labelData = "credbroker/seal/v1/data"
	labelWrap = "credbroker/seal/v1/wrap"
)

// blob is a parsed version 1 blob. Its slices alias the input.
type blob struct {
	version   int
	wrapNonce []byte
	wrapped   []byte
	// data is the data nonce followed by the ciphertext and its tag.
	data []byte
}

// parseBlob splits b into its fields. It checks lengths and the format
// byte only; authentication happens when the parts are opened.
func parseBlob(b []byte) (blob, error) {
	if len(b) < Overhead {
		return blob{}, fmt.Errorf("blob is %d bytes, shorter than the %d-byte minimum", len(b), Overhead)
	}
	if b[0] != formatV1 {
		return blob{}, fmt.Errorf("unknown blob format byte 0x%02x", b[0])
	}
	v := binary.BigEndian.Uint32(b[offVersion:])
	if v == 0 || v > maxVersion {
		return blob{}, fmt.Errorf("blob key version %d is out of range", v)
	}
	return blob{
		version:   int(v),
		wrapNonce: b[offWrapNonce:offWrapped],
		wrapped:   b[offWrapped:offDataNonce],
		data:      b[offDataNonce:],
	}, nil
}

// dataAAD is the associated data of the ciphertext.
func dataAAD(ref string) []byte {
	aad := make([]byte, 0, len(labelData)+1+4+len(ref))
	aad = append(aad, labelData...)
	aad = append(aad, 0)
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(ref)))
	return append(aad, ref...)
}

// wrapAAD is the associated data of the wrapped data key.
func wrapAAD(ref string, version int) []byte {
	aad := make([]byte, 0, len(labelWrap)+1+8+len(ref))
	aad = append(aad, labelWrap...)
	aad = append(aad, 0)
	aad = binary.BigEndian.AppendUint32(aad, uint32(version))
	aad = binary.BigEndian.AppendUint32(aad, uint32(len(ref)))
	return append(aad, ref...)
}

// newGCM returns AES-256-GCM under key.
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return aead, nil
}

// appendWrap appends the header, wrap nonce and wrapped dek to dst, wrapping
// dek under kek of the given version.
func appendWrap(dst []byte, kek []byte, version int, ref string, dek []byte) ([]byte, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	var nonce [nonceSize]byte
	if err := readRandom(nonce[:]); err != nil {
		return nil, err
	}
	dst = append(dst, formatV1)
	dst = binary.BigEndian.AppendUint32(dst, uint32(version))
	dst = append(dst, nonce[:]...)
	return aead.Seal(dst, nonce[:], dek, wrapAAD(ref, version)), nil
}

// unwrap returns the data key of b, authenticated under kek. The caller
// zeroes it.
func unwrap(kek []byte, ref string, b blob) ([]byte, error) {
	aead, err := newGCM(kek)
	if err != nil {
		return nil, err
	}
	dek, err := aead.Open(nil, b.wrapNonce, b.wrapped, wrapAAD(ref, b.version))
	if err != nil {
		return nil, ErrAuthFailed
	}
	if len(dek) != KeySize {
		clear(dek)
		return nil, ErrAuthFailed
	}
	return dek, nil
}
