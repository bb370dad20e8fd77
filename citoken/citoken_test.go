package citoken

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbroker/credbroker/internal/testpeers"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestGitHub(t *testing.T) {
	is := testpeers.StartIssuer(t)
	env := map[string]string{EnvGitHubURL: is.ActionsURL, EnvGitHubToken: is.ActionsToken}
	src, err := New("--oidc", "github", "credbroker", Options{LookupEnv: envOf(env)})
	if err != nil {
		t.Fatal(err)
	}
	a, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := src.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if a == b || is.ActionsRequests.Load() != 2 {
		t.Errorf("each call must fetch a fresh token: %d requests", is.ActionsRequests.Load())
	}
	if !strings.HasPrefix(a, "eyJ") || strings.Count(a, ".") != 2 {
		t.Errorf("not a JWT: %.20s...", a)
	}
	// A wrong request token: the error names the status, not the tokens.
	env[EnvGitHubToken] = "wrong-request-token"
	_, err = src.Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-request-token") {
		t.Errorf("wrong request token: %v", err)
	}
	_, err = (&github{o: Options{LookupEnv: envOf(nil)}}).Token(context.Background())
	if err == nil || !strings.Contains(err.Error(), "id-token: write") {
		t.Errorf("outside GitHub Actions: %v", err)
	}
}

func TestEnvFileBuildkite(t *testing.T) {
	src, err := New("oidc", "gitlab", "", Options{LookupEnv: envOf(map[string]string{EnvGitLab: " eyJ.a.b\n"})})
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := src.Token(context.Background()); err != nil || tok != "eyJ.a.b" {
		t.Errorf("gitlab: %q %v", tok, err)
	}
	src, _ = New("oidc", "env:JENKINS_OIDC", "", Options{LookupEnv: envOf(nil)})
	if _, err := src.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "$JENKINS_OIDC holds no ID token") {
		t.Errorf("empty env: %v", err)
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("first\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src, _ = New("oidc", "file:"+path, "", Options{})
	if tok, _ := src.Token(context.Background()); tok != "first" {
		t.Errorf("file: %q", tok)
	}
	os.WriteFile(path, []byte("rotated"), 0o600)
	if tok, _ := src.Token(context.Background()); tok != "rotated" {
		t.Errorf("the file is read at each call: %q", tok)
	}
	if _, err := File(filepath.Join(t.TempDir(), "missing")).Token(context.Background()); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	var gotArgs []string
	bk, _ := New("oidc", "buildkite", "credbroker", Options{Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
		gotArgs = append([]string{name}, args...)
		return []byte("eyJbk.x.y\n"), nil
	}})
	if tok, err := bk.Token(context.Background()); err != nil || tok != "eyJbk.x.y" {
		t.Errorf("buildkite: %q %v", tok, err)
	}
	if strings.Join(gotArgs, " ") != "buildkite-agent oidc request-token --audience credbroker" {
		t.Errorf("buildkite-agent called as %v", gotArgs)
	}
	bk, _ = New("oidc", "buildkite", "", Options{Run: func(context.Context, string, ...string) ([]byte, error) {
		return nil, errors.New("exit status 1: not in a job")
	}})
	if _, err := bk.Token(context.Background()); err == nil || !strings.Contains(err.Error(), "not in a job") {
		t.Errorf("buildkite failure: %v", err)
	}
	for _, spec := range []string{"circleci", "env:", "file:", "github:x"} {
		if _, err := New("--oidc", spec, "", Options{}); err == nil || !strings.HasPrefix(err.Error(), "--oidc: ") {
			t.Errorf("%q: %v", spec, err)
		}
	}
}
