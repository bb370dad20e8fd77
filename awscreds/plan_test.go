package awscreds

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

const deployRole = "arn:aws:iam::123456789012:role/deploy"

func TestDecideWhereEachDecisionComesFrom(t *testing.T) {
	cases := []struct {
		name                   string
		src                    credbroker.Source
		env                    map[string]string
		region, regionFrom     string
		partition              string
		endpoint, endpointFrom string
	}{
		{"the source's own", credbroker.Source{Kind: credbroker.SourceInstance, Region: "eu-west-1", STSEndpoint: "http://127.0.0.1:9000"},
			map[string]string{EnvRegion: "us-east-1", EnvSTSEndpoint: "http://127.0.0.1:1"},
			"eu-west-1", "region", "aws", "http://127.0.0.1:9000", "sts_endpoint"},
		{"AWS_REGION, and the partition's endpoint", credbroker.Source{Kind: credbroker.SourceInstance},
			map[string]string{EnvRegion: "cn-north-1", EnvDefaultRegion: "us-east-1"},
			"cn-north-1", EnvRegion, "aws-cn", "https://sts.cn-north-1.amazonaws.com.cn", FromPartition},
		{"AWS_DEFAULT_REGION and AWS_ENDPOINT_URL", credbroker.Source{Kind: credbroker.SourceInstance},
			map[string]string{EnvDefaultRegion: "us-gov-west-1", EnvEndpoint: "https://sts.example.internal"},
			"us-gov-west-1", EnvDefaultRegion, "aws-us-gov", "https://sts.example.internal", EnvEndpoint},
		{"AWS_ENDPOINT_URL_STS first", credbroker.Source{Kind: credbroker.SourceInstance, Region: "eu-west-1"},
			map[string]string{EnvEndpoint: "https://all.example", EnvSTSEndpoint: "https://sts.example"},
			"eu-west-1", "region", "aws", "https://sts.example", EnvSTSEndpoint},
		{"configured endpoints ignored", credbroker.Source{Kind: credbroker.SourceInstance, Region: "eu-west-1"},
			map[string]string{EnvSTSEndpoint: "https://sts.example", EnvIgnoreEndpoint: "TRUE"},
			"eu-west-1", "region", "aws", "https://sts.eu-west-1.amazonaws.com", FromPartition},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := testOptions()
			opts.LookupEnv = envMap(c.env)
			p := Decide(c.src, testBuild, opts, nil)
			if err := p.Err(); err != nil {
				t.Fatal(err)
			}
			if p.Region != c.region || p.RegionFrom != c.regionFrom || p.Partition.ID != c.partition ||
				p.STSEndpoint != c.endpoint || p.STSEndpointFrom != c.endpointFrom {
				t.Fatalf("region %s from %s, partition %s, endpoint %s from %s", p.Region, p.RegionFrom, p.Partition.ID, p.STSEndpoint, p.STSEndpointFrom)
			}
			if !p.Passed("region") {
				t.Fatalf("the region check is not recorded as passed: %+v", p.Checks)
			}
		})
	}
}

func TestDecideBase(t *testing.T) {
	opts := testOptions()
	opts.LookupEnv = envMap(map[string]string{EnvIMDSEndpoint: "http://127.0.0.1:1338/"})
	p := Decide(credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSv1: true}, testBuild, opts, nil)
	if p.Err() != nil || !p.RoleSession || p.IMDSEndpoint != "http://127.0.0.1:1338/" || p.IMDSEndpointFrom != EnvIMDSEndpoint || !p.IMDSv1 {
		t.Fatalf("instance plan %+v: %v", p, p.Err())
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Field != "imds_v1" || !strings.Contains(p.Warnings[0].Message, "SSRF") || p.Warnings[0].Fix == "" {
		t.Fatalf("warnings %+v", p.Warnings)
	}
	p = Decide(credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1"}, testBuild, testOptions(), nil)
	if p.IMDSEndpoint != DefaultIMDSEndpoint || p.IMDSEndpointFrom != FromDefault || len(p.Warnings) != 0 || p.Role != nil {
		t.Fatalf("default endpoint: %+v", p)
	}
	src := staticSource()
	if p := Decide(src, testBuild, testOptions(), nil); p.RoleSession || p.Err() != nil {
		t.Fatalf("long-term keys are not a role session: %+v", p)
	}
	src.SessionToken = baseToken
	if p := Decide(src, testBuild, testOptions(), nil); !p.RoleSession {
		t.Fatal("keys with a session token are a role session")
	}
}

func TestDecideRole(t *testing.T) {
	src := staticSource()
	src.SessionToken = baseToken
	src.Role = credbroker.RoleSpec{ARN: deployRole, Duration: 2 * time.Hour, Policy: "{ \"Statement\": {\"Effect\": \"Allow\", \"Action\": \"s3:GetObject\", \"Resource\": \"*\"} }",
		PolicyARNs: []string{"arn:aws:iam::aws:policy/ReadOnlyAccess"}, Tags: []credbroker.Tag{{Key: "team", Value: "ops"}}, TransitiveTagKeys: []string{"team"}}
	p := Decide(src, testBuild, testOptions(), nil)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	r := p.Role
	if r.RequestedDuration != 2*time.Hour || r.Duration != time.Hour || !r.Clamped || strings.Contains(r.Policy, " ") ||
		r.SessionName != credbroker.SessionName(testBuild) || r.SourceIdentity == "" || len(r.Tags) != 4 || r.Tags[3].Key != "team" {
		t.Fatalf("role plan %+v", r)
	}
	if len(p.Warnings) != 1 || p.Warnings[0].Field != "duration" || p.Warnings[0].Message !=
		"duration 2h will be lowered to 1h: the base credentials are a role session, and STS caps role chaining at one hour" || p.Warnings[0].Fix != "ask for 1h or less" {
		t.Fatalf("warnings %+v", p.Warnings)
	}
	for _, f := range []string{"region", "role_arn", "policy_arns", "policy", "duration", "session_name", "tags"} {
		if f != "session_name" && !p.Passed(f) {
			t.Errorf("%s not checked: %+v", f, p.Checks)
		}
	}
	if p.Passed("session_name") {
		t.Error("a derived session name was checked as if the source gave it")
	}
	src.SessionToken = ""
	src.Role.Duration = 0
	p = Decide(src, testBuild, testOptions(), nil)
	if p.Role.Duration != DefaultRoleDuration || p.Role.Clamped || len(p.Warnings) != 0 || slices.ContainsFunc(p.Checks, func(c Check) bool { return c.Field == "duration" }) {
		t.Fatalf("no duration asked: %+v, checks %+v", p.Role, p.Checks)
	}
}

// Decide finds every problem, where Resolve stops at the first: the same.
func TestDecideCollectsEveryProblem(t *testing.T) {
	src := staticSource()
	src.Region = "mars-north-1"
	src.SecretAccessKey = "has a space"
	src.Role = credbroker.RoleSpec{ARN: deployRole, Policy: "{", ExternalID: "x", Duration: 13 * time.Hour}
	p := Decide(src, testBuild, testOptions(), nil)
	var fields []string
	for _, c := range p.Checks {
		if c.Err != nil {
			fields = append(fields, c.Field)
		}
	}
	if want := []string{"region", "policy", "duration", "external_id", "secret_access_key"}; !slices.Equal(fields, want) {
		t.Fatalf("problems in %v, want %v", fields, want)
	}
	_, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err == nil || err.Error() != p.Err().Error() {
		t.Fatalf("Resolve fails with %v, the plan's first problem is %v", err, p.Err())
	}
	// No role ARN is a problem only for settings that need one.
	src = staticSource()
	src.Role = credbroker.RoleSpec{Duration: time.Hour, ExternalID: "ops-7f3a"}
	p = Decide(src, testBuild, testOptions(), nil)
	if e := credbroker.AsError(p.Err()); e == nil || e.Field != "role_arn" || !strings.Contains(e.Message, "external_id, duration is set, but no role") {
		t.Fatalf("got %v", p.Err())
	}
}

// A pending field counts as given, but nothing looks at its value, nor at
// what depends on it.
func TestDecidePending(t *testing.T) {
	src := staticSource()
	src.Region, src.SessionToken, src.AccessKeyID = "", "", ""
	src.Role = credbroker.RoleSpec{ARN: "not-an-arn", Duration: 2 * time.Hour}
	pending := map[string]bool{"region": true, "session_token": true, "access_key_id": true}
	opts := testOptions()
	opts.LookupEnv = envMap(map[string]string{EnvRegion: "cn-north-1"})
	p := Decide(src, testBuild, opts, func(f string) bool { return pending[f] })
	if err := p.Err(); err != nil {
		t.Fatalf("a pending field was checked: %v", err)
	}
	if p.Region != "" || p.Partition.ID != "" || !p.RoleSession || !p.Role.Clamped {
		t.Fatalf("plan %+v, role %+v", p, p.Role)
	}
	for _, c := range p.Checks {
		if pending[c.Field] || c.Field == "role_arn" {
			t.Errorf("checked %s although it or the partition is pending", c.Field)
		}
	}
	// With the region known, the same ARN is a problem.
	delete(pending, "region")
	src.Region = "us-east-1"
	p = Decide(src, testBuild, opts, func(f string) bool { return pending[f] })
	if e := credbroker.AsError(p.Err()); e == nil || e.Field != "role_arn" {
		t.Fatalf("got %v", p.Err())
	}
	// A pending role ARN is a role: its settings are no problem.
	src.Role.ARN = ""
	pending["role_arn"] = true
	p = Decide(src, testBuild, opts, func(f string) bool { return pending[f] })
	if p.Err() != nil || p.Role == nil {
		t.Fatalf("pending role: %v %+v", p.Err(), p.Role)
	}
}

// Resolve acts on the plan: its warnings and its duration.
func TestResolveActsOnThePlan(t *testing.T) {
	fake := newFakeSTS(t)
	src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSv1: true, STSEndpoint: fake.URL,
		Role: credbroker.RoleSpec{ARN: deployRole, Duration: 90 * time.Minute}}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	p := Decide(src, testBuild, testOptions(), nil)
	if !slices.Equal(res.Warnings, p.WarningTexts()) || len(res.Warnings) != 2 || res.Region != p.Region || res.Partition != p.Partition.ID {
		t.Fatalf("Resolve says %q in %s/%s; the plan %q in %s/%s", res.Warnings, res.Region, res.Partition, p.WarningTexts(), p.Region, p.Partition.ID)
	}
	if !strings.Contains(res.Warnings[1], "duration 1h30m will be lowered to 1h") || !strings.HasSuffix(res.Warnings[1], "; ask for 1h or less") {
		t.Fatalf("warnings %q", res.Warnings)
	}
	for _, src := range []credbroker.Source{{Kind: credbroker.SourceConnector}, {Kind: "web"}} {
		if p := Decide(src, testBuild, testOptions(), nil); credbroker.AsError(p.Err()) == nil || credbroker.AsError(p.Err()).Field != "source" {
			t.Fatalf("%s: %v", src.Kind, p.Err())
		}
	}
}
