package cienv

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

// planKeyRE is the plan key rule the broker applies (broker.validPlanKey).
var planKeyRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]*-[A-Z0-9_]+$`)

func envOf(kv ...string) Lookup {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDerive(t *testing.T) {
	github := envOf("GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "octo-org/my-repo", "GITHUB_RUN_ID", "9876543210",
		"GITHUB_RUN_ATTEMPT", "2", "GITHUB_JOB", "deploy")
	for _, tt := range []struct {
		name string
		kind Kind
		env  Lookup
		want Identity
	}{
		{"bamboo", Auto, envOf("bamboo_planKey", "OPS-DEPLOY", "bamboo_buildNumber", "42", "bamboo_shortJobKey", "JOB1"),
			Identity{CI: Bamboo, Build: credbroker.Build{Plan: "OPS-DEPLOY", Number: "42", Job: "JOB1"},
				PlanFrom: "$bamboo_planKey", NumberFrom: "$bamboo_buildNumber", JobFrom: "$bamboo_shortJobKey"}},
		{"github", Auto, github,
			Identity{CI: GitHub, Build: credbroker.Build{Plan: "OCTO_ORG-MY_REPO", Number: "9876543210.2", Job: "deploy"},
				PlanFrom: "$GITHUB_REPOSITORY", NumberFrom: "$GITHUB_RUN_ID, $GITHUB_RUN_ATTEMPT", JobFrom: "$GITHUB_JOB"}},
		{"github, no attempt", GitHub, envOf("GITHUB_REPOSITORY", "octo/app", "GITHUB_RUN_ID", "7"),
			Identity{CI: GitHub, Build: credbroker.Build{Plan: "OCTO-APP", Number: "7"}, PlanFrom: "$GITHUB_REPOSITORY", NumberFrom: "$GITHUB_RUN_ID"}},
		{"gitlab", Auto, envOf("GITLAB_CI", "true", "CI_PROJECT_PATH", "platform/deploy-tools", "CI_PIPELINE_ID", "1234", "CI_JOB_NAME", "deploy prod"),
			Identity{CI: GitLab, Build: credbroker.Build{Plan: "PLATFORM-DEPLOY_TOOLS", Number: "1234", Job: "deploy prod"},
				PlanFrom: "$CI_PROJECT_PATH", NumberFrom: "$CI_PIPELINE_ID", JobFrom: "$CI_JOB_NAME"}},
		{"jenkins in a folder", Auto, envOf("JENKINS_URL", "https://ci.example.com/", "JOB_NAME", "ops/deploy", "BUILD_NUMBER", "17", "STAGE_NAME", "Deploy"),
			Identity{CI: Jenkins, Build: credbroker.Build{Plan: "OPS-DEPLOY", Number: "17", Job: "Deploy"},
				PlanFrom: "$JOB_NAME", NumberFrom: "$BUILD_NUMBER", JobFrom: "$STAGE_NAME"}},
		{"jenkins, one segment", Auto, envOf("BUILD_TAG", "jenkins-deploy-17", "JOB_NAME", "deploy", "BUILD_NUMBER", "17"),
			Identity{CI: Jenkins, Build: credbroker.Build{Plan: "JENKINS-DEPLOY", Number: "17"}, PlanFrom: "$JOB_NAME", NumberFrom: "$BUILD_NUMBER"}},
		{"buildkite", Auto, envOf("BUILDKITE", "true", "BUILDKITE_ORGANIZATION_SLUG", "acme", "BUILDKITE_PIPELINE_SLUG", "web-site",
			"BUILDKITE_BUILD_NUMBER", "301", "BUILDKITE_STEP_KEY", "upload"),
			Identity{CI: Buildkite, Build: credbroker.Build{Plan: "ACME-WEB_SITE", Number: "301", Job: "upload"},
				PlanFrom: "$BUILDKITE_ORGANIZATION_SLUG, $BUILDKITE_PIPELINE_SLUG", NumberFrom: "$BUILDKITE_BUILD_NUMBER", JobFrom: "$BUILDKITE_STEP_KEY"}},
		{"buildkite without its organization", Buildkite, envOf("BUILDKITE_PIPELINE_SLUG", "web-site"),
			Identity{CI: Buildkite, Build: credbroker.Build{Plan: "BUILDKITE-WEB_SITE"}, PlanFrom: "$BUILDKITE_PIPELINE_SLUG"}},
		{"none", None, github, Identity{}},
		{"no CI", Auto, envOf("HOME", "/root", "GITHUB_REPOSITORY", "octo/app"), Identity{}},
		{"named, without its marks", GitLab, envOf("CI_PROJECT_PATH", "a/b"),
			Identity{CI: GitLab, Build: credbroker.Build{Plan: "A-B"}, PlanFrom: "$CI_PROJECT_PATH"}},
		{"job with a newline", GitLab, envOf("CI_JOB_NAME", "a\nb"), Identity{CI: GitLab, Build: credbroker.Build{Job: `a\nb`}, JobFrom: "$CI_JOB_NAME"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Derive(tt.kind, tt.env)
			if !slices.Equal(got.Others, tt.want.Others) || got.CI != tt.want.CI || got.Build != tt.want.Build ||
				got.PlanFrom != tt.want.PlanFrom || got.NumberFrom != tt.want.NumberFrom || got.JobFrom != tt.want.JobFrom {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDetectOrderAndOthers(t *testing.T) {
	env := envOf("bamboo_planKey", "OPS-A", "GITLAB_CI", "true", "CI_PROJECT_PATH", "g/p", "JENKINS_URL", "http://j/")
	if got := Detect(env); !slices.Equal(got, []Kind{GitLab, Bamboo, Jenkins}) {
		t.Fatalf("detected %v", got)
	}
	id := Derive(Auto, env)
	if id.CI != GitLab || !slices.Equal(id.Others, []Kind{Bamboo, Jenkins}) || id.Build.Plan != "G-P" {
		t.Fatalf("derived %+v", id)
	}
	if id := Derive(Bamboo, env); id.CI != Bamboo || id.Build.Plan != "OPS-A" || id.Others != nil {
		t.Fatalf("--ci bamboo: %+v", id)
	}
}

func TestDescribe(t *testing.T) {
	id := Derive(Auto, envOf("GITHUB_ACTIONS", "true", "GITHUB_REPOSITORY", "octo-org/my-repo", "GITHUB_RUN_ID", "5", "GITHUB_JOB", "build"))
	want := "GitHub Actions: plan OCTO_ORG-MY_REPO (from $GITHUB_REPOSITORY), build 5 (from $GITHUB_RUN_ID), job build (from $GITHUB_JOB)"
	if got := id.Describe(); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if got := Derive(Auto, envOf()).Describe(); got != "" {
		t.Fatalf("no CI: %q", got)
	}
}

func TestPlanKey(t *testing.T) {
	for _, tt := range []struct{ project, plan, want string }{
		{"octo-org", "my-repo", "OCTO_ORG-MY_REPO"},
		{"Octo-Org", "My-Repo", "OCTO_ORG-MY_REPO"},
		{"ops", "1st-app", "OPS-1ST_APP"},
		{"a", "b", "A-B"},
	} {
		if got := PlanKey(tt.project, tt.plan); got != tt.want {
			t.Errorf("PlanKey(%q, %q) = %q, want %q", tt.project, tt.plan, got, tt.want)
		}
	}
	// Names that differ in more than case get different keys, which
	// keep what they can of the name.
	seen := map[string]string{}
	for _, repo := range []string{"my-repo", "my_repo", "my.repo", "my--repo", "-my-repo", "my-repo-", "my/repo", "my repo"} {
		k := PlanKey("octo", repo)
		if prev, dup := seen[k]; dup {
			t.Errorf("%q and %q both map to %s", prev, repo, k)
		}
		seen[k] = repo
		if !strings.HasPrefix(k, "OCTO-MY_REPO") || !planKeyRE.MatchString(k) {
			t.Errorf("%q maps to %s", repo, k)
		}
	}
	if a, b := PlanKey("octo", "My_Repo"), PlanKey("OCTO", "my_repo"); a != b {
		t.Errorf("case: %s and %s", a, b)
	}
	for _, owner := range []string{"1password", "_x", "", "ünï"} {
		if k := PlanKey(owner, "app"); !planKeyRE.MatchString(k) || !strings.HasPrefix(k, "X") {
			t.Errorf("owner %q maps to %s", owner, k)
		}
	}
	long := PlanKey(strings.Repeat("org", 30), strings.Repeat("repository-", 20))
	if len(long) > credbroker.MaxFieldLen || !planKeyRE.MatchString(long) || long == PlanKey(strings.Repeat("org", 30), strings.Repeat("repository-", 21)) {
		t.Errorf("long names map to %s", long)
	}
}

func TestBambooVariables(t *testing.T) {
	env := envOf("bamboo_awsSecretKeyPassword", "s3cr3t", "bamboo_custom_aws_region", "eu-west-1")
	for _, k := range []Kind{Auto, Bamboo} {
		lookup := Variables(k, env)
		if v, ok := lookup("awsSecretKeyPassword"); !ok || v != "s3cr3t" {
			t.Fatalf("%s: %q %v", k, v, ok)
		}
		if v, ok := lookup("custom.aws.region"); !ok || v != "eu-west-1" {
			t.Fatalf("%s: dotted name: %q %v", k, v, ok)
		}
		if _, ok := lookup("missing"); ok {
			t.Fatalf("%s: a missing variable was found", k)
		}
	}
	for _, k := range []Kind{None, GitHub, GitLab, Jenkins, Buildkite} {
		if Variables(k, env) != nil {
			t.Fatalf("%s reads Bamboo's variables", k)
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]Kind{"": Auto, "auto": Auto, "GitHub": GitHub, "none": None, "buildkite": Buildkite} {
		if got, err := ParseKind("--ci", in); err != nil || got != want {
			t.Errorf("ParseKind(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"travis", "git hub", "\x1b[31m"} {
		_, err := ParseKind("--ci", in)
		e := credbroker.AsError(err)
		if e == nil || e.Field != "--ci" || !strings.Contains(e.Fix, Choices) || strings.Contains(e.Message, "\x1b") {
			t.Errorf("ParseKind(%q): %v", in, err)
		}
	}
}

// asciiFold reports whether a and b are equal but for ASCII case.
func asciiFold(a, b string) bool { return asciiLower(a) == asciiLower(b) }

// FuzzPlanKey: a plan key always, the same for the same names, and the
// same for two pairs of names only when they are equal but for ASCII case.
func FuzzPlanKey(f *testing.F) {
	for _, s := range [][4]string{
		{"octo-org", "my-repo", "octo-org", "my_repo"}, {"1password", "x", "x1password", "x"}, {"a", "b-", "a", "b"},
		{"", "", "-", "-"}, {"group", "sub/project", "group", "sub-project"}, {"é", "x", "É", "x"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, project, plan, project2, plan2 string) {
		k := PlanKey(project, plan)
		if !planKeyRE.MatchString(k) || len(k) > credbroker.MaxFieldLen {
			t.Fatalf("PlanKey(%q, %q) = %q: not a plan key", project, plan, k)
		}
		if again := PlanKey(project, plan); again != k {
			t.Fatalf("PlanKey(%q, %q) gave %q, then %q", project, plan, k, again)
		}
		if k2 := PlanKey(project2, plan2); k2 == k && !(asciiFold(project, project2) && asciiFold(plan, plan2)) {
			t.Fatalf("(%q, %q) and (%q, %q) both map to %s", project, plan, project2, plan2, k)
		}
	})
}

// FuzzDerive: whatever a CI's variables hold, the derived plan is a plan
// key (Bamboo's is taken as it is, within the field rules), and the
// build and job pass the broker's field checks.
func FuzzDerive(f *testing.F) {
	f.Add(uint8(1), "octo-org/my-repo", "123", "2", "deploy")
	f.Add(uint8(2), "g/s/p", "9", "", "job name\x1b[2J")
	f.Add(uint8(3), "no-folder", "", "", "")
	f.Add(uint8(4), "/", "1", "x", "\u202e")
	f.Fuzz(func(t *testing.T, which uint8, path, number, extra, job string) {
		kinds := []Kind{Bamboo, GitHub, GitLab, Jenkins, Buildkite}
		kind := kinds[int(which)%len(kinds)]
		org, pipeline, _ := strings.Cut(path, "/")
		env := envOf("bamboo_planKey", path, "bamboo_buildNumber", number, "bamboo_shortJobKey", job,
			"GITHUB_REPOSITORY", path, "GITHUB_RUN_ID", number, "GITHUB_RUN_ATTEMPT", extra, "GITHUB_JOB", job,
			"CI_PROJECT_PATH", path, "CI_PIPELINE_ID", number, "CI_JOB_NAME", job,
			"JOB_NAME", path, "BUILD_NUMBER", number, "STAGE_NAME", job,
			"BUILDKITE_ORGANIZATION_SLUG", org, "BUILDKITE_PIPELINE_SLUG", pipeline, "BUILDKITE_BUILD_NUMBER", number, "BUILDKITE_STEP_KEY", job)
		id := Derive(kind, env)
		if id.CI != kind {
			t.Fatalf("derived from %s, asked %s", id.CI, kind)
		}
		b := id.Build
		if kind != Bamboo && b.Plan != "" && (!planKeyRE.MatchString(b.Plan) || len(b.Plan) > credbroker.MaxFieldLen) {
			t.Fatalf("%s: plan %q from %q is not a plan key", kind, b.Plan, path)
		}
		for name, v := range map[string]string{"plan": b.Plan, "build": b.Number, "job": b.Job} {
			if err := credbroker.CheckField(name, v, credbroker.MaxFieldLen); err != nil {
				t.Fatalf("%s: %s %q: %v", kind, name, v, err)
			}
		}
		if again := Derive(kind, env); again.Build != b {
			t.Fatalf("%s: derived %+v, then %+v", kind, b, again.Build)
		}
	})
}
