package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/citoken"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/endpoint"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// minioAudience is the client ID MinIO's OpenID setting trusts: the
// audience of the tokens the web-identity source sends it.
const minioAudience = "minio-sts"

// newIdentityWorld starts an OIDC issuer, then MinIO trusting it for
// AssumeRoleWithWebIdentity (policy from the token's policy claim), and
// registers every token the issuer signs with the leak check.
func newIdentityWorld(t *testing.T) *world {
	t.Helper()
	is := testpeers.StartIssuer(t)
	w := newWorldWith(t, false, testpeers.OpenIDEnv(is.URL, minioAudience))
	is.OnToken = func(tok string) { w.secret(tok) }
	w.secret(is.ActionsToken)
	w.issuer = is
	// The Actions stand-in's tokens are for MinIO's audience and carry
	// the MinIO policy that the session policy narrows.
	is.SetActionsClaims(map[string]any{"policy": "readonly"})
	return w
}

// minioToken is a token MinIO accepts: its audience, a readonly policy.
func (w *world) minioToken() string {
	c := testpeers.GitHubClaims("acme/app", "refs/heads/main", minioAudience)
	c["policy"] = "readonly"
	return w.issuer.Token(w.t, c)
}

// webIdentityFlags assume a role on MinIO with the read-alpha policy.
func (w *world) webIdentityFlags(extra ...string) []string {
	return append([]string{"--source", "web-identity", "--region", "us-east-1", "--sts-endpoint", w.minio.Endpoint,
		"--role-arn", "arn:aws:iam::123456789012:role/ci", "--duration", "15m", "--policy-file", filepath.Join(w.dir, "ro.json")}, extra...)
}

// The done-when of issue 12: a token file (the IRSA contract, by flag and
// by environment) and a GitHub-shaped token from a stand-in of the Actions
// token service, in env, endpoint and credential_process delivery.
func TestWebIdentityAgainstMinIO(t *testing.T) {
	w := newIdentityWorld(t)
	tokenFile := w.write("input-web-identity.jwt", w.minioToken()+"\n")
	actions := []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + w.issuer.ActionsURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + w.issuer.ActionsToken}
	for _, c := range []struct {
		name  string
		env   []string
		flags []string
	}{
		{"token file", nil, w.webIdentityFlags("--web-identity-token-file", tokenFile)},
		{"IRSA environment", []string{"AWS_WEB_IDENTITY_TOKEN_FILE=" + tokenFile, "AWS_ROLE_ARN=arn:aws:iam::123456789012:role/irsa", "AWS_ROLE_SESSION_NAME=pod-1"},
			[]string{"--source", "web-identity", "--region", "us-east-1", "--sts-endpoint", w.minio.Endpoint, "--policy-file", filepath.Join(w.dir, "ro.json")}},
		{"github", actions, w.webIdentityFlags("--oidc", "github", "--audience", minioAudience)},
	} {
		for _, delivery := range []string{"env", "endpoint"} {
			t.Run(c.name+"/"+delivery, func(t *testing.T) {
				exec := func(args ...string) result {
					return w.cbr(w.env(c.env...), append(append(append([]string{"exec"}, c.flags...), "--delivery", delivery, "--"), args...)...)
				}
				r := exec(w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)
				w.expectOK(r, "read alpha")
				if strings.TrimSpace(r.stdout) != helloTxt {
					t.Fatalf("read alpha: %q", r.stdout)
				}
				w.expectDenied(exec(w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...), "read beta (session policy)")
				w.expectDenied(exec(w.awsArgs("s3", "cp", filepath.Join(w.dir, "ro.json"), "s3://alpha/new.json")...), "write alpha (readonly)")
			})
		}
		if c.env != nil && c.name == "IRSA environment" {
			// With IRSA's variables set, the AWS CLI assumes the role
			// itself before it reads a credential_process.
			continue
		}
		t.Run(c.name+"/credential_process", func(t *testing.T) {
			line := append([]string{w.cb, "credential-process"}, c.flags...)
			cfg := w.write("aws-config-"+strings.ReplaceAll(c.name, " ", "-"), "[profile cb]\nregion = us-east-1\ncredential_process = "+strings.Join(line, " ")+"\n")
			env := w.env(append([]string{"AWS_CONFIG_FILE=" + cfg, "AWS_PROFILE=cb"}, c.env...)...)
			r := w.run(env, "", w.aws, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")[1:]...)
			w.expectOK(r, "read alpha through credential_process")
			if strings.TrimSpace(r.stdout) != helloTxt {
				t.Fatalf("read alpha: %q", r.stdout)
			}
			w.expectDenied(w.run(env, "", w.aws, w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")[1:]...), "read beta")
		})
	}
	// A task that prints the ID token it got (the token file), or
	// GitHub's request token, shows neither: both are masked in its output.
	for _, c := range []struct {
		name, script, secret string
		flags                []string
	}{
		{"token file", `cat "$1"`, w.minioToken(), nil},
		{"github", `echo "$ACTIONS_ID_TOKEN_REQUEST_TOKEN"`, w.issuer.ActionsToken, w.webIdentityFlags("--oidc", "github", "--audience", minioAudience)},
	} {
		file := tokenFile
		if c.flags == nil {
			file = w.write("input-printed.jwt", c.secret)
			c.flags = w.webIdentityFlags("--web-identity-token-file", file)
		}
		r := w.cbr(w.env(actions...), append(append([]string{"exec"}, c.flags...), "--", "/bin/sh", "-c", c.script, "x", file)...)
		w.expectOK(r, c.name+": print the token")
		if strings.Contains(r.stdout, c.secret) || !strings.Contains(r.stdout, "********") {
			t.Errorf("%s: the token is not masked in the task's output:\n%s", c.name, r.stdout)
		}
	}

	// boto3 through the endpoint, with the GitHub token.
	probe := w.write("probe.py", boto3Probe)
	r := w.cbr(w.env(actions...), append(append(append([]string{"exec"}, w.webIdentityFlags("--oidc", "github", "--audience", minioAudience)...), "--delivery", "endpoint", "--"), w.py, probe, w.minio.Endpoint)...)
	w.expectOK(r, "boto3 probe")
	if !strings.Contains(r.stdout, helloTxt) || !strings.Contains(r.stdout, "read beta denied") || !strings.Contains(r.stdout, "write alpha denied") || strings.Contains(r.stdout, "ALLOWED") {
		t.Fatalf("boto3 probe:\n%s\n%s", r.stdout, r.stderr)
	}
}

// Refusals name the setting and never show the token.
func TestWebIdentityRefusals(t *testing.T) {
	w := newIdentityWorld(t)
	expired := w.issuer.Token(t, map[string]any{"aud": minioAudience, "sub": "x", "policy": "readonly",
		"iat": time.Now().Add(-time.Hour).Unix(), "nbf": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-30 * time.Minute).Unix()})
	expiredFile := w.write("input-expired.jwt", expired)
	r := w.cbr(w.env(), append(append([]string{"exec"}, w.webIdentityFlags("--web-identity-token-file", expiredFile)...), "--", "true")...)
	if r.code != 125 || !strings.Contains(r.stderr, "AssumeRoleWithWebIdentity") {
		t.Fatalf("expired token: exit %d %q", r.code, r.stderr)
	}
	r = w.cbr(w.env(), append(append([]string{"exec"}, w.webIdentityFlags("--tag", "team=ops", "--web-identity-token-file", expiredFile)...), "--", "true")...)
	if r.code != 125 || !strings.Contains(r.stderr, "--tag: not used by --source web-identity") {
		t.Fatalf("tags: exit %d %q", r.code, r.stderr)
	}
	r = w.cbr(w.env(), "exec", "--source", "web-identity", "--region", "us-east-1", "--role-arn", "arn:aws:iam::123456789012:role/ci", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "--web-identity-token-file: no ID token") {
		t.Fatalf("no token: exit %d %q", r.code, r.stderr)
	}
	// check reports the expired token offline, naming the flag.
	r = w.cbr(w.env(), append([]string{"check", "--offline"}, w.webIdentityFlags("--web-identity-token-file", expiredFile, "--audience", minioAudience)...)...)
	if r.code != 1 || !strings.Contains(r.stdout, "--web-identity-token-file: the ID token of file:"+expiredFile+" expired at") {
		t.Fatalf("check of an expired token: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	good := w.write("input-good.jwt", w.minioToken())
	r = w.cbr(w.env(), append([]string{"check", "--offline"}, w.webIdentityFlags("--web-identity-token-file", good, "--audience", "other")...)...)
	if r.code != 1 || !strings.Contains(r.stdout, `is for audience "minio-sts", not "other"`) {
		t.Fatalf("check of the wrong audience: exit %d\n%s", r.code, r.stdout)
	}
	r = w.cbr(w.env(), append([]string{"check"}, w.webIdentityFlags("--web-identity-token-file", good, "--audience", minioAudience)...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "answered AssumeRoleWithWebIdentity") || !strings.Contains(r.stdout, "is a JWT of issuer "+w.issuer.URL) {
		t.Fatalf("check online: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// A task that outlives its first CI token keeps working: the refreshing
// endpoint asks the CI for a fresh token before each refresh. The clock
// of the credentials cache is injected and moved past the first token's
// and the first session's end; MinIO (real time) issues the sessions.
func TestWebIdentityOutlivesItsToken(t *testing.T) {
	w := newIdentityWorld(t)
	env := map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": w.issuer.ActionsURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": w.issuer.ActionsToken}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ts, err := citoken.New("oidc", "github", minioAudience, citoken.Options{LookupEnv: lookup})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	src := credbroker.Source{Kind: credbroker.SourceWebIdentity, Region: "us-east-1", STSEndpoint: w.minio.Endpoint, OIDC: "github", Audience: minioAudience,
		Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/ci", Duration: time.Hour, Policy: readAlpha}}
	res, err := awscreds.Resolve(context.Background(), src, credbroker.Build{Plan: "GH-ACME", Number: "1"}, awscreds.Options{
		IdentityToken: ts.Token,
		// MinIO's sessions are checked against real time on issue; the
		// cache's clock is the injected one.
		Now: time.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cache := credcache.New(res.Provider, credcache.Options{Now: clock})
	srv, err := endpoint.Start(endpoint.Options{Provider: cache, Now: clock, Dir: w.dir})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	read := func(what string) {
		t.Helper()
		r := w.run(w.env("AWS_CONTAINER_CREDENTIALS_FULL_URI="+srv.URL, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="+srv.TokenFile,
			"AWS_CONTAINER_AUTHORIZATION_TOKEN="+mustRead(t, srv.TokenFile)), "", w.aws, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")[1:]...)
		w.expectOK(r, what)
		if strings.TrimSpace(r.stdout) != helloTxt {
			t.Fatalf("%s: %q", what, r.stdout)
		}
	}
	w.secret(mustRead(t, srv.TokenFile))
	read("first read")
	first, _ := cache.Peek()
	w.secret(first.SecretAccessKey, first.SessionToken)
	if n := w.issuer.ActionsRequests.Load(); n != 1 {
		t.Fatalf("%d token requests for the first session, want 1", n)
	}
	// 58 minutes later by the task's clock: the first token (5 minutes)
	// is long over, and the hour-long session is in its last minutes,
	// where the cache must refresh it. (MinIO dates the new session by
	// real time; the injected clock is moved back to it once the refresh
	// has run.)
	mu.Lock()
	now = now.Add(58 * time.Minute)
	mu.Unlock()
	next, err := cache.Retrieve(context.Background())
	if err != nil {
		t.Fatalf("refresh after the first token's end: %v", err)
	}
	w.secret(next.SecretAccessKey, next.SessionToken)
	if next.AccessKeyID == first.AccessKeyID {
		t.Fatal("the refresh handed out the first session again")
	}
	if n := w.issuer.ActionsRequests.Load(); n != 2 {
		t.Fatalf("%d token requests after the refresh, want 2: a fresh CI token for the new session", n)
	}
	mu.Lock()
	now = time.Now()
	mu.Unlock()
	read("read after the refresh")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// A broker trusting the issuer vends for a matching CI token, presented
// by `credbroker exec --connector deploy --oidc github`; refuses each
// hostile token with 401 or 403 and an audit record; the session tags and
// the audit carry the claims; no token shows in any output.
func TestBrokerVendsForCIToken(t *testing.T) {
	w := newIdentityWorld(t)
	is := w.issuer
	dd := dataDir(w, "broker")
	b := w.startBroker(dd)
	admin := w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--policy-file", filepath.Join(w.dir, "ro.json"),
		"--sts-endpoint", w.minio.Endpoint, "--default-duration", "15m", "--max-duration", "1h",
		"--scope", "project GH", "--allow-plan", "GH-ACME_*"), "connector create")
	w.expectOK(b.admin(admin, "", "issuer", "create", "github", "--url", is.URL, "--audience", "credbroker"), "issuer create")
	w.expectOK(b.admin(admin, "", "binding", "create", "gh-deploy", "--issuer", "github",
		"--claim", "repository_owner=acme", "--subject", "repo:acme/*:ref:refs/heads/main",
		"--plan-template", "GH-{repository}", "--tag-claim", "repository", "--session-name", "gh-{run_id}-{run_attempt}",
		"--source-identity", "{actor}"), "binding create")
	r := b.admin(admin, "", "binding", "list")
	if !strings.Contains(r.stdout, "gh-deploy") || !strings.Contains(r.stdout, "repository_owner=acme") {
		t.Fatalf("binding list: %s", r.stdout)
	}
	is.SetActionsClaims(nil)
	env := w.env("CREDBROKER_BROKER="+b.URL, "ACTIONS_ID_TOKEN_REQUEST_URL="+is.ActionsURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN="+is.ActionsToken)
	for _, delivery := range []string{"env", "endpoint"} {
		exec := func(args ...string) result {
			base := []string{"exec", "--connector", "deploy", "--oidc", "github", "--audience", "credbroker", "--build", "7", "--delivery", delivery, "--"}
			return w.cbr(env, append(base, args...)...)
		}
		r := exec(w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)
		w.expectOK(r, delivery+": read alpha with the CI token")
		if strings.TrimSpace(r.stdout) != helloTxt {
			t.Fatalf("read alpha: %q", r.stdout)
		}
		w.expectDenied(exec(w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...), "read beta")
	}
	// Exposed narrowing: a shorter duration and a narrower policy pass,
	// a wider one is refused naming the flag.
	narrow := w.write("none.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::alpha/nothing"]}]}`)
	r = w.cbr(env, "exec", "--connector", "deploy", "--oidc", "github", "--audience", "credbroker", "--policy-file", narrow, "--duration", "15m", "--",
		w.aws, "--endpoint-url", w.minio.Endpoint, "--region", "us-east-1", "s3", "cp", "s3://alpha/hello.txt", "-")
	w.expectDenied(r, "read alpha under the narrower policy")
	wide := w.write("wide.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:*"],"Resource":["*"]}]}`)
	r = w.cbr(env, "exec", "--connector", "deploy", "--oidc", "github", "--audience", "credbroker", "--policy-file", wide, "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "broker: policy: Statement[0] allows \"s3:*\"") || !strings.Contains(r.stderr, "does not allow") {
		t.Fatalf("a widening policy: exit %d %q", r.code, r.stderr)
	}
	r = w.cbr(env, "exec", "--connector", "deploy", "--oidc", "github", "--audience", "credbroker", "--duration", "2h", "--", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "duration_seconds") || !strings.Contains(r.stderr, "never widen") {
		t.Fatalf("a widening duration: exit %d %q", r.code, r.stderr)
	}

	// Hostile tokens at the API: each refused, each audited.
	good := func() map[string]any { return testpeers.GitHubClaims("acme/app", "refs/heads/main", "credbroker") }
	hostile := map[string]struct {
		token  string
		status int
	}{
		"expired": {is.Token(t, map[string]any{"aud": "credbroker", "sub": "repo:acme/app:ref:refs/heads/main", "repository_owner": "acme", "repository": "acme/app",
			"iat": time.Now().Add(-time.Hour).Unix(), "exp": time.Now().Add(-10 * time.Minute).Unix()}), 401},
		"wrong audience":   {is.Token(t, testpeers.GitHubClaims("acme/app", "refs/heads/main", "sts.amazonaws.com")), 401},
		"alg none":         {is.Hostile(t, testpeers.HostileNone, good()), 401},
		"HS256 public key": {is.Hostile(t, testpeers.HostileHS256, good()), 401},
		"unknown kid":      {is.Hostile(t, testpeers.HostileUnknownKid, good()), 401},
		"tampered":         {is.Hostile(t, testpeers.HostileTampered, good()), 401},
		"other owner":      {is.Token(t, testpeers.GitHubClaims("evil/app", "refs/heads/main", "credbroker")), 403},
	}
	for name, h := range hostile {
		w.secret(h.token)
		st, _, e := b.vend(h.token, credbroker.VendRequest{Connector: "deploy"})
		if st != h.status || e["message"] == "" {
			t.Errorf("%s: status %d %v, want %d", name, st, e, h.status)
		}
	}
	var recs []credbroker.AuditRecord
	r = b.admin(admin, "", "audit", "--output", "json")
	w.expectOK(r, "audit")
	if err := json.Unmarshal([]byte(r.stdout), &recs); err != nil {
		t.Fatal(err)
	}
	refused, granted := 0, 0
	for _, rec := range recs {
		switch {
		case rec.Action == credbroker.ActionAuthenticate && rec.Outcome == credbroker.OutcomeRefused:
			refused++
		case rec.Action == credbroker.ActionVend && rec.Outcome == credbroker.OutcomeGranted && rec.TokenID == "oidc:gh-deploy":
			granted++
			claims := map[string]string{}
			for _, c := range rec.Claims {
				claims[c.Key] = c.Value
			}
			if rec.Issuer != is.URL || rec.Subject != "repo:acme/app:ref:refs/heads/main" || rec.Plan != "GH-ACME_APP" ||
				claims["repository"] != "acme/app" || claims["sha"] == "" || claims["run_id"] != "1234567" {
				t.Errorf("granted record %+v", rec)
			}
		}
	}
	if refused != len(hostile) || granted == 0 {
		t.Errorf("%d refused authentication records (want %d), %d granted vends", refused, len(hostile), granted)
	}
	r = b.admin(admin, "", "audit", "verify")
	w.expectOK(r, "audit verify")

	// The issuer rotates its key: the broker picks the new key up by
	// itself, no restart: at once, or, when it fetched the key set in the
	// last few seconds (it did, for the unknown kid above), once its
	// refresh interval is over.
	is.Rotate(t)
	is.DropOldKeys()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, res, e := b.vend(is.Token(t, good()), credbroker.VendRequest{Connector: "deploy"})
		if st == http.StatusOK && res != nil {
			break
		}
		if st != http.StatusUnauthorized || !strings.Contains(e["message"], "publishes no key") || time.Now().After(deadline) {
			t.Fatalf("after key rotation: %d %v", st, e)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A real issuer: ory/hydra issues a JWT access token to a client of the
// client credentials grant; the broker verifies it with hydra's published
// keys and vends for the binding of that client's tokens.
func TestBrokerTrustsHydra(t *testing.T) {
	s := newSite(t)
	w := s.w
	h := testpeers.Hydra(t)
	id, secret := h.Client(t, "credbroker", "other")
	w.secret(secret)
	w.expectOK(s.b.admin(s.admin, "", "issuer", "create", "hydra", "--url", h.URL, "--audience", "credbroker"), "issuer create")
	w.expectOK(s.b.admin(s.admin, "", "binding", "create", "hydra-deploy", "--issuer", "hydra",
		"--claim", "client_id="+id, "--plans", "OPS-DEPLOY", "--audit-claim", "client_id"), "binding create")
	tok := h.Token(t, id, secret, "credbroker")
	w.secret(tok)
	st, res, e := s.b.vend(tok, credbroker.VendRequest{Connector: "deploy", Build: "3"})
	if st != http.StatusOK || res == nil || res.AccessKeyID == "" {
		t.Fatalf("vend with hydra's token: %d %v", st, e)
	}
	// Another client of the same issuer is not bound.
	other, otherSecret := h.Client(t, "credbroker")
	w.secret(otherSecret)
	otherTok := h.Token(t, other, otherSecret, "credbroker")
	w.secret(otherTok)
	st, _, e = s.b.vend(otherTok, credbroker.VendRequest{Connector: "deploy"})
	if st != http.StatusForbidden || !strings.Contains(e["message"], "binding hydra-deploy: claim client_id") {
		t.Fatalf("another client: %d %v", st, e)
	}
	// A token of the bound client for another audience is refused.
	otherAud := h.Token(t, id, secret, "other")
	w.secret(otherAud)
	st, _, e = s.b.vend(otherAud, credbroker.VendRequest{Connector: "deploy"})
	if st != http.StatusUnauthorized || !strings.Contains(e["message"], `audience "other" is not one issuer hydra accepts`) {
		t.Fatalf("another audience: %d %v", st, e)
	}
}
