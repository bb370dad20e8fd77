package awscreds

import (
	"fmt"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// STS's limits on session durations.
const (
	// MinDuration is the shortest session any STS call grants.
	MinDuration = 15 * time.Minute
	// MaxRoleDuration is the longest AssumeRole session (a role's maximum
	// session duration can be set up to this).
	MaxRoleDuration = 12 * time.Hour
	// MaxChainedDuration caps a role session obtained with role session
	// credentials (role chaining).
	MaxChainedDuration = time.Hour
	// MaxTokenDuration is the longest GetFederationToken or GetSessionToken
	// session (for an IAM user; the root user gets at most one hour).
	MaxTokenDuration = 36 * time.Hour
	// DefaultRoleDuration is what AssumeRole gets when no duration is set,
	// STS's own default.
	DefaultRoleDuration = time.Hour
)

// STS's limits on session tags and names.
const (
	maxTags           = 50
	maxTagKey         = 128
	maxTagValue       = 256
	maxSessionName    = 64
	maxSourceIdentity = 64
	maxFederatedName  = 32
	minExternalID     = 2
	maxExternalID     = 1224
)

// CheckDuration checks a session duration for a principal type: 0 (the STS
// default) or 15 minutes to 12 hours for AssumeRole, 15 minutes to 36 hours
// for GetFederationToken and GetSessionToken. Provided keys have no
// duration. Out of range is CodeInvalid naming field and the range.
func CheckDuration(field string, principal credbroker.PrincipalType, d time.Duration) error {
	if d == 0 || principal == credbroker.PrincipalProvided {
		return nil
	}
	max, call := MaxRoleDuration, "AssumeRole"
	switch principal {
	case credbroker.PrincipalFederatedUser:
		max, call = MaxTokenDuration, "GetFederationToken"
	case credbroker.PrincipalSession:
		max, call = MaxTokenDuration, "GetSessionToken"
	}
	if d < MinDuration || d > max {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"duration %s is out of range: %s allows %s to %s", d, call, MinDuration, fmtHours(max)).
			WithFix(fmt.Sprintf("give a duration between %s and %s", MinDuration, fmtHours(max)))
	}
	return nil
}

func fmtHours(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// roleDuration returns the AssumeRole duration to request for d (0: STS's
// default of one hour), clamped to one hour under role chaining, and a
// warning when it was clamped.
func roleDuration(d time.Duration, chaining bool) (time.Duration, string) {
	if d == 0 {
		d = DefaultRoleDuration
	}
	if chaining && d > MaxChainedDuration {
		return MaxChainedDuration, fmt.Sprintf(
			"duration %s will be lowered to %s: the base credentials are a role session, and STS caps role chaining at one hour",
			credbroker.FormatDuration(d), credbroker.FormatDuration(MaxChainedDuration))
	}
	return d, ""
}

// checkSessionName checks an explicit role session name.
func checkSessionName(field, name string) error {
	if !credbroker.ValidSTSName(name, maxSessionName) {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"%q is not a valid role session name: STS wants 2 to %d characters of letters, digits and +=,.@_-", name, maxSessionName).
			WithFix("fix the name, or leave it empty to use PLAN-JOB-BUILD")
	}
	return nil
}

// checkSourceIdentity checks a source identity (2 to 64 of [\w+=,.@-]).
func checkSourceIdentity(field, s string) error {
	if !credbroker.ValidSTSName(s, maxSourceIdentity) {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"%q is not a valid source identity: STS wants 2 to %d characters of letters, digits and +=,.@_-", s, maxSourceIdentity)
	}
	return nil
}

// checkExternalID checks an external ID: 2 to 1,224 characters of
// [\w+=,.@:/-]. Its value is not repeated in the error.
func checkExternalID(field, id string) error {
	if id == "" {
		return nil
	}
	if len(id) < minExternalID || len(id) > maxExternalID {
		return credbroker.Errorf(credbroker.CodeInvalid, field,
			"the external ID is %d characters long; STS wants %d to %d", len(id), minExternalID, maxExternalID)
	}
	for i, r := range id {
		if !nameChar(r) && r != ':' && r != '/' {
			return credbroker.Errorf(credbroker.CodeInvalid, field,
				"the external ID holds a character STS does not accept at position %d; it allows letters, digits and +=,.@:/_-", i+1)
		}
	}
	return nil
}

// checkTags checks session tags and transitive tag keys against STS's
// limits: at most 50 tags, keys of 1 to 128 and values of up to 256
// characters of letters, digits, spaces and _.:/=+-@, and no two keys that
// differ only in case (STS compares tag keys case-insensitively).
func checkTags(field string, tags []credbroker.Tag, transitive []string) error {
	if len(tags) > maxTags {
		return credbroker.Errorf(credbroker.CodeInvalid, field, "%d session tags given; STS accepts at most %d", len(tags), maxTags).
			WithFix(fmt.Sprintf("give at most %d tags", maxTags))
	}
	seen := make(map[string]bool, len(tags))
	for i, t := range tags {
		f := fmt.Sprintf("%s[%d]", field, i)
		if n := len([]rune(t.Key)); n < 1 || n > maxTagKey {
			return credbroker.Errorf(credbroker.CodeInvalid, f+".key", "a tag key has 1 to %d characters; this one has %d", maxTagKey, n).
				WithFix("use a shorter key")
		}
		if n := len([]rune(t.Value)); n > maxTagValue {
			return credbroker.Errorf(credbroker.CodeInvalid, f+".value", "a tag value has at most %d characters; this one has %d", maxTagValue, n).
				WithFix("use a shorter value")
		}
		if !tagText(t.Key) {
			return credbroker.Errorf(credbroker.CodeInvalid, f+".key", "tag key %q holds characters STS does not accept (letters, digits, spaces and _.:/=+-@ only)", t.Key).
				WithFix("replace the other characters, for example with '-'")
		}
		if !tagText(t.Value) {
			return credbroker.Errorf(credbroker.CodeInvalid, f+".value", "the value of tag %q holds characters STS does not accept (letters, digits, spaces and _.:/=+-@ only)", t.Key).
				WithFix("replace the other characters, for example with '-'")
		}
		k := strings.ToLower(t.Key)
		if seen[k] {
			return credbroker.Errorf(credbroker.CodeInvalid, f+".key", "tag key %q is given twice (STS ignores case in tag keys)", t.Key).
				WithFix("keep one of them")
		}
		seen[k] = true
	}
	if len(transitive) > maxTags {
		return credbroker.Errorf(credbroker.CodeInvalid, "transitive_tag_keys", "%d transitive tag keys given; STS accepts at most %d", len(transitive), maxTags).
			WithFix(fmt.Sprintf("give at most %d", maxTags))
	}
	for i, k := range transitive {
		if n := len([]rune(k)); n < 1 || n > maxTagKey || !tagText(k) {
			return credbroker.Errorf(credbroker.CodeInvalid, fmt.Sprintf("transitive_tag_keys[%d]", i), "%q is not a valid tag key", k).
				WithFix("a tag key has 1 to 128 letters, digits, spaces and _.:/=+-@")
		}
	}
	return nil
}

// tagText reports whether s uses only [\p{L}\p{Z}\p{N}_.:/=+\-@].
func tagText(s string) bool {
	for _, r := range s {
		if !tagRune(r) {
			return false
		}
	}
	return true
}
