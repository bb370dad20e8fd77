package awscreds

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

func testIssuer() *Issuer { return &Issuer{Options: testOptions()} }

func roleRequest(endpoints ...string) credbroker.IssueRequest {
	return credbroker.IssueRequest{
		Principal:         credbroker.PrincipalAssumedRole,
		Region:            "eu-central-1",
		STSEndpoints:      endpoints,
		Base:              staticBase(""),
		RoleARN:           "arn:aws:iam::123456789012:role/deploy",
		ExternalID:        "ext-9",
		SessionName:       "OPS-DEPLOY-42",
		SourceIdentity:    "OPS DEPLOY #42",
		Duration:          2 * time.Hour,
		Policy:            `{ "Statement": { "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*" } }`,
		PolicyARNs:        []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		Tags:              []credbroker.Tag{{Key: "Plan", Value: "OPS-DEPLOY"}},
		TransitiveTagKeys: []string{"Plan"},
	}
}

func TestIssueAssumeRole(t *testing.T) {
	fake := newFakeSTS(t)
	is := testIssuer()
	req := roleRequest(fake.URL)
	c, err := is.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	want := credbroker.Credentials{AccessKeyID: issuedKeyID, SecretAccessKey: issuedSecret, SessionToken: issuedToken,
		Expires: fixedNow.Add(time.Hour), Source: "assumed-role", AccountID: "123456789012"}
	if c != want {
		t.Fatalf("got %+v", c)
	}
	call := fake.Calls()[0]
	for k, v := range map[string]string{
		"Action":                     "AssumeRole",
		"RoleArn":                    req.RoleARN,
		"RoleSessionName":            "OPS-DEPLOY-42",
		"ExternalId":                 "ext-9",
		"DurationSeconds":            "7200",
		"Policy":                     `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`,
		"PolicyArns.member.1.arn":    "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"Tags.member.1.Key":          "Plan",
		"Tags.member.1.Value":        "OPS-DEPLOY",
		"TransitiveTagKeys.member.1": "Plan",
		"SourceIdentity":             "OPS-DEPLOY--42",
	} {
		if got := call.Form.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(call.Auth, "Credential="+baseKeyID+"/") || !strings.Contains(call.Auth, "/eu-central-1/sts/") {
		t.Errorf("Authorization %s", call.Auth)
	}
	warnings, err := is.Check(req)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("Check = %v, %v", warnings, err)
	}
}

func TestIssueRoleChaining(t *testing.T) {
	fake := newFakeSTS(t)
	is := testIssuer()
	req := roleRequest(fake.URL)
	req.Base = staticBase(baseToken)
	req.BaseIsRoleSession = true
	warnings, err := is.Check(req)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "will be lowered to 1h") {
		t.Fatalf("Check = %q, %v", warnings, err)
	}
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if d := fake.Calls()[0].Form.Get("DurationSeconds"); d != "3600" {
		t.Fatalf("DurationSeconds = %s", d)
	}
}

func TestIssueFederationToken(t *testing.T) {
	fake := newFakeSTS(t)
	is := testIssuer()
	req := credbroker.IssueRequest{
		Principal:     credbroker.PrincipalFederatedUser,
		Region:        "us-west-2",
		STSEndpoints:  []string{fake.URL},
		Base:          staticBase(""),
		FederatedName: "build agent #7 of the night shift team",
		Duration:      20 * time.Hour,
		Policy:        `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
		PolicyARNs:    []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"},
		Tags:          []credbroker.Tag{{Key: "Team", Value: "night"}},
	}
	c, err := is.Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != issuedKeyID || c.Source != "federated-user" {
		t.Fatalf("got %+v", c)
	}
	f := fake.Calls()[0].Form
	for k, v := range map[string]string{
		"Action":                  "GetFederationToken",
		"Name":                    "build-agent--7-of-the-night-shif",
		"DurationSeconds":         "72000",
		"Policy":                  req.Policy,
		"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"Tags.member.1.Key":       "Team",
	} {
		if got := f.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if len(f.Get("Name")) != 32 {
		t.Errorf("Name %q is not cut to 32", f.Get("Name"))
	}

	// No policy: works, with a warning from Check.
	req.Policy, req.PolicyARNs, req.Duration = "", nil, 0
	warnings, err := is.Check(req)
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "no permissions") {
		t.Fatalf("Check = %q, %v", warnings, err)
	}
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if f := fake.Calls()[1].Form; f.Has("DurationSeconds") || f.Has("Policy") {
		t.Fatalf("form %v", f)
	}

	req.BaseIsRoleSession = true
	_, err = is.Issue(context.Background(), req)
	wantError(t, err, credbroker.CodeUnprocessable, "principal", "long-term keys")
	if n := len(fake.Calls()); n != 2 {
		t.Fatalf("%d calls", n)
	}
}

func TestIssueSessionToken(t *testing.T) {
	fake := newFakeSTS(t)
	is := testIssuer()
	req := credbroker.IssueRequest{
		Principal: credbroker.PrincipalSession, Region: "us-east-1", STSEndpoints: []string{fake.URL},
		Base: staticBase(""), Duration: 36 * time.Hour,
	}
	c, err := is.Issue(context.Background(), req)
	if err != nil || c.SessionToken != issuedToken || c.Source != "session" {
		t.Fatalf("got %+v, %v", c, err)
	}
	f := fake.Calls()[0].Form
	if f.Get("Action") != "GetSessionToken" || f.Get("DurationSeconds") != "129600" {
		t.Fatalf("form %v", f)
	}
	req.Policy = `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`
	_, err = is.Issue(context.Background(), req)
	wantError(t, err, credbroker.CodeInvalid, "policy", "GetSessionToken takes no session policy")
	req.Policy, req.Duration = "", 37*time.Hour
	_, err = is.Issue(context.Background(), req)
	wantError(t, err, credbroker.CodeInvalid, "duration", "GetSessionToken allows 15m0s to 36h")
	if n := len(fake.Calls()); n != 1 {
		t.Fatalf("%d calls", n)
	}
}

func TestIssueProvided(t *testing.T) {
	fake := newFakeSTS(t)
	req := credbroker.IssueRequest{Principal: credbroker.PrincipalProvided, Region: "us-east-1", STSEndpoints: []string{fake.URL}, Base: staticBase("")}
	c, err := testIssuer().Issue(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if c != (credbroker.Credentials{AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, Source: "test"}) {
		t.Fatalf("got %+v", c)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("%d STS calls for provided keys", n)
	}
	req.Base = credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUnavailable, "base", "sealed key unavailable")
	})
	_, err = testIssuer().Issue(context.Background(), req)
	wantError(t, err, credbroker.CodeUnavailable, "base", "sealed key unavailable")
}

func TestIssueChecks(t *testing.T) {
	is := testIssuer()
	tests := []struct {
		name  string
		edit  func(*credbroker.IssueRequest)
		code  credbroker.Code
		field string
		msg   string
	}{
		{"no base", func(r *credbroker.IssueRequest) { r.Base = nil }, credbroker.CodeInvalid, "base", "no base credentials"},
		{"principal", func(r *credbroker.IssueRequest) { r.Principal = "robot" }, credbroker.CodeInvalid, "principal", `"robot"`},
		{"partition", func(r *credbroker.IssueRequest) { r.Region = "cn-northwest-1" }, credbroker.CodeUnprocessable, "role_arn",
			`role ARN is in partition "aws" but region cn-northwest-1 is in "aws-cn"`},
		{"policy ARN partition", func(r *credbroker.IssueRequest) {
			r.Region, r.RoleARN = "us-gov-west-1", "arn:aws-us-gov:iam::123456789012:role/x"
		}, credbroker.CodeUnprocessable, "policy_arns[0]", `policy ARN is in partition "aws"`},
		{"session name", func(r *credbroker.IssueRequest) { r.SessionName = "x" }, credbroker.CodeInvalid, "session_name", "2 to 64"},
		{"endpoint", func(r *credbroker.IssueRequest) { r.STSEndpoints = []string{"https://ok", "nope"} }, credbroker.CodeInvalid, "sts_endpoints[1]", "not an http"},
		{"policy", func(r *credbroker.IssueRequest) { r.Policy = `{"Statement":[]}` }, credbroker.CodeInvalid, "policy.Statement", "empty array"},
		{"duration", func(r *credbroker.IssueRequest) { r.Duration = time.Minute }, credbroker.CodeInvalid, "duration", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSTS(t)
			req := roleRequest(fake.URL)
			tt.edit(&req)
			_, err := is.Issue(context.Background(), req)
			wantError(t, err, tt.code, tt.field, tt.msg)
			if n := len(fake.Calls()); n != 0 {
				t.Fatalf("%d calls before the checks failed", n)
			}
		})
	}
}

func TestIssueFallbackEndpoints(t *testing.T) {
	is := &Issuer{Options: Options{Now: func() time.Time { return fixedNow }}} // default retries
	fake := newFakeSTS(t)
	dead, accepts := testpeers.HangUp(t)
	c, err := is.Issue(context.Background(), roleRequest(closedURL(t), dead, fake.URL))
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != issuedKeyID || len(fake.Calls()) != 1 {
		t.Fatalf("got %+v after %d calls", c, len(fake.Calls()))
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("the unreachable fallback was tried %d times, want once", n)
	}

	// An answer from STS, even an error, is final.
	refusing, second := newFakeSTS(t), newFakeSTS(t)
	refusing.setRespond(func(url.Values) (int, string) { return 403, stsError("AccessDenied", "no") })
	_, err = is.Issue(context.Background(), roleRequest(refusing.URL, second.URL))
	wantError(t, err, credbroker.CodeForbidden, "role_arn", "AccessDenied")
	if len(second.Calls()) != 0 {
		t.Fatal("fell back after an API error")
	}

	// When none can be reached, the error names the last one; it is
	// retried as usual.
	last, lastAccepts := testpeers.HangUp(t)
	quick := testIssuer()
	_, err = quick.Issue(context.Background(), roleRequest(closedURL(t), last))
	wantError(t, err, credbroker.CodeUpstream, "sts", "STS at "+last+" is not reachable")
	if n := lastAccepts.Load(); n != 2 {
		t.Fatalf("the last endpoint was tried %d times, want 2 (MaxAttempts)", n)
	}
}

func TestIssueSTSErrors(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   credbroker.Code
		field  string
		msg    string
	}{
		{"AccessDenied", 403, credbroker.CodeForbidden, "role_arn", "sts:AssumeRole"},
		{"ExpiredToken", 400, credbroker.CodeUnprocessable, "base", "has expired"},
		{"ExpiredTokenException", 400, credbroker.CodeUnprocessable, "base", "has expired"},
		{"Throttling", 400, credbroker.CodeThrottled, "sts", "STS throttled AssumeRole: Throttling"},
		{"ThrottlingException", 400, credbroker.CodeThrottled, "sts", "ThrottlingException"},
		{"RequestLimitExceeded", 400, credbroker.CodeThrottled, "sts", "RequestLimitExceeded"},
		{"MalformedPolicyDocument", 400, credbroker.CodeUnprocessable, "policy", "does not accept the session policy"},
		{"PackedPolicyTooLarge", 400, credbroker.CodeUnprocessable, "policy", "too large once STS packs them"},
		{"RegionDisabledException", 403, credbroker.CodeUnprocessable, "region", "not activated in region eu-central-1"},
		{"InvalidClientTokenId", 403, credbroker.CodeUnprocessable, "base", `another partition than "aws"`},
		{"SignatureDoesNotMatch", 403, credbroker.CodeUnprocessable, "base", "secret access key is wrong"},
		{"InvalidParameterValue", 400, credbroker.CodeUnprocessable, "role_arn", "STS refused a parameter"},
		{"ValidationError", 400, credbroker.CodeUnprocessable, "role_arn", "STS refused a parameter"},
		{"InternalFailure", 500, credbroker.CodeUpstream, "role_arn", "STS AssumeRole failed: InternalFailure"},
		{"Odd Code!", 500, credbroker.CodeUpstream, "role_arn", "failed: an error"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(url.Values) (int, string) {
				return tt.status, stsError(tt.code, "User: arn:aws:iam::123456789012:user/broker is not authorized")
			})
			_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
			e := wantError(t, err, tt.want, tt.field, tt.msg)
			if e.Fix == "" || e.Err == nil {
				t.Errorf("fix %q, cause %v", e.Fix, e.Err)
			}
			if strings.Contains(e.Error(), "user/broker") {
				t.Errorf("upstream text in the message: %s", e)
			}
		})
	}
}

func TestIssueValidationErrorFields(t *testing.T) {
	tests := []struct{ message, field, msg string }{
		{"The requested DurationSeconds exceeds the MaxSessionDuration set for this role.", "duration", "maximum session duration"},
		{"The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.", "duration", "refused the duration"},
		{"1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint", "session_name", "role session name"},
	}
	for _, tt := range tests {
		fake := newFakeSTS(t)
		fake.setRespond(func(url.Values) (int, string) { return 400, stsError("ValidationError", tt.message) })
		_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
		wantError(t, err, credbroker.CodeUnprocessable, tt.field, tt.msg)
	}
}

func TestIssueRetriesThrottling(t *testing.T) {
	fake := newFakeSTS(t)
	var n atomic.Int32
	fake.setRespond(func(f url.Values) (int, string) {
		if n.Add(1) == 1 {
			return 400, stsError("Throttling", "Rate exceeded")
		}
		return 200, stsSuccess("AssumeRole", fixedNow.Add(time.Hour))
	})
	if _, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL)); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 2 {
		t.Fatalf("%d calls", n.Load())
	}
}

func TestIssueRefusesExpiredCredentials(t *testing.T) {
	fake := newFakeSTS(t)
	fake.setRespond(func(f url.Values) (int, string) { return 200, stsSuccess("AssumeRole", fixedNow.Add(-time.Second)) })
	_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
	e := wantError(t, err, credbroker.CodeUpstream, "sts", "that expired at")
	if !strings.Contains(e.Message, "****Y001") {
		t.Errorf("key ID not masked as expected: %s", e.Message)
	}
}

func TestIssueBaseFailure(t *testing.T) {
	fake := newFakeSTS(t)
	req := roleRequest(fake.URL)
	req.Base = credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		return credbroker.Credentials{}, credbroker.Errorf(credbroker.CodeUnavailable, "base", "the store is down")
	})
	_, err := testIssuer().Issue(context.Background(), req)
	wantError(t, err, credbroker.CodeUnavailable, "base", "the store is down")
	if len(fake.Calls()) != 0 {
		t.Fatal("STS called without credentials")
	}
}

func TestCallerIdentity(t *testing.T) {
	fake := newFakeSTS(t)
	account, arn, err := testIssuer().CallerIdentity(context.Background(), "us-east-1", fake.URL, staticBase(""))
	if err != nil || account != "123456789012" || arn != "arn:aws:iam::123456789012:user/broker" {
		t.Fatalf("got %q %q %v", account, arn, err)
	}
	fake.setRespond(func(url.Values) (int, string) { return 403, stsError("InvalidClientTokenId", "bad") })
	_, _, err = testIssuer().CallerIdentity(context.Background(), "us-east-1", fake.URL, staticBase(""))
	wantError(t, err, credbroker.CodeUnprocessable, "base", "GetCallerIdentity")
}

// countingTransport counts round trips and connection reuse.
type countingTransport struct {
	base          http.RoundTripper
	trips, reused atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.trips.Add(1)
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if i.Reused {
			c.reused.Add(1)
		}
	}}
	return c.base.RoundTrip(r.WithContext(httptrace.WithClientTrace(r.Context(), trace)))
}

func TestIssueSharesHTTPClient(t *testing.T) {
	fake := newFakeSTS(t)
	ct := &countingTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	is := testIssuer()
	is.HTTPClient = &http.Client{Transport: ct}
	for range 3 {
		if _, err := is.Issue(context.Background(), roleRequest(fake.URL)); err != nil {
			t.Fatal(err)
		}
	}
	// Every call went through the one client given; whether its transport
	// reuses a connection depends on timing, so it is only logged.
	if ct.trips.Load() != 3 {
		t.Fatalf("%d round trips through the given client, want 3", ct.trips.Load())
	}
	t.Logf("%d of 3 calls reused a connection", ct.reused.Load())
}

func TestIssueEndpointFromEnvironment(t *testing.T) {
	fake := newFakeSTS(t)
	is := testIssuer()
	is.LookupEnv = envMap(map[string]string{EnvSTSEndpoint: fake.URL})
	req := roleRequest()
	req.Region = "minio"
	warnings, err := is.Check(req)
	if err != nil || len(warnings) != 1 {
		t.Fatalf("Check = %q, %v", warnings, err)
	}
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(fake.Calls()) != 1 {
		t.Fatal("the environment's endpoint was not used")
	}
}

// BenchmarkIssueAssumeRole measures one AssumeRole through the SDK
// (checks, signing, the HTTP round trip to a local fake, parsing).
func BenchmarkIssueAssumeRole(b *testing.B) {
	fake := newFakeSTS(b)
	is := testIssuer()
	req := roleRequest(fake.URL)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Issue(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	is := testIssuer()
	req := roleRequest("https://sts.example.com")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Check(req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestFallbackLogHasNoSecrets(t *testing.T) {
	var buf strings.Builder
	is := testIssuer()
	is.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	fake := newFakeSTS(t)
	down := closedURL(t)
	req := roleRequest(down, fake.URL)
	req.Base = staticBase(baseToken)
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	log := buf.String()
	if !strings.Contains(log, down) || !strings.Contains(log, "trying the next one") {
		t.Fatalf("log %q", log)
	}
	for _, s := range []string{baseSecret, baseToken, issuedSecret, issuedToken, baseKeyID, issuedKeyID} {
		if strings.Contains(log, s) {
			t.Fatalf("log holds %q: %s", s, log)
		}
	}
}
