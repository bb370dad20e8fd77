package awscreds

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// Test credentials. The secrets are distinctive so that a leak into an
// error or log is easy to find.
const (
	baseKeyID    = "AKIAFAKEBASEKEY00001"
	baseSecret   = "base-secret-DO-NOT-LEAK"
	baseToken    = "base-token-DO-NOT-LEAK"
	issuedKeyID  = "ASIAFAKEISSUEDKEY001"
	issuedSecret = "issued-secret-DO-NOT-LEAK"
	issuedToken  = "issued-token-DO-NOT-LEAK"
)

var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// stsCall is one request the fake STS received.
type stsCall struct {
	Form url.Values
	Auth string // Authorization header
	Host string
}

// fakeSTS is an STS endpoint: it records each request's form and answers
// with respond, or with credentials for the action by default.
type fakeSTS struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []stsCall
	respond func(form url.Values) (status int, body string)
}

func newFakeSTS(t testing.TB) *fakeSTS {
	t.Helper()
	f := &fakeSTS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, stsCall{Form: r.PostForm, Auth: r.Header.Get("Authorization"), Host: r.Host})
		respond := f.respond
		f.mu.Unlock()
		status, body := http.StatusOK, ""
		if respond != nil {
			status, body = respond(r.PostForm)
		} else {
			body = stsSuccess(r.PostForm.Get("Action"), fixedNow.Add(time.Hour))
		}
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSTS) Calls() []stsCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]stsCall(nil), f.calls...)
}

func (f *fakeSTS) setRespond(fn func(form url.Values) (int, string)) {
	f.mu.Lock()
	f.respond = fn
	f.mu.Unlock()
}

// stsSuccess answers action with the issued credentials.
func stsSuccess(action string, exp time.Time) string {
	creds := fmt.Sprintf(`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>`+
		`<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`,
		issuedKeyID, issuedSecret, issuedToken, exp.UTC().Format(time.RFC3339))
	var result string
	switch action {
	case "AssumeRole":
		result = creds + `<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deploy/s</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>`
	case "GetFederationToken":
		result = creds + `<FederatedUser><Arn>arn:aws:sts::123456789012:federated-user/u</Arn><FederatedUserId>123456789012:u</FederatedUserId></FederatedUser>`
	case "GetSessionToken":
		result = creds
	case "GetCallerIdentity":
		result = `<Arn>arn:aws:iam::123456789012:user/broker</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account>`
	}
	return fmt.Sprintf(`<%sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%sResult>%s</%sResult>`+
		`<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></%sResponse>`,
		action, action, result, action, action)
}

func stsError(code, message string) string {
	return fmt.Sprintf(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>`+
		`<Code>%s</Code><Message>%s</Message></Error><RequestId>req-err</RequestId></ErrorResponse>`, code, message)
}

// imdsMode selects the behaviour of the fake metadata service.
type imdsMode int

const (
	imdsV2        imdsMode = iota // tokens required
	imdsV1Only                    // PUT /latest/api/token answers 403; GETs need no token
	imdsNoProfile                 // tokens work, the role list is 404
)

// fakeIMDS is an instance metadata service with one role.
type fakeIMDS struct {
	*httptest.Server
	mu       sync.Mutex
	requests []string // "METHOD path token-present"
}

func newFakeIMDS(t testing.TB, mode imdsMode, exp time.Time) *fakeIMDS {
	t.Helper()
	const token = "imds-session-token"
	f := &fakeIMDS{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Aws-Ec2-Metadata-Token")
		f.mu.Lock()
		f.requests = append(f.requests, fmt.Sprintf("%s %s %v", r.Method, r.URL.Path, tok != ""))
		f.mu.Unlock()
		if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
			if mode == imdsV1Only {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			if r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
			io.WriteString(w, token)
			return
		}
		if r.Method != http.MethodGet {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if mode != imdsV1Only && tok != token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			if mode == imdsNoProfile {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			io.WriteString(w, "agent-role")
		case "/latest/meta-data/iam/security-credentials/agent-role":
			fmt.Fprintf(w, `{"Code":"Success","LastUpdated":"2026-03-01T11:00:00Z","Type":"AWS-HMAC",`+
				`"AccessKeyId":%q,"SecretAccessKey":%q,"Token":%q,"Expiration":%q}`,
				baseKeyID, baseSecret, baseToken, exp.UTC().Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeIMDS) Requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.requests...)
}

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// staticBase is a base credentials provider for Issue.
func staticBase(token string) credbroker.Provider {
	return credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, SessionToken: token, Source: "test"}, nil
	})
}

// testOptions are Options for tests: fixed clock, no environment, few
// quick retries.
func testOptions() Options {
	return Options{
		Now:   func() time.Time { return fixedNow },
		Retry: credbroker.RetrySpec{MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond},
	}
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// assertNoSecrets fails if err, in any rendering, holds a secret.
func assertNoSecrets(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	text := err.Error() + fmt.Sprintf(" %+v %#v", err, err)
	if e := credbroker.AsError(err); e != nil && e.Err != nil {
		text += " " + e.Err.Error()
	}
	for _, s := range []string{baseSecret, baseToken, issuedSecret, issuedToken} {
		if strings.Contains(text, s) {
			t.Fatalf("error leaks a secret: %s", text)
		}
	}
}

func wantError(t *testing.T, err error, code credbroker.Code, field, msg string) *credbroker.Error {
	t.Helper()
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("got %v, want a *credbroker.Error", err)
	}
	if e.Code != code || e.Field != field || !strings.Contains(e.Error(), msg) {
		t.Fatalf("got code=%s field=%q %q; want code=%s field=%q containing %q", e.Code, e.Field, e.Error(), code, field, msg)
	}
	assertNoSecrets(t, err)
	return e
}
