package awscreds

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

var consoleCreds = credbroker.Credentials{AccessKeyID: issuedKeyID, SecretAccessKey: issuedSecret, SessionToken: issuedToken}

// fakeFederation is the federation endpoint: it checks the session it is
// given and answers with a sign-in token.
func fakeFederation(t *testing.T, status int) (*httptest.Server, *[]url.Values) {
	t.Helper()
	var mu sync.Mutex
	var seen []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/federation" {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
		var s struct{ SessionID, SessionKey, SessionToken string }
		if err := json.Unmarshal([]byte(q.Get("Session")), &s); err != nil ||
			s.SessionID != issuedKeyID || s.SessionKey != issuedSecret || s.SessionToken != issuedToken {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
		if status == http.StatusOK {
			io.WriteString(w, `{"SigninToken":"sign-in-token-123"}`)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &seen
}

func TestSigninURL(t *testing.T) {
	srv, seen := fakeFederation(t, http.StatusOK)
	p := mustRegion(t, "eu-west-1")
	got, err := SigninURL(context.Background(), consoleCreds, p, SigninOptions{
		FederationEndpoint: srv.URL + "/federation",
		Issuer:             "https://ci.example.com",
		SessionDuration:    2 * time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(*seen) != 1 {
		t.Fatalf("%d requests", len(*seen))
	}
	q := (*seen)[0]
	if q.Get("Action") != "getSigninToken" || q.Get("SessionDuration") != "7200" {
		t.Fatalf("query %v", q)
	}
	u, err := url.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	lq := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != srv.URL+"/federation" ||
		lq.Get("Action") != "login" || lq.Get("Issuer") != "https://ci.example.com" ||
		lq.Get("Destination") != "https://console.aws.amazon.com/" || lq.Get("SigninToken") != "sign-in-token-123" {
		t.Fatalf("login URL %s", got)
	}
	if strings.Contains(got, issuedSecret) || strings.Contains(got, issuedToken) {
		t.Fatal("login URL holds the credentials")
	}
}

func TestSigninURLDefaults(t *testing.T) {
	srv, seen := fakeFederation(t, http.StatusOK)
	p := mustRegion(t, "cn-north-1")
	got, err := SigninURL(context.Background(), consoleCreds, p, SigninOptions{FederationEndpoint: srv.URL + "/federation"})
	if err != nil {
		t.Fatal(err)
	}
	if (*seen)[0].Has("SessionDuration") {
		t.Fatal("SessionDuration sent without being asked for")
	}
	u, _ := url.Parse(got)
	if u.Query().Get("Issuer") != "credbroker" || u.Query().Get("Destination") != "https://console.amazonaws.cn/" {
		t.Fatalf("login URL %s", got)
	}
	if gov := mustRegion(t, "us-gov-west-1"); gov.FederationEndpoint() != "https://signin.amazonaws-us-gov.com/federation" ||
		gov.ConsoleURL() != "https://console.amazonaws-us-gov.com/" {
		t.Fatalf("GovCloud hosts %s %s", gov.FederationEndpoint(), gov.ConsoleURL())
	}
	if aws := mustRegion(t, "us-east-1"); aws.FederationEndpoint() != "https://signin.aws.amazon.com/federation" {
		t.Fatalf("aws federation %s", aws.FederationEndpoint())
	}
}

func TestSigninURLErrors(t *testing.T) {
	refusing, _ := fakeFederation(t, http.StatusBadRequest)
	noToken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{}`) }))
	defer noToken.Close()
	p := mustRegion(t, "us-east-1")
	iso := mustRegion(t, "us-iso-east-1")
	tests := []struct {
		name  string
		creds credbroker.Credentials
		p     Partition
		opts  SigninOptions
		code  credbroker.Code
		field string
		msg   string
	}{
		{"long-term keys", credbroker.Credentials{AccessKeyID: baseKeyID, SecretAccessKey: baseSecret}, p, SigninOptions{},
			credbroker.CodeUnprocessable, "console", "needs temporary credentials"},
		{"no credentials", credbroker.Credentials{}, p, SigninOptions{}, credbroker.CodeInvalid, "console", "no credentials"},
		{"refused", consoleCreds, p, SigninOptions{FederationEndpoint: refusing.URL + "/federation"},
			credbroker.CodeUpstream, "console", "refused the credentials (HTTP 400)"},
		{"no token", consoleCreds, p, SigninOptions{FederationEndpoint: noToken.URL},
			credbroker.CodeUpstream, "console", "without a sign-in token"},
		{"unreachable", consoleCreds, p, SigninOptions{FederationEndpoint: closedURL(t) + "/federation"},
			credbroker.CodeUpstream, "console", "is not reachable"},
		{"unknown console", consoleCreds, iso, SigninOptions{FederationEndpoint: refusing.URL},
			credbroker.CodeInvalid, "destination", `console of partition "aws-iso" is not known`},
		{"bad destination", consoleCreds, p, SigninOptions{Destination: "console"}, credbroker.CodeInvalid, "destination", "not an http"},
		{"duration", consoleCreds, p, SigninOptions{SessionDuration: 13 * time.Hour}, credbroker.CodeInvalid, "session_duration", "15m0s to 12h"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := SigninURL(context.Background(), tt.creds, tt.p, tt.opts)
			wantError(t, err, tt.code, tt.field, tt.msg)
		})
	}
}
