package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExecProfilesFromFlags(t *testing.T) {
	tmp := t.TempDir()
	o := run(t, []string{"TMPDIR=" + tmp}, "exec", "--region", "eu-west-1", "--var", "awsSecretKeyPassword="+secret, "--var", "id="+keyID,
		"--profile", "ci=access-key-id=${bamboo.id},secret-access-key=${bamboo.awsSecretKeyPassword}",
		"--profile", "prod=region=us-east-1,access-key-id=AKIAPRODKEYID0000001,secret-access-key=${bamboo.awsSecretKeyPassword}",
		"--default-profile", "prod", "--", "sh", "-c", `grep -E '^\[|^region' "$AWS_CONFIG_FILE"; echo "dir $(dirname "$AWS_CONFIG_FILE")"`)
	if o.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	if want := "[default]\nregion = us-east-1\n[profile ci]\nregion = eu-west-1\n[profile prod]\nregion = us-east-1\n"; !strings.HasPrefix(o.stdout, want) {
		t.Fatalf("config file:\n%s\nwant it to start with\n%s", o.stdout, want)
	}
	if !strings.Contains(o.stdout, "dir "+filepath.Join(tmp, "credbroker-")) || !strings.Contains(o.stdout, "/run-") {
		t.Errorf("the profiles are not in a run directory under $TMPDIR: %s", o.stdout)
	}
	if strings.Contains(o.stdout+o.stderr, secret) {
		t.Error("the secret shows")
	}
	if !strings.Contains(o.stderr, "profile=ci credentials.access_key_id=****9876") {
		t.Errorf("the profile's credentials are not noted:\n%s", o.stderr)
	}
}

func TestProfileFlagErrors(t *testing.T) {
	keys := "access-key-id=" + keyID + ",secret-access-key=${bamboo.s}"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--profile", "a b=" + keys}, `--profile: invalid profile name "a b"`},
		{[]string{"--profile", "a=" + keys, "--profile", "a=" + keys}, "--profile a: profile a is given twice"},
		{[]string{"--profile", "a=nope=1"}, `--profile a: "nope" is not a source flag`},
		{[]string{"--profile", "a=vars=x.vars"}, `--profile a: "vars" is not a source flag`},
		{[]string{"--profile", "a=role-arn"}, `--profile a: "role-arn" is not FLAG=VALUE`},
		{[]string{"--profile", "a=duration=soon"}, `--profile a --duration: "soon" is not a duration`},
		{[]string{"--profile", "a=source=instance,access-key-id=" + keyID}, "--profile a --access-key-id: not used by --source instance"},
		{[]string{"--profile", "a=access-key-id=" + keyID + ",secret-access-key=${bamboo.missing}"}, `--profile a --secret-access-key: undefined variable "missing"`},
		{[]string{"--profile", "a=region=mars-north-1," + keys}, "--profile a --region"},
		{[]string{"--profile", "a=" + keys, "--default-profile", "b"}, `--default-profile: no profile "b"; name one of a`},
		{[]string{"--default-profile", "b"}, "--default-profile: given without --profile"},
		{[]string{"--profile", "a=" + keys, "--delivery", "endpoint"}, "--delivery: not used with --profile"},
		// The account guard of the command guards each profile, before any call.
		{[]string{"--allowed-account-id", "123456789012", "--profile", "a=" + keys + ",role-arn=arn:aws:iam::210987654321:role/x"},
			"--profile a --role-arn: account 210987654321 of role ARN arn:aws:iam::210987654321:role/x is not an allowed account (123456789012)"},
		{[]string{"--profile", "a=" + keys + ",ci=none"}, `--profile a: "ci" is not a source flag`},
		{[]string{"--ci", "travis", "--profile", "a=" + keys}, "--ci"},
	} {
		args := append(append([]string{"exec", "--region", "us-east-1", "--var", "s=" + secret}, tc.args...), "--", "true")
		o := run(t, []string{"TMPDIR=" + t.TempDir()}, args...)
		if o.code != 125 || !strings.Contains(o.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want 125 and %q", tc.args, o.code, o.stderr, tc.want)
		}
		if strings.Contains(o.stderr, secret) {
			t.Errorf("%v: the secret shows", tc.args)
		}
	}
}

func TestCredentialProcessChannelFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--channel", t.TempDir()}, "--profile: missing with --channel"},
		{[]string{"--profile", "ci"}, "--channel: missing with --profile"},
		{[]string{"--channel", t.TempDir(), "--profile", "ci", "--region", "us-east-1"}, "--region: not used with --channel"},
		{[]string{"--channel", t.TempDir(), "--profile", "ci"}, "profile ci: cannot reach the credbroker that serves"},
		{[]string{"--channel", t.TempDir(), "--profile", "../x"}, `--profile: invalid profile name "../x"`},
	} {
		o := run(t, nil, append([]string{"credential-process"}, tc.args...)...)
		if o.code == 0 || !strings.Contains(o.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, o.code, o.stderr, tc.want)
		}
	}
}

func TestCheckProfilesFromFlags(t *testing.T) {
	o := run(t, nil, "check", "--offline", "--region", "us-east-1", "--var", "s="+secret,
		"--profile", "ci=access-key-id="+keyID+",secret-access-key=${bamboo.s}",
		"--profile", "china=region=cn-north-1,role-arn=arn:aws:iam::123456789012:role/x")
	if o.code != 1 {
		t.Fatalf("exit %d\n%s\n%s", o.code, o.stdout, o.stderr)
	}
	for _, want := range []string{
		"ok      --profile ci --source: the credentials are well formed: static keys ****9876",
		`error   --profile china --role-arn: role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"`,
	} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("lacks %q:\n%s", want, o.stdout)
		}
	}
	if strings.Contains(o.stdout+o.stderr, secret) {
		t.Error("the secret shows")
	}
}

func TestRunProfileAccountGuard(t *testing.T) {
	tmp := t.TempDir()
	job := filepath.Join(tmp, "job.yaml")
	body := `version: 1
plan: OPS-X
build: "1"
tasks:
  - name: copy
    profiles:
      a:
        source: static
        region: us-east-1
        access_key_id: ` + keyID + `
        secret_access_key: ${bamboo.s}
        allowed_account_ids: [123456789012]
        role: {arn: 'arn:aws:iam::210987654321:role/x'}
      b:
        source: static
        region: us-east-1
        access_key_id: ` + keyID + `
        secret_access_key: ${bamboo.s}
    run: echo the task ran
`
	if err := os.WriteFile(job, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	o := run(t, []string{"TMPDIR=" + tmp}, "run", job, "--var", "s="+secret)
	// The field is named by its path in the job file, as check names it.
	if o.code != 125 || !strings.Contains(o.stderr, "tasks[0].profiles.a.role.arn: account 210987654321 of role ARN arn:aws:iam::210987654321:role/x is not an allowed account (123456789012)") {
		t.Fatalf("exit %d, stderr %q; want 125 and profile a's account refused", o.code, o.stderr)
	}
	if strings.Contains(o.stdout, "the task ran") {
		t.Error("the task ran past the account guard")
	}
	if strings.Contains(o.stdout+o.stderr, secret) {
		t.Error("the secret shows")
	}
}
