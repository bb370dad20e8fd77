package cli

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/preflight"
)

// bambooEnv is what Bamboo hands a script task: its build's variables
// and the plan's, as bamboo_NAME, and nothing else of credbroker's.
var bambooEnv = []string{
	"bamboo_planKey=OPS-DEPLOY", "bamboo_buildNumber=42", "bamboo_shortJobKey=JOB1",
	"bamboo_awsAccessKeyId=" + keyID, "bamboo_awsSecretKeyPassword=" + secret, "bamboo_deploy_region=us-east-1",
}

// githubEnv is what GitHub Actions sets for a step.
var githubEnv = []string{
	"GITHUB_ACTIONS=true", "GITHUB_REPOSITORY=octo-org/my-repo", "GITHUB_RUN_ID=9876543210", "GITHUB_RUN_ATTEMPT=2", "GITHUB_JOB=deploy",
}

// A Bamboo-style exec: ${bamboo.awsSecretKeyPassword} resolves from
// $bamboo_awsSecretKeyPassword and is masked, raw and encoded, also where
// the task prints Bamboo's own variable.
func TestExecBambooVariables(t *testing.T) {
	script := `echo "key $AWS_ACCESS_KEY_ID secret $AWS_SECRET_ACCESS_KEY region $AWS_REGION"; printf %s "$bamboo_awsSecretKeyPassword" | base64`
	args := []string{"exec", "--region", "${bamboo.deploy.region}", "--access-key-id", "${bamboo.awsAccessKeyId}",
		"--secret-access-key", "${bamboo.awsSecretKeyPassword}", "--", "/bin/sh", "-c", script}
	o := run(t, bambooEnv, args...)
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	want := "key ****9876 secret ******** region us-east-1\n********\n"
	if o.stdout != want || strings.Contains(o.stdout, base64.StdEncoding.EncodeToString([]byte(secret))) {
		t.Fatalf("stdout %q, want %q", o.stdout, want)
	}
	// The variable is Bamboo's: with another CI named, it is not read.
	o = run(t, bambooEnv, append([]string{"--log-level", "error"}, append(args[:1:1], append([]string{"--ci", "github"}, args[1:]...)...)...)...)
	if o.code != 125 || !strings.Contains(o.stderr, `undefined variable "deploy.region"`) {
		t.Fatalf("--ci github: exit %d, %q", o.code, o.stderr)
	}
	o = run(t, bambooEnv, append(args[:1:1], append([]string{"--ci", "none", "--secret-access-key", "${bamboo.missingPassword}"}, args[1:]...)...)...)
	if o.code != 125 || strings.Contains(o.stderr, "bamboo_missingPassword") {
		t.Fatalf("--ci none: exit %d, %q", o.code, o.stderr)
	}
	o = run(t, bambooEnv, "exec", "--region", "us-east-1", "--access-key-id", keyID, "--secret-access-key", "${bamboo.otherPassword}", "--", "true")
	if o.code != 125 || !strings.Contains(o.stderr, "bamboo_otherPassword in the environment") {
		t.Fatalf("undefined: exit %d, %q", o.code, o.stderr)
	}
}

// The same in a job file, where the script reads the secret through a
// reference of its own.
func TestRunBambooVariables(t *testing.T) {
	dir := t.TempDir()
	job := filepath.Join(dir, "job.yaml")
	os.WriteFile(job, []byte(`version: 1
tasks:
  - name: use
    credentials:
      source: static
      region: us-east-1
      access_key_id: ${bamboo.awsAccessKeyId}
      secret_access_key: ${bamboo.awsSecretKeyPassword}
    run: echo "plan $bamboo_planKey sees ${bamboo.awsSecretKeyPassword}"
`), 0o600)
	o := run(t, bambooEnv, "run", job)
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	if !strings.Contains(o.stdout, "[use] plan OPS-DEPLOY sees ********") || strings.Contains(o.stdout+o.stderr, secret) {
		t.Fatalf("stdout %q", o.stdout)
	}
}

// check says what the CI gave and what the role sessions will be named.
func TestCheckReportsTheCIIdentity(t *testing.T) {
	o := check(t, githubEnv, "--offline", "--region", "us-east-1", "--role-arn", "arn:aws:iam::123456789012:role/deploy")
	if o.has(preflight.SevInfo, "ci", "GitHub Actions: plan OCTO_ORG-MY_REPO (from $GITHUB_REPOSITORY), build 9876543210.2 (from $GITHUB_RUN_ID, $GITHUB_RUN_ATTEMPT), job deploy (from $GITHUB_JOB)") == nil ||
		o.has(preflight.SevInfo, "build", "plan OCTO_ORG-MY_REPO, build 9876543210.2, job deploy: role sessions are named OCTO_ORG-MY_REPO-deploy-9876543210.2") == nil {
		t.Fatalf("findings:\n%s", o.dump())
	}
	o = check(t, append(githubEnv, "bamboo_planKey=OPS-X"), "--offline", "--plan", "OPS-FLAG", "--region", "us-east-1")
	if o.has(preflight.SevInfo, "ci", "also has the marks of Bamboo") == nil || o.has(preflight.SevInfo, "build", "plan OPS-FLAG, build 9876543210.2") == nil {
		t.Fatalf("findings:\n%s", o.dump())
	}
	// Outside any CI, with profiles: the report says no build is known,
	// once for each profile, rather than an empty list of what is known.
	o = check(t, nil, "--offline", "--ci", "none", "--region", "us-east-1", "--profile", "a=role-arn=arn:aws:iam::123456789012:role/a", "--profile", "b")
	noBuild, empty := 0, 0
	for _, f := range o.findings {
		switch {
		case f.Field == "build" && strings.HasPrefix(f.Message, "no plan, build or job is known"):
			noBuild++
		case f.Field == "build" && strings.HasPrefix(f.Message, ":"):
			empty++
		}
	}
	if noBuild != 2 || empty != 0 {
		t.Fatalf("findings with two profiles and no build:\n%s", o.dump())
	}
	o = check(t, githubEnv, "--offline", "--ci", "travis", "--region", "us-east-1")
	if o.code != 1 || o.has(preflight.SevError, "--ci", `"travis" is not a CI credbroker knows`) == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
}

// vendBroker is a broker that vends fixed credentials of account, and
// keeps the requests it got.
type vendBroker struct {
	*fakeBroker
	mu   sync.Mutex
	reqs []credbroker.VendRequest
}

func newVendBroker(t *testing.T, account string) *vendBroker {
	vb := &vendBroker{}
	vb.fakeBroker = newFakeBroker(t, func(w http.ResponseWriter, r *http.Request) {
		var req credbroker.VendRequest
		json.NewDecoder(r.Body).Decode(&req)
		vb.mu.Lock()
		vb.reqs = append(vb.reqs, req)
		vb.mu.Unlock()
		writeJSONAnswer(w, 200, credbroker.VendResult{
			AccessKeyID: keyID, SecretAccessKey: secret, SessionToken: "session-token-of-the-vend", Expiration: time.Now().Add(time.Hour),
			Region: "us-east-1", Partition: "aws", Connector: req.Connector, ConnectorID: "con_0123456789abcdef",
			RoleARN: "arn:aws:iam::" + account + ":role/deploy", AccountID: account,
		})
	})
	return vb
}

// The account guard on a connector source: the broker's answer names the
// session's account, and one that is not allowed never reaches the
// command.
func TestExecConnectorAccountGuard(t *testing.T) {
	vb := newVendBroker(t, "222222222222")
	env := append([]string{"CREDBROKER_BROKER=" + vb.URL, "CREDBROKER_TOKEN=" + agentToken}, githubEnv...)
	marker := filepath.Join(t.TempDir(), "ran")
	o := run(t, env, "exec", "--connector", "deploy", "--allowed-account-id", "111111111111", "--", "touch", marker)
	if o.code != 125 || !strings.Contains(o.stderr, "--allowed-account-id: account 222222222222 of the credentials is not an allowed account (111111111111)") {
		t.Fatalf("exit %d: %q", o.code, o.stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran")
	}
	o = run(t, env, "exec", "--connector", "deploy", "--allowed-account-id", "111111111111,222222222222", "--", "touch", marker)
	if o.code != 0 {
		t.Fatalf("allowed: exit %d: %q", o.code, o.stderr)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the command did not run")
	}
	o = run(t, env, "exec", "--connector", "deploy", "--allowed-account-id", "prod", "--", "true")
	if o.code != 125 || !strings.Contains(o.stderr, `--allowed-account-id[0]: "prod" is not an AWS account ID`) {
		t.Fatalf("bad ID: exit %d: %q", o.code, o.stderr)
	}
	// The vends carried the identity GitHub gave.
	vb.mu.Lock()
	defer vb.mu.Unlock()
	if len(vb.reqs) != 2 {
		t.Fatalf("%d vends", len(vb.reqs))
	}
	for _, r := range vb.reqs {
		if r.Plan != "OCTO_ORG-MY_REPO" || r.Build != "9876543210.2" || r.Job != "deploy" {
			t.Fatalf("vend %+v", r)
		}
	}
}

// check refuses a role ARN of another account offline, and says what the
// guard will hold the credentials to.
func TestCheckAccountGuard(t *testing.T) {
	o := check(t, nil, "--offline", "--region", "us-east-1", "--role-arn", "arn:aws:iam::222222222222:role/deploy", "--allowed-account-id", "111111111111")
	if o.code != 1 || o.has(preflight.SevError, "--role-arn", "account 222222222222 of role ARN arn:aws:iam::222222222222:role/deploy is not an allowed account (111111111111)") == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	o = check(t, nil, "--offline", "--region", "us-east-1", "--role-arn", "arn:aws:iam::111111111111:role/deploy", "--allowed-account-id", "111111111111", "--allowed-account-id", "333333333333")
	if o.code != 0 || o.has(preflight.SevOK, "--allowed-account-id", "the credentials must belong to 111111111111 or 333333333333; the role ARN's account 111111111111 is allowed") == nil {
		t.Fatalf("exit %d:\n%s", o.code, o.dump())
	}
	// A job file names the CI whose identity a run takes.
	job := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(job, []byte(`version: 1
ci: gitlab
tasks:
  - name: deploy
    credentials:
      source: instance
      region: us-east-1
      allowed_account_ids: ["${bamboo.prodAccount}"]
      role: {arn: "arn:aws:iam::111111111111:role/deploy"}
    run: "true"
`), 0o600)
	env := append([]string{"CI_PROJECT_PATH=platform/tools", "CI_PIPELINE_ID=77", "bamboo_prodAccount=222222222222"}, githubEnv...)
	o = check(t, env, "--offline", job)
	if o.has(preflight.SevInfo, "ci", "GitLab CI: plan PLATFORM-TOOLS (from $CI_PROJECT_PATH), build 77 (from $CI_PIPELINE_ID)") == nil {
		t.Fatalf("findings:\n%s", o.dump())
	}
	// ci: gitlab reads no Bamboo variables.
	if o.has(preflight.SevError, "credentials.allowed_account_ids[0]", `undefined variable "prodAccount"`) == nil {
		t.Fatalf("findings:\n%s", o.dump())
	}
	o = check(t, env, "--offline", "--ci", "auto", job)
	if o.has(preflight.SevInfo, "ci", "GitHub Actions") == nil ||
		o.has(preflight.SevError, "credentials.role.arn", "account 111111111111 of role ARN arn:aws:iam::111111111111:role/deploy is not an allowed account (222222222222)") == nil {
		t.Fatalf("findings:\n%s", o.dump())
	}
}
