package testpeers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// HydraServer is ory/hydra v2 started by [Hydra]: a real OAuth 2 and
// OpenID Connect server that issues JWT access tokens to clients with the
// client credentials grant, non-interactively: the real issuer of the
// tests of ID tokens at the broker.
type HydraServer struct {
	// URL is the issuer (iss) and public endpoint, http://127.0.0.1:PORT.
	URL string
	// Admin is the admin endpoint, where clients are created.
	Admin   string
	Process *Process
}

// Hydra starts hydra serve all with an in-memory store on loopback ports,
// JWT access tokens, and a random system secret, and stops it when the
// test ends.
func Hydra(t testing.TB) *HydraServer {
	t.Helper()
	bin := Binary(t, "hydra")
	dir := t.TempDir()
	pub, adm := FreePort(t), FreePort(t)
	s := &HydraServer{URL: fmt.Sprintf("http://127.0.0.1:%d", pub), Admin: fmt.Sprintf("http://127.0.0.1:%d", adm)}
	cmd := exec.Command(bin, "serve", "all", "--dev", "--sqa-opt-out")
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=" + dir,
		"DSN=memory",
		"SECRETS_SYSTEM=" + randomHex(16),
		"URLS_SELF_ISSUER=" + s.URL,
		"STRATEGIES_ACCESS_TOKEN=jwt",
		fmt.Sprintf("SERVE_PUBLIC_PORT=%d", pub), "SERVE_PUBLIC_HOST=127.0.0.1",
		fmt.Sprintf("SERVE_ADMIN_PORT=%d", adm), "SERVE_ADMIN_HOST=127.0.0.1",
		"LOG_LEVEL=warn",
	}
	proc, err := startProcess(t, "hydra", dir, cmd)
	if err != nil {
		t.Fatalf("testpeers: %v", err)
	}
	if err := proc.WaitReady(time.Minute, httpProbe(http.MethodGet, s.Admin+"/health/ready", nil, http.StatusOK)); err != nil {
		t.Fatalf("testpeers: start hydra: %v", err)
	}
	// hydra makes its signing keys when they are first asked for (RSA
	// 4096, seconds on a busy machine): ask for the discovery document and
	// the key set here, so that the broker's first fetch, with its own
	// timeout, finds them made.
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		if err := proc.WaitReady(time.Minute, httpProbe(http.MethodGet, s.URL+path, nil, http.StatusOK)); err != nil {
			t.Fatalf("testpeers: hydra %s: %v", path, err)
		}
	}
	s.Process = proc
	return s
}

// Client creates an OAuth 2 client of the client credentials grant that
// may ask for the audiences, and returns its ID and secret.
func (s *HydraServer) Client(t testing.TB, audiences ...string) (id, secret string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"grant_types": []string{"client_credentials"}, "audience": audiences,
		"token_endpoint_auth_method": "client_secret_basic", "access_token_strategy": "jwt",
	})
	resp, err := http.Post(s.Admin+"/admin/clients", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testpeers: hydra client: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(data, &c) != nil || c.ID == "" {
		t.Fatalf("testpeers: hydra client: %s", resp.Status)
	}
	return c.ID, c.Secret
}

// Token asks for a JWT access token for audience with the client
// credentials grant.
func (s *HydraServer) Token(t testing.TB, id, secret, audience string) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "audience": {audience}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("testpeers: hydra token: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(data, &out) != nil || out.AccessToken == "" {
		t.Fatalf("testpeers: hydra token: %s", resp.Status)
	}
	return out.AccessToken
}
