package credbroker

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// Audit actions.
const (
	ActionVend            = "vend"
	ActionConsole         = "console"
	ActionConnectorCreate = "connector.create"
	ActionConnectorUpdate = "connector.update"
	ActionConnectorDelete = "connector.delete"
	ActionTokenCreate     = "token.create"
	ActionTokenRevoke     = "token.revoke"
	ActionVariableSet     = "variable.set"
	ActionVariableDelete  = "variable.delete"
	ActionKeyRotate       = "key.rotate"
)

// Audit outcomes.
const (
	OutcomeGranted = "granted" // a vend that returned credentials, or an admin change made
	OutcomeRefused = "refused" // refused by a rule or a failure
)

// AuditRecord is one entry of the append-only audit trail. It never holds a
// secret: the access key ID is an identifier (CloudTrail shows it too), not
// a secret. Records are hash-chained: Hash covers every field and the
// previous record's hash, so an edited, deleted or reordered record breaks
// the chain.
type AuditRecord struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	Action      string    `json:"action"`
	TokenID     string    `json:"token_id,omitempty"`
	Plan        string    `json:"plan,omitempty"`
	Build       string    `json:"build,omitempty"`
	Job         string    `json:"job,omitempty"`
	Task        string    `json:"task,omitempty"`
	Connector   string    `json:"connector,omitempty"`
	RoleARN     string    `json:"role_arn,omitempty"`
	AccessKeyID string    `json:"access_key_id,omitempty"`
	Expiration  time.Time `json:"expiration,omitzero"`
	Outcome     string    `json:"outcome"`
	ErrorCode   string    `json:"error_code,omitempty"`
	Detail      string    `json:"detail,omitempty"`
	// Tags are the session tags a vended session was issued with (the
	// build's credbroker:* tags, the connector's and the request's).
	Tags []Tag `json:"tags,omitempty"`
	// Issuer, Subject and Claims say who acted, for a request made with
	// an ID token instead of an agent token: the token's iss and sub, and
	// the claims the binding names and the provenance claims (repository,
	// ref, sha, run_id, ...), so that CloudTrail's session leads back to
	// the commit.
	Issuer   string `json:"issuer,omitempty"`
	Subject  string `json:"subject,omitempty"`
	Claims   []Tag  `json:"claims,omitempty"`
	PrevHash string `json:"prev_hash"`
	Hash     string `json:"hash"`
}

// AuditGenesis is the PrevHash of the first record.
const AuditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Chain sets r.Seq, r.PrevHash and r.Hash so that r follows a record with
// sequence number prevSeq and hash prevHash (AuditGenesis and 0 for the
// first). Times are truncated to microseconds, the precision every store
// keeps, so the hash survives a round trip.
func (r *AuditRecord) Chain(prevSeq int64, prevHash string) {
	r.Seq = prevSeq + 1
	r.PrevHash = prevHash
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	if !r.Expiration.IsZero() {
		r.Expiration = r.Expiration.UTC().Truncate(time.Microsecond)
	}
	r.Hash = r.ComputeHash()
}

// ComputeHash returns the hash r should carry given its fields and PrevHash:
// SHA-256 over a label and every field, each written as its length (a
// uvarint) and its bytes. Tags, when there are any, follow as the word
// "tags", their number, and each key and value; then, for a request made
// with an ID token, the word "identity", the issuer, the subject, the
// number of claims and each claim's name and value.
func (r *AuditRecord) ComputeHash() string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	field := func(s string) {
		n := binary.PutUvarint(buf[:], uint64(len(s)))
		h.Write(buf[:n])
		h.Write([]byte(s))
	}
	field("credbroker-audit-v1")
	field(r.PrevHash)
	field(strconv.FormatInt(r.Seq, 10))
	field(timeField(r.Time))
	field(r.Action)
	field(r.TokenID)
	field(r.Plan)
	field(r.Build)
	field(r.Job)
	field(r.Task)
	field(r.Connector)
	field(r.RoleARN)
	field(r.AccessKeyID)
	field(timeField(r.Expiration))
	field(r.Outcome)
	field(r.ErrorCode)
	field(r.Detail)
	// Fields added later are written only when set, so that a record
	// written before they existed keeps its hash.
	if len(r.Tags) > 0 {
		field("tags")
		field(strconv.Itoa(len(r.Tags)))
		for _, t := range r.Tags {
			field(t.Key)
			field(t.Value)
		}
	}
	if r.Issuer != "" || r.Subject != "" || len(r.Claims) > 0 {
		field("identity")
		field(r.Issuer)
		field(r.Subject)
		field(strconv.Itoa(len(r.Claims)))
		for _, c := range r.Claims {
			field(c.Key)
			field(c.Value)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func timeField(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UTC().UnixMicro(), 10)
}

// AuditFilter selects audit records. Zero fields do not filter.
type AuditFilter struct {
	Since     time.Time
	Until     time.Time
	Plan      string
	Connector string
	Outcome   string
	Action    string
	AfterSeq  int64 // records with Seq > AfterSeq
	Limit     int   // 0: no limit
}

// AuditProblem is one break in the audit chain, as found by VerifyAudit.
type AuditProblem struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// VerifyAudit checks a run of records in Seq order starting after a record
// with sequence prevSeq and hash prevHash: sequence numbers contiguous,
// each PrevHash equal to the hash before it, each Hash equal to what the
// fields give. It returns every problem found, and the last sequence and
// hash, so that a long trail can be verified in pages.
func VerifyAudit(prevSeq int64, prevHash string, recs []AuditRecord) (problems []AuditProblem, lastSeq int64, lastHash string) {
	for i := range recs {
		r := &recs[i]
		switch {
		case r.Seq <= prevSeq:
			problems = append(problems, AuditProblem{r.Seq, "out of order: sequence " + strconv.FormatInt(r.Seq, 10) + " follows " + strconv.FormatInt(prevSeq, 10)})
		case r.Seq != prevSeq+1:
			problems = append(problems, AuditProblem{r.Seq, "records " + strconv.FormatInt(prevSeq+1, 10) + " to " + strconv.FormatInt(r.Seq-1, 10) + " are missing"})
		}
		if r.PrevHash != prevHash {
			problems = append(problems, AuditProblem{r.Seq, "previous-hash link broken: the record before it was edited, deleted or reordered"})
		}
		if r.ComputeHash() != r.Hash {
			problems = append(problems, AuditProblem{r.Seq, "contents do not match its hash: the record was edited"})
		}
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return problems, prevSeq, prevHash
}
