package jobfile

import "testing"

// Source fields are named by their path in the job file: under role for a
// role's narrowing, at the top of the block for a connector's.
func TestSourceFieldNamer(t *testing.T) {
	role := SourceFieldNamer(&Credentials{Source: "static", Role: &Role{PolicyFile: "p.json"}}, "tasks[0].credentials")
	conn := SourceFieldNamer(&Credentials{Source: "connector", PolicyFile: "p.json"}, "tasks[1].profiles.b")
	for _, c := range []struct {
		names      func(string) string
		field, out string
	}{
		{role, "role_arn", "tasks[0].credentials.role.arn"},
		{role, "policy", "tasks[0].credentials.role.policy_file"},
		{role, "tags[2].value", "tasks[0].credentials.role.tags[2].value"},
		{role, "duration", "tasks[0].credentials.role.duration"},
		{role, "static", "tasks[0].credentials"},
		{role, "AWS_REGION", "AWS_REGION"},
		{role, "tasks[0].credentials.region", "tasks[0].credentials.region"},
		{conn, "policy", "tasks[1].profiles.b.policy_file"},
		{conn, "duration", "tasks[1].profiles.b.duration"},
		{conn, "tags[0].key", "tasks[1].profiles.b.tags[0].key"},
		{conn, "broker", "tasks[1].profiles.b.broker"},
	} {
		if got := c.names(c.field); got != c.out {
			t.Errorf("%s: %q, want %q", c.field, got, c.out)
		}
	}
}
