package preflight

import (
	"strings"

	"github.com/credbroker/credbroker/jobfile"
)

// jobField names a task's source fields by their path in the job file
// below block (jobfile.SourceFieldNamer).
func jobField(raw *jobfile.Credentials, block string) func(string) string {
	return jobfile.SourceFieldNamer(raw, block)
}

// planFields maps the fields awscreds.Decide names (awscreds.Check.Field)
// to the fields of a credentials block that hold their values, as
// taskrun.ExpandCredentials names them.
var planFields = map[string][]string{
	"role_arn": {"role.arn"}, "external_id": {"role.external_id"}, "session_name": {"role.session_name"},
	"duration": {"role.duration"}, "policy": {"role.policy", "role.policy_file"}, "policy_arns": {"role.policy_arns"},
	"tags": {"role.tags"}, "transitive_tag_keys": {"role.transitive_tag_keys"},
}

// pendingIn returns awscreds.Decide's pending function for the credentials
// fields in unknown: those whose values are not known yet.
func pendingIn(unknown map[string]bool) func(string) bool {
	return func(field string) bool {
		expanded, ok := planFields[field]
		if !ok {
			expanded = []string{field}
		}
		for _, f := range expanded {
			if hasPrefixField(unknown, f) {
				return true
			}
		}
		return false
	}
}

// hasPrefixField reports whether fields holds prefix or a field within it
// (prefix.x, prefix[i]).
func hasPrefixField(fields map[string]bool, prefix string) bool {
	for f := range fields {
		if f == prefix || strings.HasPrefix(f, prefix+".") || strings.HasPrefix(f, prefix+"[") {
			return true
		}
	}
	return false
}
