package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// stsFake is an STS endpoint in the test process, for what MinIO cannot
// show: the session tags a request carries (MinIO ignores them), a
// refusal of tagged requests, and throttling. It answers AssumeRole with
// credentials of its own, which join the leak check.
type stsFake struct {
	*httptest.Server
	w *world

	mu    sync.Mutex
	forms []url.Values
	// throttle answers this many AssumeRole calls with Throttling first.
	throttle int
	// denyTags refuses an AssumeRole that carries session tags, as STS does
	// when the role's trust policy lacks sts:TagSession.
	denyTags bool

	keyID, secret, token string
}

func newSTSFake(w *world) *stsFake {
	f := &stsFake{w: w, keyID: "ASIAFAKE" + strings.ToUpper(randHex(6)), secret: "fake-secret-" + randHex(16), token: "fake-token-" + randHex(24)}
	w.secret(f.secret, f.token)
	f.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(rw, "bad form", http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.forms = append(f.forms, r.PostForm)
		throttled := r.PostForm.Get("Action") == "AssumeRole" && f.throttle > 0
		if throttled {
			f.throttle--
		}
		deny := f.denyTags && r.PostForm.Has("Tags.member.1.Key")
		f.mu.Unlock()
		rw.Header().Set("Content-Type", "text/xml")
		switch {
		case throttled:
			rw.WriteHeader(http.StatusBadRequest)
			io.WriteString(rw, stsErrorXML("Throttling", "Rate exceeded"))
		case deny:
			rw.WriteHeader(http.StatusForbidden)
			io.WriteString(rw, stsErrorXML("AccessDenied", "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:TagSession on resource: "+roleARN))
		case r.PostForm.Get("Action") == "AssumeRole":
			fmt.Fprintf(rw, `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>`+
				`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
				`<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/reader/s</Arn><AssumedRoleId>AROAFAKE:s</AssumedRoleId></AssumedRoleUser>`+
				`</AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>`,
				f.keyID, f.secret, f.token, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		default:
			rw.WriteHeader(http.StatusBadRequest)
			io.WriteString(rw, stsErrorXML("InvalidAction", "not offered by this fake"))
		}
	}))
	w.t.Cleanup(f.Close)
	return f
}

func stsErrorXML(code, msg string) string {
	return `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>` + code +
		`</Code><Message>` + msg + `</Message></Error><RequestId>1</RequestId></ErrorResponse>`
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// assumeRoles returns the forms of the AssumeRole calls received.
func (f *stsFake) assumeRoles() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []url.Values
	for _, form := range f.forms {
		if form.Get("Action") == "AssumeRole" {
			out = append(out, form)
		}
	}
	return out
}

func (f *stsFake) set(throttle int, denyTags bool) {
	f.mu.Lock()
	f.throttle, f.denyTags = throttle, denyTags
	f.forms = nil
	f.mu.Unlock()
}

// tagsOf renders the session tags of a form as "key=value" strings, and its
// transitive keys.
func tagsOf(form url.Values) (tags, transitive []string) {
	for i := 1; form.Has(fmt.Sprintf("Tags.member.%d.Key", i)); i++ {
		tags = append(tags, form.Get(fmt.Sprintf("Tags.member.%d.Key", i))+"="+form.Get(fmt.Sprintf("Tags.member.%d.Value", i)))
	}
	for i := 1; form.Has(fmt.Sprintf("TransitiveTagKeys.member.%d", i)); i++ {
		transitive = append(transitive, form.Get(fmt.Sprintf("TransitiveTagKeys.member.%d", i)))
	}
	return tags, transitive
}

// The provided principal hands out MinIO's root keys as they are; the AWS
// CLI v2 uses them against MinIO.
func TestProvidedConnectorServesKeysAsTheyAre(t *testing.T) {
	s := newSite(t)
	w := s.w
	secretFile := w.write("input-legacy.secret", w.minio.RootPassword)
	r := s.b.admin(s.admin, "", "connector", "create", "legacy", "--principal", "provided", "--region", "us-east-1",
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--allow-plan", "OPS-*")
	w.expectOK(r, "connector create --principal provided")
	if !strings.Contains(r.stderr, "long-lived keys") || !strings.Contains(r.stderr, "preferred") {
		t.Fatalf("connector create does not warn about long-lived keys:\n%s", r.stderr)
	}

	st, res, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "legacy", Plan: "OPS-DEPLOY", Build: "5"})
	if st != http.StatusOK {
		t.Fatalf("vend: %d %v", st, e)
	}
	if res.AccessKeyID != w.minio.RootUser || res.SecretAccessKey != w.minio.RootPassword || res.SessionToken != "" || !res.Expiration.IsZero() {
		t.Fatalf("the provided keys were not handed out as they are: key %s, token %d characters, expiration %v",
			credbroker.MaskKeyID(res.AccessKeyID), len(res.SessionToken), res.Expiration)
	}
	// A vend cannot narrow keys that are handed out as they are.
	if st, _, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "legacy", Plan: "OPS-DEPLOY", Build: "5", DurationSeconds: 900}); st != http.StatusUnprocessableEntity {
		t.Fatalf("a narrowed vend of provided keys: %d %v", st, e)
	}
	// Scopes apply as for every connector.
	r = s.b.adminShown(s.admin, "token", "create", "--role", "agent", "--name", "web", "--plans", "WEB-*")
	w.expectOK(r, "web token")
	web := strings.TrimSpace(r.stdout)
	w.secret(web)
	// (An agent token is told no such connector is available to its plan:
	// see SECURITY.md, What an agent token may learn.)
	if st, _, e := s.b.vend(web, credbroker.VendRequest{Connector: "legacy", Plan: "WEB-SITE", Build: "1"}); st != http.StatusNotFound || e["code"] != "not_found" {
		t.Fatalf("a plan outside the allow-list got provided keys: %d %v", st, e)
	}

	// The AWS CLI v2 uses them, through the agent, against MinIO: the root
	// keys read both buckets; the output is masked.
	for _, delivery := range []string{"env", "profile"} {
		r = w.cbr(s.agentEnv(), append([]string{"exec", "--connector", "legacy", "--plan", "OPS-DEPLOY", "--build", "6", "--delivery", delivery, "--"},
			w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...)...)
		w.expectOK(r, "aws s3 cp with provided keys ("+delivery+")")
		if strings.TrimSpace(r.stdout) != "hello from beta" {
			t.Fatalf("%s: read beta: %q\n%s", delivery, r.stdout, r.stderr)
		}
	}
	r = w.cbr(s.agentEnv(), "exec", "--connector", "legacy", "--plan", "OPS-DEPLOY", "--build", "6", "--", "/bin/sh", "-c", `echo "id $AWS_ACCESS_KEY_ID secret $AWS_SECRET_ACCESS_KEY token [$AWS_SESSION_TOKEN]"`)
	w.expectOK(r, "print provided keys")
	if !strings.Contains(r.stdout, "secret ********") || !strings.Contains(r.stdout, "token []") || strings.Contains(r.stdout, w.minio.RootUser) {
		t.Fatalf("provided keys not masked: %q", r.stdout)
	}
	// The audit shows every vend of them, by masked key ID only.
	r = s.b.admin(s.admin, "", "audit", "--connector", "legacy", "--output", "json")
	w.expectOK(r, "audit")
	if strings.Count(r.stdout, `"outcome": "granted"`) < 4 || !strings.Contains(r.stdout, `"outcome": "refused"`) {
		t.Fatalf("audit of the provided connector:\n%s", r.stdout)
	}
}

// A set_variables task resolves credentials and sets aws.* runtime
// variables; a later task maps them into the AWS CLI's environment. No
// output holds their secret values.
func TestCredentialsVariablesTask(t *testing.T) {
	s := newSite(t)
	w := s.w
	job := w.write("job.yaml", `
version: 1
plan: OPS-DEPLOY
build: "21"
job: OPS-DEPLOY-JOB1
variables:
  endpoint: `+w.minio.Endpoint+`
  awsCli: `+w.aws+`
tasks:
  - name: creds
    credentials: {source: connector, connector: deploy}
    set_variables: {}
  - name: creds-again
    credentials: {source: connector, connector: deploy}
    set_variables: {namespace: second}
  - name: use
    env:
      AWS_ACCESS_KEY_ID: ${bamboo.aws.accessKeyId}
      AWS_SECRET_ACCESS_KEY: ${bamboo.aws.secretAccessKey}
      AWS_SESSION_TOKEN: ${bamboo.aws.sessionToken}
      AWS_REGION: ${bamboo.aws.region}
    run: |
      "${bamboo.awsCli}" --endpoint-url "${bamboo.endpoint}" s3 cp s3://alpha/hello.txt -; echo
      if "${bamboo.awsCli}" --endpoint-url "${bamboo.endpoint}" s3 cp s3://beta/hello.txt - 2>/dev/null; then echo "beta ALLOWED"; else echo "beta denied"; fi
      echo "secret ${bamboo.aws.secretAccessKey} token ${bamboo.aws.sessionToken} second ${bamboo.second.secretAccessKey}"
      echo "region ${bamboo.aws.region} partition ${bamboo.aws.partition} expires ${bamboo.aws.expiration}"
      env | grep -c '^AWS_SECRET_ACCESS_KEY=' || true
`)
	r := w.cbr(s.agentEnv(), "run", job)
	w.expectOK(r, "job with a credentials-variables task")
	for _, want := range []string{"[use] " + helloTxt, "[use] beta denied", "[use] secret ******** token ******** second ********", "[use] region us-east-1 partition aws expires 20"} {
		if !strings.Contains(r.stdout, want) {
			t.Fatalf("job output lacks %q:\n%s\n%s", want, r.stdout, r.stderr)
		}
	}
	// The same build's session, vended again from the broker's cache: these
	// are the values the job's variables held. Registered now, the leak
	// check searches every output and file of the test for them.
	st, res, e := s.b.vend(s.agent, credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "21", Job: "OPS-DEPLOY-JOB1"})
	if st != http.StatusOK {
		t.Fatalf("vend: %d %v", st, e)
	}
	if !strings.Contains(r.stderr, "[creds] set aws.accessKeyId ("+credbroker.MaskKeyID(res.AccessKeyID)+")") {
		t.Fatalf("the cached session is not the one the job used (%s):\n%s", credbroker.MaskKeyID(res.AccessKeyID), r.stderr)
	}
	for _, s := range []string{res.SecretAccessKey, res.SessionToken} {
		if strings.Contains(r.stdout+r.stderr, s) {
			t.Fatal("a credentials variable's secret value is in the job's output")
		}
	}
}

// Retry counts are honoured per task (job file and flags) and per
// connector, against an STS that throttles N times, then answers.
func TestRetriesPerTaskAndPerConnector(t *testing.T) {
	w := newWorld(t, false)
	fake := newSTSFake(w)
	vars := w.write("input-keys.vars", "secret keyPassword="+w.minio.RootPassword+"\n")
	flags := []string{"exec", "--vars", vars, "--region", "us-east-1", "--access-key-id", w.minio.RootUser, "--secret-access-key", "${bamboo.keyPassword}",
		"--role-arn", roleARN, "--sts-endpoint", fake.URL, "--max-backoff", "20ms"}

	t.Run("task flags", func(t *testing.T) {
		fake.set(3, false)
		r := w.cbr(w.env(), append(flags, "--retries", "3", "--", "true")...)
		w.expectOK(r, "three throttles, three retries")
		if n := len(fake.assumeRoles()); n != 4 {
			t.Fatalf("%d AssumeRole attempts, want 4", n)
		}
		fake.set(3, false)
		r = w.cbr(w.env(), append(flags, "--retries", "2", "--", "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, "throttled") {
			t.Fatalf("three throttles, two retries: exit %d\n%s", r.code, r.stderr)
		}
		if n := len(fake.assumeRoles()); n != 3 {
			t.Fatalf("%d AssumeRole attempts, want 3", n)
		}
	})
	t.Run("job file task", func(t *testing.T) {
		job := func(retries int) string {
			return w.write("job.yaml", fmt.Sprintf(`version: 1
tasks:
  - name: throttled
    credentials:
      source: static
      region: us-east-1
      access_key_id: %s
      secret_access_key: ${bamboo.keyPassword}
      sts_endpoint: %s
      retries: %d
      max_backoff: 20ms
      role: {arn: %s}
    command: ["true"]
`, w.minio.RootUser, fake.URL, retries, roleARN))
		}
		fake.set(2, false)
		w.expectOK(w.cbr(w.env(), "run", job(2), "--vars", vars), "two throttles, two retries")
		if n := len(fake.assumeRoles()); n != 3 {
			t.Fatalf("%d AssumeRole attempts, want 3", n)
		}
		fake.set(2, false)
		if r := w.cbr(w.env(), "run", job(1), "--vars", vars); r.code != 125 || !strings.Contains(r.stderr, "throttled") {
			t.Fatalf("two throttles, one retry: exit %d\n%s", r.code, r.stderr)
		}
		if n := len(fake.assumeRoles()); n != 2 {
			t.Fatalf("%d AssumeRole attempts, want 2", n)
		}
	})
	t.Run("connector", func(t *testing.T) {
		dd := dataDir(w, "broker")
		b := w.startBroker(dd)
		admin := w.adminToken(dd)
		secretFile := w.write("input-base.secret", w.minio.RootPassword)
		for name, retries := range map[string]string{"patient": "2", "hasty": "1"} {
			w.expectOK(b.admin(admin, "", "connector", "create", name, "--region", "us-east-1", "--role-arn", roleARN,
				"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--sts-endpoint", fake.URL,
				"--retries", retries, "--max-backoff", "20ms"), "connector create "+name)
		}
		r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "agents", "--plans", "OPS-*")
		w.expectOK(r, "agent token")
		agent := strings.TrimSpace(r.stdout)
		w.secret(agent)

		fake.set(2, false)
		if st, _, e := b.vend(agent, credbroker.VendRequest{Connector: "patient", Plan: "OPS-DEPLOY", Build: "1"}); st != http.StatusOK {
			t.Fatalf("two throttles, two retries: %d %v", st, e)
		}
		if n := len(fake.assumeRoles()); n != 3 {
			t.Fatalf("%d AssumeRole attempts, want 3", n)
		}
		fake.set(2, false)
		st, _, e := b.vend(agent, credbroker.VendRequest{Connector: "hasty", Plan: "OPS-DEPLOY", Build: "1"})
		if st != http.StatusTooManyRequests || !strings.Contains(e["message"], "throttled") {
			t.Fatalf("two throttles, one retry: %d %v", st, e)
		}
		if n := len(fake.assumeRoles()); n != 2 {
			t.Fatalf("%d AssumeRole attempts, want 2", n)
		}
	})
}

// Session tags through the broker: the build's identity and the
// connector's tags reach STS; --disable-tags stops them; a refusal of
// tags names the switch.
func TestSessionTagsThroughTheBroker(t *testing.T) {
	w := newWorld(t, false)
	fake := newSTSFake(w)
	dd := dataDir(w, "broker")
	b := w.startBroker(dd)
	admin := w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "tagged", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--sts-endpoint", fake.URL,
		"--tag", "team=ops", "--transitive-tag-key", "team"), "connector create")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "agents", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)
	tokenFile := w.write("input-agent.token", agent)
	agentEnv := w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN_FILE="+tokenFile)

	// A job's connector source asks for a tag of its own.
	job := w.write("job.yaml", `version: 1
plan: OPS-DEPLOY
build: "7"
job: OPS-DEPLOY-JOB1
tasks:
  - name: vend
    credentials: {source: connector, connector: tagged, tags: {ticket: OPS-1234}}
    command: ["true"]
`)
	fake.set(0, false)
	w.expectOK(w.cbr(agentEnv, "run", job), "tagged vend")
	calls := fake.assumeRoles()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls", len(calls))
	}
	tags, transitive := tagsOf(calls[0])
	want := []string{"credbroker:plan=OPS-DEPLOY", "credbroker:build=7", "credbroker:job=OPS-DEPLOY-JOB1", "team=ops", "ticket=OPS-1234"}
	if strings.Join(tags, ",") != strings.Join(want, ",") || strings.Join(transitive, ",") != "team" {
		t.Fatalf("the broker sent tags %v and transitive keys %v; want %v and [team]", tags, transitive, want)
	}

	// STS refuses tags: the error names --disable-tags.
	fake.set(0, true)
	st, _, e := b.vend(agent, credbroker.VendRequest{Connector: "tagged", Plan: "OPS-DEPLOY", Build: "8"})
	if st != http.StatusForbidden || !strings.Contains(e["message"], "--disable-tags") || strings.Contains(e["message"], "user/ci") {
		t.Fatalf("refused tags: %d %v", st, e)
	}
	// The switch: no tags at all, and the vend works again.
	w.expectOK(b.admin(admin, "", "connector", "update", "tagged", "--disable-tags"), "connector update --disable-tags")
	fake.set(0, true)
	if st, _, e := b.vend(agent, credbroker.VendRequest{Connector: "tagged", Plan: "OPS-DEPLOY", Build: "9", Job: "OPS-DEPLOY-JOB1"}); st != http.StatusOK {
		t.Fatalf("vend with tags disabled: %d %v", st, e)
	}
	calls = fake.assumeRoles()
	if len(calls) != 1 {
		t.Fatalf("%d AssumeRole calls", len(calls))
	}
	if tags, _ := tagsOf(calls[0]); len(tags) != 0 {
		t.Fatalf("tags sent with --disable-tags: %v", tags)
	}
	// The source identity is not a tag: it stays.
	if calls[0].Get("SourceIdentity") != "OPS-DEPLOY-JOB1-9" {
		t.Fatalf("source identity %q", calls[0].Get("SourceIdentity"))
	}
}

// Session tags on the agent: the build's identity and the task's own tags
// reach STS; --no-session-tags stops them; a refusal names the switch.
func TestSessionTagsOnTheAgent(t *testing.T) {
	w := newWorld(t, false)
	fake := newSTSFake(w)
	vars := w.write("input-keys.vars", "secret keyPassword="+w.minio.RootPassword+"\n")
	flags := []string{"exec", "--vars", vars, "--region", "us-east-1", "--access-key-id", w.minio.RootUser, "--secret-access-key", "${bamboo.keyPassword}",
		"--role-arn", roleARN, "--sts-endpoint", fake.URL, "--plan", "OPS-DEPLOY", "--build", "12", "--job", "OPS-DEPLOY-JOB1"}

	fake.set(0, false)
	w.expectOK(w.cbr(w.env(), append(flags, "--tag", "team=ops", "--transitive-tag-key", "team", "--", "true")...), "tagged AssumeRole")
	calls := fake.assumeRoles()
	tags, transitive := tagsOf(calls[0])
	if strings.Join(tags, ",") != "credbroker:plan=OPS-DEPLOY,credbroker:build=12,credbroker:job=OPS-DEPLOY-JOB1,team=ops" || strings.Join(transitive, ",") != "team" {
		t.Fatalf("tags %v, transitive %v", tags, transitive)
	}

	fake.set(0, true)
	r := w.cbr(w.env(), append(flags, "--", "true")...)
	if r.code != 125 || !strings.Contains(r.stderr, "--no-session-tags") || !strings.Contains(r.stderr, "session_tags: false") || strings.Contains(r.stderr, "user/ci") {
		t.Fatalf("refused tags: exit %d\n%s", r.code, r.stderr)
	}
	fake.set(0, true)
	w.expectOK(w.cbr(w.env(), append(flags, "--no-session-tags", "--", "true")...), "AssumeRole with --no-session-tags")
	if tags, _ := tagsOf(fake.assumeRoles()[0]); len(tags) != 0 {
		t.Fatalf("tags sent with --no-session-tags: %v", tags)
	}

	// The job file's switch.
	job := w.write("job.yaml", fmt.Sprintf(`version: 1
plan: OPS-DEPLOY
build: "13"
tasks:
  - name: untagged
    credentials:
      source: static
      region: us-east-1
      access_key_id: %s
      secret_access_key: ${bamboo.keyPassword}
      sts_endpoint: %s
      role: {arn: %s, session_tags: false}
    command: ["true"]
`, w.minio.RootUser, fake.URL, roleARN))
	fake.set(0, true)
	w.expectOK(w.cbr(w.env(), "run", job, "--vars", vars), "job with session_tags: false")
	if tags, _ := tagsOf(fake.assumeRoles()[0]); len(tags) != 0 {
		t.Fatalf("tags sent with session_tags: false: %v", tags)
	}
}
