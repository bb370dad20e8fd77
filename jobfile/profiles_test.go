package jobfile

import (
	"strings"
	"testing"
)

const twoProfiles = `
version: 1
tasks:
  - name: copy
    profiles:
      source-account:
        source: instance
        region: eu-west-1
        role: {arn: arn:aws:iam::111111111111:role/reader, policy_file: ro.json}
      target-account:
        connector: ${bamboo.deployConnector}
    default_profile: target-account
    run: aws s3 cp s3://a/x - --profile source-account | aws s3 cp - s3://b/x
`

func TestParseProfiles(t *testing.T) {
	job, err := Parse("/jobs/copy.yaml", []byte(twoProfiles))
	if err != nil {
		t.Fatal(err)
	}
	tk := job.Tasks[0]
	if tk.Credentials != nil || len(tk.Profiles) != 2 || tk.DefaultProfile != "target-account" {
		t.Fatalf("task: %+v", tk)
	}
	src, dst := tk.Profiles[0], tk.Profiles[1]
	if src.Name != "source-account" || src.Credentials.Source != "instance" || src.Credentials.Role.PolicyFile != "/jobs/ro.json" || src.Line != 6 {
		t.Fatalf("first profile: %+v %+v", src, src.Credentials)
	}
	if dst.Name != "target-account" || dst.Credentials.Source != "connector" || dst.Credentials.Connector != "${bamboo.deployConnector}" {
		t.Fatalf("second profile: %+v %+v", dst, dst.Credentials)
	}
}

func TestDefaultProfile(t *testing.T) {
	for _, tc := range []struct{ profiles, def, want string }{
		{"{b: {source: instance}, a: {source: instance}}", "", "b"},
		{"{b: {source: instance}, default: {source: instance}}", "", "default"},
		{"{b: {source: instance}, a: {source: instance}}", "a", "a"},
		{"{default: {source: instance}}", "default", "default"},
	} {
		doc := "version: 1\ntasks:\n - name: t\n   run: x\n   profiles: " + tc.profiles + "\n"
		if tc.def != "" {
			doc += "   default_profile: " + tc.def + "\n"
		}
		job, err := Parse("job.yaml", []byte(doc))
		if err != nil {
			t.Fatalf("%s: %v", tc.profiles, err)
		}
		if got := job.Tasks[0].DefaultProfile; got != tc.want {
			t.Errorf("%s, default_profile %q: default %q, want %q", tc.profiles, tc.def, got, tc.want)
		}
	}
}

func TestProfileErrors(t *testing.T) {
	task := "version: 1\ntasks:\n - name: t\n   run: x\n"
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"empty", task + "   profiles: {}\n", []string{"tasks[0].profiles: expected a mapping of profiles"}},
		{"list", task + "   profiles: [a, b]\n", []string{"expected a mapping of profiles, found a list"}},
		{"bad name", task + "   profiles: {'a b': {source: instance}}\n", []string{"tasks[0].profiles.a b: invalid profile name"}},
		{"twice", task + "   profiles:\n     a: {source: instance}\n     a: {source: instance}\n", []string{"job.yaml:7: tasks[0].profiles.a: profile given twice"}},
		{"with credentials", task + "   credentials: {source: instance}\n   profiles: {a: {source: instance}}\n", []string{"credentials or profiles, not both"}},
		{"with delivery", task + "   delivery: endpoint\n   profiles: {a: {source: instance}}\n", []string{"tasks[0].delivery: a task with profiles gets them as an AWS config file"}},
		{"unknown default", task + "   profiles: {a: {source: instance}}\n   default_profile: b\n", []string{`tasks[0].default_profile: no profile "b"; name one of a`}},
		{"default against default", task + "   profiles: {a: {source: instance}, default: {source: instance}}\n   default_profile: a\n", []string{"the profile called default is the default"}},
		{"default without profiles", task + "   default_profile: a\n", []string{"tasks[0].default_profile: there are no profiles"}},
		{"bad block", task + "   profiles: {a: {source: static, access_key_id: x}}\n", []string{"tasks[0].profiles.a.secret_access_key: missing"}},
		{"typo in a block", task + "   profiles:\n     a:\n       source: instance\n       regoin: x\n", []string{"job.yaml:8: tasks[0].profiles.a.regoin: unknown field", `did you mean "region"?`}},
		{"set_variables", "version: 1\ntasks:\n - name: t\n   set_variables: {}\n   profiles: {a: {source: instance}}\n", []string{"set_variables task sets the variables of one set"}},
	} {
		_, err := Parse("job.yaml", []byte(tc.doc))
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, err, w)
			}
		}
	}
}
