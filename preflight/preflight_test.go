package preflight

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker/internal/jobtest"
	"github.com/credbroker/credbroker/vars"
)

// The secret values the check tests use; no output may hold them.
const (
	checkKeyID     = jobtest.KeyID
	checkSecret    = jobtest.Secret
	checkToken     = jobtest.Token
	issuedKeyID    = "ASIACHECKISSUED00001"
	issuedSecret   = "issued/Secret/DO-NOT-PRINT"
	issuedSessTok  = "issued-session-token-DO-NOT-PRINT"
	instanceKeyID  = "ASIAINSTANCEROLE0001"
	instanceSecret = "instance/Secret/DO-NOT-PRINT"
	instanceToken  = "instance-token-DO-NOT-PRINT"
)

var checkSecrets = []string{checkSecret, checkToken, issuedSecret, issuedSessTok, instanceSecret, instanceToken}

type checkOutcome struct {
	failed   bool
	summary  string
	text     string
	findings Findings
}

// checkJob checks the job file at path with the --var assignments given,
// as credbroker check JOB.yaml does, with env as credbroker's own
// environment, and fails the test if any output holds a secret.
func checkJob(t *testing.T, env []string, offline bool, path string, assignments ...string) checkOutcome {
	t.Helper()
	envMap := map[string]string{"PATH": os.Getenv("PATH"), "HOME": t.TempDir()}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envMap[k] = v
	}
	opts := Options{Offline: offline, UserAgent: "credbroker/test", LookupEnv: func(k string) (string, bool) {
		v, ok := envMap[k]
		return v, ok
	}}
	rep := Job(context.Background(), JobInput{Path: path, Vars: vars.Sources{Assignments: assignments}}, opts)
	return outcome(t, rep)
}

// outcome renders rep both ways and fails the test if either holds a
// secret, or if the JSON is not an array of findings.
func outcome(t *testing.T, rep *Report) checkOutcome {
	t.Helper()
	var text, js bytes.Buffer
	if err := rep.Write(&text, false); err != nil {
		t.Fatal(err)
	}
	if err := rep.Write(&js, true); err != nil {
		t.Fatal(err)
	}
	o := checkOutcome{failed: rep.Failed(), summary: rep.Summary(), text: text.String()}
	for _, s := range checkSecrets {
		if strings.Contains(text.String()+js.String(), s) {
			t.Fatalf("a secret value is in the output:\n%s\n%s", text.String(), js.String())
		}
	}
	if err := json.Unmarshal(js.Bytes(), &o.findings); err != nil {
		t.Fatalf("the JSON output is not an array of findings: %v\n%s", err, js.String())
	}
	return o
}

func (o checkOutcome) has(sev Severity, field, msg string) *Finding {
	return o.findings.Find(sev, field, msg)
}

func (o checkOutcome) count(sev Severity) int { return o.findings.Count(sev) }

func (o checkOutcome) dump() string { return o.text + o.summary }

func TestCheckCatchesEachOfflineError(t *testing.T) {
	dir := t.TempDir()
	longPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":[` +
		strings.TrimSuffix(strings.Repeat(`"arn:aws:s3:::a-rather-long-bucket-name/*",`, 60), ",") + `]}]}`
	jobtest.Write(t, dir, "long.json", longPolicy)
	var elevenARNs, manyTags []string
	for i := range 11 {
		elevenARNs = append(elevenARNs, fmt.Sprintf("arn:aws:iam::aws:policy/P%d", i))
	}
	for i := range 48 {
		manyTags = append(manyTags, fmt.Sprintf("k%d: v", i))
	}
	const role = "      role:\n        arn: arn:aws:iam::123456789012:role/deploy\n"
	cases := []struct {
		name  string
		tasks string // the tasks: list; or a whole file when it starts with "version"
		sev   Severity
		field string
		msg   string
	}{
		{"job file not well formed", "version: 1\ntasks:\n - name: a\n   comand: [x]\n", "error", "tasks[0].comand", "job.yaml:4: unknown field"},
		{"job file missing version", "tasks:\n - name: a\n   run: x\n", "error", "version", "missing"},
		{"undefined variable", jobtest.StaticTask("us-east-1", "      session_token: ${bamboo.nope}\n"), "error", "credentials.session_token", `undefined variable "nope"`},
		{"undefined variable in env", strings.Replace(jobtest.StaticTask("us-east-1", ""), `    run: "true"`, "    env: {X: '${bamboo.gone}'}\n    run: \"true\"", 1), "error", "env.X", `undefined variable "gone"`},
		{"unknown region", jobtest.StaticTask("mars-north-1", ""), "error", "credentials.region", `region "mars-north-1" is not in any known partition`},
		{"role ARN does not parse", jobtest.StaticTask("us-east-1", "      role: {arn: not-an-arn}\n"), "error", "credentials.role.arn", `"not-an-arn" is not an ARN`},
		{"role ARN of another partition", jobtest.StaticTask("cn-north-1", role), "error", "credentials.role.arn", `role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"`},
		{"policy ARN of another partition", jobtest.StaticTask("us-gov-west-1", "      role:\n        arn: arn:aws-us-gov:iam::123456789012:role/deploy\n        policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n"),
			"error", "credentials.role.policy_arns[0]", `policy ARN is in partition "aws" but region us-gov-west-1 is in "aws-us-gov"`},
		{"eleven policy ARNs", jobtest.StaticTask("us-east-1", role+"        policy_arns: ["+strings.Join(elevenARNs, ", ")+"]\n"), "error", "credentials.role.policy_arns", "11 managed policy ARNs given; STS accepts at most 10"},
		{"policy not JSON", jobtest.StaticTask("us-east-1", role+"        policy: '{\"Statement\": [}'\n"), "error", "credentials.role.policy", "not valid JSON"},
		{"policy too long", jobtest.StaticTask("us-east-1", role+"        policy_file: long.json\n"), "error", "credentials.role.policy_file", "STS allows at most 2048"},
		{"duration too long", jobtest.StaticTask("us-east-1", role+"        duration: 13h\n"), "error", "credentials.role.duration", "out of range: AssumeRole allows 15m0s to 12h"},
		{"duration too short", jobtest.StaticTask("us-east-1", role+"        duration: 5m\n"), "error", "credentials.role.duration", "out of range"},
		{"too many session tags", jobtest.StaticTask("us-east-1", role+"        tags: {"+strings.Join(manyTags, ", ")+"}\n"), "error", "credentials.role.tags", "51 session tags: 48 given and 3 that name the build"},
		{"tag value too long", jobtest.StaticTask("us-east-1", role+"        tags: {team: "+strings.Repeat("x", 257)+"}\n"), "error", "credentials.role.tags[0].value", "at most 256 characters"},
		{"tag key of credbroker's", jobtest.StaticTask("us-east-1", role+"        tags: {'credbroker:plan': X}\n"), "error", "credentials.role.tags[0].key", "keeps for the tags that name the build"},
		{"transitive key of no tag", jobtest.StaticTask("us-east-1", role+"        transitive_tag_keys: [team]\n"), "error", "credentials.role.transitive_tag_keys[0]", `"team" names no session tag`},
		{"tags with tagging off", jobtest.StaticTask("us-east-1", role+"        session_tags: false\n        tags: {team: ops}\n"), "error", "tasks[0].credentials.role.session_tags", "session tags are turned off"},
		{"static key with whitespace", strings.Replace(jobtest.StaticTask("us-east-1", ""), "${bamboo.keyId}", "'AKIA SPACE'", 1), "error", "credentials.access_key_id", "contains whitespace"},
		{"connector tag with a bad character", "\n  - name: t\n    credentials: {source: connector, connector: deploy, broker: 'http://127.0.0.1:1', tags: {team: 'a#b'}}\n    run: \"true\"\n",
			"error", "credentials.tags[0].value", "characters STS does not accept"},
		{"connector broker not a URL", "\n  - name: t\n    credentials: {source: connector, connector: deploy, broker: 'ftp://x'}\n    run: \"true\"\n", "error", "credentials.broker", "not an http or https URL"},
		{"clamped duration is a warning", "\n  - name: t\n    credentials:\n      source: instance\n      region: us-east-1\n" + role + "        duration: 2h\n    run: \"true\"\n",
			"warning", "credentials.role.duration", "will be lowered to 1h"},
		{"clamped with a session token", jobtest.StaticTask("us-east-1", "      session_token: ${bamboo.tokenPassword}\n"+role+"        duration: 90m\n"), "warning", "credentials.role.duration", "duration 1h30m will be lowered to 1h"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.tasks
			if !strings.HasPrefix(body, "version") && !strings.HasPrefix(body, "tasks") {
				body = "version: 1\nplan: OPS-DEPLOY\nbuild: \"42\"\njob: OPS-DEPLOY-JOB1\ntasks:" + body
			}
			job := jobtest.Write(t, dir, "job.yaml", body)
			o := checkJob(t, []string{"CREDBROKER_TOKEN=" + checkToken}, true, job,
				"keyId="+checkKeyID, "secretKeyPassword="+checkSecret, "tokenPassword="+checkSecret+"-tok")
			f := o.has(c.sev, c.field, c.msg)
			if f == nil {
				t.Fatalf("no %s finding for %s holding %q; got:\n%s", c.sev, c.field, c.msg, o.dump())
			}
			// The exit code of credbroker check is 1 exactly when the
			// report failed (cli.TestCheckExitCodeAndSummary).
			wantFailed := c.sev == SevError
			if o.failed != wantFailed || wantFailed != (o.count(SevError) > 0) {
				t.Fatalf("failed=%v with %d errors, want failed=%v:\n%s", o.failed, o.count(SevError), wantFailed, o.dump())
			}
			if c.sev == SevError && f.Fix == "" {
				t.Errorf("the finding has no fix: %s", f)
			}
			if c.sev == SevError && !strings.Contains(o.summary, fmt.Sprintf("%d error(s)", o.count(SevError))) {
				t.Errorf("the summary does not count the errors: %q", o.summary)
			}
		})
	}
}

func TestCheckCleanJobPasses(t *testing.T) {
	dir := t.TempDir()
	job := jobtest.Write(t, dir, "job.yaml", "version: 1\nplan: OPS-DEPLOY\ntasks:"+jobtest.StaticTask("eu-west-1",
		"      role:\n        arn: arn:aws:iam::123456789012:role/deploy\n        duration: 30m\n        policy: '{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"s3:GetObject\",\"Resource\":\"*\"}}'\n"+
			"        policy_arns: [arn:aws:iam::aws:policy/ReadOnlyAccess]\n        tags: {team: ops}\n        transitive_tag_keys: [team, credbroker:plan]\n"))
	o := checkJob(t, nil, true, job, "keyId="+checkKeyID, "secretKeyPassword="+checkSecret)
	if o.failed || o.count(SevError)+o.count(SevWarning) != 0 {
		t.Fatalf("failed=%v:\n%s", o.failed, o.dump())
	}
	for _, want := range []struct{ field, msg string }{
		{"", "job.yaml is well formed: 1 task(s)"},
		{"credentials.region", "region eu-west-1 is in partition aws"},
		{"credentials.role.arn", "is in partition aws"},
		{"credentials.role.policy", "the session policy is valid"},
		{"credentials.role.policy_arns", "1 managed policy ARN(s)"},
		{"credentials.role.duration", "30m is within STS's limits"},
		{"credentials", "then AssumeRole with the build's session tags"},
	} {
		if o.has(SevOK, want.field, want.msg) == nil {
			t.Errorf("no ok finding %s %q:\n%s", want.field, want.msg, o.dump())
		}
	}
	if !strings.HasPrefix(o.summary, "0 error(s), 0 warning(s)") {
		t.Errorf("summary: %q", o.summary)
	}
}

// fakeAWS is an instance metadata service (IMDSv2 only) and an STS in one
// test server: AssumeRole and GetCallerIdentity; deny makes AssumeRole
// answer AccessDenied.
type fakeAWS struct {
	*httptest.Server
	mu    sync.Mutex
	forms []url.Values
	deny  bool
}

func newFakeAWS(t *testing.T) *fakeAWS {
	f := &fakeAWS{}
	const imdsToken = "imds-token"
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, imdsToken)
			return
		case strings.HasPrefix(r.URL.Path, "/latest/"):
			if r.Header.Get("X-Aws-Ec2-Metadata-Token") != imdsToken {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if strings.HasSuffix(r.URL.Path, "/security-credentials/") {
				io.WriteString(w, "agent-role")
				return
			}
			fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":%q,"SecretAccessKey":%q,"Token":%q,"Expiration":%q}`,
				instanceKeyID, instanceSecret, instanceToken, exp)
			return
		}
		r.ParseForm()
		f.mu.Lock()
		f.forms = append(f.forms, r.PostForm)
		f.forms[len(f.forms)-1].Set("Authorization", r.Header.Get("Authorization"))
		deny := f.deny
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		switch action := r.PostForm.Get("Action"); {
		case action == "AssumeRole" && deny:
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform: sts:TagSession</Message></Error><RequestId>1</RequestId></ErrorResponse>`)
		case action == "AssumeRole":
			fmt.Fprintf(w, `<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
				`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deploy/s</Arn><AssumedRoleId>AROA:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult></AssumeRoleResponse>`,
				issuedKeyID, issuedSecret, issuedSessTok, exp)
		case action == "GetCallerIdentity":
			io.WriteString(w, `<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/deploy/s</Arn><UserId>AROA:s</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`)
		default:
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `<ErrorResponse><Error><Code>InvalidAction</Code><Message>no</Message></Error></ErrorResponse>`)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAWS) calls() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.forms...)
}

func TestCheckOnlineWithFakes(t *testing.T) {
	fake := newFakeAWS(t)
	job := jobtest.Write(t, t.TempDir(), "job.yaml", `version: 1
plan: OPS-DEPLOY
build: "42"
tasks:
  - name: creds
    credentials:
      source: instance
      region: us-east-1
      imds_endpoint: `+fake.URL+`
      sts_endpoint: `+fake.URL+`
      role: {arn: 'arn:aws:iam::123456789012:role/deploy', duration: 30m}
    set_variables: {namespace: aws}
  - name: later
    credentials:
      source: static
      region: ${bamboo.aws.region}
      access_key_id: ${bamboo.aws.accessKeyId}
      secret_access_key: ${bamboo.aws.secretAccessKey}
      session_token: ${bamboo.aws.sessionToken}
      sts_endpoint: `+fake.URL+`
    run: "true"
`)
	o := checkJob(t, nil, false, job)
	if o.failed {
		t.Fatalf("failed:\n%s", o.dump())
	}
	for _, want := range []struct {
		sev              Severity
		task, field, msg string
	}{
		{"ok", "creds", "credentials.imds_endpoint", "answers IMDSv2 and names role agent-role"},
		{"ok", "creds", "credentials.role.arn", "answered AssumeRole: credentials ****0001"},
		{"info", "creds", "credentials", "identity: arn:aws:sts::123456789012:assumed-role/deploy/s (account 123456789012)"},
		{"ok", "later", "credentials.sts_endpoint", "accepts the static keys"},
	} {
		found := false
		for _, f := range o.findings {
			found = found || (f.Severity == want.sev && f.Task == want.task && f.Field == want.field && strings.Contains(f.Message, want.msg))
		}
		if !found {
			t.Errorf("no %s [%s] %s %q:\n%s", want.sev, want.task, want.field, want.msg, o.dump())
		}
	}
	// The later task's GetCallerIdentity was signed with what the first
	// task's AssumeRole gave: the runtime variables were filled.
	calls := fake.calls()
	last := calls[len(calls)-1]
	if last.Get("Action") != "GetCallerIdentity" || !strings.Contains(last.Get("Authorization"), "Credential="+issuedKeyID+"/") {
		t.Fatalf("last call %v", last)
	}
	// The AssumeRole carried the build's tags.
	if calls[0].Get("Action") != "AssumeRole" || calls[0].Get("Tags.member.1.Key") != "credbroker:plan" || calls[0].Get("Tags.member.2.Value") != "42" {
		t.Fatalf("AssumeRole form %v", calls[0])
	}

	// STS refusing the tagged AssumeRole: the fix names the switch.
	fake.mu.Lock()
	fake.deny = true
	fake.mu.Unlock()
	o = checkJob(t, nil, false, job)
	f := o.has(SevError, "credentials.role.arn", "carried session tags")
	if !o.failed || f == nil || !strings.Contains(f.Fix, "--no-session-tags") || !strings.Contains(f.Fix, "session_tags: false") {
		t.Fatalf("failed=%v:\n%s", o.failed, o.dump())
	}
	if o.has(SevInfo, "credentials.access_key_id", `variable "aws.accessKeyId" is set when task creds runs`) == nil {
		t.Fatalf("the later task does not say its variables come from task creds:\n%s", o.dump())
	}
}

// A connector whose broker URL an earlier task sets: the missing URL that
// follows is not a problem of its own (this once crashed the check).
func TestCheckBrokerFromALaterVariable(t *testing.T) {
	job := jobtest.Write(t, t.TempDir(), "job.yaml", `version: 1
tasks:
  - name: creds
    credentials: {source: static, region: us-east-1, access_key_id: '${bamboo.keyId}', secret_access_key: '${bamboo.secretKeyPassword}'}
    set_variables: {namespace: out}
  - name: deploy
    credentials: {source: connector, connector: deploy, broker: '${bamboo.out.region}'}
    run: "true"
`)
	o := checkJob(t, []string{"CREDBROKER_TOKEN=" + checkToken}, true, job, "keyId="+checkKeyID, "secretKeyPassword="+checkSecret)
	if o.failed || o.has(SevInfo, "credentials.broker", `variable "out.region" is set when task creds runs`) == nil ||
		o.has(SevInfo, "credentials", "not obtained now") == nil {
		t.Fatalf("failed=%v:\n%s", o.failed, o.dump())
	}
}
