package jobfile

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/cienv"
)

const good = `
version: 1
name: deploy
plan: OPS-DEPLOY
build: "42"
variables:
  region: us-east-1
  bamboo.awsAccessKeyId: AKIAEXAMPLEKEY123456
  awsSecretKeyPassword: {value: hunter2, secret: true}
tasks:
  - name: token
    run: echo awsSessionTokenPassword=abc >> "$CREDBROKER_VARIABLES"
  - name: upload
    credentials:
      source: static
      region: ${bamboo.region}
      access_key_id: ${bamboo.awsAccessKeyId}
      secret_access_key: ${bamboo.awsSecretKeyPassword}
      session_token: ${bamboo.awsSessionTokenPassword}
      role:
        arn: arn:aws:iam::123456789012:role/deploy
        duration: 15m
        policy_file: policies/ro.json
        policy_arns: arn:aws:iam::aws:policy/ReadOnlyAccess
        tags: {team: ops}
      allowed_account_ids: [123456789012, "${bamboo.prodAccounts}"]
    delivery: endpoint
    env:
      BUCKET: alpha
    command: [aws, s3, ls]
    timeout: 2m
  - name: vars
    credentials: {source: instance, region: us-east-1}
    set_variables: {namespace: prod}
`

func TestParseGood(t *testing.T) {
	job, err := Parse("/jobs/deploy.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if job.Plan != "OPS-DEPLOY" || job.Build != "42" || len(job.Tasks) != 3 {
		t.Fatalf("job header: %+v", job)
	}
	if len(job.Variables) != 3 || job.Variables[1].Name != "awsAccessKeyId" || !job.Variables[2].Secret {
		t.Fatalf("variables: %+v", job.Variables)
	}
	up := job.Tasks[1]
	if up.Credentials.Source != "static" || up.Delivery != "endpoint" || up.Timeout != 2*time.Minute {
		t.Fatalf("task: %+v", up)
	}
	if up.Credentials.Role.PolicyFile != "/jobs/policies/ro.json" {
		t.Fatalf("policy file not resolved against the job file: %q", up.Credentials.Role.PolicyFile)
	}
	if len(up.Credentials.Role.PolicyARNs) != 1 || up.Credentials.Role.Tags[0] != (Tag{"team", "ops"}) {
		t.Fatalf("role: %+v", up.Credentials.Role)
	}
	if ids := up.Credentials.AllowedAccountIDs; len(ids) != 2 || ids[0] != "123456789012" || ids[1] != "${bamboo.prodAccounts}" {
		t.Fatalf("allowed accounts: %q", ids)
	}
	if job.CI != cienv.Auto {
		t.Fatalf("ci %q", job.CI)
	}
	if got := strings.Join(up.Command, " "); got != "aws s3 ls" {
		t.Fatalf("command %q", got)
	}
	if job.Tasks[2].SetVariables.Namespace != "prod" {
		t.Fatalf("set_variables: %+v", job.Tasks[2].SetVariables)
	}
	if job.Tasks[0].Line != 11 {
		t.Fatalf("task line %d", job.Tasks[0].Line)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"empty", ``, []string{"empty"}},
		{"not yaml", "version: 1\ntasks: [\n", []string{"not valid YAML"}},
		{"no version", "tasks:\n - name: a\n   run: x\n", []string{"version: missing"}},
		{"bad version", "version: 2\ntasks:\n - name: a\n   run: x\n", []string{`unsupported version "2"`}},
		{"no tasks", "version: 1\n", []string{"tasks: missing"}},
		{"typo", "version: 1\ntasks:\n - name: a\n   comand: [x]\n", []string{":4:", "tasks[0].comand: unknown field", `did you mean "command"?`}},
		{"nothing to do", "version: 1\ntasks:\n - name: a\n", []string{"the task does nothing"}},
		{"both", "version: 1\ntasks:\n - name: a\n   run: x\n   command: [y]\n", []string{"more than one"}},
		{"dup names", "version: 1\ntasks:\n - name: a\n   run: x\n - name: a\n   run: y\n", []string{"also the name of tasks[0]"}},
		{"bad source", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials: {source: instanse}\n", []string{`unknown source "instanse"`, "use instance, static, web-identity or connector"}},
		{"static no secret", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials: {source: static, access_key_id: x}\n", []string{"secret_access_key: missing"}},
		{"literal secret", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials: {source: static, access_key_id: x, secret_access_key: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY}\n", []string{"literal secret key"}},
		{"wrong field for source", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials: {source: instance, access_key_id: x}\n", []string{"not used by source instance"}},
		{"bad delivery", "version: 1\ntasks:\n - name: a\n   run: x\n   delivery: email\n", []string{`unknown delivery "email"`}},
		{"bad duration", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials:\n     source: instance\n     role: {arn: a, duration: soon}\n", []string{`invalid duration "soon"`}},
		{"role without arn", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials:\n     source: instance\n     role: {duration: 1h}\n", []string{"role.arn: missing"}},
		{"command as string", "version: 1\ntasks:\n - name: a\n   command: aws s3 ls\n", []string{"expected a list of arguments"}},
		{"two docs", "version: 1\ntasks:\n - name: a\n   run: x\n---\nfoo: 1\n", []string{"more than one YAML document"}},
		{"set_variables without creds", "version: 1\ntasks:\n - name: a\n   set_variables: {}\n", []string{"needs credentials"}},
		{"reserved env", "version: 1\ntasks:\n - name: a\n   run: x\n   env: {CREDBROKER_VARIABLES: x}\n", []string{"set by credbroker"}},
		{"alias", "version: 1\nx: &a 1\ntasks:\n - name: a\n   run: *a\n", []string{"aliases are not supported"}},
		{"unknown ci", "version: 1\nci: travis\ntasks:\n - name: a\n   run: x\n", []string{`job.yaml:2: ci: "travis" is not a CI credbroker knows`, "github"}},
		{"bad account", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials:\n     source: instance\n     allowed_account_ids: [111111111111, '${bamboo.prod}', 1234-5678-9012]\n",
			[]string{`job.yaml:7: tasks[0].credentials.allowed_account_ids[2]: "1234-5678-9012" is not an AWS account ID`}},
		{"bad account in a list", "version: 1\ntasks:\n - name: a\n   run: x\n   credentials: {source: instance, allowed_account_ids: '111111111111,22'}\n",
			[]string{`allowed_account_ids[0]: "22" is not an AWS account ID`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("job.yaml", []byte(c.doc))
			if err == nil {
				t.Fatal("no error")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestErrorsNeverEchoVariableValues(t *testing.T) {
	doc := "version: 1\nvariables:\n  tokenPassword: {value: s3cr3tvalue, secret: maybe}\ntasks:\n - name: a\n   run: x\n"
	_, err := Parse("job.yaml", []byte(doc))
	if err == nil || strings.Contains(err.Error(), "s3cr3tvalue") {
		t.Fatalf("error %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"900": 900 * time.Second, "15m": 15 * time.Minute, "1h30m": 90 * time.Minute} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := ParseDuration("soon"); err == nil {
		t.Error("soon parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("version: 1\ntasks:\n - name: a\n   run: x\n"))
	f.Add([]byte("version: 1\ntasks: {a: b}\n"))
	f.Add([]byte("[1, 2, 3]"))
	f.Add([]byte("version: 1\nvariables: {a: {value: [1]}}\ntasks:\n - {name: a, command: [x, {y: z}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		job, err := Parse("fuzz.yaml", data)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 {
				t.Fatalf("error of type %T with no findings", err)
			}
			for _, e := range es {
				if e.Message == "" {
					t.Fatal("finding without a message")
				}
			}
			return
		}
		if job.Version != 1 || len(job.Tasks) == 0 {
			t.Fatalf("accepted a job without version or tasks: %+v", job)
		}
		for _, tk := range job.Tasks {
			if tk.Name == "" {
				t.Fatal("accepted a task without a name")
			}
		}
	})
}

// Every problem is a *credbroker.Error carrying its code, the path of the
// value, the file and the line, so that the CLI prints one error family.
func TestErrorsAreDomainErrors(t *testing.T) {
	doc := "version: 1\ntasks:\n - name: a\n   run: x\n - name: b\n   run: y\n   credentials:\n     source: instance\n     role: {arn: x, duraton: 1h}\n"
	_, err := Parse("job.yaml", []byte(doc))
	var es Errors
	if !errors.As(err, &es) || len(es) != 1 {
		t.Fatalf("got %v", err)
	}
	e := es[0]
	if e.Code != credbroker.CodeInvalid || e.Field != "tasks[1].credentials.role.duraton" || e.File != "job.yaml" || e.Line != 9 ||
		e.Fix != `did you mean "duration"?` {
		t.Fatalf("error %+v", *e)
	}
	if got := credbroker.AsError(err); got != e {
		t.Fatalf("errors.As does not reach the problem through Errors: %v", got)
	}
	if err.Error() != `job.yaml:9: tasks[1].credentials.role.duraton: unknown field; did you mean "duration"?` {
		t.Fatalf("renders %q", err.Error())
	}
	_, err = Load("/nonexistent/job.yaml")
	if e := credbroker.AsError(err); e == nil || e.File != "/nonexistent/job.yaml" || e.Code != credbroker.CodeInvalid || e.Fix != "check the path" {
		t.Fatalf("load error %#v", err)
	}
}

func TestIdentity(t *testing.T) {
	j := &Job{Plan: "OPS-DEPLOY", Build: "42"}
	b := j.Identity(credbroker.Build{Number: "43"}, credbroker.Build{Plan: "ENV-PLAN", Number: "1", Job: "ENV-JOB1"})
	if b != (credbroker.Build{Plan: "OPS-DEPLOY", Number: "43", Job: "ENV-JOB1"}) {
		t.Fatalf("identity %+v", b)
	}
}
