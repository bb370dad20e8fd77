package preflight

import (
	"strings"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/jobfile"
)

// RenameField replaces the longest key of table that prefixes field at a
// boundary ('.' or '[') with its value: with {"role_arn": "--role-arn"},
// "role_arn" becomes "--role-arn", and with {"tags": "--tag"},
// "tags[2].value" becomes "--tag[2].value". It reports whether a key
// matched.
func RenameField(field string, table map[string]string) (string, bool) {
	best := ""
	found := false
	for k := range table {
		if (!found || len(k) > len(best)) && (field == k || strings.HasPrefix(field, k+".") || strings.HasPrefix(field, k+"[")) {
			best, found = k, true
		}
	}
	if !found {
		return field, false
	}
	return table[best] + field[len(best):], true
}

// jobField returns the namer of a task's source fields: the path in the
// job file below block (credentials, or profiles.NAME for a profile), such
// as credentials.role.arn. awscreds names fields by their own short names
// (role_arn, policy, duration); they are mapped here.
func jobField(raw *jobfile.Credentials, block string) func(string) string {
	policyField := "role.policy"
	if raw.Role != nil && raw.Role.PolicyFile != "" {
		policyField = "role.policy_file"
	}
	tags := "role.tags"
	if raw.Source == string(credbroker.SourceConnector) {
		tags = "tags"
	}
	table := map[string]string{
		"role_arn": "role.arn", "policy": policyField, "policy_arns": "role.policy_arns", "duration": "role.duration",
		"external_id": "role.external_id", "session_name": "role.session_name", "source_identity": "role",
		"tags": tags, "transitive_tag_keys": "role.transitive_tag_keys", "sts": "sts_endpoint",
		"instance": "", "static": "", "base": "",
	}
	return func(f string) string {
		if f != "" && strings.ToUpper(f) == f {
			return f // an environment variable, such as AWS_REGION
		}
		if strings.HasPrefix(f, block) {
			return f
		}
		out, _ := RenameField(f, table)
		out = strings.TrimPrefix(out, ".")
		if out == "" {
			return block
		}
		return block + "." + out
	}
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
