package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// recipeKinds are the blocks every page of docs/ci has: the broker's
// setup (admin), then one recipe each.
var recipeKinds = []string{"admin", "broker", "instance", "static", "endpoint"}

// ciSetup is how a CI runs a recipe's script: the shell, the variables
// the CI sets, how the agent token and the static keys reach the
// script, and what credbroker should derive from it.
type ciSetup struct {
	shell []string
	env   []string
	// tokenFile: the token is in a file on the agent ($CREDBROKER_TOKEN_FILE);
	// else a CI secret in $CREDBROKER_TOKEN.
	tokenFile bool
	// keys gives the static keys as the page says the CI hands them over.
	keys func(w *world, id, secret string) []string
	// plan and session are what the CI's variables make of the build.
	plan, session string
	// oidc is how the CI issues its jobs ID tokens; nil for a CI that
	// issues none (Bamboo).
	oidc *ciOIDC
}

// ciOIDC is a CI's ID token, as the page's OIDC recipe uses it. The
// page's test=oidc-admin block trusts the CI's real issuer, which the
// test points at its in-process issuer (testpeers.Issuer), and binds
// the CI's claims to the page's plan; the test=oidc block runs in the
// CI's environment with the token handed over as that CI does.
type ciOIDC struct {
	// issuer is the CI's issuer URL as the page writes it.
	issuer string
	// binding is the binding the page creates; the audit's vend names it.
	binding string
	// claims are the CI's token's claims (iss, iat, nbf, exp, jti are the
	// test issuer's); the subject is claims["sub"].
	claims map[string]any
	// actions: the token comes from the Actions token service stand-in.
	actions bool
	// dropToken: the CI scopes the agent token to other steps, so the
	// ID token's step does not have it. Else it is there too, and the ID
	// token must still be the one used.
	dropToken bool
	// env hands the job its token: the variables the CI sets.
	env func(w *world, is *testpeers.Issuer, dir string, claims map[string]any, env []string) []string
}

// setEnv is env with each KEY=VALUE of kvs in place of KEY's value.
func setEnv(env []string, kvs ...string) []string {
	out := append([]string{}, env...)
	for _, kv := range kvs {
		k, _, _ := strings.Cut(kv, "=")
		out = slices.DeleteFunc(out, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		out = append(out, kv)
	}
	return out
}

// withClaims is base with over's claims in place.
func withClaims(base, over map[string]any) map[string]any {
	maps.Copy(base, over)
	return base
}

// buildkiteAgent puts on PATH a stand-in of buildkite-agent that, as the
// agent does for `oidc request-token --audience AUD`, prints a token for
// the job: one the test issuer signed. Any other command fails.
func buildkiteAgent(w *world, is *testpeers.Issuer, dir string, claims map[string]any, env []string) []string {
	tok := w.write("input-buildkite-oidc.jwt", is.Token(w.t, claims))
	bin := filepath.Join(dir, "buildkite-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		w.t.Fatal(err)
	}
	script := "#!/bin/sh\n" +
		"if [ $# -ne 4 ] || [ \"$1 $2 $3\" != 'oidc request-token --audience' ]; then\n" +
		"  echo \"buildkite-agent (test stand-in): not a command it knows: $*\" >&2; exit 2\n" +
		"fi\n" +
		"[ \"$4\" = " + fmt.Sprint(claims["aud"]) + " ] || { echo \"buildkite-agent (test stand-in): audience $4\" >&2; exit 2; }\n" +
		"exec cat " + tok + "\n"
	if err := os.WriteFile(filepath.Join(bin, "buildkite-agent"), []byte(script), 0o755); err != nil {
		w.t.Fatal(err)
	}
	path := ""
	for _, kv := range env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = p
		}
	}
	return setEnv(env, "PATH="+bin+":"+path)
}

// keysInEnv: the CI puts secrets in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
func keysInEnv(_ *world, id, secret string) []string {
	return []string{"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}
}

// keysInFile: the CI writes a secret file and names it in $AWS_KEYS.
func keysInFile(name string) func(*world, string, string) []string {
	return func(w *world, id, secret string) []string {
		return []string{"AWS_KEYS=" + w.write("input-"+name+"-aws-keys", "awsAccessKeyId="+id+"\nsecret awsSecretKeyPassword="+secret+"\n")}
	}
}

var ciSetups = map[string]ciSetup{
	"bamboo.md": {
		shell: []string{"/bin/sh", "-c"},
		env: []string{"bamboo_planKey=OPS-DEPLOY", "bamboo_buildNumber=42", "bamboo_shortJobKey=JOB1", "bamboo_buildKey=OPS-DEPLOY-JOB1",
			"bamboo_buildResultKey=OPS-DEPLOY-JOB1-42", "bamboo_agentId=131073", "bamboo_planName=Operations - Deploy"},
		tokenFile: true,
		keys: func(_ *world, id, secret string) []string {
			return []string{"bamboo_awsAccessKeyId=" + id, "bamboo_awsSecretKeyPassword=" + secret}
		},
		plan: "OPS-DEPLOY", session: "OPS-DEPLOY-JOB1-42",
	},
	"github-actions.md": {
		shell: []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"},
		env: []string{"GITHUB_ACTIONS=true", "CI=true", "GITHUB_REPOSITORY=octo-org/my-repo", "GITHUB_REPOSITORY_OWNER=octo-org",
			"GITHUB_RUN_ID=9876543210", "GITHUB_RUN_ATTEMPT=1", "GITHUB_RUN_NUMBER=12", "GITHUB_JOB=deploy", "GITHUB_WORKFLOW=release",
			"GITHUB_REF=refs/heads/main", "GITHUB_SHA=6dcb09b5b57875f334f61aebed695e2e4193db5e", "RUNNER_OS=Linux"},
		keys: keysInEnv,
		plan: "OCTO_ORG-MY_REPO", session: "OCTO_ORG-MY_REPO-deploy-9876543210.1",
		oidc: &ciOIDC{
			issuer: "https://token.actions.githubusercontent.com", binding: "gh-my-repo",
			// The Actions stand-in's claims, for this run of octo-org/my-repo;
			// the audience is the one the job asks for.
			claims: map[string]any{"sub": "repo:octo-org/my-repo:ref:refs/heads/main", "repository": "octo-org/my-repo",
				"repository_owner": "octo-org", "ref": "refs/heads/main", "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
				"workflow": "release", "run_id": "9876543210", "run_attempt": "1", "run_number": "12",
				"job_workflow_ref": "octo-org/my-repo/.github/workflows/release.yml@refs/heads/main"},
			// CREDBROKER_TOKEN is in the other steps' env: only.
			dropToken: true, actions: true,
			env: func(w *world, is *testpeers.Issuer, _ string, claims map[string]any, env []string) []string {
				is.SetActionsClaims(claims)
				return setEnv(env, "ACTIONS_ID_TOKEN_REQUEST_URL="+is.ActionsURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN="+is.ActionsToken)
			},
		},
	},
	"gitlab.md": {
		shell: []string{"bash", "-eo", "pipefail", "-c"},
		env: []string{"GITLAB_CI=true", "CI=true", "CI_PROJECT_PATH=platform/deploy-tools", "CI_PROJECT_NAMESPACE=platform",
			"CI_PIPELINE_ID=4242", "CI_JOB_ID=98765", "CI_JOB_NAME=deploy", "CI_JOB_STAGE=deploy", "CI_SERVER_URL=https://gitlab.example.com",
			"CI_COMMIT_REF_NAME=main"},
		keys: keysInFile("gitlab"),
		plan: "PLATFORM-DEPLOY_TOOLS", session: "PLATFORM-DEPLOY_TOOLS-deploy-4242",
		oidc: &ciOIDC{
			issuer: "https://gitlab.example.com", binding: "gl-deploy-tools",
			claims: withClaims(testpeers.GitLabClaims("platform/deploy-tools", "main", "credbroker"),
				map[string]any{"pipeline_id": "4242", "job_id": "98765"}),
			// The project's CREDBROKER_TOKEN variable reaches every job.
			env: func(w *world, is *testpeers.Issuer, _ string, claims map[string]any, env []string) []string {
				return setEnv(env, "GITLAB_OIDC_TOKEN="+is.Token(w.t, claims))
			},
		},
	},
	"jenkins.md": {
		shell: []string{"/bin/sh", "-xe", "-c"},
		env: []string{"JENKINS_URL=https://jenkins.example.com/", "JOB_NAME=ops/deploy", "JOB_BASE_NAME=deploy", "BUILD_NUMBER=17",
			"BUILD_ID=17", "BUILD_TAG=jenkins-ops-deploy-17", "STAGE_NAME=Deploy", "NODE_NAME=aws-agent-1", "EXECUTOR_NUMBER=0"},
		keys: keysInFile("jenkins"),
		plan: "OPS-DEPLOY", session: "OPS-DEPLOY-Deploy-17",
		oidc: &ciOIDC{
			issuer: "https://jenkins.example.com/oidc", binding: "jk-ops-deploy",
			// The OpenID Connect Provider plugin's default claim templates.
			claims: map[string]any{"aud": "credbroker", "sub": "https://jenkins.example.com/job/ops/job/deploy/", "build_number": 17},
			// withCredentials binds the agent token for other steps only.
			dropToken: true,
			env: func(w *world, is *testpeers.Issuer, _ string, claims map[string]any, env []string) []string {
				return setEnv(env, "CREDBROKER_ID_TOKEN="+is.Token(w.t, claims))
			},
		},
	},
	"buildkite.md": {
		shell: []string{"bash", "-e", "-c"},
		env: []string{"BUILDKITE=true", "CI=true", "BUILDKITE_ORGANIZATION_SLUG=acme", "BUILDKITE_PIPELINE_SLUG=web-site",
			"BUILDKITE_BUILD_NUMBER=301", "BUILDKITE_STEP_KEY=deploy", "BUILDKITE_LABEL=:rocket: deploy", "BUILDKITE_AGENT_NAME=aws-1",
			"BUILDKITE_BRANCH=main"},
		tokenFile: true,
		keys:      keysInEnv,
		plan:      "ACME-WEB_SITE", session: "ACME-WEB_SITE-deploy-301",
		oidc: &ciOIDC{
			issuer: "https://agent.buildkite.com", binding: "bk-acme",
			claims: withClaims(testpeers.BuildkiteClaims("acme", "web-site", "credbroker"), map[string]any{"build_number": 301}),
			// The environment hook exports CREDBROKER_TOKEN_FILE for every job.
			env: buildkiteAgent,
		},
	},
}

// recipeBlock is a fenced block of a page.
type recipeBlock struct {
	lang, test string
	line       int
	text       string
}

var fenceRE = regexp.MustCompile("^```(\\S*)(.*)$")

// parseRecipes returns the fenced blocks of a page, in order.
func parseRecipes(t *testing.T, path string) []recipeBlock {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []recipeBlock
	var cur *recipeBlock
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch m := fenceRE.FindStringSubmatch(line); {
		case cur != nil && line == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case m != nil:
			cur = &recipeBlock{lang: m[1], line: n}
			for _, f := range strings.Fields(m[2]) {
				if v, ok := strings.CutPrefix(f, "test="); ok {
					cur.test = v
				}
			}
		}
	}
	if cur != nil {
		t.Fatalf("%s:%d: a fenced block is not closed", path, cur.line)
	}
	return out
}

// trimmedLines are the non-empty lines of s, trimmed.
func trimmedLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// inConfig reports whether the lines of script stand, in a row, in one
// of the page's CI configuration blocks (Buildkite's doubled $ undone).
func inConfig(page, script string, blocks []recipeBlock) bool {
	want := trimmedLines(script)
	for _, b := range blocks {
		if b.lang == "sh" || b.lang == "" {
			continue
		}
		text := b.text
		if page == "buildkite.md" {
			text = strings.ReplaceAll(text, "$$", "$")
		}
		have := trimmedLines(text)
		for i := 0; i+len(want) <= len(have); i++ {
			if strings.Join(have[i:i+len(want)], "\n") == strings.Join(want, "\n") {
				return true
			}
		}
	}
	return false
}

// namingSTS stands in front of MinIO's STS and does what AWS's does and
// MinIO's does not: it names the assumed role's session in its answer
// (arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION, the account of the
// role ARN asked for), so the account guards can see the account. It
// keeps each AssumeRole's form.
type namingSTS struct {
	URL   string
	mu    sync.Mutex
	forms []url.Values
}

var assumedUserRE = regexp.MustCompile(`<AssumedRoleUser>.*?</AssumedRoleUser>`)

func newNamingSTS(t *testing.T, target string) *namingSTS {
	n := &namingSTS{}
	tr := &http.Transport{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		out.Header, out.Host = r.Header.Clone(), r.Host
		resp, err := tr.RoundTrip(out)
		if err != nil {
			http.Error(w, "upstream", http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		if form.Get("Action") == "AssumeRole" && resp.StatusCode == http.StatusOK {
			n.mu.Lock()
			n.forms = append(n.forms, form)
			n.mu.Unlock()
			role := form.Get("RoleArn")
			arn := fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", credbroker.AccountOfARN(role), role[strings.LastIndex(role, "/")+1:], form.Get("RoleSessionName"))
			named := assumedUserRE.ReplaceAll(data, []byte("<AssumedRoleUser><Arn>"+arn+"</Arn><AssumedRoleId>AROARECIPE:"+form.Get("RoleSessionName")+"</AssumedRoleId></AssumedRoleUser>"))
			if bytes.Equal(named, data) {
				t.Errorf("MinIO's AssumeRole answer has no AssumedRoleUser to name: %.200s", data)
			}
			data = named
		}
		for k, v := range resp.Header {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(data)
	}))
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

func (n *namingSTS) sessions() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, f := range n.forms {
		out = append(out, f.Get("RoleSessionName"))
	}
	return out
}

// TestRecipes runs the shell blocks of every page of docs/ci, as the
// page's CI would run them, against MinIO (S3 and STS), the metadata mock
// and a broker of the page's own; see docs/ci/README.md.
func TestRecipes(t *testing.T) {
	pages, err := filepath.Glob("../docs/ci/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/ci: %v", err)
	}
	w := newWorld(t, true)
	w.minio.MakeBucket(t, "artifacts")
	sts := newNamingSTS(t, w.minio.Endpoint)
	// The CIs' issuer: every token it signs, and the Actions stand-in's
	// request token, are secrets.
	is := testpeers.StartIssuer(t)
	is.OnToken = func(tok string) { w.secret(tok) }
	w.secret(is.ActionsToken)

	// credbroker and the AWS CLI on PATH, the CLI's S3 calls to MinIO (the
	// AWS CLI 2.9 of Debian has no AWS_ENDPOINT_URL). The broker's setup
	// runs the full build; the CI's tasks run the agent build, which the
	// pages install on agents.
	onPath := func(dir, credbroker string) []string {
		bin := filepath.Join(w.dir, dir)
		os.MkdirAll(bin, 0o755)
		if err := os.Symlink(credbroker, filepath.Join(bin, "credbroker")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bin, "aws"), []byte("#!/bin/sh\nexec "+w.aws+" --endpoint-url "+w.minio.Endpoint+" \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		path := ""
		for _, kv := range testpeers.Env() {
			if p, ok := strings.CutPrefix(kv, "PATH="); ok {
				path = bin + ":" + p
			}
		}
		return []string{"PATH=" + path, "AWS_ENDPOINT_URL_STS=" + sts.URL}
	}
	peers := recipePeers{admin: onPath("bin", w.cb), ci: onPath("bin-agent", testpeers.BuildCredbrokerAgent(t))}

	seen := map[string]bool{}
	for _, page := range pages {
		name := filepath.Base(page)
		if name == "README.md" {
			continue
		}
		setup, ok := ciSetups[name]
		if !ok {
			t.Errorf("%s: no CI setup in TestRecipes: add one", name)
			continue
		}
		seen[name] = true
		w.recipePage(t, page, setup, sts, is, peers)
	}
	for name := range ciSetups {
		if !seen[name] {
			t.Errorf("docs/ci/%s is missing", name)
		}
	}
}

// recipePage runs the tested blocks of one page in order: the broker's
// setup on a broker of its own, then each recipe in the CI's shell and
// environment.
// recipePeers are the environments that put the peers on PATH: the
// admin's (the full build) and the CI's (the agent build).
type recipePeers struct{ admin, ci []string }

func (w *world) recipePage(t *testing.T, page string, setup ciSetup, sts *namingSTS, is *testpeers.Issuer, peers recipePeers) {
	name := filepath.Base(page)
	blocks := parseRecipes(t, page)
	kinds := map[string]int{}
	for _, b := range blocks {
		if b.test != "" {
			kinds[b.test]++
		}
	}
	for _, k := range recipeKinds {
		if kinds[k] == 0 {
			t.Errorf("%s has no block marked sh test=%s", name, k)
		}
	}
	if text, _ := os.ReadFile(page); !bytes.Contains(text, []byte("\n## OIDC\n")) {
		t.Errorf("%s has no OIDC section", name)
	}
	for _, k := range []string{"oidc-admin", "oidc"} {
		switch {
		case setup.oidc != nil && kinds[k] == 0:
			t.Errorf("%s has no block marked sh test=%s", name, k)
		case setup.oidc == nil && kinds[k] > 0:
			t.Errorf("%s has a block marked sh test=%s, but its CI issues no ID token in TestRecipes", name, k)
		}
	}

	dir := filepath.Join(w.dir, "page-"+strings.TrimSuffix(name, ".md"))
	os.MkdirAll(filepath.Join(dir, "dist"), 0o755)
	os.WriteFile(filepath.Join(dir, "dist", "app.zip"), []byte("the app, built by "+name), 0o644)
	dd := dataDir(w, "broker-"+name)
	b := w.startBrokerEnv([]string{"AWS_ENDPOINT_URL_STS=" + sts.URL}, dd)
	admin := w.adminToken(dd)
	adminEnv := w.env(append(peers.admin, "CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+admin,
		"DEPLOY_KEY_ID="+w.minio.RootUser, "DEPLOY_SECRET_FILE="+w.write("input-"+name+"-deploy.secret", w.minio.RootPassword))...)
	var ciEnv []string
	before := len(sts.sessions())
	for _, blk := range blocks {
		if blk.test == "" {
			continue
		}
		if blk.lang != "sh" {
			t.Fatalf("%s:%d: only sh blocks are tested", name, blk.line)
		}
		where := fmt.Sprintf("%s:%d (%s)", name, blk.line, blk.test)
		if blk.test == "admin" {
			r := w.runIn(dir, adminEnv, "bash", "-e", "-c", blk.text)
			w.expectOK(r, where)
			ciEnv = w.ciEnv(t, dir, setup, append(peers.ci, "CREDBROKER_BROKER="+b.URL))
			continue
		}
		if ciEnv == nil {
			t.Fatalf("%s: a recipe before the broker's setup", where)
		}
		if blk.test == "oidc-admin" {
			// The CI's issuer is the test's: on loopback, signing the
			// CI's claims with keys of its own.
			text := strings.ReplaceAll(blk.text, setup.oidc.issuer, is.URL)
			if text == blk.text {
				t.Fatalf("%s: the block trusts no issuer %s", where, setup.oidc.issuer)
			}
			w.expectOK(w.runIn(dir, adminEnv, "bash", "-e", "-c", text), where)
			continue
		}
		if !inConfig(name, blk.text, blocks) {
			t.Errorf("%s: the script is not, line for line, in the page's CI configuration", where)
		}
		env := ciEnv
		asked := is.ActionsRequests.Load()
		if blk.test == "oidc" {
			env = w.oidcEnv(dir, setup.oidc, is, ciEnv)
		}
		r := w.runIn(dir, env, setup.shell[0], append(setup.shell[1:], blk.text)...)
		if blk.test == "oidc" && setup.oidc.actions && is.ActionsRequests.Load() == asked {
			t.Errorf("%s: the script did not ask the Actions token service for a token", where)
		}
		w.expectOK(r, where)
		t.Logf("%s: ok", where)
	}
	// Every role session of the page's recipes, the broker's and the
	// agent's, is named after the CI's build.
	for _, s := range sts.sessions()[before:] {
		if s != setup.session {
			t.Errorf("a role session is named %q, want %q", s, setup.session)
		}
	}
	r := b.admin(admin, "", "audit", "--plan", setup.plan, "--outcome", "granted", "--output", "json")
	w.expectOK(r, "audit")
	if !strings.Contains(r.stdout, `"connector": "deploy"`) {
		t.Errorf("%s: no granted vend for plan %s in the audit:\n%s", name, setup.plan, r.stdout)
	}
	if setup.oidc != nil {
		w.expectIDTokenVend(t, name, b, admin, setup, is)
	}
}

// oidcEnv is the environment of a CI's script with the job's ID token:
// the CI's own, without the agent token where the CI scopes it to other
// steps, with the token handed over as the CI does.
func (w *world) oidcEnv(dir string, o *ciOIDC, is *testpeers.Issuer, ciEnv []string) []string {
	env := append([]string{}, ciEnv...)
	if o.dropToken {
		env = slices.DeleteFunc(env, func(kv string) bool {
			return strings.HasPrefix(kv, "CREDBROKER_TOKEN=") || strings.HasPrefix(kv, "CREDBROKER_TOKEN_FILE=")
		})
	}
	return o.env(w, is, dir, maps.Clone(o.claims), env)
}

// expectIDTokenVend checks that the audit has the ID token's vend: by
// the page's binding (token_id oidc:BINDING, the actor), for the page's
// plan, naming the token's issuer, subject and claims.
func (w *world) expectIDTokenVend(t *testing.T, name string, b *brokerProc, admin string, setup ciSetup, is *testpeers.Issuer) {
	r := b.admin(admin, "", "audit", "--plan", setup.plan, "--output", "json")
	w.expectOK(r, "audit")
	var recs []credbroker.AuditRecord
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil {
		t.Fatalf("%s: audit: %v", name, err)
	}
	for _, rec := range recs {
		if rec.Action != credbroker.ActionVend || rec.TokenID != "oidc:"+setup.oidc.binding {
			continue
		}
		if rec.Outcome != credbroker.OutcomeGranted || rec.Connector != "deploy" || rec.Issuer != is.URL ||
			rec.Subject != setup.oidc.claims["sub"] || len(rec.Claims) == 0 {
			t.Errorf("%s: the ID token's vend: %+v", name, rec)
		}
		return
	}
	t.Errorf("%s: no vend by binding %s in the audit:\n%s", name, setup.oidc.binding, r.stdout)
}

// ciEnv is the environment of a CI's script: the CI's variables, the
// agent token the admin block made (as the CI hands it over), the static
// keys, and the peers.
func (w *world) ciEnv(t *testing.T, dir string, s ciSetup, peers []string) []string {
	tokPath := filepath.Join(dir, "agent.token")
	tok, err := os.ReadFile(tokPath)
	if err != nil {
		t.Fatalf("the broker's setup made no agent.token: %v", err)
	}
	os.Remove(tokPath)
	token := strings.TrimSpace(string(tok))
	w.secret(token)
	env := append(append([]string{}, peers...), s.env...)
	if s.tokenFile {
		env = append(env, "CREDBROKER_TOKEN_FILE="+w.write("input-"+filepath.Base(dir)+".token", token+"\n"))
	} else {
		env = append(env, "CREDBROKER_TOKEN="+token)
	}
	env = append(env, s.keys(w, w.minio.RootUser, w.minio.RootPassword)...)
	return w.env(env...)
}

// runIn is run with dir as the working directory.
func (w *world) runIn(dir string, env []string, path string, args ...string) result {
	w.t.Helper()
	w.cwd = dir
	defer func() { w.cwd = "" }()
	return w.run(env, "", path, args...)
}
