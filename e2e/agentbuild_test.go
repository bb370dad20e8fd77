package e2e

import (
	"strings"
	"testing"

	"github.com/credbroker/credbroker/internal/testpeers"
)

// TestAgentBuild drives the agent build (go build -tags agentonly), which
// the README offers for build agents, against the same peers as the full
// build: a connector on a broker (the full build serving), static keys
// from variables, and its answer to a broker command it does not hold.
func TestAgentBuild(t *testing.T) {
	s := newSite(t)
	w := s.w
	agent := testpeers.BuildCredbrokerAgent(t)

	r := w.run(w.env(), "", agent, "--version")
	w.expectOK(r, "agent build --version")
	if !strings.Contains(r.stdout, "agent build") {
		t.Fatalf("--version of the agent build = %q, want it named the agent build", r.stdout)
	}

	// A connector on the broker: the read allowed, the other bucket not.
	execConnector := func(args ...string) result {
		base := []string{"exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "31", "--delivery", "endpoint", "--"}
		return w.run(s.agentEnv(), "", agent, append(base, args...)...)
	}
	r = execConnector(w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)
	w.expectOK(r, "agent build: read alpha through the connector")
	if strings.TrimSpace(r.stdout) != helloTxt {
		t.Fatalf("read alpha: %q", r.stdout)
	}
	w.expectDenied(execConnector(w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...), "agent build: read beta through the connector")
	a := s.b.admin(s.admin, "", "audit", "--plan", "OPS-DEPLOY", "--output", "json")
	w.expectOK(a, "audit")
	if !strings.Contains(a.stdout, `"build": "31"`) {
		t.Fatalf("the audit has no vend of build 31, the agent build's:\n%s", a.stdout)
	}

	// Static keys from a variables file, the secret masked in the task's
	// output.
	vars := w.write("input-agent-build.vars", "awsAccessKeyId="+w.minio.RootUser+"\nsecret awsSecretKeyPassword="+w.minio.RootPassword+"\n")
	r = w.run(w.env(), "", agent, "exec", "--vars", vars, "--region", "us-east-1",
		"--access-key-id", "${bamboo.awsAccessKeyId}", "--secret-access-key", "${bamboo.awsSecretKeyPassword}", "--",
		"sh", "-c", `printf 'secret=%s\n' "$AWS_SECRET_ACCESS_KEY"; "$@"`, "sh", w.aws, "--endpoint-url", w.minio.Endpoint, "--region", "us-east-1",
		"s3", "cp", "s3://beta/hello.txt", "-")
	w.expectOK(r, "agent build: static keys")
	if !strings.Contains(r.stdout, "hello from beta") || !strings.Contains(r.stdout, "secret=********\n") {
		t.Fatalf("static keys through the agent build: stdout %q", r.stdout)
	}

	// A broker command says where it is, and does nothing.
	r = w.run(w.env(), "", agent, "serve", "--data-dir", w.dir)
	if r.code == 0 || !strings.Contains(r.stderr, `"serve" is a broker command`) || !strings.Contains(r.stderr, "full build") {
		t.Fatalf("serve in the agent build: exit %d, stderr %q; want a refusal naming the full build", r.code, r.stderr)
	}
}
