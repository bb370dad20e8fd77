package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	keyID  = "AKIAEXAMPLEKEYID9876"
	secret = "cli/Test+Secret/Value/0123456789abcdefghi"
)

type outcome struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env []string, args ...string) outcome {
	t.Helper()
	var out, errb bytes.Buffer
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	code := Main(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Environ: append(base, env...)})
	return outcome{code, out.String(), errb.String()}
}

func staticFlags() []string {
	return []string{"--region", "us-east-1", "--access-key-id", keyID, "--secret-access-key", "${bamboo.awsSecretKeyPassword}", "--var", "awsSecretKeyPassword=" + secret}
}

func TestHelpTeaches(t *testing.T) {
	for _, cmd := range [][]string{{"exec"}, {"run"}, {"credential-process"}, {"export"}, {"serve"}, {"connector", "create"}, {"token", "create"}, {"audit"}, {"audit", "verify"}, {"key", "rotate"}, {"console"}, {"variable", "set"}} {
		o := run(t, nil, append(cmd, "--help")...)
		if o.code != 0 || !strings.Contains(o.stdout, "Usage:") {
			t.Errorf("%v --help: exit %d", cmd, o.code)
		}
		if !strings.Contains(o.stdout, "Examples:") && !strings.Contains(o.stdout, "Long") && len(o.stdout) < 400 {
			t.Errorf("%v --help is thin:\n%s", cmd, o.stdout)
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"exec", "--bogus"}, 1, "unknown flag: --bogus"},
		{[]string{"exec", "--region", "us-east-1", "true"}, 125, "put the command after --"},
		{append(append([]string{"exec", "--delivery", "pigeon"}, staticFlags()...), "--", "true"), 125, `unknown delivery "pigeon"`},
		{[]string{"exec", "--source", "static", "--region", "us-east-1", "--", "true"}, 125, "--access-key-id: missing"},
		{[]string{"exec", "--region", "mars-north-1", "--access-key-id", keyID, "--secret-access-key", "${x}", "--var", "x=" + secret, "--", "true"}, 125, "mars-north-1"},
		{[]string{"exec", "--region", "us-east-1", "--access-key-id", keyID, "--secret-access-key", "${missing}", "--", "true"}, 125, `--secret-access-key: undefined variable "missing"`},
		{[]string{"export", "--format", "yaml"}, 1, `--format: unknown format "yaml"`},
		{[]string{"run", filepath.Join(t.TempDir(), "nope.yaml")}, 125, "cannot read the job file"},
		{[]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "sync"), "--store-sync", "off"}, 1, `--store-sync: unknown setting "off"; use full (the default) or normal`},
		{[]string{"serve", "--store-sync", "normal", "--database-url", "postgres://x@127.0.0.1:1/y"}, 1, "--store-sync: applies to the embedded SQLite store"},
	}
	for _, c := range cases {
		o := run(t, nil, c.args...)
		if o.code != c.code || !strings.Contains(o.stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", c.args, o.code, o.stderr, c.code, c.want)
		}
		if strings.Contains(o.stderr, "goroutine") || strings.Contains(o.stderr, secret) {
			t.Errorf("%v: stack trace or secret in %q", c.args, o.stderr)
		}
		for _, line := range strings.Split(strings.TrimSpace(o.stderr), "\n") {
			if !strings.HasPrefix(line, "credbroker: ") {
				t.Errorf("%v: stray line %q", c.args, line)
			}
		}
	}
}

func TestExecStaticMasksAndPassesExitCode(t *testing.T) {
	args := append(append([]string{"exec"}, staticFlags()...), "--", "/bin/sh", "-c", `echo "$AWS_ACCESS_KEY_ID $AWS_SECRET_ACCESS_KEY $AWS_REGION"; exit 3`)
	o := run(t, []string{"AWS_PROFILE=should-go", "CREDBROKER_TOKEN=tok_x.y"}, args...)
	if o.code != 3 {
		t.Fatalf("exit %d, stderr %s", o.code, o.stderr)
	}
	if strings.TrimSpace(o.stdout) != "****9876 ******** us-east-1" {
		t.Fatalf("stdout %q", o.stdout)
	}
}

func TestExportFormats(t *testing.T) {
	o := run(t, nil, append([]string{"export", "--format", "env"}, staticFlags()...)...)
	if o.code != 0 || !strings.Contains(o.stdout, "export AWS_ACCESS_KEY_ID='"+keyID+"'") || !strings.Contains(o.stdout, "export AWS_SECRET_ACCESS_KEY='"+secret+"'") || !strings.Contains(o.stdout, "export AWS_REGION='us-east-1'") {
		t.Fatalf("env: %d %q %q", o.code, o.stdout, o.stderr)
	}
	o = run(t, nil, append([]string{"export", "--format", "json"}, staticFlags()...)...)
	var m map[string]string
	if err := json.Unmarshal([]byte(o.stdout), &m); err != nil || m["AccessKeyId"] != keyID || m["SecretAccessKey"] != secret || m["Partition"] != "aws" {
		t.Fatalf("json: %v %q", err, o.stdout)
	}
	o = run(t, nil, append([]string{"export", "--format", "ini", "--profile", "ci"}, staticFlags()...)...)
	if !strings.HasPrefix(o.stdout, "[ci]\naws_access_key_id = "+keyID+"\naws_secret_access_key = "+secret+"\n") {
		t.Fatalf("ini: %q", o.stdout)
	}
}

func TestCredentialProcessJSON(t *testing.T) {
	o := run(t, nil, append([]string{"credential-process"}, staticFlags()...)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(o.stdout), &m); err != nil || m["Version"] != float64(1) || m["AccessKeyId"] != keyID || m["SecretAccessKey"] != secret {
		t.Fatalf("credential_process: %v %q %q", err, o.stdout, o.stderr)
	}
	if _, ok := m["Expiration"]; ok {
		t.Fatal("long-lived keys got an Expiration")
	}
}

func TestBrokerUnreachable(t *testing.T) {
	o := run(t, []string{"CREDBROKER_TOKEN=tok_0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "CREDBROKER_BROKER=http://127.0.0.1:1"}, "connector", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "127.0.0.1:1") || strings.Contains(o.stderr, "AAAAAAAAAAAA") {
		t.Fatalf("exit %d: %q", o.code, o.stderr)
	}
}

func TestTokenNeeded(t *testing.T) {
	o := run(t, nil, "connector", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "token create --local") {
		t.Fatalf("exit %d: %q", o.code, o.stderr)
	}
}

func TestParseScope(t *testing.T) {
	for in, ok := range map[string]bool{"system": true, "project OPS": true, "plan OPS-DEPLOY": true, "": false, "a b c": false} {
		if _, err := parseScope(in); (err == nil) != ok {
			t.Errorf("parseScope(%q): %v", in, err)
		}
	}
}

func TestExportINIRefusesLineBreaks(t *testing.T) {
	o := run(t, nil, append([]string{"export", "--format", "ini", "--profile", "ci]\n[evil"}, staticFlags()...)...)
	if o.code == 0 || strings.Contains(o.stdout, "[evil") {
		t.Fatalf("exit %d stdout %q", o.code, o.stdout)
	}
}
