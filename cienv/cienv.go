// Package cienv reads what a CI system tells a build task in its
// environment: which CI runs the task, the build's identity (plan, build
// number and job, in credbroker's terms), and Bamboo's variables. It
// holds no state and reads the environment only through the Lookup it is
// given.
//
// # Which CI
//
// Detect finds the CIs whose marks are in the environment: GitHub Actions
// (GITHUB_ACTIONS=true), GitLab CI (GITLAB_CI=true), Buildkite
// (BUILDKITE=true), Bamboo (bamboo_planKey, bamboo_buildKey,
// bamboo_buildNumber or bamboo_shortJobKey set) and Jenkins (JENKINS_URL
// set, or BUILD_TAG starting with "jenkins-"), in that order. With Auto,
// the first is the CI; a named Kind reads that CI's variables whatever
// the marks say, and None reads nothing.
//
// # The build's identity
//
//	CI         plan (a path, mapped by PlanKey)              build                          job
//	Bamboo     $bamboo_planKey, as it is                      $bamboo_buildNumber            $bamboo_shortJobKey
//	GitHub     $GITHUB_REPOSITORY (OWNER/REPO)                $GITHUB_RUN_ID.$GITHUB_RUN_ATTEMPT  $GITHUB_JOB
//	GitLab     $CI_PROJECT_PATH (GROUP/.../PROJECT)           $CI_PIPELINE_ID                $CI_JOB_NAME
//	Jenkins    $JOB_NAME (FOLDER/.../JOB, or JOB)             $BUILD_NUMBER                  $STAGE_NAME, when set
//	Buildkite  $BUILDKITE_ORGANIZATION_SLUG/$BUILDKITE_PIPELINE_SLUG  $BUILDKITE_BUILD_NUMBER  $BUILDKITE_STEP_KEY
//
// A path's first segment is the plan key's project and the rest its plan;
// a path of one segment (a Jenkins job outside folders, a Buildkite
// pipeline without its organization) has the CI's name as its project
// (JENKINS-DEPLOY). The build and the job are kept as the CI writes them,
// with control and formatting characters escaped and cut to
// credbroker.MaxFieldLen (credbroker.CleanField), so a derived identity
// always passes the broker's checks.
//
// # Plan keys
//
// A plan key is PROJECT-PLAN: capitals, digits and '_', the project
// starting with a letter, at most 128 characters in all. PlanKey maps each
// part:
//
//   - A plain part, ASCII letters and digits with single '-' between them
//     (a project starting with a letter; a project at most 40 characters,
//     a plan at most 87), maps letter by letter: upper case, '-' becoming
//     '_'. octo-org/my-repo is OCTO_ORG-MY_REPO.
//   - Any other part maps to its letters and digits in upper case, each
//     run of other characters becoming one '_' (none at either end), cut
//     to leave room for "__" and six characters of the base32 SHA-256 of
//     the part in ASCII lower case; a project that does not start with a
//     letter gets an "X" in front. my_repo is MY_REPO__ followed by its
//     six characters, and so is My_Repo; my.repo gets other ones.
//
// So the mapping is deterministic and always a plan key, and two parts
// map alike only when they are the same but for ASCII case (GitHub and
// GitLab treat such names as one), or when 30 bits of hash collide: a
// plain part's image never holds "__", every other image does. Names
// that differ only in case, which Jenkins allows, share a plan key; so do
// a Jenkins job outside folders and the same job in a folder named
// "jenkins".
//
// A plan key from the environment is a claim: the broker still decides,
// by the agent token's plan pattern and the connector's scope and allowed
// plans, what a build may have.
//
// # Bamboo's variables
//
// Bamboo hands its plan and global variables (and the build's own, such
// as buildNumber) to script tasks as environment variables bamboo_NAME,
// with the dots of NAME as underscores. Variables returns the lookup of
// that layer, which package vars consults for a referenced name that no
// other layer defines: ${bamboo.awsSecretKeyPassword} reads
// $bamboo_awsSecretKeyPassword. It is on for Auto and Bamboo.
package cienv

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/credbroker/credbroker"
)

// Kind names a CI system, or how to choose one (Auto, None).
type Kind string

// The values of --ci and of a job file's ci:.
const (
	// Auto takes the first CI whose marks are in the environment.
	Auto Kind = "auto"
	// None reads nothing of the CI's environment.
	None      Kind = "none"
	Bamboo    Kind = "bamboo"
	GitHub    Kind = "github"
	GitLab    Kind = "gitlab"
	Jenkins   Kind = "jenkins"
	Buildkite Kind = "buildkite"
)

// ciOrder is the order in which Detect looks: the CIs that set one
// unmistakable variable first.
var ciOrder = []Kind{GitHub, GitLab, Buildkite, Bamboo, Jenkins}

// Choices lists the values of --ci, for help texts and fixes.
const Choices = "auto, none, bamboo, github, gitlab, jenkins or buildkite"

// ParseKind reads a --ci value ("" is Auto); field names it in the error.
func ParseKind(field, s string) (Kind, error) {
	switch k := Kind(strings.ToLower(s)); k {
	case "":
		return Auto, nil
	case Auto, None, Bamboo, GitHub, GitLab, Jenkins, Buildkite:
		return k, nil
	}
	shown := "that"
	if credbroker.SafeText(s) && len(s) <= 32 {
		shown = fmt.Sprintf("%q", s)
	}
	return "", credbroker.Errorf(credbroker.CodeInvalid, field, "%s is not a CI credbroker knows", shown).
		WithFix("use " + Choices)
}

// Title is the CI's name as its makers write it.
func (k Kind) Title() string {
	switch k {
	case Bamboo:
		return "Bamboo"
	case GitHub:
		return "GitHub Actions"
	case GitLab:
		return "GitLab CI"
	case Jenkins:
		return "Jenkins"
	case Buildkite:
		return "Buildkite"
	}
	return string(k)
}

// Lookup reads one environment variable.
type Lookup func(name string) (string, bool)

func (l Lookup) get(name string) string {
	if l == nil {
		return ""
	}
	v, _ := l(name)
	return v
}

// Detect returns the CIs whose marks env holds, in the order the package
// doc gives.
func Detect(env Lookup) []Kind {
	var out []Kind
	for _, k := range ciOrder {
		if marked(k, env) {
			out = append(out, k)
		}
	}
	return out
}

func marked(k Kind, env Lookup) bool {
	switch k {
	case GitHub:
		return env.get("GITHUB_ACTIONS") == "true"
	case GitLab:
		return env.get("GITLAB_CI") == "true"
	case Buildkite:
		return env.get("BUILDKITE") == "true"
	case Bamboo:
		for _, v := range []string{"bamboo_planKey", "bamboo_buildKey", "bamboo_buildNumber", "bamboo_shortJobKey"} {
			if env.get(v) != "" {
				return true
			}
		}
	case Jenkins:
		return env.get("JENKINS_URL") != "" || strings.HasPrefix(env.get("BUILD_TAG"), "jenkins-")
	}
	return false
}

// Identity is what a CI's environment says of the build.
type Identity struct {
	// CI is the CI the identity comes from; "" when none was chosen or
	// detected.
	CI Kind
	// Others are the other CIs whose marks were found (Auto only).
	Others []Kind
	// Build is the identity; a part the environment does not give is "".
	Build credbroker.Build
	// PlanFrom, NumberFrom and JobFrom name the environment variables
	// each part came from ("$GITHUB_REPOSITORY"), for `credbroker check`.
	PlanFrom, NumberFrom, JobFrom string
}

// Derive returns the build identity env gives under kind: for Auto, the
// first CI Detect finds (none: an empty Identity); for None, nothing.
func Derive(kind Kind, env Lookup) Identity {
	var id Identity
	switch kind {
	case None, "":
		return id
	case Auto:
		found := Detect(env)
		if len(found) == 0 {
			return id
		}
		kind, id.Others = found[0], found[1:]
	}
	id.CI = kind
	field := func(name string) string { return credbroker.CleanField(env.get(name), credbroker.MaxFieldLen) }
	from := func(part string, names ...string) string {
		if part == "" {
			return ""
		}
		return "$" + strings.Join(names, ", $")
	}
	path := func(defaultProject, p string, names ...string) {
		if p != "" {
			id.Build.Plan, id.PlanFrom = pathPlanKey(defaultProject, p), from(p, names...)
		}
	}
	one := func(dst, src *string, name string) {
		*dst = field(name)
		*src = from(*dst, name)
	}
	switch kind {
	case Bamboo:
		one(&id.Build.Plan, &id.PlanFrom, "bamboo_planKey")
		one(&id.Build.Number, &id.NumberFrom, "bamboo_buildNumber")
		one(&id.Build.Job, &id.JobFrom, "bamboo_shortJobKey")
	case GitHub:
		path("GITHUB", env.get("GITHUB_REPOSITORY"), "GITHUB_REPOSITORY")
		run, attempt := field("GITHUB_RUN_ID"), field("GITHUB_RUN_ATTEMPT")
		id.Build.Number, id.NumberFrom = run, from(run, "GITHUB_RUN_ID")
		if run != "" && attempt != "" {
			id.Build.Number = credbroker.CleanField(run+"."+attempt, credbroker.MaxFieldLen)
			id.NumberFrom = from(run, "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT")
		}
		one(&id.Build.Job, &id.JobFrom, "GITHUB_JOB")
	case GitLab:
		path("GITLAB", env.get("CI_PROJECT_PATH"), "CI_PROJECT_PATH")
		one(&id.Build.Number, &id.NumberFrom, "CI_PIPELINE_ID")
		one(&id.Build.Job, &id.JobFrom, "CI_JOB_NAME")
	case Jenkins:
		path("JENKINS", env.get("JOB_NAME"), "JOB_NAME")
		one(&id.Build.Number, &id.NumberFrom, "BUILD_NUMBER")
		one(&id.Build.Job, &id.JobFrom, "STAGE_NAME")
	case Buildkite:
		org, pipeline := env.get("BUILDKITE_ORGANIZATION_SLUG"), env.get("BUILDKITE_PIPELINE_SLUG")
		if org != "" && pipeline != "" {
			path("BUILDKITE", org+"/"+pipeline, "BUILDKITE_ORGANIZATION_SLUG", "BUILDKITE_PIPELINE_SLUG")
		} else {
			path("BUILDKITE", pipeline, "BUILDKITE_PIPELINE_SLUG")
		}
		one(&id.Build.Number, &id.NumberFrom, "BUILDKITE_BUILD_NUMBER")
		one(&id.Build.Job, &id.JobFrom, "BUILDKITE_STEP_KEY")
	}
	return id
}

// Build returns the build identity of credbroker's environment under
// kind: each part from credbroker's own CREDBROKER_PLAN, CREDBROKER_BUILD
// and CREDBROKER_JOB when set, else from the CI (Derive), which it returns
// too.
func Build(kind Kind, env Lookup) (credbroker.Build, Identity) {
	id := Derive(kind, env)
	own := credbroker.Build{Plan: env.get("CREDBROKER_PLAN"), Number: env.get("CREDBROKER_BUILD"), Job: env.get("CREDBROKER_JOB")}
	return own.Or(id.Build), id
}

// Describe renders what id derived, for `credbroker check`: "GitHub
// Actions: plan OCTO_ORG-MY_REPO (from $GITHUB_REPOSITORY), ...". It is
// "" when the CI gave nothing.
func (id Identity) Describe() string {
	var parts []string
	for _, p := range []struct{ what, v, from string }{
		{"plan", id.Build.Plan, id.PlanFrom}, {"build", id.Build.Number, id.NumberFrom}, {"job", id.Build.Job, id.JobFrom},
	} {
		if p.v != "" {
			parts = append(parts, fmt.Sprintf("%s %s (from %s)", p.what, p.v, p.from))
		}
	}
	if id.CI == "" || len(parts) == 0 {
		return ""
	}
	return id.CI.Title() + ": " + strings.Join(parts, ", ")
}

// Variables returns the CI variable layer of kind: for Auto and Bamboo,
// the lookup of Bamboo's variables in env (BambooVariable); nil for the
// others, which hand variables to a task under their own names.
func Variables(kind Kind, env Lookup) func(name string) (string, bool) {
	if env == nil || kind != Auto && kind != Bamboo && kind != "" {
		return nil
	}
	return func(name string) (string, bool) { return env(BambooVariable(name)) }
}

// BambooVariable is the environment variable in which Bamboo hands the
// variable name to a script task: bamboo_ and the name, dots as
// underscores (bamboo_custom_aws_region for custom.aws.region).
func BambooVariable(name string) string {
	return "bamboo_" + strings.ReplaceAll(name, ".", "_")
}

// The room of each part of a plan key: 40 + 1 + 87 = credbroker.MaxFieldLen.
const (
	maxProject = 40
	maxPlan    = credbroker.MaxFieldLen - 1 - maxProject
	hashLen    = 6
)

// pathPlanKey maps a CI's path to a plan key: its first segment is the
// project, the rest the plan; a path of one segment has defaultProject.
func pathPlanKey(defaultProject, path string) string {
	project, plan, ok := strings.Cut(path, "/")
	if !ok {
		return defaultProject + "-" + part(path, maxPlan, false)
	}
	return PlanKey(project, plan)
}

// PlanKey maps a project and a plan, as a CI names them, to a plan key by
// the rule of the package doc.
func PlanKey(project, plan string) string {
	return part(project, maxProject, true) + "-" + part(plan, maxPlan, false)
}

// part maps one part of a plan key, at most max characters; a project's
// starts with a letter.
func part(s string, max int, project bool) string {
	if plain(s, max, project) {
		return strings.ReplaceAll(strings.ToUpper(s), "-", "_")
	}
	var b strings.Builder
	if project && (s == "" || !isLetter(s[0])) {
		b.WriteByte('X')
	}
	room := max - 2 - hashLen
	sep := false
	for i := 0; i < len(s) && b.Len() < room; i++ {
		c := s[i]
		switch {
		case isLetter(c) || c >= '0' && c <= '9':
			if sep && b.Len() > 0 && b.Len() < room-1 {
				b.WriteByte('_')
			}
			sep = false
			b.WriteByte(upper(c))
		default:
			sep = true
		}
	}
	sum := sha256.Sum256([]byte(asciiLower(s)))
	b.WriteString("__")
	b.WriteString(base32.StdEncoding.EncodeToString(sum[:])[:hashLen])
	return b.String()
}

// plain reports whether s maps letter by letter: ASCII letters and digits
// with single '-' between them, at most max characters, and (a project)
// starting with a letter.
func plain(s string, max int, project bool) bool {
	if s == "" || len(s) > max || s[0] == '-' || s[len(s)-1] == '-' || project && !isLetter(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isLetter(c), c >= '0' && c <= '9':
		case c == '-' && s[i-1] != '-':
		default:
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
	}
	return string(b)
}
