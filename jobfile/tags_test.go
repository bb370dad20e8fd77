package jobfile

import (
	"slices"
	"strings"
	"testing"
)

func TestParseSessionTags(t *testing.T) {
	job, err := Parse("job.yaml", []byte(`
version: 1
tasks:
  - name: vend
    credentials:
      source: connector
      connector: deploy
      tags: {team: ops, ticket: "${bamboo.ticket}"}
    run: "true"
  - name: assume
    credentials:
      source: instance
      role:
        arn: arn:aws:iam::123456789012:role/legacy
        session_tags: false
    run: "true"
  - name: default
    credentials:
      source: instance
      role: {arn: "arn:aws:iam::123456789012:role/modern"}
    run: "true"
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := job.Tasks[0].Credentials.Tags; !slices.Equal(got, []Tag{{"team", "ops"}, {"ticket", "${bamboo.ticket}"}}) {
		t.Fatalf("connector tags %v", got)
	}
	if !job.Tasks[1].Credentials.Role.NoSessionTags {
		t.Fatal("session_tags: false not read")
	}
	if job.Tasks[2].Credentials.Role.NoSessionTags {
		t.Fatal("session tags off by default")
	}
}

func TestParseSessionTagErrors(t *testing.T) {
	cases := []struct {
		name, creds string
		want        []string
	}{
		{"tags on instance", "{source: instance, tags: {a: b}}", []string{"tasks[0].credentials.tags: not used by source instance", "role.tags"}},
		{"tags on static", "{source: static, access_key_id: x, secret_access_key: '${s}', tags: {a: b}}", []string{"tasks[0].credentials.tags: not used by source static"}},
		{"tags not a mapping", "{source: connector, connector: c, tags: [a]}", []string{"credentials.tags: expected a mapping"}},
		{"tag value a list", "{source: connector, connector: c, tags: {a: [b]}}", []string{"credentials.tags.a: expected a single value"}},
		{"switch off with tags", "{source: instance, role: {arn: r, session_tags: false, tags: {a: b}}}", []string{"role.session_tags: session tags are turned off, but tags are given"}},
		{"switch not a bool", "{source: instance, role: {arn: r, session_tags: maybe}}", []string{"role.session_tags: expected true or false"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("job.yaml", []byte("version: 1\ntasks:\n - name: a\n   run: x\n   credentials: "+c.creds+"\n"))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
