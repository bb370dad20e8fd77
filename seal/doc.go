// Package seal encrypts the secrets the broker stores (connector base keys,
// secret variables) with envelope encryption, and keeps the master keys in a
// key file or takes them from a value.
//
// # Scheme
//
// A master key ring holds versioned 256-bit key-encryption keys (KEKs).
// Versions are positive integers; the highest version is the active one, the
// only one new records are sealed under. Older versions stay in the ring so
// that records sealed under them still open until they are re-wrapped.
//
// Sealing a secret under a reference ref (credbroker.SecretRef, "kind/id"):
//
//  1. A fresh random 256-bit data key (DEK) is drawn from crypto/rand for
//     this one record.
//  2. The plaintext is encrypted with AES-256-GCM under the DEK, with a
//     random 96-bit nonce and the associated data
//     "credbroker/seal/v1/data" || 0x00 || uint32be(len(ref)) || ref,
//     where ref is ref.String().
//  3. The DEK is wrapped (encrypted) with AES-256-GCM under the active KEK,
//     with a random 96-bit nonce and the associated data
//     "credbroker/seal/v1/wrap" || 0x00 || uint32be(version) ||
//     uint32be(len(ref)) || ref, which binds the wrapped key to both the
//     record and the KEK version.
//  4. The DEK is zeroed. (The AES key schedule that crypto/aes derives from
//     it cannot be reached to be zeroed; it becomes garbage with the
//     cipher value.)
//
// The two associated-data strings carry distinct labels, so a wrapped key
// can never be mistaken for a ciphertext or the other way round. A record
// reference whose kind contains "/" is refused, so that ref.String() names
// exactly one (kind, id) pair.
//
// Opening checks the wrapped DEK first, then the ciphertext; any change to
// any byte of the blob, a blob copied onto another record, or a blob sealed
// under another master key fails GCM authentication and is refused with a
// *credbroker.Error. No plaintext, not even part of it, is returned then.
//
// Re-wrapping (after a key rotation) unwraps the DEK with the KEK of its
// version and wraps it again under the active KEK. The data nonce and the
// ciphertext are copied unchanged, and the plaintext is never decrypted, so a
// rotation job never holds a secret in the clear.
//
// # Blob format (version 1)
//
// Sealed.Blob is, in order:
//
//	offset size  field
//	0      1     format byte, 0x01
//	1      4     KEK version, unsigned big-endian
//	5      12    wrap nonce
//	17     48    wrapped DEK: 32-byte key encrypted, then 16-byte GCM tag
//	65     12    data nonce
//	77     n+16  ciphertext of the n-byte plaintext, then 16-byte GCM tag
//
// so a blob is [Overhead] (93) bytes longer than its plaintext.
// Sealed.KeyVersion repeats the KEK version beside the blob so that the store
// can find the records left to re-wrap; Open and Rewrap refuse a Sealed whose
// KeyVersion disagrees with its blob.
//
// # Limits
//
// The scheme protects confidentiality and integrity of each record and its
// binding to its reference. It does not detect a record replaced by an
// older sealed value of the same reference (a rollback); the store's audit
// trail is the place for that. Each KEK wraps one DEK per sealed or
// re-wrapped record with a random nonce; NIST SP 800-38D bounds a key to
// 2^32 such uses, far beyond a broker's secrets, but rotate the key long
// before that. AES-GCM is not key-committing; a DEK is only ever taken from an
// authenticated wrap, so nobody without a KEK can choose one.
//
// KEKs are kept as raw bytes in memory and a cipher is set up for each
// operation, so a Ring is safe for concurrent use with any crypto backend
// (some FIPS toolchains return AEAD values that are not).
//
// # Key file format
//
// A key file is JSON, mode 0600, owned by the user the broker runs as:
//
//	{
//	  "format": "credbroker-keys-v1",
//	  "keys": [
//	    {"version": 1, "created": "2025-01-02T03:04:05Z", "key": "<base64 of 32 bytes>"},
//	    {"version": 2, "created": "2025-07-01T00:00:00Z", "key": "<base64 of 32 bytes>"}
//	  ]
//	}
//
// "key" is standard base64 with padding. "created" (RFC 3339) is
// informational and may be omitted. Unknown fields are refused, so that a
// rotation, which rewrites the file, never drops anything silently. The active
// key is the highest version. [Load] refuses a file that group or others may
// read or write, as ssh does for private keys.
//
// [LoadOrCreate] creates a missing key file (and its directory, mode 0700)
// without ever overwriting an existing file. [Rotate] adds a new version
// atomically: it writes a temporary file in the same directory, syncs it,
// renames it over the original and syncs the directory; while it works it
// holds an advisory lock on the directory so that two rotations cannot lose
// a key. A failed rotation leaves the original file as it was.
//
// # Key given as a value
//
// [ParseKeys] takes the master key as a string (from CREDBROKER_MASTER_KEY or
// the configuration): either one base64 key, which is version 1, or
// comma-separated VERSION:BASE64 pairs such as "1:AAAA...,2:BBBB...".
//
// # Errors
//
// Every failure a user can meet is a *credbroker.Error whose Message names
// the file, the record or the value concerned and whose Fix says what to do.
// No error or cause ever holds key material or plaintext. A record sealed
// under a key version the ring lacks gives an error matching
// [ErrUnknownKeyVersion] (errors.Is); a broker whose key file was updated
// by another broker can then call [Ring.Reload] and try again.
package seal
