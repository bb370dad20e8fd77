// Package citoken fetches the ID token a CI system gives its jobs, for the
// agent: to call AssumeRoleWithWebIdentity with it (the web-identity
// source), or to present it to the broker instead of an agent token. Each
// call of Source.Token fetches afresh where the CI allows it (GitHub
// Actions, Buildkite) and reads again otherwise (a variable, a file that
// Kubernetes rotates), so a refreshing endpoint always sends a token that
// is still valid.
//
// The sources, as --oidc names them:
//
//	github      GET $ACTIONS_ID_TOKEN_REQUEST_URL&audience=AUD with
//	            Authorization: Bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN
//	            (a job with permissions: id-token: write); answers {"value"}
//	gitlab      the variable $GITLAB_OIDC_TOKEN, which .gitlab-ci.yml's
//	            id_tokens: {GITLAB_OIDC_TOKEN: {aud: AUD}} sets
//	buildkite   buildkite-agent oidc request-token --audience AUD
//	env:VAR     the variable VAR (Jenkins' credentials binding, others)
//	file:PATH   the file PATH, read at each call (IRSA's projected token)
//
// A token is a secret: no error of this package holds one, nor the
// request token of GitHub.
package citoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/credbroker/credbroker"
)

// The environment variables and programs the sources read.
const (
	EnvGitHubURL   = "ACTIONS_ID_TOKEN_REQUEST_URL"
	EnvGitHubToken = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"
	EnvGitLab      = "GITLAB_OIDC_TOKEN"
	BuildkiteAgent = "buildkite-agent"
)

// MaxToken bounds a token read from anywhere.
const maxToken = 64 << 10

// DefaultTimeout bounds one fetch.
const DefaultTimeout = 10 * time.Second

// Source yields the CI's ID token.
type Source interface {
	// Token returns a token, fetched or read at this call.
	Token(ctx context.Context) (string, error)
	// String names the source in messages ("github", "file:/path").
	String() string
}

// Options configure the sources. The zero value reads nothing from the
// environment.
type Options struct {
	// LookupEnv reads the environment (os.LookupEnv in production).
	LookupEnv func(string) (string, bool)
	// HTTPClient fetches GitHub's tokens; a client of its own when nil.
	HTTPClient *http.Client
	// Run runs buildkite-agent and returns its standard output; the
	// program found on PATH when nil.
	Run func(ctx context.Context, name string, args ...string) ([]byte, error)
	// Timeout bounds one fetch; DefaultTimeout.
	Timeout time.Duration
}

func (o *Options) env(k string) string {
	if o.LookupEnv == nil {
		return ""
	}
	v, _ := o.LookupEnv(k)
	return strings.TrimSpace(v)
}

func (o *Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

// bad is the error of a source that cannot give a token; field is the
// setting at fault.
func bad(field, fix, format string, args ...any) *credbroker.Error {
	return credbroker.Errorf(credbroker.CodeInvalid, field, format, args...).WithFix(fix)
}

// New returns the source spec names (github, gitlab, buildkite, env:VAR
// or file:PATH). audience is what GitHub and Buildkite are asked for;
// gitlab, env and file tokens carry what the CI gave them. field names
// the setting in errors ("oidc", "--oidc").
func New(field, spec, audience string, o Options) (Source, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "github":
		if arg != "" {
			break
		}
		return &github{o: o, audience: audience}, nil
	case "gitlab":
		if arg != "" {
			break
		}
		return &envSource{o: o, name: EnvGitLab, what: "gitlab", fix: "add to the job in .gitlab-ci.yml: id_tokens: {GITLAB_OIDC_TOKEN: {aud: AUDIENCE}}"}, nil
	case "buildkite":
		if arg != "" {
			break
		}
		return &buildkite{o: o, audience: audience}, nil
	case "env":
		if arg == "" {
			return nil, bad(field, "write env:VARIABLE", "env: names no variable")
		}
		return &envSource{o: o, name: arg, what: spec, fix: "set " + arg + " to the CI's ID token"}, nil
	case "file":
		if arg == "" {
			return nil, bad(field, "write file:PATH", "file: names no file")
		}
		return File(arg), nil
	}
	return nil, bad(field, "use github, gitlab, buildkite, env:VARIABLE or file:PATH", "unknown ID token source %q", credbroker.CleanField(spec, 64))
}

// File is the source of a token in the file path, read at each call (as
// the SDK reads AWS_WEB_IDENTITY_TOKEN_FILE, which Kubernetes rotates).
func File(path string) Source { return fileSource(path) }

type fileSource string

func (f fileSource) String() string { return "file:" + string(f) }

func (f fileSource) Token(context.Context) (string, error) {
	fh, err := os.Open(string(f))
	if err != nil {
		return "", bad("web_identity_token_file", "check the path (AWS_WEB_IDENTITY_TOKEN_FILE, --web-identity-token-file)",
			"cannot read the ID token file %s: %s", string(f), pathErr(err))
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxToken+1))
	if err != nil {
		return "", bad("web_identity_token_file", "check the file", "cannot read the ID token file %s: %s", string(f), pathErr(err))
	}
	if len(b) > maxToken {
		return "", bad("web_identity_token_file", "point at the token file itself", "the ID token file %s is larger than %d bytes", string(f), maxToken)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", bad("web_identity_token_file", "check that the token is projected into the file", "the ID token file %s is empty", string(f))
	}
	return tok, nil
}

func pathErr(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// envSource is a token in an environment variable.
type envSource struct {
	o          Options
	name, what string
	fix        string
}

func (e *envSource) String() string { return e.what }

func (e *envSource) Token(context.Context) (string, error) {
	tok := e.o.env(e.name)
	if tok == "" {
		return "", bad("oidc", e.fix, "$%s holds no ID token", e.name)
	}
	return tok, nil
}

// github asks GitHub Actions' token service.
type github struct {
	o        Options
	audience string
}

func (g *github) String() string { return "github" }

func (g *github) Token(ctx context.Context) (string, error) {
	rawURL, reqTok := g.o.env(EnvGitHubURL), g.o.env(EnvGitHubToken)
	if rawURL == "" || reqTok == "" {
		return "", bad("oidc", "run in a GitHub Actions job with `permissions: id-token: write`",
			"$%s and $%s are not set, so GitHub gives this job no ID token", EnvGitHubURL, EnvGitHubToken)
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return "", bad("oidc", "run in a GitHub Actions job", "$%s is not a URL", EnvGitHubURL)
	}
	if g.audience != "" {
		q := u.Query()
		q.Set("audience", g.audience)
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, g.o.timeout())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("github ID token request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+reqTok)
	req.Header.Set("Accept", "application/json")
	hc := g.o.HTTPClient
	if hc == nil {
		hc = &http.Client{}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeUpstream, "oidc", "GitHub's ID token service at %s did not answer: %s", u.Host, transportReason(ctx, err)).
			WithFix("retry; check that the job may reach " + u.Host)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxToken+1))
	if resp.StatusCode != http.StatusOK {
		return "", credbroker.Errorf(credbroker.CodeUpstream, "oidc", "GitHub's ID token service answered %s", resp.Status).
			WithFix("check the workflow's `permissions: id-token: write`")
	}
	var out struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Value == "" {
		return "", credbroker.Errorf(credbroker.CodeUpstream, "oidc", "GitHub's ID token service sent no token").
			WithFix("retry; the answer was not {\"value\": TOKEN}")
	}
	return out.Value, nil
}

// transportReason says why a request got no answer, without the URL's
// query (which holds nothing secret, but is long).
func transportReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "no answer in time"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// buildkite runs buildkite-agent.
type buildkite struct {
	o        Options
	audience string
}

func (b *buildkite) String() string { return "buildkite" }

func (b *buildkite) Token(ctx context.Context) (string, error) {
	args := []string{"oidc", "request-token"}
	if b.audience != "" {
		args = append(args, "--audience", b.audience)
	}
	ctx, cancel := context.WithTimeout(ctx, b.o.timeout())
	defer cancel()
	run := b.o.Run
	if run == nil {
		run = runProgram
	}
	out, err := run(ctx, BuildkiteAgent, args...)
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeUpstream, "oidc", "buildkite-agent oidc request-token failed: %s", credbroker.CleanField(err.Error(), 200)).
			WithFix("run in a Buildkite job, whose agent may request OIDC tokens")
	}
	tok := strings.TrimSpace(string(out))
	if tok == "" || len(tok) > maxToken {
		return "", credbroker.Errorf(credbroker.CodeUpstream, "oidc", "buildkite-agent oidc request-token printed no token")
	}
	return tok, nil
}

// runProgram runs name with args and returns its standard output; its
// standard error, cut, is the error's text (buildkite-agent prints no
// token there).
func runProgram(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return out, nil
}
