package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeBeta is a session policy allowing writes to bucket beta only.
const writeBeta = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:PutObject"],"Resource":["arn:aws:s3:::beta/*"]}]}`

// profileSite is a site with a second connector, "publish", that may only
// write to bucket beta, and a variables file holding MinIO's root keys.
func profileSite(t *testing.T) (*site, string) {
	s := newSite(t)
	w := s.w
	secretFile := w.write("input-publish.secret", w.minio.RootPassword)
	w.expectOK(s.b.admin(s.admin, "", "connector", "create", "publish", "--region", "us-east-1", "--role-arn", "arn:aws:iam::210987654321:role/publisher",
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--policy-file", w.write("wb.json", writeBeta),
		"--sts-endpoint", s.proxy.URL, "--default-duration", "15m", "--allow-plan", "OPS-*"), "connector create publish")
	vars := w.write("input-plan.vars", "rootKeyId="+w.minio.RootUser+"\nsecret rootSecretPassword="+w.minio.RootPassword+"\nendpoint="+w.minio.Endpoint+"\n")
	return s, vars
}

// boto3Copy copies alpha/hello.txt to beta/KEY with the reader and writer
// profiles, then tries to write with the default profile (the reader).
const boto3Copy = `
import sys, boto3, botocore
ep, key = sys.argv[1], sys.argv[2]
reader = boto3.Session(profile_name="reader").client("s3", endpoint_url=ep)
writer = boto3.Session(profile_name="writer").client("s3", endpoint_url=ep)
body = reader.get_object(Bucket="alpha", Key="hello.txt")["Body"].read()
writer.put_object(Bucket="beta", Key=key, Body=body)
try:
    boto3.client("s3", endpoint_url=ep).put_object(Bucket="beta", Key="refused-" + key, Body=body)
    print("boto3: default write ALLOWED")
except botocore.exceptions.ClientError as e:
    print("boto3: default write refused", e.response["Error"]["Code"])
`

const profilesJob = `
version: 1
plan: OPS-COPY
build: "9"
tasks:
  - name: copy
    profiles:
      reader:
        source: static
        region: us-east-1
        access_key_id: ${bamboo.rootKeyId}
        secret_access_key: ${bamboo.rootSecretPassword}
        sts_endpoint: ${bamboo.endpoint}
        role: {arn: 'arn:aws:iam::123456789012:role/reader', duration: 15m, policy_file: ro.json}
      writer:
        connector: publish
    default_profile: reader
    env:
      EP: ${bamboo.endpoint}
    run: |
      set -e
      aws --endpoint-url "$EP" --profile reader s3 cp --only-show-errors s3://alpha/hello.txt copy.txt
      aws --endpoint-url "$EP" --profile writer s3 cp --only-show-errors copy.txt s3://beta/copied-by-cli.txt
      if aws --endpoint-url "$EP" s3 cp --only-show-errors copy.txt s3://beta/refused.txt 2>denied.txt; then
        echo "cli: default write ALLOWED"
      else
        echo "cli: default write refused $(grep -o AccessDenied denied.txt | head -n 1)"
      fi
      python3 probe.py "$EP" copied-by-boto3.txt
      grep -c credential_process "$AWS_CONFIG_FILE"
`

// A two-profile job: the AWS CLI v2 and boto3 each copy an object from
// bucket alpha under one profile (static keys assuming a role that may
// only read alpha) to bucket beta under the other (a connector that may
// only write beta), and the first is refused writing; every secret is
// masked, the connector profile's vends are audited under the task, and
// nothing is left behind.
func TestTwoProfileJob(t *testing.T) {
	s, vars := profileSite(t)
	w := s.w
	w.write("probe.py", boto3Copy)
	job := w.write("job.yaml", profilesJob)
	r := w.cbr(s.agentEnv(), "run", job, "--vars", vars)
	w.expectOK(r, "two-profile job")
	for _, want := range []string{"[copy] cli: default write refused AccessDenied", "[copy] boto3: default write refused AccessDenied", "[copy] 3\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("job output lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	for _, key := range []string{"copied-by-cli.txt", "copied-by-boto3.txt"} {
		if got := w.minio.AWS(t, "s3", "cp", "s3://beta/"+key, "-"); got != helloTxt {
			t.Errorf("beta/%s holds %q", key, got)
		}
	}
	if ls := w.minio.AWS(t, "s3", "ls", "s3://beta/"); strings.Contains(ls, "refused") {
		t.Errorf("a refused write landed:\n%s", ls)
	}
	// Each profile's credentials are noted on the agent, masked.
	for _, p := range []string{"profile=reader", "profile=writer"} {
		if !strings.Contains(r.stderr, `msg="profile credentials" task=copy `+p+" credentials.access_key_id=****") {
			t.Errorf("no note of %s's credentials:\n%s", p, r.stderr)
		}
	}
	// The writer's vends are in the broker's audit, as task copy[writer].
	a := s.b.admin(s.admin, "", "audit", "--plan", "OPS-COPY", "--connector", "publish", "--output", "json")
	w.expectOK(a, "audit")
	if !strings.Contains(a.stdout, `"task": "copy[writer]"`) || !strings.Contains(a.stdout, `"build": "9"`) || !strings.Contains(a.stdout, `"outcome": "granted"`) {
		t.Errorf("the audit does not show the writer profile's vend:\n%s", a.stdout)
	}
	w.expectNoProfileDirs()
}

// The same copy from the command line: exec --profile, boto3.
func TestTwoProfileExec(t *testing.T) {
	s, vars := profileSite(t)
	w := s.w
	probe := w.write("probe.py", boto3Copy)
	r := w.cbr(s.agentEnv(), "exec", "--vars", vars, "--plan", "OPS-COPY", "--build", "10", "--region", "us-east-1",
		"--profile", "reader=access-key-id=${bamboo.rootKeyId},secret-access-key=${bamboo.rootSecretPassword},sts-endpoint=${bamboo.endpoint},"+
			"role-arn=arn:aws:iam::123456789012:role/reader,duration=15m,policy-file="+filepath.Join(w.dir, "ro.json"),
		"--profile", "writer=connector=publish",
		"--", w.py, probe, w.minio.Endpoint, "copied-by-exec.txt")
	w.expectOK(r, "exec --profile")
	if !strings.Contains(r.stdout, "boto3: default write refused AccessDenied") {
		t.Fatalf("output:\n%s\n%s", r.stdout, r.stderr)
	}
	if got := w.minio.AWS(t, "s3", "cp", "s3://beta/copied-by-exec.txt", "-"); got != helloTxt {
		t.Errorf("beta holds %q", got)
	}
	a := s.b.admin(s.admin, "", "audit", "--plan", "OPS-COPY", "--output", "json")
	if !strings.Contains(a.stdout, `"task": "[writer]"`) {
		t.Errorf("the audit does not show the exec's writer profile:\n%s", a.stdout)
	}
	w.expectNoProfileDirs()
}

// A credbroker killed with SIGKILL leaves its profiles' run directory,
// which is useless (nothing answers on its socket, and credential_process
// says so), and which the next run removes before it starts.
// (TestProfileCredentialsSweptAfterKill does the same for the profile
// delivery.)
func TestProfilesAfterKill9(t *testing.T) {
	w := newWorld(t, false)
	vars := w.write("input-plan.vars", "secret keyPassword="+w.minio.RootPassword+"\n")
	flags := []string{"--vars", vars, "--region", "us-east-1", "--profile", "ci=access-key-id=" + w.minio.RootUser + ",secret-access-key=${bamboo.keyPassword}"}
	cmd := exec.Command(w.cb, append(append([]string{"exec"}, flags...), "--", "sh", "-c", `echo "dir $(dirname "$AWS_CONFIG_FILE")"; exec sleep 300`)...)
	cmd.Env = w.env()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	dir, ok := strings.CutPrefix(strings.TrimSpace(line), "dir ")
	if err != nil || !ok {
		t.Fatalf("the task did not say where its profiles are: %q %v", line, err)
	}
	// credbroker dies at once; its task (the sleep) is killed after it.
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		t.Fatalf("the killed run's directory is not there to clean: %v", err)
	}
	r := w.cbr(w.env(), "credential-process", "--channel", dir, "--profile", "ci")
	if r.code == 0 || !strings.Contains(r.stderr, "profile ci: cannot reach the credbroker that serves "+dir) {
		t.Fatalf("credential-process against a dead channel: exit %d %s", r.code, r.stderr)
	}
	w.expectOK(w.cbr(w.env(), append(append([]string{"exec"}, flags...), "--", "true")...), "the next run")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the next run left the killed run's directory: %v", err)
	}
	w.expectNoProfileDirs()
}

// expectNoProfileDirs fails the test if a run directory is left in the
// test's temporary directory.
func (w *world) expectNoProfileDirs() {
	w.t.Helper()
	left, _ := filepath.Glob(filepath.Join(w.dir, "tmp", "credbroker-*", "run-*"))
	if len(left) > 0 {
		w.t.Fatalf("left behind: %v", left)
	}
}
