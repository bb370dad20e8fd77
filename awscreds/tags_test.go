package awscreds

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
)

// tagForm returns the Tags.member.N and TransitiveTagKeys.member.N fields of
// an STS request form, in order.
func tagForm(f url.Values) (tags []credbroker.Tag, transitive []string) {
	for i := 1; ; i++ {
		n := "Tags.member." + strconv.Itoa(i)
		if !f.Has(n + ".Key") {
			break
		}
		tags = append(tags, credbroker.Tag{Key: f.Get(n + ".Key"), Value: f.Get(n + ".Value")})
	}
	for i := 1; ; i++ {
		n := "TransitiveTagKeys.member." + strconv.Itoa(i)
		if !f.Has(n) {
			break
		}
		transitive = append(transitive, f.Get(n))
	}
	return tags, transitive
}

// assumeOnce resolves src for b and retrieves once against fake, returning
// the form STS received.
func assumeOnce(t *testing.T, fake *fakeSTS, src credbroker.Source, b credbroker.Build) url.Values {
	t.Helper()
	src.STSEndpoint = fake.URL
	res, err := Resolve(context.Background(), src, b, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Provider.Retrieve(context.Background()); err != nil {
		t.Fatal(err)
	}
	calls := fake.Calls()
	if len(calls) == 0 {
		t.Fatal("no call reached STS")
	}
	return calls[len(calls)-1].Form
}

func TestResolveSendsBuildAndRoleTags(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.Role = credbroker.RoleSpec{
		ARN:               "arn:aws:iam::123456789012:role/deploy",
		Tags:              []credbroker.Tag{{Key: "team", Value: "ops"}, {Key: "cost center", Value: "42/a"}},
		TransitiveTagKeys: []string{"team", "credbroker:plan"},
	}
	tags, transitive := tagForm(assumeOnce(t, fake, src, testBuild))
	want := []credbroker.Tag{
		{Key: "credbroker:plan", Value: "OPS-DEPLOY"}, {Key: "credbroker:build", Value: "42"},
		{Key: "credbroker:job", Value: "OPS-DEPLOY-JOB1"}, {Key: "team", Value: "ops"}, {Key: "cost center", Value: "42/a"},
	}
	if !slices.Equal(tags, want) {
		t.Errorf("tags sent %v, want %v", tags, want)
	}
	if !slices.Equal(transitive, []string{"team", "credbroker:plan"}) {
		t.Errorf("transitive keys sent %v", transitive)
	}
}

func TestResolveTagsOnlyForKnownBuildParts(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.Role.ARN = "arn:aws:iam::123456789012:role/deploy"

	// No build and no tags: nothing is tagged, so no sts:TagSession needed.
	f := assumeOnce(t, fake, src, credbroker.Build{})
	for k := range f {
		if strings.HasPrefix(k, "Tags.") || strings.HasPrefix(k, "TransitiveTagKeys.") {
			t.Fatalf("%s sent for a build with no identity", k)
		}
	}
	// A plan only: one tag.
	tags, _ := tagForm(assumeOnce(t, fake, src, credbroker.Build{Plan: "OPS-X"}))
	if !slices.Equal(tags, []credbroker.Tag{{Key: "credbroker:plan", Value: "OPS-X"}}) {
		t.Fatalf("tags %v", tags)
	}
}

func TestResolveNoSessionTags(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.Role = credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy", NoSessionTags: true}
	f := assumeOnce(t, fake, src, testBuild)
	for k := range f {
		if strings.HasPrefix(k, "Tags.") || strings.HasPrefix(k, "TransitiveTagKeys.") {
			t.Fatalf("%s sent with session tags off", k)
		}
	}
	// The source identity is not a tag: it stays.
	if f.Get("SourceIdentity") != "OPS-DEPLOY-JOB1-42" {
		t.Fatalf("source identity %q", f.Get("SourceIdentity"))
	}

	// Tags given with tagging off: refused before any call.
	n := len(fake.Calls())
	src.STSEndpoint = fake.URL
	src.Role.Tags = []credbroker.Tag{{Key: "team", Value: "ops"}}
	_, err := Resolve(context.Background(), src, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "tags", "session tags are turned off")
	if len(fake.Calls()) != n {
		t.Fatal("a call was made")
	}
}

func TestSessionTagLimits(t *testing.T) {
	many := func(n int) []credbroker.Tag {
		out := make([]credbroker.Tag, n)
		for i := range out {
			out[i] = credbroker.Tag{Key: "k" + strconv.Itoa(i), Value: "v"}
		}
		return out
	}
	tests := []struct {
		name       string
		tags       []credbroker.Tag
		transitive []string
		field, msg string // field "" means accepted
	}{
		{"47 and the build's 3", many(47), nil, "", ""},
		{"48 and the build's 3", many(48), nil, "tags", "51 session tags: 48 given and 3 that name the build; STS accepts at most 50"},
		{"51 alone", many(51), nil, "tags", "51 session tags given"},
		{"key too long", []credbroker.Tag{{Key: strings.Repeat("k", 129), Value: "v"}}, nil, "tags[0].key", "1 to 128 characters; this one has 129"},
		{"key of 128", []credbroker.Tag{{Key: strings.Repeat("k", 128), Value: strings.Repeat("v", 256)}}, nil, "", ""},
		{"value too long", []credbroker.Tag{{Key: "k", Value: strings.Repeat("v", 257)}}, nil, "tags[0].value", "at most 256 characters; this one has 257"},
		{"empty key", []credbroker.Tag{{Key: "", Value: "v"}}, nil, "tags[0].key", "1 to 128"},
		{"character", []credbroker.Tag{{Key: "team", Value: "a#b"}}, nil, "tags[0].value", "characters STS does not accept"},
		{"twice", []credbroker.Tag{{Key: "Team", Value: "a"}, {Key: "team", Value: "b"}}, nil, "tags[1].key", "given twice"},
		{"own prefix", []credbroker.Tag{{Key: "CredBroker:plan", Value: "X"}}, nil, "tags[0].key", "keeps for the tags that name the build"},
		{"transitive not a tag", []credbroker.Tag{{Key: "team", Value: "a"}}, []string{"team", "owner"}, "transitive_tag_keys[1]", `"owner" names no session tag`},
		{"transitive build key", nil, []string{"credbroker:job"}, "", ""},
		{"transitive invalid", nil, []string{"a#"}, "transitive_tag_keys[0]", "not a valid tag key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSTS(t)
			src := staticSource()
			src.STSEndpoint = fake.URL
			src.Role = credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy", Tags: tt.tags, TransitiveTagKeys: tt.transitive}
			_, err := Resolve(context.Background(), src, testBuild, testOptions())
			if tt.field == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantError(t, err, credbroker.CodeInvalid, tt.field, tt.msg)
			if len(fake.Calls()) != 0 {
				t.Fatal("a call was made")
			}
		})
	}
}

func TestBuildTagsCleanedNotRefused(t *testing.T) {
	long := strings.Repeat("9", 300)
	got := BuildTags(credbroker.Build{Plan: "OPS-DEPLOY", Number: "42#rc1", Job: long})
	want := []credbroker.Tag{{Key: "credbroker:plan", Value: "OPS-DEPLOY"}, {Key: "credbroker:build", Value: "42-rc1"}, {Key: "credbroker:job", Value: long[:256]}}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v", got)
	}
	if err := CheckSessionTags("tags", got, nil); err != nil {
		t.Fatalf("cleaned build tags refused: %v", err)
	}
	if n := len(BuildTags(credbroker.Build{Task: "only-a-task"})); n != 0 {
		t.Fatalf("%d tags for a build with no plan, number or job", n)
	}
}

func TestTagsRefusedNamesTheSwitch(t *testing.T) {
	const denied = "User: arn:aws:iam::123456789012:user/ci is not authorized to perform: sts:TagSession on resource: arn:aws:iam::123456789012:role/deploy"
	t.Run("agent", func(t *testing.T) {
		fake := newFakeSTS(t)
		fake.setRespond(func(url.Values) (int, string) { return 403, stsError("AccessDenied", denied) })
		src := staticSource()
		src.STSEndpoint = fake.URL
		src.Role.ARN = "arn:aws:iam::123456789012:role/deploy"
		res, err := Resolve(context.Background(), src, testBuild, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = res.Provider.Retrieve(context.Background())
		e := wantError(t, err, credbroker.CodeForbidden, "role_arn", "carried session tags")
		if !strings.Contains(e.Fix, "--no-session-tags") || !strings.Contains(e.Fix, "session_tags: false") || strings.Contains(e.Error(), "user/ci") {
			t.Fatalf("fix does not name the switch: %s", e)
		}

		// Without tags, the same refusal does not blame them.
		src.Role.NoSessionTags = true
		res, err = Resolve(context.Background(), src, testBuild, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		_, err = res.Provider.Retrieve(context.Background())
		e = wantError(t, err, credbroker.CodeForbidden, "role_arn", "STS refused AssumeRole: AccessDenied")
		if strings.Contains(e.Error(), "session tags") || strings.Contains(e.Fix, "--no-session-tags") {
			t.Fatalf("blames tags that were not sent: %s", e)
		}
	})
	t.Run("connector", func(t *testing.T) {
		fake := newFakeSTS(t)
		fake.setRespond(func(url.Values) (int, string) { return 403, stsError("AccessDenied", denied) })
		_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
		e := wantError(t, err, credbroker.CodeForbidden, "role_arn", "carried session tags")
		if !strings.Contains(e.Fix, "--disable-tags") {
			t.Fatalf("fix does not name --disable-tags: %s", e)
		}
		req := roleRequest(fake.URL)
		req.Tags, req.TransitiveTagKeys = nil, nil
		_, err = testIssuer().Issue(context.Background(), req)
		e = wantError(t, err, credbroker.CodeForbidden, "role_arn", "STS refused AssumeRole: AccessDenied")
		if strings.Contains(e.Fix, "--disable-tags") {
			t.Fatalf("names the tag switch though no tags were sent: %s", e)
		}
	})
	t.Run("federation token mentioning TagSession", func(t *testing.T) {
		fake := newFakeSTS(t)
		fake.setRespond(func(url.Values) (int, string) { return 403, stsError("AccessDenied", denied) })
		req := credbroker.IssueRequest{Principal: credbroker.PrincipalFederatedUser, Region: "us-east-1", STSEndpoints: []string{fake.URL},
			Base: staticBase(""), Tags: []credbroker.Tag{{Key: "credbroker:plan", Value: "OPS-X"}}}
		_, err := testIssuer().Issue(context.Background(), req)
		e := wantError(t, err, credbroker.CodeForbidden, "sts", "carried session tags")
		if !strings.Contains(e.Fix, "--disable-tags") {
			t.Fatalf("fix: %s", e)
		}
	})
	t.Run("validation error about tags", func(t *testing.T) {
		fake := newFakeSTS(t)
		fake.setRespond(func(url.Values) (int, string) {
			return 400, stsError("InvalidParameterValue", "1 validation error detected: Value at 'tags' failed to satisfy constraint")
		})
		_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
		e := wantError(t, err, credbroker.CodeUnprocessable, "tags", "STS refused the session tags")
		if !strings.Contains(e.Fix, "--disable-tags") {
			t.Fatalf("fix: %s", e)
		}
	})
}

func TestInstanceRole(t *testing.T) {
	src := credbroker.Source{Kind: credbroker.SourceInstance}
	t.Run("IMDSv2", func(t *testing.T) {
		f := newFakeIMDS(t, imdsV2, fixedNow.Add(6*3600e9))
		src.IMDSEndpoint = f.URL
		role, ep, err := InstanceRole(context.Background(), src, testOptions())
		if err != nil || role != "agent-role" || ep != f.URL {
			t.Fatalf("role %q endpoint %q err %v", role, ep, err)
		}
		reqs := f.Requests()
		if len(reqs) != 2 || reqs[0] != "PUT /latest/api/token false" || reqs[1] != "GET /latest/meta-data/iam/security-credentials/ true" {
			t.Fatalf("requests %v", reqs)
		}
	})
	t.Run("environment", func(t *testing.T) {
		f := newFakeIMDS(t, imdsV2, fixedNow.Add(6*3600e9))
		opts := testOptions()
		opts.LookupEnv = envMap(map[string]string{EnvIMDSEndpoint: f.URL + "/"})
		role, ep, err := InstanceRole(context.Background(), credbroker.Source{Kind: credbroker.SourceInstance}, opts)
		if err != nil || role != "agent-role" || ep != f.URL+"/" {
			t.Fatalf("role %q endpoint %q err %v", role, ep, err)
		}
	})
	t.Run("IMDSv1 only", func(t *testing.T) {
		f := newFakeIMDS(t, imdsV1Only, fixedNow)
		src.IMDSEndpoint = f.URL
		_, _, err := InstanceRole(context.Background(), src, testOptions())
		wantError(t, err, credbroker.CodeUpstream, "instance", "refused the IMDSv2 session token request")
		for _, r := range f.Requests() {
			if strings.HasPrefix(r, "GET") {
				t.Fatalf("fell back to IMDSv1: %v", f.Requests())
			}
		}
	})
	t.Run("no profile", func(t *testing.T) {
		f := newFakeIMDS(t, imdsNoProfile, fixedNow)
		src.IMDSEndpoint = f.URL
		_, _, err := InstanceRole(context.Background(), src, testOptions())
		wantError(t, err, credbroker.CodeUnprocessable, "instance", "no instance profile")
	})
	t.Run("unreachable", func(t *testing.T) {
		src.IMDSEndpoint = closedURL(t)
		_, _, err := InstanceRole(context.Background(), src, testOptions())
		wantError(t, err, credbroker.CodeUpstream, "instance", "not reachable")
	})
	t.Run("bad endpoint", func(t *testing.T) {
		src.IMDSEndpoint = "169.254.169.254"
		_, _, err := InstanceRole(context.Background(), src, testOptions())
		wantError(t, err, credbroker.CodeInvalid, "imds_endpoint", "not an http or https URL")
	})
}

func TestCallerIdentityUnavailable(t *testing.T) {
	tests := []struct {
		code, msg   string
		status      int
		unavailable bool
	}{
		{"InvalidParameterValue", "Unsupported action GetCallerIdentity", 400, true}, // MinIO
		{"InvalidAction", "Could not find operation GetCallerIdentity", 400, true},
		{"NotImplemented", "not implemented", 501, true},
		{"InvalidClientTokenId", "The security token included in the request is invalid", 403, false},
		{"SignatureDoesNotMatch", "signature", 403, false},
		{"InvalidParameterValue", "something else", 400, false},
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.msg, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(url.Values) (int, string) { return tt.status, stsError(tt.code, tt.msg) })
			_, _, err := testIssuer().CallerIdentity(context.Background(), "us-east-1", fake.URL, staticBase(""))
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrIdentityUnavailable); got != tt.unavailable {
				t.Fatalf("errors.Is(ErrIdentityUnavailable) = %v for %v", got, err)
			}
			if credbroker.AsError(err) == nil {
				t.Fatalf("not a domain error: %v", err)
			}
			assertNoSecrets(t, err)
		})
	}
}
