package awscreds

import (
	"fmt"
	"strings"

	"github.com/credbroker/credbroker"
)

// The session tag keys that name the build, on the agent (Resolve) as on
// the broker. A role's trust policy must allow sts:TagSession for any of
// them to be sent.
const (
	TagKeyPlan  = credbroker.TagKeyPlan
	TagKeyBuild = credbroker.TagKeyBuild
	TagKeyJob   = credbroker.TagKeyJob
)

// tagKeyPrefix is the prefix of the keys credbroker sets itself; a job's
// own tags may not use it.
const tagKeyPrefix = "credbroker:"

// The switches that turn session tags off, named by the fix of an error
// when STS refuses a request that carried tags.
const (
	agentTagSwitch     = "--no-session-tags on the command line, or session_tags: false under the task's role in the job file"
	connectorTagSwitch = "`credbroker connector update NAME --disable-tags`"
)

// BuildTags returns the session tags that name build b: credbroker:plan,
// credbroker:build and credbroker:job, for each part of b that is known.
// Values are made acceptable to STS rather than refused: a character STS
// does not allow in a tag becomes '-', and a value is cut to 256
// characters.
func BuildTags(b credbroker.Build) []credbroker.Tag { return credbroker.BuildTags(b) }

// CheckSessionTags checks session tags and transitive tag keys against
// STS's limits, as Resolve and Issuer.Check do: at most 50 tags, keys of 1
// to 128 and values of at most 256 characters, letters, digits, spaces and
// _.:/=+-@ only, no key twice (ignoring case). Errors are CodeInvalid and
// name the element at fault, as in "tags[2].value".
func CheckSessionTags(field string, tags []credbroker.Tag, transitive []string) error {
	return checkTags(field, tags, transitive)
}

// sessionTags returns the session tags and transitive tag keys that an
// AssumeRole of r sends for build b: the build's tags (BuildTags), then
// r.Tags; none when r.NoSessionTags. Problems are errors before any call:
// more than STS's 50 tags in all, a tag of r that is too long or uses a
// character STS refuses, a key of credbroker's own, a transitive key that
// names no tag being sent, or tags given while tagging is off.
func sessionTags(r credbroker.RoleSpec, b credbroker.Build) ([]credbroker.Tag, []string, error) {
	if r.NoSessionTags {
		if len(r.Tags) > 0 || len(r.TransitiveTagKeys) > 0 {
			return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "tags",
				"session tags are turned off for this role, but tags are given").
				WithFix("remove tags and transitive_tag_keys, or turn session tags on again (drop --no-session-tags or session_tags: false)")
		}
		return nil, nil, nil
	}
	if err := checkTags("tags", r.Tags, r.TransitiveTagKeys); err != nil {
		return nil, nil, err
	}
	for i, t := range r.Tags {
		if strings.HasPrefix(strings.ToLower(t.Key), tagKeyPrefix) {
			return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, fmt.Sprintf("tags[%d].key", i),
				"tag key %q starts with %q, which credbroker keeps for the tags that name the build", t.Key, tagKeyPrefix).
				WithFix("use another tag key")
		}
	}
	build := BuildTags(b)
	if n := len(build) + len(r.Tags); n > maxTags {
		return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, "tags",
			"%d session tags: %d given and %d that name the build; STS accepts at most %d", n, len(r.Tags), len(build), maxTags).
			WithFix(fmt.Sprintf("give at most %d tags", maxTags-len(build)))
	}
	tags := append(build, r.Tags...)
	keys := make(map[string]bool, len(tags))
	for _, t := range tags {
		keys[strings.ToLower(t.Key)] = true
	}
	for i, k := range r.TransitiveTagKeys {
		if !keys[strings.ToLower(k)] {
			return nil, nil, credbroker.Errorf(credbroker.CodeInvalid, fmt.Sprintf("transitive_tag_keys[%d]", i),
				"transitive tag key %q names no session tag that is sent", k).
				WithFix("list keys of the role's tags, or credbroker:plan, credbroker:build or credbroker:job for a build that has them")
		}
	}
	if len(tags) == 0 {
		return nil, nil, nil
	}
	return tags, r.TransitiveTagKeys, nil
}

// tagRune reports whether STS accepts r in a tag key or value.
func tagRune(r rune) bool { return credbroker.TagRune(r) }
