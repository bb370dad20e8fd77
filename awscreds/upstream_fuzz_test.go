package awscreds_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
)

// Secrets of the fuzz fixtures: no error may show them.
const (
	fuzzBaseKeyID  = "AKIAFUZZBASEKEY00001"
	fuzzBaseSecret = "fuzz-base-secret-NEVER-SHOWN"
)

// secretMarkers begin every secret value of the seed answers (and of what
// the fuzzer makes of them); no error text of this package has them.
var secretMarkers = []string{"imds-secret-value", "imds-token-value", "s3cr3t-value", "sts-secret-value", "sts-session-token"}

// fuzzStatuses are the HTTP statuses a fuzzed upstream answers with,
// picked by a fuzzed byte; 200 is most of them.
var fuzzStatuses = []int{200, 200, 200, 200, 400, 401, 403, 404, 429, 500, 503, 204, 301, 418}

func pickStatus(b uint8) int { return fuzzStatuses[int(b)%len(fuzzStatuses)] }

// upstream is an httptest server whose answers a fuzz input sets. One
// server serves a whole fuzz run; each input replaces the handler.
type upstream struct {
	*httptest.Server
	mu sync.Mutex
	h  http.HandlerFunc
}

func newUpstream(f *testing.F) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		h := u.h
		u.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	f.Cleanup(u.Close)
	return u
}

func (u *upstream) set(h http.HandlerFunc) {
	u.mu.Lock()
	u.h = h
	u.mu.Unlock()
}

// imdsCreds is the credential document of the instance metadata service,
// decoded the way the SDK decodes it (first JSON value, names matched
// without regard to case).
type imdsCreds struct {
	Code            string
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string
	Token           string
	Expiration      time.Time
}

// wellFormed reports whether body is a complete, successful, unexpired
// credential document at now, and returns it.
func wellFormed(body []byte, now time.Time) (imdsCreds, bool) {
	var c imdsCreds
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&c); err != nil {
		return c, false
	}
	ok := strings.EqualFold(c.Code, "Success") && c.AccessKeyID != "" && c.SecretAccessKey != "" &&
		!c.Expiration.IsZero() && c.Expiration.After(now)
	return c, ok
}

// markersBut returns the secret markers that code does not hold: an
// upstream error code is shown when it is a plain identifier, and then
// whatever it holds is the code's, not a secret's.
func markersBut(code string) []string {
	var out []string
	for _, m := range secretMarkers {
		if !strings.Contains(code, m) {
			out = append(out, m)
		}
	}
	return out
}

// checkUpstreamError checks a failure: a *credbroker.Error with a message,
// a field and a code other than internal, showing none of the secrets.
func checkUpstreamError(t *testing.T, err error, secrets ...string) {
	t.Helper()
	e := credbroker.AsError(err)
	if e == nil {
		t.Fatalf("error %v (%T) is not a *credbroker.Error", err, err)
	}
	if e.Message == "" || e.Field == "" || e.Code == "" || e.Code == credbroker.CodeInternal {
		t.Fatalf("unclear error: code %q field %q message %q", e.Code, e.Field, e.Message)
	}
	shown := e.Error()
	for _, s := range secrets {
		if len(s) >= 8 && strings.Contains(shown, s) {
			t.Fatalf("error shows a secret (%d characters): %s", len(s), shown)
		}
	}
}

// FuzzIMDSResponse serves fuzzed instance metadata answers (the status of
// the IMDSv2 token request, the role list, the status and body of the
// credential document) and gets the instance profile's credentials from
// them through awscreds.Resolve and Retrieve, IMDSv2 only. Whatever the
// answers: no panic; a failure is a clear *credbroker.Error that shows no
// key from the answer; and credentials come out only from a complete,
// successful, unexpired document, unchanged.
func FuzzIMDSResponse(f *testing.F) {
	exp := time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339)
	good := fmt.Sprintf(`{"Code":"Success","LastUpdated":"2026-01-01T00:00:00Z","Type":"AWS-HMAC","AccessKeyId":"ASIAIMDSFUZZ00000001","SecretAccessKey":"imds-secret-value-1","Token":"imds-token-value-1","Expiration":%q}`, exp)
	for _, s := range []struct {
		tok      uint8
		list     string
		credStat uint8
		body     string
	}{
		{0, "agent-role", 0, good},
		{0, "agent-role\nother-role\n", 0, good},
		{0, "", 0, good},
		{0, "agent-role", 7, ""},
		{5, "agent-role", 0, good},
		{9, "agent-role", 0, good},
		{0, "agent-role", 9, good},
		{0, "agent-role", 0, `{"Code":"Success"}`},
		{0, "agent-role", 0, `{"Code":"Success","AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t-value-2","Token":"t"}`},
		{0, "agent-role", 0, `{"Code":"Success","AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t-value-3","Token":"t","Expiration":"2001-01-01T00:00:00Z"}`},
		{0, "agent-role", 0, `{"Code":"AssumeRoleUnauthorizedAccess","Message":"denied","AccessKeyId":"ASIAX","SecretAccessKey":"s3cr3t-value-4"}`},
		{0, "agent-role", 0, `{"Code":"Success","AccessKeyId":"","SecretAccessKey":"","Expiration":"2099-01-01T00:00:00Z"}`},
		{0, "agent-role", 0, `{"code":"success","accesskeyid":"A","secretaccesskey":"s3cr3t-value-5","expiration":"2099-01-01T00:00:00Z"} trailing`},
		{0, "agent-role", 0, `{"Code":"Success","Expiration":"not a time"}`},
		{0, "agent-role", 0, `[]`},
		{0, "agent-role", 0, `null`},
		{0, "../../latest/api/token", 0, good},
		{0, "role with spaces?x=1#f", 0, good},
	} {
		f.Add(s.tok, s.list, s.credStat, []byte(s.body))
	}
	srv := newUpstream(f)
	f.Fuzz(func(t *testing.T, tok uint8, list string, credStat uint8, body []byte) {
		tokStatus, credStatus := pickStatus(tok), pickStatus(credStat)
		const listPath = "/latest/meta-data/iam/security-credentials/"
		srv.set(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
				w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "21600")
				w.WriteHeader(tokStatus)
				io.WriteString(w, "imds-session-token")
			case r.Method == http.MethodGet && r.Header.Get("X-Aws-Ec2-Metadata-Token") == "":
				// IMDSv1: credentials without a session token. Reaching
				// here is itself a failure, checked below.
				w.WriteHeader(http.StatusTeapot)
			case r.Method == http.MethodGet && r.URL.Path == listPath:
				io.WriteString(w, list)
			case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, listPath):
				w.WriteHeader(credStatus)
				w.Write(body)
			default:
				w.WriteHeader(http.StatusNotFound)
			}
		})
		now := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		src := credbroker.Source{
			Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: srv.URL,
			Retry: credbroker.RetrySpec{MaxAttempts: 1, MaxBackoff: time.Millisecond},
		}
		res, err := awscreds.Resolve(ctx, src, credbroker.Build{Plan: "OPS-X"}, awscreds.Options{Now: func() time.Time { return now }})
		if err != nil {
			t.Fatalf("Resolve made no call, yet failed: %v", err)
		}
		got, err := res.Provider.Retrieve(ctx)
		want, ok := wellFormed(body, now)
		if err != nil {
			checkUpstreamError(t, err, markersBut(want.Code)...)
			return
		}
		if tokStatus != 200 {
			t.Fatalf("credentials came out though the IMDSv2 token request answered %d: IMDSv1 fallback", tokStatus)
		}
		if credStatus != 200 || !ok {
			t.Fatalf("credentials %v came out of a malformed answer (status %d): %q", got, credStatus, body)
		}
		if got.AccessKeyID != want.AccessKeyID || got.SecretAccessKey != want.SecretAccessKey || got.SessionToken != want.Token {
			t.Fatalf("credentials %v differ from the answer %q", got, body)
		}
		if got.Expired(now) || !got.CanExpire() || got.Expires.After(want.Expiration) {
			t.Fatalf("credentials expiring %v from an answer expiring %v", got.Expires, want.Expiration)
		}
	})
}

// fuzzOps are the STS operations FuzzSTSResponse calls: the broker's
// three (awscreds.Issuer.Issue), and the agent's AssumeRole with static
// keys (awscreds.Resolve, then Retrieve).
var fuzzOps = []struct {
	principal credbroker.PrincipalType
	action    string
	agent     bool
}{
	{credbroker.PrincipalAssumedRole, "AssumeRole", false},
	{credbroker.PrincipalFederatedUser, "GetFederationToken", false},
	{credbroker.PrincipalSession, "GetSessionToken", false},
	{credbroker.PrincipalAssumedRole, "AssumeRole", true},
}

// FuzzSTSResponse answers the broker's STS calls (AssumeRole,
// GetFederationToken, GetSessionToken through awscreds.Issuer.Issue) with
// fuzzed statuses and bodies. Whatever the answer: no panic; a failure is
// a clear *credbroker.Error that shows neither the base secret nor any
// secret from the answer; and credentials come out only from a 200 answer
// holding complete, unexpired credentials.
func FuzzSTSResponse(f *testing.F) {
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	creds := `<Credentials><AccessKeyId>ASIASTSFUZZ000000001</AccessKeyId><SecretAccessKey>sts-secret-value-1</SecretAccessKey>` +
		`<SessionToken>sts-session-token-1</SessionToken><Expiration>` + exp + `</Expiration></Credentials>`
	ok := func(action, inner string) string {
		return `<` + action + `Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><` + action + `Result>` + inner +
			`</` + action + `Result><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></` + action + `Response>`
	}
	errBody := func(code, msg string) string {
		return `<ErrorResponse><Error><Type>Sender</Type><Code>` + code + `</Code><Message>` + msg + `</Message></Error><RequestId>r</RequestId></ErrorResponse>`
	}
	for i, op := range fuzzOps {
		f.Add(uint8(i), uint8(0), []byte(ok(op.action, creds)))
	}
	for _, s := range []struct {
		op     uint8
		status uint8
		body   string
	}{
		{0, 0, ok("AssumeRole", `<Credentials><AccessKeyId>ASIAX</AccessKeyId></Credentials>`)},
		{0, 0, ok("AssumeRole", strings.Replace(creds, exp, "2001-01-01T00:00:00Z", 1))},
		{0, 0, ok("AssumeRole", strings.Replace(creds, exp, "tomorrow", 1))},
		{0, 0, ok("AssumeRole", ``)},
		{0, 0, ``},
		{0, 0, `<<<`},
		{0, 0, `{"Credentials":{}}`},
		{1, 0, ok("AssumeRole", creds)},
		{3, 0, ok("AssumeRole", `<Credentials><AccessKeyId>ASIAX</AccessKeyId></Credentials>`)},
		{3, 0, ok("AssumeRole", strings.Replace(creds, exp, "2001-01-01T00:00:00Z", 1))},
		{3, 4, errBody("AccessDenied", "not authorized sts-secret-value-3")},
		{0, 4, errBody("AccessDenied", "User arn:aws:iam::123456789012:user/broker is not authorized sts-secret-value-2")},
		{0, 8, errBody("Throttling", "Rate exceeded")},
		{0, 9, errBody("InternalFailure", "oops")},
		{2, 5, errBody("ExpiredToken", "The security token included in the request is expired")},
		{0, 4, errBody("ValidationError", "1 validation error detected: Value at 'durationSeconds' failed MaxSessionDuration")},
		{0, 4, errBody("Some.Weird:Code<>", "x")},
		{0, 10, `<html>Service Unavailable</html>`},
		{0, 0, ok("AssumeRole", creds) + `<trailing/>`},
		{0, 12, ``},
	} {
		f.Add(s.op, s.status, []byte(s.body))
	}
	srv := newUpstream(f)
	is := &awscreds.Issuer{Options: awscreds.Options{HTTPClient: srv.Client()}}
	base := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{AccessKeyID: fuzzBaseKeyID, SecretAccessKey: fuzzBaseSecret, Source: "fuzz"}, nil
	})
	f.Fuzz(func(t *testing.T, opIndex, statusIndex uint8, body []byte) {
		op := fuzzOps[int(opIndex)%len(fuzzOps)]
		status := pickStatus(statusIndex)
		srv.set(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "text/xml")
			w.WriteHeader(status)
			w.Write(body)
		})
		now := time.Now()
		is.Now = func() time.Time { return now }
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req := credbroker.IssueRequest{
			Principal: op.principal, Region: "us-east-1", STSEndpoints: []string{srv.URL}, Base: base,
			Duration: 15 * time.Minute, Retry: credbroker.RetrySpec{MaxAttempts: 1, MaxBackoff: time.Millisecond},
		}
		if op.principal == credbroker.PrincipalAssumedRole {
			req.RoleARN = "arn:aws:iam::123456789012:role/deploy"
			req.SessionName = "OPS-X-1"
		}
		var got credbroker.Credentials
		var err error
		if op.agent {
			src := credbroker.Source{
				Kind: credbroker.SourceStatic, Region: "us-east-1", AccessKeyID: fuzzBaseKeyID, SecretAccessKey: fuzzBaseSecret,
				STSEndpoint: srv.URL, Retry: req.Retry,
				Role: credbroker.RoleSpec{ARN: req.RoleARN, Duration: 15 * time.Minute},
			}
			res, rerr := awscreds.Resolve(ctx, src, credbroker.Build{Plan: "OPS-X", Number: "1"}, is.Options)
			if rerr != nil {
				t.Fatalf("Resolve made no call, yet failed: %v", rerr)
			}
			got, err = res.Provider.Retrieve(ctx)
		} else {
			got, err = is.Issue(ctx, req)
		}
		if err != nil {
			code := ""
			if _, rest, ok := bytes.Cut(body, []byte("<Code>")); ok {
				code, _, _ = strings.Cut(string(rest), "</Code>")
			}
			checkUpstreamError(t, err, append([]string{fuzzBaseSecret}, markersBut(code)...)...)
			return
		}
		if status != 200 {
			t.Fatalf("%s: credentials %v came out of an HTTP %d answer %q", op.action, got, status, body)
		}
		if got.AccessKeyID == "" || got.SecretAccessKey == "" || got.SessionToken == "" || !got.CanExpire() || got.Expired(now) {
			t.Fatalf("%s: incomplete or expired credentials %v came out of %q", op.action, got, body)
		}
		if !bytes.Contains(body, []byte(got.SecretAccessKey)) || !bytes.Contains(body, []byte(got.SessionToken)) {
			t.Fatalf("%s: credentials %v are not the answer's %q", op.action, got, body)
		}
	})
}
