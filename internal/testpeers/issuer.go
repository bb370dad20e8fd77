package testpeers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Issuer is an OpenID Connect issuer in the test process, on a loopback
// port: it serves a discovery document and its JWKS, signs tokens shaped
// like those of GitHub Actions, GitLab CI and Buildkite with keys it can
// rotate, and stands in for GitHub's Actions token endpoint. It is what
// the broker's bindings and MinIO's AssumeRoleWithWebIdentity verify
// tokens against in tests. Its clock is Now, which a test may replace
// before it signs.
type Issuer struct {
	// URL is the issuer (iss): http://127.0.0.1:PORT.
	URL string
	// ActionsURL is ACTIONS_ID_TOKEN_REQUEST_URL of the Actions stand-in,
	// and ActionsToken its ACTIONS_ID_TOKEN_REQUEST_TOKEN.
	ActionsURL, ActionsToken string
	// Now is the issuer's clock; time.Now.
	Now func() time.Time
	// Lifetime of the tokens it signs; 5 minutes, as GitHub's.
	Lifetime time.Duration

	mu    sync.Mutex
	keys  []issuerKey // published; the last one signs
	down  bool
	extra map[string]any // claims added to every token the stand-in issues

	// JWKSFetches counts the requests for the key set.
	JWKSFetches atomic.Int32
	// ActionsRequests counts the requests to the Actions stand-in.
	ActionsRequests atomic.Int32
	// OnToken, when set before the tokens are signed, is called with each
	// token the issuer signs (a test's leak check registers them).
	OnToken func(token string)
}

type issuerKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
}

// StartIssuer starts an issuer with one RSA key and stops it when the
// test ends.
func StartIssuer(t testing.TB) *Issuer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testpeers: issuer: %v", err)
	}
	is := &Issuer{URL: "http://" + ln.Addr().String(), Now: time.Now, Lifetime: 5 * time.Minute, ActionsToken: "actions-" + randomHex(16)}
	is.ActionsURL = is.URL + "/_actions/token?api-version=2.0"
	is.Rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("GET /keys", is.jwks)
	mux.HandleFunc("GET /_actions/token", is.actions)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return is
}

// Rotate adds a new RSA signing key, which signs from now on; the old
// keys stay published. It returns the new key's kid.
func (is *Issuer) Rotate(t testing.TB) string {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testpeers: issuer key: %v", err)
	}
	return is.addKey(jose.RS256, priv)
}

// AddECKey adds an ES256 signing key, which signs from now on.
func (is *Issuer) AddECKey(t testing.TB) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testpeers: issuer key: %v", err)
	}
	return is.addKey(jose.ES256, priv)
}

func (is *Issuer) addKey(alg jose.SignatureAlgorithm, priv any) string {
	is.mu.Lock()
	defer is.mu.Unlock()
	kid := fmt.Sprintf("key-%d-%s", len(is.keys)+1, randomHex(4))
	is.keys = append(is.keys, issuerKey{kid: kid, alg: alg, priv: priv})
	return kid
}

// DropOldKeys stops publishing every key but the signing one.
func (is *Issuer) DropOldKeys() {
	is.mu.Lock()
	is.keys = is.keys[len(is.keys)-1:]
	is.mu.Unlock()
}

// SetDown makes the issuer answer 503 to every request (true) or serve
// again (false).
func (is *Issuer) SetDown(down bool) {
	is.mu.Lock()
	is.down = down
	is.mu.Unlock()
}

// SetActionsClaims sets claims that the Actions stand-in adds to every
// token it issues (repository, ref, policy...).
func (is *Issuer) SetActionsClaims(claims map[string]any) {
	is.mu.Lock()
	is.extra = claims
	is.mu.Unlock()
}

func (is *Issuer) isDown(w http.ResponseWriter) bool {
	is.mu.Lock()
	down := is.down
	is.mu.Unlock()
	if down {
		http.Error(w, "down for the test", http.StatusServiceUnavailable)
	}
	return down
}

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	if is.isDown(w) {
		return
	}
	writeJSON(w, map[string]any{
		"issuer":                                is.URL,
		"jwks_uri":                              is.URL + "/keys",
		"authorization_endpoint":                is.URL + "/authorize",
		"token_endpoint":                        is.URL + "/token",
		"userinfo_endpoint":                     is.URL + "/userinfo",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "repository", "ref", "policy"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	is.JWKSFetches.Add(1)
	if is.isDown(w) {
		return
	}
	is.mu.Lock()
	var set jose.JSONWebKeySet
	for _, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: publicOf(k.priv), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	is.mu.Unlock()
	writeJSON(w, set)
}

// actions is the stand-in of GitHub's token endpoint: GET with the
// request token as a Bearer, the audience as a query parameter; it
// answers {"value": JWT}.
func (is *Issuer) actions(w http.ResponseWriter, r *http.Request) {
	is.ActionsRequests.Add(1)
	if is.isDown(w) {
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+is.ActionsToken {
		http.Error(w, `{"message":"bad request token"}`, http.StatusUnauthorized)
		return
	}
	aud := r.URL.Query().Get("audience")
	if aud == "" {
		aud = "https://github.com/credbroker" // GitHub's default: the owner's URL
	}
	is.mu.Lock()
	extra := is.extra
	is.mu.Unlock()
	claims := GitHubClaims("acme/app", "refs/heads/main", aud)
	for k, v := range extra {
		claims[k] = v
	}
	tok, err := is.sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"value": tok})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func publicOf(priv any) any {
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	}
	return nil
}

// GitHubClaims are the claims of a GitHub Actions token for a run of the
// repository ("acme/app") on ref, for audience aud.
func GitHubClaims(repo, ref, aud string) map[string]any {
	owner, _, _ := strings.Cut(repo, "/")
	return map[string]any{
		"aud": aud, "sub": "repo:" + repo + ":ref:" + ref,
		"repository": repo, "repository_owner": owner, "repository_owner_id": "4711", "repository_id": "815",
		"ref": ref, "ref_type": "branch", "sha": "5d1fa3c0b2e4" + randomHex(14), "workflow": "deploy",
		"job_workflow_ref": repo + "/.github/workflows/deploy.yml@" + ref, "event_name": "push",
		"run_id": "1234567", "run_number": "42", "run_attempt": "1", "actor": "octocat", "runner_environment": "github-hosted",
	}
}

// GitLabClaims are the claims of a GitLab CI id_token of a job of
// project ("group/project") on branch ref.
func GitLabClaims(project, ref, aud string) map[string]any {
	ns, _, _ := strings.Cut(project, "/")
	return map[string]any{
		"aud": aud, "sub": "project_path:" + project + ":ref_type:branch:ref:" + ref,
		"namespace_id": "72", "namespace_path": ns, "project_id": "20", "project_path": project,
		"user_login": "ada", "pipeline_id": "3141", "pipeline_source": "push", "job_id": "2718",
		"ref": ref, "ref_type": "branch", "ref_protected": "true", "environment": "production", "sha": "9e8d" + randomHex(18),
	}
}

// BuildkiteClaims are the claims of a token that `buildkite-agent oidc
// request-token` gives a step of pipeline in organization.
func BuildkiteClaims(org, pipeline, aud string) map[string]any {
	return map[string]any{
		"aud": aud, "sub": "organization:" + org + ":pipeline:" + pipeline + ":ref:refs/heads/main:commit:abc123:step:deploy",
		"organization_slug": org, "pipeline_slug": pipeline, "build_number": 42, "build_branch": "main",
		"build_commit": "abc123", "step_key": "deploy", "job_id": "0190-job", "agent_id": "0190-agent",
	}
}

// Token signs claims (iss, iat, nbf and exp filled in from Now and
// Lifetime unless claims has them; a nil value removes one) with the
// current key.
func (is *Issuer) Token(t testing.TB, claims map[string]any) string {
	t.Helper()
	tok, err := is.sign(claims)
	if err != nil {
		t.Fatalf("testpeers: sign: %v", err)
	}
	return tok
}

func (is *Issuer) sign(claims map[string]any) (string, error) {
	is.mu.Lock()
	k := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	payload, err := is.payload(claims)
	if err != nil {
		return "", err
	}
	tok, err := signJWT(k.alg, k.priv, k.kid, payload)
	if err == nil && is.OnToken != nil {
		is.OnToken(tok)
	}
	return tok, err
}

// signJWT signs payload as a compact JWT with alg and key, kid in its
// header.
func signJWT(alg jose.SignatureAlgorithm, key any, kid string, payload []byte) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), kid))
	if err != nil {
		return "", err
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return sig.CompactSerialize()
}

// payload is the JSON claim set of a token.
func (is *Issuer) payload(claims map[string]any) ([]byte, error) {
	now := is.Now()
	c := map[string]any{
		"iss": is.URL, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(is.Lifetime).Unix(),
		"jti": randomHex(16),
	}
	for k, v := range claims {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return json.Marshal(c)
}

// Hostile token kinds, for the tests that every one is refused.
const (
	// HostileNone is alg "none" with no signature.
	HostileNone = "none"
	// HostileHS256 is HS256 with the issuer's RSA public key (PEM) as the
	// HMAC secret: the classic confusion attack.
	HostileHS256 = "hs256-public-key"
	// HostileUnknownKid is signed with a key the issuer never published.
	HostileUnknownKid = "unknown-kid"
	// HostileTampered is a valid token whose payload was changed after
	// signing.
	HostileTampered = "tampered"
)

// Hostile returns a token of claims made hostile as kind says.
func (is *Issuer) Hostile(t testing.TB, kind string, claims map[string]any) string {
	t.Helper()
	payload, err := is.payload(claims)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	is.mu.Lock()
	cur := is.keys[len(is.keys)-1]
	is.mu.Unlock()
	switch kind {
	case HostileNone:
		return b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+cur.kid+`"}`)) + "." + b64(payload) + "."
	case HostileHS256:
		der, err := x509.MarshalPKIXPublicKey(publicOf(cur.priv))
		if err != nil {
			t.Fatal(err)
		}
		secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		out, err := signJWT(jose.HS256, secret, cur.kid, payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case HostileUnknownKid:
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		out, err := signJWT(jose.RS256, priv, "never-published", payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	case HostileTampered:
		good := is.Token(t, claims)
		parts := strings.Split(good, ".")
		var c map[string]any
		raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
		if err := json.Unmarshal(raw, &c); err != nil {
			t.Fatal(err)
		}
		c["repository"] = "acme/forged"
		c["sub"] = "repo:acme/forged:ref:refs/heads/main"
		forged, _ := json.Marshal(c)
		return parts[0] + "." + b64(forged) + "." + parts[2]
	}
	t.Fatalf("testpeers: unknown hostile kind %q", kind)
	return ""
}
