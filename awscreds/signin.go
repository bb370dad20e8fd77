package awscreds

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/credbroker/credbroker"
)

// Console session limits of the federation endpoint's SessionDuration.
const (
	MinConsoleSession = 15 * time.Minute
	MaxConsoleSession = 12 * time.Hour
)

// SigninOptions configures SigninURL.
type SigninOptions struct {
	// FederationEndpoint replaces https://SIGNINHOST/federation, for tests
	// and private endpoints. The login URL is built on the same endpoint.
	FederationEndpoint string
	// Destination is the console page to open; default the partition's
	// console home. Required where the console host is not known.
	Destination string
	// Issuer is the URL or name shown to the user as where they came
	// from; default "credbroker".
	Issuer string
	// SessionDuration is the console session's length, 15 minutes to 12
	// hours; 0 lets the federation endpoint decide. The federation
	// endpoint accepts it only for credentials of an assumed role.
	SessionDuration time.Duration
	// HTTPClient makes the sign-in token request; nil uses the package's
	// shared client.
	HTTPClient *http.Client
}

// SigninURL turns temporary credentials into a URL that signs the user in
// to the AWS Management Console of partition p: it asks the federation
// endpoint for a sign-in token (Action=getSigninToken with the credentials
// as URL-encoded JSON) and builds the login URL (Action=login with Issuer,
// Destination and SigninToken).
//
// The URL is itself a credential for about 15 minutes: show it to the user
// who asked for it, and never log it. Errors never hold the credentials or
// the URL.
func SigninURL(ctx context.Context, creds credbroker.Credentials, p Partition, opts SigninOptions) (string, error) {
	const field = "console"
	if creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return "", credbroker.Errorf(credbroker.CodeInvalid, field, "no credentials to sign in with")
	}
	if creds.SessionToken == "" {
		return "", credbroker.Errorf(credbroker.CodeUnprocessable, field,
			"console sign-in needs temporary credentials with a session token; long-term access keys cannot sign in").
			WithFix("use a connector whose principal type is assumed-role or federated-user")
	}
	endpoint := opts.FederationEndpoint
	if endpoint == "" {
		endpoint = p.FederationEndpoint()
	}
	if endpoint == "" {
		return "", credbroker.Errorf(credbroker.CodeUnprocessable, field,
			"the console sign-in endpoint of partition %q is not known", p.ID).
			WithFix("give the federation endpoint explicitly")
	}
	if err := checkEndpoint("federation_endpoint", endpoint); err != nil {
		return "", err
	}
	dest := opts.Destination
	if dest == "" {
		dest = p.ConsoleURL()
	}
	if dest == "" {
		return "", credbroker.Errorf(credbroker.CodeInvalid, "destination",
			"the console of partition %q is not known", p.ID).WithFix("give the destination URL explicitly")
	}
	if u, err := url.Parse(dest); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", credbroker.Errorf(credbroker.CodeInvalid, "destination", "the destination is not an http or https URL")
	}
	issuer := opts.Issuer
	if issuer == "" {
		issuer = "credbroker"
	}
	if d := opts.SessionDuration; d != 0 && (d < MinConsoleSession || d > MaxConsoleSession) {
		return "", credbroker.Errorf(credbroker.CodeInvalid, "session_duration",
			"console session duration %s is out of range: the federation endpoint allows %s to %s", d, MinConsoleSession, fmtHours(MaxConsoleSession))
	}

	session, err := json.Marshal(struct {
		ID    string `json:"sessionId"`
		Key   string `json:"sessionKey"`
		Token string `json:"sessionToken"`
	}{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken})
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeInternal, field, "encode the session")
	}
	q := url.Values{}
	q.Set("Action", "getSigninToken")
	if opts.SessionDuration != 0 {
		q.Set("SessionDuration", strconv.Itoa(int(opts.SessionDuration/time.Second)))
	}
	q.Set("Session", string(session))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeInvalid, "federation_endpoint", "the federation endpoint URL is not valid")
	}
	client := opts.HTTPClient
	if client == nil {
		client = sharedHTTPClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		// A *url.Error quotes the request URL, which holds the
		// credentials: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", credbroker.Errorf(credbroker.CodeUpstream, field,
			"the federation endpoint %s is not reachable", endpoint).
			WithFix("check the network path to the sign-in endpoint").WithCause(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", credbroker.Errorf(credbroker.CodeUpstream, field, "reading the federation endpoint's answer failed").WithCause(err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", credbroker.Errorf(credbroker.CodeUpstream, field,
			"the federation endpoint %s refused the credentials (HTTP %d)", endpoint, resp.StatusCode).
			WithFix("the credentials may have expired; credentials from GetSessionToken cannot sign in, " +
				"and a session duration is accepted only for assumed-role credentials")
	}
	var tok struct {
		SigninToken string
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.SigninToken == "" {
		return "", credbroker.Errorf(credbroker.CodeUpstream, field, "the federation endpoint %s answered without a sign-in token", endpoint)
	}
	login := url.Values{}
	login.Set("Action", "login")
	login.Set("Issuer", issuer)
	login.Set("Destination", dest)
	login.Set("SigninToken", tok.SigninToken)
	return endpoint + "?" + login.Encode(), nil
}
