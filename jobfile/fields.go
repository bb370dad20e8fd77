package jobfile

import (
	"strings"

	"github.com/credbroker/credbroker"
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

// SourceFieldNamer returns the namer of a task's source fields: the path
// in the job file below block (credentials, or profiles.NAME for a
// profile, after any prefix such as tasks[0].), such as
// credentials.role.arn. awscreds names fields by their own short names
// (role_arn, policy, duration); they are mapped here, so that check and
// run name a problem alike.
func SourceFieldNamer(raw *Credentials, block string) func(string) string {
	policyField := "role.policy"
	if raw.Role != nil && raw.Role.PolicyFile != "" {
		policyField = "role.policy_file"
	}
	table := map[string]string{
		"role_arn": "role.arn", "policy": policyField, "policy_arns": "role.policy_arns", "duration": "role.duration",
		"external_id": "role.external_id", "session_name": "role.session_name", "source_identity": "role",
		"tags": "role.tags", "transitive_tag_keys": "role.transitive_tag_keys", "sts": "sts_endpoint",
		"instance": "", "static": "", "base": "",
	}
	// A connector's narrowing is at the top of its block, not under role.
	if raw.Source == string(credbroker.SourceConnector) {
		table["tags"], table["duration"], table["policy_arns"], table["policy"] = "tags", "duration", "policy_arns", "policy"
		if raw.PolicyFile != "" {
			table["policy"] = "policy_file"
		}
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
