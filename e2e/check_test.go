package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// checkFinding is one finding of `credbroker check --output json`.
type checkFinding struct {
	Severity, Task, Field, Message, Fix string
}

// checkJSON runs credbroker check with --output json and decodes it.
func (w *world) checkJSON(env []string, args ...string) (result, []checkFinding) {
	w.t.Helper()
	r := w.cbr(env, append([]string{"check", "--output", "json"}, args...)...)
	var fs []checkFinding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		w.t.Fatalf("check --output json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return r, fs
}

// findings renders findings one per line, for failure messages.
func findings(fs []checkFinding) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Severity + " [" + f.Task + "] " + f.Field + ": " + f.Message + "; " + f.Fix + "\n")
	}
	return b.String()
}

func hasFinding(fs []checkFinding, sev, task, msg string) bool {
	for _, f := range fs {
		if f.Severity == sev && f.Task == task && strings.Contains(f.Message, msg) {
			return true
		}
	}
	return false
}

func countSeverity(fs []checkFinding, sev string) int {
	n := 0
	for _, f := range fs {
		if f.Severity == sev {
			n++
		}
	}
	return n
}

// The online checks pass against ec2-metadata-mock and MinIO, for the
// instance source (with and without a role) and static keys (with and
// without a role), in one job file and in the flags form.
func TestCheckAgainstMetadataMockAndMinIO(t *testing.T) {
	w := newWorld(t, true)
	vars := w.write("input-plan.vars", "rootKeyId="+w.minio.RootUser+"\nsecret rootSecretPassword="+w.minio.RootPassword+"\nendpoint="+w.minio.Endpoint+"\n")
	job := w.write("job.yaml", `version: 1
plan: OPS-DEPLOY
build: "3"
tasks:
  - name: instance
    credentials: {source: instance, region: us-east-1, imds_endpoint: '`+w.imds.Endpoint+`', sts_endpoint: '${bamboo.endpoint}'}
    command: ["true"]
  - name: instance-role
    credentials:
      source: instance
      region: us-east-1
      imds_endpoint: `+w.imds.Endpoint+`
      sts_endpoint: ${bamboo.endpoint}
      role: {arn: `+roleARN+`, duration: 15m, policy_file: ro.json}
    command: ["true"]
  - name: static
    credentials:
      source: static
      region: us-east-1
      access_key_id: ${bamboo.rootKeyId}
      secret_access_key: ${bamboo.rootSecretPassword}
      sts_endpoint: ${bamboo.endpoint}
    command: ["true"]
  - name: static-role
    credentials:
      source: static
      region: us-east-1
      access_key_id: ${bamboo.rootKeyId}
      secret_access_key: ${bamboo.rootSecretPassword}
      sts_endpoint: ${bamboo.endpoint}
      role: {arn: `+roleARN+`, duration: 15m}
    set_variables: {}
  - name: from-variables
    credentials:
      source: static
      region: ${bamboo.aws.region}
      access_key_id: ${bamboo.aws.accessKeyId}
      secret_access_key: ${bamboo.aws.secretAccessKey}
      session_token: ${bamboo.aws.sessionToken}
      sts_endpoint: ${bamboo.endpoint}
    command: ["true"]
`)
	r, fs := w.checkJSON(w.env(), job, "--vars", vars)
	if r.code != 0 || countSeverity(fs, "error") != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}
	for _, want := range []struct{ sev, task, msg string }{
		{"ok", "instance", "answers IMDSv2 and names role agent-role"},
		{"ok", "instance", "credentials of role agent-role ****"},
		{"info", "instance", "identity not available from this STS"},
		{"ok", "instance-role", "answers IMDSv2 and names role agent-role"},
		{"ok", "instance-role", "STS at " + w.minio.Endpoint + " answered AssumeRole"},
		{"ok", "instance-role", "the session policy is valid"},
		{"info", "static", "the static keys were not verified"},
		{"ok", "static-role", "answered AssumeRole"},
		{"info", "from-variables", "identity not available from this STS"},
	} {
		if !hasFinding(fs, want.sev, want.task, want.msg) {
			t.Errorf("no %s [%s] %q:\n%s", want.sev, want.task, want.msg, findings(fs))
		}
	}
	if hasFinding(fs, "info", "from-variables", "set when task") {
		t.Errorf("the later task was not checked with the variables the set_variables task's check obtained:\n%s", findings(fs))
	}

	// The flags form, as exec would use it.
	r, fs = w.checkJSON(w.env(), w.instanceFlags()...)
	if r.code != 0 || !hasFinding(fs, "ok", "", "answered AssumeRole") || !hasFinding(fs, "ok", "", "names role agent-role") {
		t.Fatalf("flags form: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}

	// A wrong secret: STS (MinIO says AccessDenied) refuses it: one error.
	wrong := w.write("input-wrong.vars", "secret rootSecretPassword=not-the-root-password\n")
	r, fs = w.checkJSON(w.env(), "--vars", vars, "--vars", wrong, "--region", "us-east-1", "--access-key-id", w.minio.RootUser,
		"--secret-access-key", "${bamboo.rootSecretPassword}", "--sts-endpoint", w.minio.Endpoint, "--role-arn", roleARN)
	if r.code != 1 || countSeverity(fs, "error") != 1 || !hasFinding(fs, "error", "", "STS refused AssumeRole") {
		t.Fatalf("wrong secret: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}

	// A metadata service that is not there.
	r, fs = w.checkJSON(w.env(), "--source", "instance", "--region", "us-east-1", "--imds-endpoint", "http://127.0.0.1:1/")
	if r.code != 1 || !hasFinding(fs, "error", "", "the instance metadata service at http://127.0.0.1:1/ is not reachable") {
		t.Fatalf("no IMDS: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}

	// --offline touches none of them: the same job passes with the
	// metadata mock and MinIO gone.
	w.imds.Process.Stop()
	w.minio.Process.Stop()
	r, fs = w.checkJSON(w.env(), "--offline", job, "--vars", vars)
	if r.code != 0 || countSeverity(fs, "error") != 0 || !hasFinding(fs, "ok", "instance-role", "then AssumeRole with the build's session tags") {
		t.Fatalf("offline: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}
}

// The online checks of a connector pass against a running broker, refuse
// a plan the connector does not allow, and fail clearly, in one line,
// against a stopped broker.
func TestCheckAgainstBroker(t *testing.T) {
	s := newSite(t)
	w := s.w
	job := w.write("job.yaml", `version: 1
plan: OPS-DEPLOY
build: "31"
job: OPS-DEPLOY-JOB1
tasks:
  - name: deploy
    credentials: {source: connector, connector: deploy}
    run: aws s3 ls
`)
	r, fs := w.checkJSON(s.agentEnv(), job)
	if r.code != 0 || countSeverity(fs, "error") != 0 {
		t.Fatalf("exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}
	for _, want := range []string{"the broker at " + s.b.URL + " answers", "connector deploy vended credentials ****", "for plan OPS-DEPLOY in us-east-1 (partition aws)"} {
		if !hasFinding(fs, "ok", "deploy", want) {
			t.Errorf("no ok %q:\n%s", want, findings(fs))
		}
	}
	if !hasFinding(fs, "info", "deploy", "identity: role "+roleARN) {
		t.Errorf("no identity:\n%s", findings(fs))
	}
	// The vend was real: the audit shows it, with the task.
	a := s.b.admin(s.admin, "", "audit", "--plan", "OPS-DEPLOY", "--output", "json")
	w.expectOK(a, "audit")
	if !strings.Contains(a.stdout, `"build": "31"`) || !strings.Contains(a.stdout, `"task": "deploy"`) {
		t.Fatalf("the check's vend is not in the audit:\n%s", a.stdout)
	}

	// The flags form; a plan the token may not act for.
	r, fs = w.checkJSON(s.agentEnv(), "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "32")
	if r.code != 0 || !hasFinding(fs, "ok", "", "connector deploy vended credentials") {
		t.Fatalf("flags form: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}
	r, fs = w.checkJSON(s.agentEnv(), "--connector", "deploy", "--plan", "WEB-SITE")
	if r.code != 1 || countSeverity(fs, "error") != 1 {
		t.Fatalf("another plan: exit %d:\n%s%s", r.code, findings(fs), r.stderr)
	}

	// A stopped broker: one error line naming its URL and the fix. The
	// broker's own address, not a proxy's: nothing listens there now.
	stopped := ""
	for i, a := range s.b.args {
		if a == "--listen" {
			stopped = "http://" + s.b.args[i+1]
		}
	}
	s.b.stop()
	env := w.env("CREDBROKER_BROKER="+stopped, "CREDBROKER_TOKEN_FILE="+s.tokenF)
	r = w.cbr(env, "check", job)
	if r.code != 1 {
		t.Fatalf("stopped broker: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	errorsSeen := errorLines(r.stdout)
	if len(errorsSeen) != 1 || !strings.Contains(errorsSeen[0], "cannot reach the broker at "+stopped) ||
		!strings.Contains(errorsSeen[0], "connection refused") || !strings.Contains(errorsSeen[0], "fix: is `credbroker serve` running there") {
		t.Fatalf("stopped broker: want one error line naming %s and the fix:\n%s", stopped, r.stdout)
	}
	// The flags form says the same, from the readiness probe.
	r = w.cbr(env, "check", "--connector", "deploy", "--plan", "OPS-DEPLOY")
	if errs := errorLines(r.stdout); r.code != 1 || len(errs) != 1 ||
		!strings.Contains(errs[0], "cannot reach the broker at "+stopped) || !strings.Contains(errs[0], "connection refused") {
		t.Fatalf("stopped broker, flags form: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// errorLines returns the error lines of check's text output.
func errorLines(stdout string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if strings.HasPrefix(line, "error ") {
			out = append(out, line)
		}
	}
	return out
}
