package credbroker

import (
	"log/slog"
	"time"
)

// Credentials is a set of AWS security credentials. Its String and
// LogValue methods never show the secret parts, so a Credentials value can
// be logged or printed by mistake without leaking.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// Expires is when the credentials stop working; zero for long-lived keys.
	Expires time.Time
	// Source says where they came from ("instance", "static",
	// "connector:deploy", "assume-role"), for messages and audit.
	Source string
	// AccountID is the AWS account the credentials belong to, when it is
	// known: from the ARN STS returned with them (the assumed role's or
	// federated user's) or from GetCallerIdentity; "" otherwise. The
	// account guards check it (CheckAccount).
	AccountID string
}

// CanExpire reports whether the credentials carry an expiry.
func (c Credentials) CanExpire() bool { return !c.Expires.IsZero() }

// Expired reports whether the credentials have expired at now.
func (c Credentials) Expired(now time.Time) bool {
	return c.CanExpire() && !now.Before(c.Expires)
}

// Remaining returns the lifetime left at now; a very large duration for
// credentials that do not expire.
func (c Credentials) Remaining(now time.Time) time.Duration {
	if !c.CanExpire() {
		return time.Duration(1<<63 - 1)
	}
	return c.Expires.Sub(now)
}

// Secrets returns the values of c that must be masked in task output.
func (c Credentials) Secrets() []string {
	var s []string
	if c.SecretAccessKey != "" {
		s = append(s, c.SecretAccessKey)
	}
	if c.SessionToken != "" {
		s = append(s, c.SessionToken)
	}
	return s
}

// String shows the masked key ID and the expiry only.
func (c Credentials) String() string {
	s := "credentials " + MaskKeyID(c.AccessKeyID)
	if c.CanExpire() {
		s += " expiring " + c.Expires.UTC().Format(time.RFC3339)
	}
	return s
}

// LogValue implements slog.LogValuer: key ID masked, no secret.
func (c Credentials) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("access_key_id", MaskKeyID(c.AccessKeyID))}
	if c.CanExpire() {
		attrs = append(attrs, slog.Time("expires", c.Expires))
	}
	if c.Source != "" {
		attrs = append(attrs, slog.String("source", c.Source))
	}
	return slog.GroupValue(attrs...)
}

// MaskKeyID shows at most the last four characters of an access key ID:
// "AKIAIOSFODNN7EXAMPLE" becomes "****MPLE". IDs of eight characters or
// fewer are masked whole.
func MaskKeyID(id string) string {
	if id == "" {
		return ""
	}
	if len(id) <= 8 {
		return "****"
	}
	return "****" + id[len(id)-4:]
}
