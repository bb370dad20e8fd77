package awscreds

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

const (
	allowedAccount = "111111111111"
	fakeAccount    = "123456789012" // the account the fake STS names
)

// actions returns the Action of each call the fake received.
func actions(f *fakeSTS) []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.Form.Get("Action"))
	}
	return out
}

func TestGuardRefusesRoleOfAnotherAccountBeforeAnyCall(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role.ARN = "arn:aws:iam::222222222222:role/deploy"
	src.AllowedAccountIDs = []string{allowedAccount}
	_, err := Resolve(context.Background(), src, testBuild, testOptions())
	e := wantError(t, err, credbroker.CodeForbidden, "role_arn", "account 222222222222 of role ARN arn:aws:iam::222222222222:role/deploy is not an allowed account (111111111111)")
	if !strings.Contains(e.Fix, "mistyped") {
		t.Fatalf("fix %q", e.Fix)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Fatalf("%d STS calls", n)
	}
	plan := Decide(src, testBuild, testOptions(), nil)
	if plan.Passed(credbroker.FieldAllowedAccounts) || !plan.Passed("role_arn") {
		t.Fatalf("checks %+v", plan.Checks)
	}
}

func TestGuardListIsChecked(t *testing.T) {
	src := staticSource()
	src.AllowedAccountIDs = []string{allowedAccount, "1234-5678-9012"}
	_, err := Resolve(context.Background(), src, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "allowed_account_ids[1]", `"1234-5678-9012" is not an AWS account ID`)
	src.AllowedAccountIDs = make([]string, credbroker.MaxAllowedAccounts+1)
	_, err = Resolve(context.Background(), src, testBuild, testOptions())
	wantError(t, err, credbroker.CodeInvalid, "allowed_account_ids", "at most 100")
}

func TestGuardAcceptsTheSessionsAccount(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role.ARN = "arn:aws:iam::" + fakeAccount + ":role/deploy"
	src.AllowedAccountIDs = []string{allowedAccount, fakeAccount}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	c, err := res.Provider.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if c.AccountID != fakeAccount || c.AccessKeyID != issuedKeyID {
		t.Fatalf("got %+v", c)
	}
	// The assumed-role ARN named the account: no GetCallerIdentity.
	if got := actions(fake); len(got) != 1 || got[0] != "AssumeRole" {
		t.Fatalf("calls %v", got)
	}
}

func TestGuardRefusesASessionOfAnotherAccount(t *testing.T) {
	fake := newFakeSTS(t)
	fake.setRespond(func(form url.Values) (int, string) {
		body := stsSuccess(form.Get("Action"), fixedNow.Add(time.Hour))
		return http.StatusOK, strings.ReplaceAll(body, "arn:aws:sts::"+fakeAccount+":", "arn:aws:sts::999999999999:")
	})
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role.ARN = "arn:aws:iam::" + fakeAccount + ":role/deploy"
	src.AllowedAccountIDs = []string{fakeAccount}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Provider.Retrieve(context.Background())
	wantError(t, err, credbroker.CodeForbidden, "allowed_account_ids", "account 999999999999 of the credentials is not an allowed account (123456789012)")
}

func TestGuardAsksGetCallerIdentityWithTheCredentials(t *testing.T) {
	fake := newFakeSTS(t)
	src := staticSource()
	src.STSEndpoint = fake.URL
	for _, tt := range []struct {
		allowed []string
		code    credbroker.Code
	}{{[]string{fakeAccount}, ""}, {[]string{allowedAccount}, credbroker.CodeForbidden}} {
		src.AllowedAccountIDs = tt.allowed
		res, err := Resolve(context.Background(), src, testBuild, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		c, err := res.Provider.Retrieve(context.Background())
		if tt.code == "" {
			if err != nil || c.AccountID != fakeAccount || c.AccessKeyID != baseKeyID {
				t.Fatalf("got %+v, %v", c, err)
			}
			continue
		}
		wantError(t, err, tt.code, "allowed_account_ids", "account "+fakeAccount+" of the credentials is not an allowed account (111111111111)")
	}
	calls := fake.Calls()
	if len(calls) != 2 {
		t.Fatalf("%d calls", len(calls))
	}
	for _, c := range calls {
		if c.Form.Get("Action") != "GetCallerIdentity" || !strings.Contains(c.Auth, "Credential="+baseKeyID+"/") {
			t.Fatalf("call %v signed %q", c.Form, c.Auth)
		}
	}
}

// An STS that returns no ARN and offers no GetCallerIdentity (MinIO)
// cannot say the account: the guard refuses the credentials.
func TestGuardRefusesAnUnknownAccount(t *testing.T) {
	fake := newFakeSTS(t)
	fake.setRespond(func(form url.Values) (int, string) {
		if form.Get("Action") == "GetCallerIdentity" {
			return http.StatusBadRequest, stsError("InvalidParameterValue", "Unsupported action GetCallerIdentity")
		}
		body := stsSuccess(form.Get("Action"), fixedNow.Add(time.Hour))
		return http.StatusOK, strings.ReplaceAll(body, "arn:aws:sts::"+fakeAccount+":assumed-role/deploy/s", "")
	})
	src := staticSource()
	src.STSEndpoint = fake.URL
	src.Role.ARN = "arn:aws:iam::" + fakeAccount + ":role/deploy"
	src.AllowedAccountIDs = []string{fakeAccount}
	res, err := Resolve(context.Background(), src, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	_, err = res.Provider.Retrieve(context.Background())
	wantError(t, err, credbroker.CodeUnprocessable, "allowed_account_ids",
		fmt.Sprintf("STS gave them without an ARN, and the STS at %s offers no GetCallerIdentity; they were not used", fake.URL))
	if got := actions(fake); len(got) != 2 || got[1] != "GetCallerIdentity" {
		t.Fatalf("calls %v", got)
	}
}

func TestIssueLearnsTheAccount(t *testing.T) {
	for _, tt := range []struct {
		principal credbroker.PrincipalType
		need      bool
		calls     []string
		account   string
	}{
		{credbroker.PrincipalAssumedRole, true, []string{"AssumeRole"}, fakeAccount},
		{credbroker.PrincipalFederatedUser, true, []string{"GetFederationToken"}, fakeAccount},
		{credbroker.PrincipalSession, false, []string{"GetSessionToken"}, ""},
		{credbroker.PrincipalSession, true, []string{"GetSessionToken", "GetCallerIdentity"}, fakeAccount},
		{credbroker.PrincipalProvided, true, []string{"GetCallerIdentity"}, fakeAccount},
	} {
		t.Run(fmt.Sprintf("%s need=%v", tt.principal, tt.need), func(t *testing.T) {
			fake := newFakeSTS(t)
			req := credbroker.IssueRequest{Principal: tt.principal, Region: "eu-central-1", STSEndpoints: []string{fake.URL},
				Base: staticBase(""), RoleARN: "arn:aws:iam::" + fakeAccount + ":role/deploy", NeedAccount: tt.need}
			if tt.principal == credbroker.PrincipalFederatedUser {
				req.Policy = `{"Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`
			}
			turns := 0
			req.BeforeAttempt = func(context.Context) error { turns++; return nil }
			c, err := testIssuer().Issue(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if c.AccountID != tt.account {
				t.Fatalf("account %q, want %q", c.AccountID, tt.account)
			}
			got := actions(fake)
			if strings.Join(got, ",") != strings.Join(tt.calls, ",") || turns != len(tt.calls) {
				t.Fatalf("calls %v with %d budget turns, want %v", got, turns, tt.calls)
			}
			if len(got) > 1 && !strings.Contains(fake.Calls()[1].Auth, "Credential="+issuedKeyID+"/") {
				t.Fatalf("GetCallerIdentity not signed with the issued session: %q", fake.Calls()[1].Auth)
			}
		})
	}
}
