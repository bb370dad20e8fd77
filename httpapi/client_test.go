package httpapi_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

func TestNewClientURLs(t *testing.T) {
	for _, bad := range []string{"", "broker:8443", "ftp://broker", "http://", "https://user:pw@broker", "http://broker/?x=1", "http://broker/#frag", "::"} {
		if _, err := httpapi.NewClient(bad, httpapi.ClientOptions{}); err == nil {
			t.Errorf("NewClient(%q) succeeded", bad)
		}
	}
	for _, good := range []string{"http://127.0.0.1:8080", "https://broker.example.com", "http://broker.internal:80/", "https://[::1]:8443/credbroker/"} {
		if _, err := httpapi.NewClient(good, httpapi.ClientOptions{}); err != nil {
			t.Errorf("NewClient(%q): %v", good, err)
		}
	}
	dir := t.TempDir()
	if _, err := httpapi.NewClient("https://b", httpapi.ClientOptions{CAFile: filepath.Join(dir, "missing.pem")}); err == nil {
		t.Error("a missing CA file was accepted")
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := httpapi.NewClient("https://b", httpapi.ClientOptions{CAFile: junk}); err == nil {
		t.Error("a CA file with no certificate was accepted")
	}
	if _, err := httpapi.NewClient("https://b", httpapi.ClientOptions{CAFile: junk, HTTPClient: http.DefaultClient}); err == nil {
		t.Error("CAFile with HTTPClient was accepted")
	}
}

// TestClientPrefixAndHeaders: a path prefix in the base URL is kept, path
// segments are escaped, and the client sends its token, JSON and
// User-Agent.
func TestClientPrefixAndHeaders(t *testing.T) {
	var mu sync.Mutex
	var got *http.Request
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Clone(context.Background())
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ts.Close()
	c, err := httpapi.NewClient(ts.URL+"/credbroker/", httpapi.ClientOptions{Token: adminSecret, UserAgent: "credbroker-test/1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetVariable(context.Background(), credbroker.Variable{Plan: "OPS-A B", Name: "a/b c", Value: "v"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.URL.EscapedPath() != "/credbroker/v1/variables/a%2Fb%20c" || got.URL.Query().Get("plan") != "OPS-A B" {
		t.Errorf("request to %s", got.URL)
	}
	if got.Header.Get("Authorization") != "Bearer "+adminSecret || got.Header.Get("Content-Type") != "application/json" ||
		got.Header.Get("User-Agent") != "credbroker-test/1" {
		t.Errorf("headers %v", got.Header)
	}
}

func TestClientConnectionErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there now

	c := newClient(t, url, agentSecret)
	_, err = c.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy"})
	e := credbroker.AsError(err)
	if e == nil || e.Code != credbroker.CodeUnavailable {
		t.Fatalf("err = %v, want CodeUnavailable", err)
	}
	if e.Field != "broker" || !strings.Contains(e.Message, url) || !strings.Contains(e.Fix, "credbroker serve") || !strings.Contains(e.Fix, "--broker") {
		t.Errorf("error does not help: %v", e)
	}
	if strings.Contains(errorChain(err), agentSecret) {
		t.Errorf("the error shows the token: %s", errorChain(err))
	}

	// A broker that does not answer in time.
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	c, err = httpapi.NewClient(slow.URL, httpapi.ClientOptions{Token: agentSecret, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ready(context.Background())
	if e := credbroker.AsError(err); e == nil || e.Code != credbroker.CodeUnavailable || !strings.Contains(e.Message, "in time") {
		t.Errorf("slow broker: %v", err)
	}
	// The caller cancelling is not a timeout, and errors.Is still sees it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Ready(ctx); err == nil || !strings.Contains(err.Error(), "cancelled") || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestClientForeignAnswers: a proxy's HTML error page or a 200 that is
// not JSON become clear errors without the foreign text.
func TestClientForeignAnswers(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		ctype   string
		body    string
		code    credbroker.Code
		mention string
	}{
		{"proxy 502", 502, "text/html", "<html><body>nginx upstream 10.1.2.3 failed</body></html>", credbroker.CodeUpstream, "502"},
		{"proxy 504", 504, "text/html", "<html>gateway timeout</html>", credbroker.CodeUnavailable, "504"},
		{"proxy 413", 413, "text/html", "<html>too large</html>", credbroker.CodeInvalid, "413"},
		{"unknown code", 409, "application/json", `{"code":"future-code","message":"changed meanwhile"}`, credbroker.CodeConflict, "changed meanwhile"},
		{"not JSON on success", 200, "text/html", "<html>login page</html>", credbroker.CodeUpstream, "not the expected JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer ts.Close()
			_, err := newClient(t, ts.URL, agentSecret).ListTokens(context.Background())
			e := credbroker.AsError(err)
			if e == nil || e.Code != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if !strings.Contains(e.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", e, tt.mention)
			}
			if strings.Contains(e.Error(), "<html") || strings.Contains(e.Error(), "10.1.2.3") {
				t.Errorf("error shows the foreign body: %q", e)
			}
		})
	}
}

func TestClientCleartext(t *testing.T) {
	for url, want := range map[string]bool{
		"http://127.0.0.1:8080":     false,
		"http://[::1]:8080":         false,
		"http://localhost:8080":     false,
		"https://broker.example":    false,
		"http://broker.example":     true,
		"http://10.0.0.5:8080/base": true,
	} {
		c, err := httpapi.NewClient(url, httpapi.ClientOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Cleartext(); got != want {
			t.Errorf("Cleartext(%s) = %v, want %v", url, got, want)
		}
	}
}
