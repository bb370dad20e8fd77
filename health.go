package credbroker

// Health is the broker's state as an administrator's overview shows it:
// whether the store answers, the master key versions and how many sealed
// secrets each one wraps, and the head of the audit chain. It holds no
// secret.
type Health struct {
	// StoreError is the public message of the store's failure to answer,
	// "" while it answers.
	StoreError string `json:"store_error,omitempty"`
	// KeyVersions are the master key versions the broker holds, oldest
	// first; ActiveKeyVersion is the one new secrets are sealed under.
	KeyVersions      []int `json:"key_versions,omitempty"`
	ActiveKeyVersion int   `json:"active_key_version,omitempty"`
	// SealedByVersion counts the stored sealed secrets per key version.
	SealedByVersion map[int]int `json:"sealed_by_version,omitempty"`
	// AuditHeadSeq and AuditHeadHash are the last audit record's sequence
	// number and hash.
	AuditHeadSeq  int64  `json:"audit_head_seq"`
	AuditHeadHash string `json:"audit_head_hash,omitempty"`
}
