package testpeers

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readOnlyAlpha is a session policy that allows reading bucket alpha only.
const readOnlyAlpha = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",` +
	`"Action":["s3:GetObject","s3:ListBucket"],` +
	`"Resource":["arn:aws:s3:::alpha","arn:aws:s3:::alpha/*"]}]}`

// TestPeersWorkTogether checks what DESIGN.md says about the peers: the AWS
// CLI v2 takes MinIO's root credentials from an IMDSv2-only ec2-metadata-mock,
// calls AssumeRole on MinIO with a session policy, and the credentials it gets
// read what the policy allows and nothing else.
func TestPeersWorkTogether(t *testing.T) {
	t.Parallel()
	cli := AWSCLI(t)
	m := MinIO(t)
	m.MakeBucket(t, "alpha")
	m.MakeBucket(t, "beta")
	m.PutObject(t, "alpha", "obj", "alpha body")
	m.PutObject(t, "beta", "obj", "beta body")
	imds := IMDSMock(t, IMDSOptions{AccessKeyID: m.RootUser, SecretAccessKey: m.RootPassword, V2Only: true})

	region := []string{"AWS_REGION=" + m.Region, "AWS_DEFAULT_REGION=" + m.Region}
	assumeRole := []string{
		"sts", "assume-role", "--endpoint-url", m.Endpoint, "--output", "json",
		"--role-arn", "arn:aws:iam::123456789012:role/x",
		// STS wants 2 to 64 characters; the CLI checks before sending.
		"--role-session-name", "testpeers",
		"--policy", readOnlyAlpha,
		"--duration-seconds", "900",
	}

	// Control: with IMDS off, Env leaves the CLI no credentials at all, so
	// the call below can only have used the mock's.
	if _, errOut, err := Run(t, Env(append(region, "AWS_EC2_METADATA_DISABLED=true")...), cli, assumeRole...); err == nil {
		t.Fatalf("assume-role without IMDS succeeded; want no credentials")
	} else if !strings.Contains(errOut, "Unable to locate credentials") {
		t.Errorf("assume-role without IMDS: got %q, want %q", errOut, "Unable to locate credentials")
	}

	start := time.Now()
	out, errOut, err := Run(t, Env(append(region, "AWS_EC2_METADATA_SERVICE_ENDPOINT="+imds.Endpoint)...), cli, assumeRole...)
	if err != nil {
		t.Fatalf("assume-role with IMDS credentials: %v\n%s", err, errOut)
	}
	var resp struct {
		Credentials struct {
			AccessKeyID     string `json:"AccessKeyId"`
			SecretAccessKey string
			SessionToken    string
			Expiration      string
		}
	}
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatalf("decode assume-role output %q: %v", out, err)
	}
	c := resp.Credentials
	if c.AccessKeyID == "" || c.SecretAccessKey == "" || c.SessionToken == "" {
		t.Fatalf("assume-role returned incomplete credentials: %s", out)
	}
	if c.AccessKeyID == m.RootUser {
		t.Fatalf("assume-role returned the root key ID")
	}
	exp, err := time.Parse(time.RFC3339, c.Expiration)
	if err != nil {
		t.Fatalf("expiration %q: %v", c.Expiration, err)
	}
	if d := exp.Sub(start); d < 850*time.Second || d > 960*time.Second {
		t.Errorf("credentials expire %s after the call, want about 900s (DurationSeconds)", d.Round(time.Second))
	}

	session := Env(append(region,
		"AWS_ACCESS_KEY_ID="+c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY="+c.SecretAccessKey,
		"AWS_SESSION_TOKEN="+c.SessionToken,
		"AWS_EC2_METADATA_DISABLED=true")...)
	s3 := func(args ...string) (string, string, error) {
		t.Helper()
		return Run(t, session, cli, append([]string{"--endpoint-url", m.Endpoint, "s3"}, args...)...)
	}

	if got, errOut, err := s3("cp", "s3://alpha/obj", "-"); err != nil {
		t.Errorf("read alpha/obj with session credentials: %v\n%s", err, errOut)
	} else if got != "alpha body" {
		t.Errorf("read alpha/obj = %q, want %q", got, "alpha body")
	}

	if _, errOut, err := s3("cp", "s3://beta/obj", "-"); err == nil {
		t.Errorf("read beta/obj with session credentials succeeded; the policy allows alpha only")
	} else if !denied(errOut) {
		t.Errorf("read beta/obj failed, but not as access denied: %v\n%s", err, errOut)
	}

	local := filepath.Join(t.TempDir(), "upload")
	if err := os.WriteFile(local, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := s3("cp", local, "s3://alpha/new"); err == nil {
		t.Errorf("write alpha/new with session credentials succeeded; the policy is read-only")
	} else if !denied(errOut) {
		t.Errorf("write alpha/new failed, but not as access denied: %v\n%s", err, errOut)
	}

	// The refusals come from the session policy: root still reads beta.
	if got := m.AWS(t, "s3", "cp", "s3://beta/obj", "-"); got != "beta body" {
		t.Errorf("root read beta/obj = %q, want %q", got, "beta body")
	}
}

// denied reports whether AWS CLI error output says access was denied.
func denied(errOut string) bool {
	for _, s := range []string{"AccessDenied", "Forbidden", "(403)"} {
		if strings.Contains(errOut, s) {
			return true
		}
	}
	return false
}

// TestIMDSMock checks the mock serves the configured role and credentials over
// IMDSv2, and refuses IMDSv1 exactly when V2Only is set.
func TestIMDSMock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		v2Only bool
		v1Want int
	}{
		{"v2only", true, http.StatusUnauthorized},
		{"v1andv2", false, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
			s := IMDSMock(t, IMDSOptions{
				AccessKeyID: "AKIATESTPEERS", SecretAccessKey: "secret/key", Token: "session-token",
				Expiration: exp, RoleName: "build-role", V2Only: tc.v2Only,
			})
			if !strings.HasSuffix(s.Endpoint, "/") {
				t.Errorf("Endpoint %q has no trailing slash", s.Endpoint)
			}
			rolesPath := s.Endpoint + "latest/meta-data/iam/security-credentials/"

			status, _ := httpDo(t, http.MethodGet, rolesPath, nil)
			if status != tc.v1Want {
				t.Errorf("IMDSv1 GET without token: status %d, want %d", status, tc.v1Want)
			}

			status, token := httpDo(t, http.MethodPut, s.Endpoint+"latest/api/token",
				http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {"300"}})
			if status != http.StatusOK || token == "" {
				t.Fatalf("token PUT: status %d, token %q", status, token)
			}
			withToken := http.Header{"X-Aws-Ec2-Metadata-Token": {token}}
			if status, body := httpDo(t, http.MethodGet, rolesPath, withToken); status != http.StatusOK || strings.TrimSpace(body) != "build-role" {
				t.Errorf("role list: status %d, body %q, want 200 build-role", status, body)
			}
			status, body := httpDo(t, http.MethodGet, rolesPath+"build-role", withToken)
			if status != http.StatusOK {
				t.Fatalf("credentials GET: status %d, body %q", status, body)
			}
			var creds struct {
				Code, AccessKeyID, SecretAccessKey, Token, Expiration string
			}
			if err := json.Unmarshal([]byte(body), &creds); err != nil {
				t.Fatalf("decode credentials %q: %v", body, err)
			}
			if creds.Code != "Success" || creds.AccessKeyID != "AKIATESTPEERS" ||
				creds.SecretAccessKey != "secret/key" || creds.Token != "session-token" ||
				creds.Expiration != exp.Format(time.RFC3339) {
				t.Errorf("credentials = %+v", creds)
			}
		})
	}
}

// httpDo sends one request and returns the status and body.
func httpDo(t *testing.T, method, url string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, string(body)
}

// TestPeersInstalled checks every peer scripts/deps installs is where the
// peers file says and works.
func TestPeersInstalled(t *testing.T) {
	t.Parallel()
	AWSCLI(t)
	Python(t)
	for _, name := range []string{"minio", "ec2-metadata-mock", "initdb", "pg_ctl", "postgres"} {
		Binary(t, name)
	}
	if out, errOut, err := Run(t, nil, Binary(t, "initdb"), "--version"); err != nil || !strings.Contains(out, " 15.") {
		t.Errorf("initdb --version = %q, %v (%s); want PostgreSQL 15", out, err, errOut)
	}
}

// TestEnv checks Env drops the test's AWS settings and honours overrides.
func TestEnv(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIALEAKED")
	t.Setenv("AWS_PROFILE", "leaked")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	env := Env("HOME=/override", "AWS_REGION=eu-west-1")
	vars := make(map[string]string)
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := vars[k]; dup {
			t.Errorf("Env has %s twice", k)
		}
		vars[k] = v
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_EC2_METADATA_DISABLED"} {
		if v, ok := vars[k]; ok {
			t.Errorf("Env inherited %s=%s", k, v)
		}
	}
	if vars["HOME"] != "/override" || vars["AWS_REGION"] != "eu-west-1" {
		t.Errorf("Env overrides lost: HOME=%q AWS_REGION=%q", vars["HOME"], vars["AWS_REGION"])
	}
	for _, k := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		if vars[k] == "" {
			t.Errorf("Env has no %s", k)
		} else if _, err := os.Stat(vars[k]); err == nil {
			t.Errorf("%s=%s exists; want a file that does not", k, vars[k])
		}
	}
	if !strings.HasPrefix(vars["PATH"], filepath.Dir(AWSCLI(t))) {
		t.Errorf("PATH=%s does not start with the AWS CLI v2's directory", vars["PATH"])
	}
}

func TestParsePeersEnv(t *testing.T) {
	in := "# written by scripts/deps\n\nAWS_CLI=/usr/bin/aws\nexport PYTHON='/usr/bin/python3'\nMINIO=\"/c d/minio\"\nEMPTY=\n"
	got, err := parsePeersEnv(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"AWS_CLI": "/usr/bin/aws", "PYTHON": "/usr/bin/python3", "MINIO": "/c d/minio", "EMPTY": ""}
	if len(got) != len(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	for _, bad := range []string{"no equals sign\n", "=value\n", "K='unbalanced\n"} {
		if _, err := parsePeersEnv(strings.NewReader(bad)); err == nil {
			t.Errorf("parsePeersEnv(%q) succeeded; want an error", bad)
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if moduleLine(data) != modulePath {
		t.Errorf("module of %s = %q", root, moduleLine(data))
	}
}

// TestBuildCredbrokerBuild checks the build helper on a stand-in module: it
// builds ./cmd/credbroker into the output directory under a fixed name.
func TestBuildCredbrokerBuild(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	main := filepath.Join(root, "cmd", "credbroker", "main.go")
	if err := os.MkdirAll(filepath.Dir(main), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		filepath.Join(root, "go.mod"): "module example.com/standin\n\ngo 1.24\n",
		main:                          "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Print(\"stand-in\") }\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "build")
	path, err := buildCredbroker(root, out, "credbroker", "")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(path) != out || !strings.HasPrefix(filepath.Base(path), "credbroker") {
		t.Errorf("built %s, want credbroker in %s", path, out)
	}
	if got, errOut, err := Run(t, nil, path); err != nil || got != "stand-in" {
		t.Errorf("run %s = %q, %v (%s)", path, got, err, errOut)
	}
	entries, _ := os.ReadDir(out)
	if len(entries) != 1 {
		t.Errorf("build dir holds %d entries, want just the binary", len(entries))
	}
}
