package awscreds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

func TestTranslateKeepsDomainErrors(t *testing.T) {
	inner := credbroker.Errorf(credbroker.CodeUnavailable, "base", "store down")
	wrapped := fmt.Errorf("operation error STS: AssumeRole, failed to retrieve credentials: %w", inner)
	if got := translate(wrapped, origin{field: "role_arn"}); got != error(inner) {
		t.Fatalf("got %v", got)
	}
	if translate(nil, origin{}) != nil {
		t.Fatal("nil not kept")
	}
}

func TestTranslateContext(t *testing.T) {
	o := origin{field: "role_arn", endpoint: "https://sts.example.com", op: "AssumeRole"}
	wantError(t, translate(context.Canceled, o), credbroker.CodeUpstream, "sts", "was canceled")
	wantError(t, translate(fmt.Errorf("x: %w", context.DeadlineExceeded), o), credbroker.CodeUpstream, "sts", "is not reachable")
	e := wantError(t, translate(errors.New("something odd"), o), credbroker.CodeUpstream, "role_arn", "STS AssumeRole failed")
	if e.Err == nil || e.Err.Error() != "something odd" {
		t.Fatalf("cause %v", e.Err)
	}
	o.imds = true
	wantError(t, translate(context.Canceled, o), credbroker.CodeUpstream, "instance", "was canceled")
}

func TestIssueNonAPIAnswers(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		code   credbroker.Code
		msg    string
	}{
		{"proxy error page", 502, "<html><body>Bad Gateway</body></html>", credbroker.CodeUpstream, "HTTP 502"},
		{"empty 503", 503, "", credbroker.CodeUpstream, "HTTP 503"},
		{"garbage 200", 200, "not xml", credbroker.CodeUpstream, "could not be read"},
		{"200 without credentials", 200, `<AssumeRoleResponse><AssumeRoleResult></AssumeRoleResult></AssumeRoleResponse>`, credbroker.CodeUpstream, "without complete credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(url.Values) (int, string) { return tt.status, tt.body })
			_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
			e := credbroker.AsError(err)
			if e == nil || e.Code != tt.code {
				t.Fatalf("got %#v", err)
			}
			if got := e.Error(); !strings.Contains(got, tt.msg) {
				t.Fatalf("got %q, want %q", got, tt.msg)
			}
			assertNoSecrets(t, err)
		})
	}
}

func TestIMDSErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		code    credbroker.Code
		msg     string
	}{
		{"token 405", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(405) }, credbroker.CodeUpstream, "(HTTP 405)"},
		{"token 401", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) }, credbroker.CodeUpstream, "(HTTP 401)"},
		{"token garbage", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tok") }, credbroker.CodeUpstream, "no usable IMDSv2 session token"},
		{"list 403", imdsWith(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }), credbroker.CodeUpstream, "refused the request (HTTP 403)"},
		{"list 500", imdsWith(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }), credbroker.CodeUpstream, "answered HTTP 500"},
		{"empty list", imdsWith(func(w http.ResponseWriter, r *http.Request) {}), credbroker.CodeUnprocessable, "no instance profile"},
		{"code not success", imdsWith(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/latest/meta-data/iam/security-credentials/" {
				io.WriteString(w, "role")
				return
			}
			io.WriteString(w, `{"Code":"AssumeRoleUnauthorizedAccess","Message":"detail about arn:aws:iam::1:role/x"}`)
		}), credbroker.CodeUpstream, "could not give the instance profile's credentials: AssumeRoleUnauthorizedAccess"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: srv.URL}
			res, err := Resolve(context.Background(), src, testBuild, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = res.Provider.Retrieve(context.Background())
			e := wantError(t, err, tt.code, "instance", tt.msg)
			if strings.Contains(e.Message, "arn:aws:iam::1:role/x") {
				t.Fatalf("upstream text in the message: %s", e.Message)
			}
		})
	}
}

// imdsWith is an IMDSv2 that hands out tokens and lets h answer the rest.
func imdsWith(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", "300")
			io.WriteString(w, "tok")
			return
		}
		h(w, r)
	}
}

func TestIMDSCanceled(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	res, err := Resolve(context.Background(), credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: srv.URL}, testBuild, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = res.Provider.Retrieve(ctx)
	wantError(t, err, credbroker.CodeUpstream, "instance", "is not reachable")
}

func TestSafeCode(t *testing.T) {
	for in, want := range map[string]string{
		"AccessDenied": "AccessDenied", "Sender.Throttling": "Sender.Throttling",
		"has space": "an error", "": "", fmt.Sprint(make([]byte, 70)): "an error",
	} {
		if got := safeCode(in); got != want {
			t.Errorf("safeCode(%q) = %q", in, got)
		}
	}
}
