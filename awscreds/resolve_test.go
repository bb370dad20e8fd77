package awscreds

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

var testBuild = credbroker.Build{Plan: "OPS-DEPLOY", Job: "OPS-DEPLOY-JOB1", Number: "42"}

func staticSource() credbroker.Source {
	return credbroker.Source{
		Kind: credbroker.SourceStatic, Region: "eu-west-1",
		AccessKeyID: baseKeyID, SecretAccessKey: baseSecret,
	}
}

func TestResolveStatic(t *testing.T) {
	res, err := Resolve(context.Background(), staticSource(), testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Region != "eu-west-1" || res.Partition != "aws" || len(res.Warnings) != 0 {
		t.Fatalf("resolved %+v", res)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := credbroker.Credentials{AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, Source: "static"}
	if c != want {
		t.Fatalf("got %+v", c)
	}
}

func TestResolveStaticErrors(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*credbroker.Source)
		field string
		msg   string
	}{
		{"no key ID", func(s *credbroker.Source) { s.AccessKeyID = "" }, "access_key_id", "access key ID is missing"},
		{"no secret", func(s *credbroker.Source) { s.SecretAccessKey = "" }, "secret_access_key", "secret access key is missing"},
		{"unsubstituted", func(s *credbroker.Source) { s.SecretAccessKey = "${bamboo.awsSecret}" }, "secret_access_key", "not substituted"},
		{"newline", func(s *credbroker.Source) { s.SecretAccessKey = baseSecret + "\n" }, "secret_access_key", "whitespace"},
		{"token newline", func(s *credbroker.Source) { s.SessionToken = baseToken + "\n" }, "session_token", "whitespace"},
		{"no region", func(s *credbroker.Source) { s.Region = "" }, "region", "no region"},
		{"unknown region", func(s *credbroker.Source) { s.Region = "eu-west" }, "region", `"eu-west"`},
		{"bad endpoint", func(s *credbroker.Source) { s.STSEndpoint = "sts.example.com" }, "sts_endpoint", "not an http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := staticSource()
			tt.edit(&src)
			_, err := Resolve(context.Background(), src, testBuild, testOptions())
			wantError(t, err, credbroker.CodeInvalid, tt.field, tt.msg)
		})
	}
}

func TestResolveSourceKinds(t *testing.T) {
	_, err := Resolve(context.Background(), credbroker.Source{Kind: credbroker.SourceConnector, Connector: "deploy"}, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "source", "vended by the broker")
	_, err = Resolve(context.Background(), credbroker.Source{Kind: "magic"}, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "source", `unknown credential source "magic"`)
	src := staticSource()
	src.Role.Policy = `{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`
	src.Role.Duration = time.Hour
	_, err = Resolve(context.Background(), src, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "role_arn", "duration, policy is set, but no role to assume")
}

func TestResolveAssumeRoleParameters(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role = credbroker.RoleSpec{
		ARN:        "arn:aws:iam::123456789012:role/deploy",
		ExternalID: "ext-123",
		Duration:   8 * time.Hour,
		Policy:     "{\n  \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:*\", \"Resource\": \"*\"}\n}",
		PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess", "arn:aws:iam::123456789012:policy/deploy"},
		Tags:       []credbroker.Tag{{Key: "Plan", Value: "OPS-DEPLOY"}, {Key: "Build", Value: "42"}},
		// TransitiveTagKeys survive role chaining.
		TransitiveTagKeys: []string{"Plan"},
	}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings %v", res.Warnings)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("Resolve made %d calls", n)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := credbroker.Credentials{AccessKeyID: issuedKeyID, SecretAccessKey: issuedSecret, SessionToken: issuedToken,
		Expires: fixedNow.Add(time.Hour), Source: "assume-role", AccountID: "123456789012"}
	if c != want {
		t.Fatalf("got %+v", c)
	}
	calls := fake.Calls()
	if len(calls) != 1 {
		t.Fatalf("%d calls", len(calls))
	}
	f := calls[0].Form
	wantForm := map[string]string{
		"Action":                     "AssumeRole",
		"RoleArn":                    "arn:aws:iam::123456789012:role/deploy",
		"RoleSessionName":            "OPS-DEPLOY-JOB1-42",
		"ExternalId":                 "ext-123",
		"DurationSeconds":            "28800",
		"Policy":                     `{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`,
		"PolicyArns.member.1.arn":    "arn:aws:iam::aws:policy/ReadOnlyAccess",
		"PolicyArns.member.2.arn":    "arn:aws:iam::123456789012:policy/deploy",
		"Tags.member.1.Key":          "credbroker:plan",
		"Tags.member.1.Value":        "OPS-DEPLOY",
		"Tags.member.2.Key":          "credbroker:build",
		"Tags.member.2.Value":        "42",
		"Tags.member.3.Key":          "credbroker:job",
		"Tags.member.3.Value":        "OPS-DEPLOY-JOB1",
		"Tags.member.4.Key":          "Plan",
		"Tags.member.4.Value":        "OPS-DEPLOY",
		"Tags.member.5.Key":          "Build",
		"Tags.member.5.Value":        "42",
		"Tags.member.6.Key":          "",
		"TransitiveTagKeys.member.1": "Plan",
		"TransitiveTagKeys.member.2": "",
		"SourceIdentity":             "OPS-DEPLOY-JOB1-42",
	}
	for k, v := range wantForm {
		if got := f.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if !strings.Contains(calls[0].Auth, "Credential="+baseKeyID+"/") || !strings.Contains(calls[0].Auth, "/eu-west-1/sts/aws4_request") {
		t.Errorf("not signed with the base key in eu-west-1: %s", calls[0].Auth)
	}
	// Every Retrieve calls STS again: no caching here.
	if _, err := res.Provider.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(fake.Calls()); n != 2 {
		t.Fatalf("second Retrieve made %d calls in all, want 2", n)
	}
}

func TestResolveExplicitSessionNameAndNoSourceIdentity(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role = credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy", SessionName: "release@ops"}
	opts := testOptions()
	opts.NoSourceIdentity = true
	res, err := Resolve(context.Background(), src, testBuild, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Provider.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := fake.Calls()[0].Form
	if f.Get("RoleSessionName") != "release@ops" || f.Has("SourceIdentity") || f.Get("DurationSeconds") != "3600" {
		t.Fatalf("form %v", f)
	}
	src.Role.SessionName = "release ops"
	_, err = Resolve(context.Background(), src, testBuild, opts)
	wantError(t, err, credbroker.CodeInvalid, "session_name", "not a valid role session name")
}

func TestResolveRoleChainingClamp(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.SessionToken = baseToken // a role session: AssumeRole is role chaining
	src.STSEndpoint = fake.URL
	src.Role = credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy", Duration: 4 * time.Hour}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "duration 4h will be lowered to 1h") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	if _, err := res.Provider.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := fake.Calls()[0].Form.Get("DurationSeconds"); d != "3600" {
		t.Fatalf("DurationSeconds = %s", d)
	}
}

func TestResolvePartitionMismatchMakesNoRequest(t *testing.T) {
	var count int
	counter := newFakeSTS(t)
	counter.setRespond(func(url.Values) (int, string) { count++; return 500, "" })
	imds := newFakeIMDS(t, imdsV2, fixedNow.Add(6*time.Hour))
	for _, src := range []credbroker.Source{
		{Kind: credbroker.SourceStatic, Region: "cn-north-1", AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, STSEndpoint: counter.URL,
			Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy"}},
		{Kind: credbroker.SourceInstance, Region: "cn-north-1", IMDSEndpoint: imds.URL, STSEndpoint: counter.URL,
			Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy"}},
		{Kind: credbroker.SourceStatic, Region: "us-gov-west-1", AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, STSEndpoint: counter.URL,
			Role: credbroker.RoleSpec{ARN: "arn:aws-us-gov:iam::123456789012:role/deploy", PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}}},
	} {
		_, err := Resolve(context.Background(), src, testBuild, testOptions())
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeUnprocessable {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(e.Error(), "but region") {
			t.Errorf("message %q", e.Error())
		}
	}
	_, err := Resolve(context.Background(), credbroker.Source{Kind: credbroker.SourceStatic, Region: "cn-north-1",
		AccessKeyID: baseKeyID, SecretAccessKey: baseSecret, STSEndpoint: counter.URL,
		Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy"}}, testBuild, testOptions())
	wantError(t, err, credbroker.CodeUnprocessable, "role_arn",
		`role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"; use arn:aws-cn:iam::... or a region of "aws"`)
	if count != 0 || len(counter.Calls()) != 0 || len(imds.Requests()) != 0 {
		t.Fatalf("requests were made: sts %d, imds %v", len(counter.Calls()), imds.Requests())
	}
}

func TestResolveRoleChecks(t *testing.T) {
	tests := []struct {
		name  string
		role  credbroker.RoleSpec
		code  credbroker.Code
		field string
		msg   string
	}{
		{"bad policy", credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/d", Policy: `{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}`},
			credbroker.CodeInvalid, "policy.Statement[0].Resource", "no Resource"},
		{"long duration", credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/d", Duration: 13 * time.Hour},
			credbroker.CodeInvalid, "duration", "15m0s to 12h"},
		{"external id", credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/d", ExternalID: "a b"},
			credbroker.CodeInvalid, "external_id", "does not accept"},
		{"tags", credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/d", Tags: []credbroker.Tag{{Key: "a"}, {Key: "A"}}},
			credbroker.CodeInvalid, "tags[1].key", "twice"},
		{"too many policy ARNs", credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/d", PolicyARNs: slices.Repeat([]string{"arn:aws:iam::aws:policy/P"}, 11)},
			credbroker.CodeInvalid, "policy_arns", "at most 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := staticSource()
			src.Role = tt.role
			_, err := Resolve(context.Background(), src, testBuild, testOptions())
			wantError(t, err, tt.code, tt.field, tt.msg)
		})
	}
}

func TestResolveInstanceIMDSv2(t *testing.T) {
	exp := fixedNow.Add(30 * time.Minute)
	imds := newFakeIMDS(t, imdsV2, exp)
	src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: imds.URL}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Fatalf("warnings %v", res.Warnings)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != baseKeyID || c.SecretAccessKey != baseSecret || c.SessionToken != baseToken || c.Source != "instance" {
		t.Fatalf("got %+v", c)
	}
	// ec2rolecreds may bring the expiry forward (to refresh early), never
	// push it back.
	if !c.CanExpire() || c.Expires.After(exp) {
		t.Fatalf("expires %v, want at most %v", c.Expires, exp)
	}
	reqs := imds.Requests()
	want := []string{
		"PUT /latest/api/token false",
		"GET /latest/meta-data/iam/security-credentials/ true",
		"GET /latest/meta-data/iam/security-credentials/agent-role true",
	}
	if !slices.Equal(reqs, want) {
		t.Fatalf("requests %q, want %q", reqs, want)
	}
}

func TestResolveInstanceRefusesIMDSv1(t *testing.T) {
	imds := newFakeIMDS(t, imdsV1Only, fixedNow.Add(time.Hour))
	src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: imds.URL}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Provider.Retrieve(context.Background())
	wantError(t, err, credbroker.CodeUpstream, "instance", "refused the IMDSv2 session token request (HTTP 403)")
	for _, r := range imds.Requests() {
		if strings.HasPrefix(r, "GET") {
			t.Fatalf("fell back to IMDSv1: %q", imds.Requests())
		}
	}

	// With the fallback allowed, it works, and says so.
	src.IMDSv1 = true
	res, err = Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "IMDSv1 fallback is allowed") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil || c.AccessKeyID != baseKeyID {
		t.Fatalf("got %+v, %v", c, err)
	}
}

func TestResolveInstanceErrors(t *testing.T) {
	noProfile := newFakeIMDS(t, imdsNoProfile, fixedNow)
	expired := newFakeIMDS(t, imdsV2, fixedNow.Add(-time.Minute))
	tests := []struct {
		name, endpoint string
		code           credbroker.Code
		msg            string
	}{
		{"no instance profile", noProfile.URL, credbroker.CodeUnprocessable, "the instance has no instance profile"},
		{"not reachable", closedURL(t), credbroker.CodeUpstream, "is not reachable"},
		{"expired credentials", expired.URL, credbroker.CodeUpstream, "that expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: tt.endpoint}
			res, err := Resolve(context.Background(), src, testBuild, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = res.Provider.Retrieve(context.Background())
			e := wantError(t, err, tt.code, "instance", tt.msg)
			if e.Fix == "" {
				t.Error("no fix")
			}
		})
	}
}

func TestResolveInstanceAssumeRole(t *testing.T) {
	imds := newFakeIMDS(t, imdsV2, fixedNow.Add(6*time.Hour))
	fake := newFakeSTS(t)
	src := credbroker.Source{
		Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: imds.URL, STSEndpoint: fake.URL,
		Role: credbroker.RoleSpec{ARN: "arn:aws:iam::210987654321:role/cross-account", ExternalID: "ext-1", Duration: 2 * time.Hour},
	}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "role chaining") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessKeyID != issuedKeyID {
		t.Fatalf("got %+v", c)
	}
	call := fake.Calls()[0]
	if call.Form.Get("DurationSeconds") != "3600" || call.Form.Get("ExternalId") != "ext-1" {
		t.Fatalf("form %v", call.Form)
	}
	if !strings.Contains(call.Auth, "Credential="+baseKeyID+"/") {
		t.Fatalf("not signed with the instance credentials: %s", call.Auth)
	}
}

func TestResolveAssumeRoleErrors(t *testing.T) {
	tests := []struct {
		code   string
		status int
		want   credbroker.Code
		field  string
		msg    string
	}{
		{"AccessDenied", 403, credbroker.CodeForbidden, "role_arn", "STS refused AssumeRole: AccessDenied"},
		{"InvalidClientTokenId", 403, credbroker.CodeUnprocessable, "static", "does not know the access key ID"},
		{"SignatureDoesNotMatch", 403, credbroker.CodeUnprocessable, "static", "secret access key is wrong"},
		{"ExpiredToken", 400, credbroker.CodeUnprocessable, "static", "session token of the credentials that sign it has expired"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(url.Values) (int, string) {
				return tt.status, stsError(tt.code, "User: arn:aws:iam::123456789012:user/broker is not authorized; key "+baseKeyID)
			})
			src := staticSource()
			src.STSEndpoint = fake.URL
			src.Role.ARN = "arn:aws:iam::123456789012:role/deploy"
			res, err := Resolve(context.Background(), src, testBuild, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = res.Provider.Retrieve(context.Background())
			e := wantError(t, err, tt.want, tt.field, tt.msg)
			if strings.Contains(e.Message, "user/broker") || strings.Contains(e.Message, baseKeyID) {
				t.Errorf("upstream text in the message: %s", e.Message)
			}
		})
	}
}

func TestResolveEnvironment(t *testing.T) {
	var got []stsConfig
	opts := testOptions()
	opts.newSTS = func(cfg stsConfig) stsAPI { got = append(got, cfg); return nil }
	src := staticSource()
	src.Region = ""
	src.Role.ARN = "arn:aws:iam::123456789012:role/deploy"

	// Region and endpoint from the environment.
	opts.LookupEnv = envMap(map[string]string{EnvRegion: "ap-south-2", EnvSTSEndpoint: "http://127.0.0.1:9000"})
	res, err := Resolve(context.Background(), src, testBuild, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Region != "ap-south-2" || got[0].Endpoint != "http://127.0.0.1:9000" || got[0].Region != "ap-south-2" {
		t.Fatalf("resolved %+v, sts %+v", res, got[0])
	}

	// The flag wins over the environment; AWS_DEFAULT_REGION is the
	// second choice.
	opts.LookupEnv = envMap(map[string]string{EnvDefaultRegion: "eu-north-1", EnvEndpoint: "http://127.0.0.1:1"})
	src.STSEndpoint = "https://sts.example.com"
	if _, err := Resolve(context.Background(), src, testBuild, opts); err != nil {
		t.Fatal(err)
	}
	if got[1].Endpoint != "https://sts.example.com" || got[1].Region != "eu-north-1" {
		t.Fatalf("sts %+v", got[1])
	}

	// AWS_ENDPOINT_URL applies to STS too, unless ignored.
	src.STSEndpoint = ""
	if _, err := Resolve(context.Background(), src, testBuild, opts); err != nil {
		t.Fatal(err)
	}
	opts.LookupEnv = envMap(map[string]string{EnvDefaultRegion: "eu-north-1", EnvEndpoint: "http://127.0.0.1:1", EnvIgnoreEndpoint: "true"})
	if _, err := Resolve(context.Background(), src, testBuild, opts); err != nil {
		t.Fatal(err)
	}
	if got[2].Endpoint != "http://127.0.0.1:1" || got[3].Endpoint != "https://sts.eu-north-1.amazonaws.com" {
		t.Fatalf("sts %+v / %+v", got[2], got[3])
	}

	// Without LookupEnv nothing is read, whatever the process has.
	t.Setenv(EnvSTSEndpoint, "http://127.0.0.1:2")
	t.Setenv(EnvRegion, "us-west-2")
	opts.LookupEnv = nil
	src.Region = "ca-central-1"
	if _, err := Resolve(context.Background(), src, testBuild, opts); err != nil {
		t.Fatal(err)
	}
	if got[4].Endpoint != "https://sts.ca-central-1.amazonaws.com" {
		t.Fatalf("sts %+v", got[4])
	}
	src.Region = ""
	_, err = Resolve(context.Background(), src, testBuild, opts)
	wantError(t, err, credbroker.CodeInvalid, "region", "no region")

	// A bad endpoint from the environment names the variable.
	opts.LookupEnv = envMap(map[string]string{EnvSTSEndpoint: "127.0.0.1:9000"})
	src.Region = "us-east-1"
	_, err = Resolve(context.Background(), src, testBuild, opts)
	wantError(t, err, credbroker.CodeInvalid, EnvSTSEndpoint, "not an http or https URL")
}

func TestResolveIMDSEndpointFromEnvironment(t *testing.T) {
	imds := newFakeIMDS(t, imdsV2, fixedNow.Add(time.Hour))
	opts := testOptions()
	opts.LookupEnv = envMap(map[string]string{EnvIMDSEndpoint: imds.URL + "/"})
	res, err := Resolve(context.Background(), credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1"}, testBuild, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Provider.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(imds.Requests()) == 0 {
		t.Fatal("the environment's IMDS endpoint was not used")
	}
}

func TestResolveRegionByPattern(t *testing.T) {
	src := staticSource()
	src.Region = "eu-wset-1" // a typo, or a region newer than this code
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Partition != "aws" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "check the spelling") {
		t.Fatalf("resolved %+v", res)
	}
}

func TestResolveUnknownRegionWithEndpoint(t *testing.T) {
	src := staticSource()
	src.Region = "minio"
	src.STSEndpoint = "http://127.0.0.1:9000"
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if res.Partition != "aws" || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], `"minio"`) {
		t.Fatalf("resolved %+v", res)
	}
}
