package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker/internal/testpeers"
)

// bambooJob is a job as the products credbroker models recommend it: the
// keys are variable references, their values Bamboo plan variables.
const bambooJob = `
version: 1
tasks:
  - name: deploy
    credentials:
      source: static
      region: us-east-1
      access_key_id: ${bamboo.awsAccessKeyId}
      secret_access_key: ${bamboo.awsSecretKeyPassword}
      sts_endpoint: ${bamboo.stsEndpoint}
      role:
        arn: arn:aws:iam::123456789012:role/reader
        duration: 15m
        policy_file: ro.json
    run: |
      aws --endpoint-url "$bamboo_s3Endpoint" s3 cp s3://alpha/hello.txt -; echo
      echo "the task sees $bamboo_awsSecretKeyPassword and ${bamboo.awsSecretKeyPassword}"
`

// A Bamboo-style run: only Bamboo's bamboo_* variables in the
// environment. ${bamboo.awsSecretKeyPassword} resolves from
// $bamboo_awsSecretKeyPassword, with nothing copied into a file (the leak
// check searches every file the run left), and is masked; the role
// session is named after Bamboo's plan, job and build.
func TestBambooStyleRun(t *testing.T) {
	w := newWorld(t, false)
	proxy, err := testpeers.StartCountingProxy(w.minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	job := w.write("bamboo-job.yaml", bambooJob)
	env := w.env("bamboo_planKey=OPS-DEPLOY", "bamboo_buildNumber=42", "bamboo_shortJobKey=JOB1", "bamboo_buildKey=OPS-DEPLOY-JOB1-42",
		"bamboo_awsAccessKeyId="+w.minio.RootUser, "bamboo_awsSecretKeyPassword="+w.minio.RootPassword,
		"bamboo_stsEndpoint="+proxy.URL, "bamboo_s3Endpoint="+w.minio.Endpoint)
	r := w.cbr(env, "run", job)
	w.expectOK(r, "bamboo-style run")
	if !strings.Contains(r.stdout, "[deploy] "+helloTxt) || !strings.Contains(r.stdout, "[deploy] the task sees ******** and ********") {
		t.Fatalf("output:\n%s\n%s", r.stdout, r.stderr)
	}
	forms := proxy.Forms("AssumeRole")
	if len(forms) != 1 || forms[0].Get("RoleSessionName") != "OPS-DEPLOY-JOB1-42" || forms[0].Get("SourceIdentity") != "OPS-DEPLOY-JOB1-42" {
		t.Fatalf("AssumeRole asked: %v", forms)
	}
}

// githubRun is what GitHub Actions sets for a step of run 9876543210 of
// octo-org/my-repo.
func githubRun(runID string) []string {
	return []string{"GITHUB_ACTIONS=true", "CI=true", "GITHUB_REPOSITORY=octo-org/my-repo", "GITHUB_REPOSITORY_OWNER=octo-org",
		"GITHUB_RUN_ID=" + runID, "GITHUB_RUN_ATTEMPT=1", "GITHUB_RUN_NUMBER=12", "GITHUB_JOB=deploy", "GITHUB_WORKFLOW=release"}
}

// accountSTS is an STS that names the account of the sessions it issues
// (MinIO names none): AssumeRole answers with an assumed-role ARN in
// account, GetCallerIdentity with account. Its credentials open nothing;
// the commands run under them call nothing.
type accountSTS struct {
	*httptest.Server
	mu      sync.Mutex
	account string
	calls   int
}

const (
	guardKeyID  = "ASIAGUARDFAKE0000001"
	guardSecret = "guard-fake-secret-key-not-for-any-output"
	guardToken  = "guard-fake-session-token-not-for-any-output"
)

func newAccountSTS(t *testing.T, w *world, account string) *accountSTS {
	f := &accountSTS{account: account}
	w.secret(guardSecret, guardToken)
	f.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		f.mu.Lock()
		account := f.account
		f.calls++
		f.mu.Unlock()
		action := r.PostForm.Get("Action")
		result := fmt.Sprintf(`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken>`+
			`<Expiration>%s</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::%s:assumed-role/deploy/s</Arn>`+
			`<AssumedRoleId>AROAGUARD:s</AssumedRoleId></AssumedRoleUser>`, guardKeyID, guardSecret, guardToken,
			time.Now().Add(time.Hour).UTC().Format(time.RFC3339), account)
		if action == "GetCallerIdentity" {
			result = fmt.Sprintf(`<Arn>arn:aws:iam::%s:user/ci</Arn><UserId>AIDAGUARD</UserId><Account>%s</Account>`, account, account)
		}
		rw.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(rw, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%[1]sResult>%[2]s</%[1]sResult>`+
			`<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></%[1]sResponse>`, action, result)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *accountSTS) set(account string) {
	f.mu.Lock()
	f.account = account
	f.mu.Unlock()
}

// ranMarker runs touch on a fresh file and says, after the run, whether
// the command ran.
func ranMarker(w *world, name string) (argv []string, ran func() bool) {
	p := filepath.Join(w.dir, name)
	return []string{"touch", p}, func() bool { _, err := os.Stat(p); return err == nil }
}

// A GitHub-style run: plan, build and job come from GitHub's variables and
// show in the role session's name, its source identity and tags, and the
// audit. Then the account guard, on the agent and on a connector: a
// session of another account never reaches the command.
func TestGitHubStyleRunAndAccountGuards(t *testing.T) {
	w := newWorld(t, false)
	dd := dataDir(w, "broker")
	b := w.startBroker(dd)
	admin := w.adminToken(dd)
	proxy, err := testpeers.StartCountingProxy(w.minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--policy-file", filepath.Join(w.dir, "ro.json"),
		"--sts-endpoint", proxy.URL, "--default-duration", "15m", "--allow-plan", "OCTO_ORG-*"), "connector create")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "github-octo-org", "--plans", "OCTO_ORG-*")
	w.expectOK(r, "agent token")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)
	tokenFile := w.write("input-agent.token", agent+"\n")
	agentEnv := func(run string, extra ...string) []string {
		return w.env(append(append([]string{"CREDBROKER_BROKER=" + b.URL, "CREDBROKER_TOKEN_FILE=" + tokenFile}, githubRun(run)...), extra...)...)
	}

	r = w.cbr(agentEnv("9876543210"), append([]string{"exec", "--connector", "deploy", "--"}, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)...)
	w.expectOK(r, "exec on GitHub")
	if strings.TrimSpace(r.stdout) != helloTxt {
		t.Fatalf("read alpha: %q", r.stdout)
	}
	const session = "OCTO_ORG-MY_REPO-deploy-9876543210.1"
	forms := proxy.Forms("AssumeRole")
	if len(forms) != 1 || forms[0].Get("RoleSessionName") != session || forms[0].Get("SourceIdentity") != session {
		t.Fatalf("AssumeRole asked: %v", forms)
	}
	tags := map[string]string{}
	for i := 1; forms[0].Get(fmt.Sprintf("Tags.member.%d.Key", i)) != ""; i++ {
		tags[forms[0].Get(fmt.Sprintf("Tags.member.%d.Key", i))] = forms[0].Get(fmt.Sprintf("Tags.member.%d.Value", i))
	}
	if tags["credbroker:plan"] != "OCTO_ORG-MY_REPO" || tags["credbroker:build"] != "9876543210.1" || tags["credbroker:job"] != "deploy" {
		t.Fatalf("session tags %v", tags)
	}
	r = b.admin(admin, "", "audit", "--connector", "deploy", "--output", "json")
	w.expectOK(r, "audit")
	for _, want := range []string{`"plan": "OCTO_ORG-MY_REPO"`, `"build": "9876543210.1"`, `"job": "deploy"`, `"outcome": "granted"`} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("audit lacks %s:\n%s", want, r.stdout)
		}
	}
	r = w.cbr(agentEnv("9876543210"), "check", "--offline", "--connector", "deploy")
	if !strings.Contains(r.stdout, "info    ci: GitHub Actions: plan OCTO_ORG-MY_REPO (from $GITHUB_REPOSITORY)") ||
		!strings.Contains(r.stdout, "role sessions are named "+session) {
		t.Fatalf("check:\n%s\n%s", r.stdout, r.stderr)
	}

	// The agent's guard: a role ARN of another account is refused before
	// any call.
	before := proxy.Calls("AssumeRole")
	static := []string{"exec", "--region", "us-east-1", "--sts-endpoint", proxy.URL, "--access-key-id", "${bamboo.keyId}",
		"--secret-access-key", "${bamboo.keySecretPassword}", "--duration", "15m"}
	keys := []string{"bamboo_keyId=" + w.minio.RootUser, "bamboo_keySecretPassword=" + w.minio.RootPassword}
	cmd, ran := ranMarker(w, "ran-other-role")
	r = w.cbr(w.env(keys...), append(append(static, "--role-arn", "arn:aws:iam::210987654321:role/reader", "--allowed-account-id", "123456789012", "--"), cmd...)...)
	if r.code != 125 || ran() || !strings.Contains(r.stderr, "--role-arn: account 210987654321 of role ARN arn:aws:iam::210987654321:role/reader is not an allowed account (123456789012)") {
		t.Fatalf("role of another account: exit %d, ran %v: %s", r.code, ran(), r.stderr)
	}
	if proxy.Calls("AssumeRole") != before {
		t.Fatal("STS was called for a role the guard refuses")
	}
	// MinIO names no account: the guard cannot see it and refuses.
	cmd, ran = ranMarker(w, "ran-unknown-account")
	r = w.cbr(w.env(keys...), append(append(static, "--role-arn", roleARN, "--allowed-account-id", "123456789012", "--"), cmd...)...)
	if r.code != 125 || ran() || !strings.Contains(r.stderr, "--allowed-account-id: the account of the credentials is not known") {
		t.Fatalf("unknown account: exit %d, ran %v: %s", r.code, ran(), r.stderr)
	}
	// An STS that names the account: the session's account decides.
	fake := newAccountSTS(t, w, "999999999999")
	static[4] = fake.URL
	cmd, ran = ranMarker(w, "ran-other-session")
	r = w.cbr(w.env(keys...), append(append(static, "--role-arn", "arn:aws:iam::123456789012:role/deploy", "--allowed-account-id", "123456789012", "--"), cmd...)...)
	if r.code != 125 || ran() || !strings.Contains(r.stderr, "account 999999999999 of the credentials is not an allowed account (123456789012)") {
		t.Fatalf("session of another account: exit %d, ran %v: %s", r.code, ran(), r.stderr)
	}
	fake.set("123456789012")
	cmd, ran = ranMarker(w, "ran-allowed")
	r = w.cbr(w.env(keys...), append(append(static, "--role-arn", "arn:aws:iam::123456789012:role/deploy", "--allowed-account-id", "123456789012", "--"), cmd...)...)
	if r.code != 0 || !ran() {
		t.Fatalf("allowed account: exit %d, ran %v: %s", r.code, ran(), r.stderr)
	}

	// The connector's guard: saved only with its role in an allowed
	// account, and a session in another never leaves the broker.
	guardBase := w.write("input-guard.secret", "guard-base-secret-key-0123456789abcdef")
	w.secret("guard-base-secret-key-0123456789abcdef")
	prod := []string{"connector", "create", "prod", "--region", "us-east-1", "--access-key-id", "AKIAGUARDBASE0000001",
		"--secret-access-key-file", guardBase, "--sts-endpoint", fake.URL, "--allow-plan", "OCTO_ORG-*", "--allowed-account-id", "123456789012"}
	r = b.admin(admin, "", append(prod, "--role-arn", "arn:aws:iam::210987654321:role/deploy")...)
	if r.code == 0 || !strings.Contains(r.stderr, "account 210987654321 of role ARN arn:aws:iam::210987654321:role/deploy is not an allowed account (123456789012)") {
		t.Fatalf("connector with a role of another account: exit %d: %s", r.code, r.stderr)
	}
	w.expectOK(b.admin(admin, "", append(prod, "--role-arn", "arn:aws:iam::123456789012:role/deploy")...), "connector create prod")
	cmd, ran = ranMarker(w, "ran-prod")
	r = w.cbr(agentEnv("9876543211"), append([]string{"exec", "--connector", "prod", "--"}, cmd...)...)
	if r.code != 0 || !ran() {
		t.Fatalf("prod, allowed: exit %d: %s", r.code, r.stderr)
	}
	fake.set("999999999999")
	cmd, ran = ranMarker(w, "ran-prod-other")
	r = w.cbr(agentEnv("9876543212"), append([]string{"exec", "--connector", "prod", "--"}, cmd...)...)
	const refusal = "account 999999999999 of connector prod's session is not an allowed account (123456789012)"
	if r.code != 125 || ran() || !strings.Contains(r.stderr, refusal) {
		t.Fatalf("prod, other account: exit %d, ran %v: %s", r.code, ran(), r.stderr)
	}
	r = b.admin(admin, "", "audit", "--connector", "prod", "--outcome", "refused", "--output", "json")
	w.expectOK(r, "audit")
	if !strings.Contains(r.stdout, refusal) || !strings.Contains(r.stdout, `"build": "9876543212.1"`) || strings.Contains(r.stdout, guardKeyID) {
		t.Fatalf("audit of the refusal:\n%s", r.stdout)
	}
	w.expectOK(b.admin(admin, "", "audit", "verify"), "audit verify")
}
