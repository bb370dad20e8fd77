package endpoint_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/endpoint"
)

// tokenMark in a fuzzed header value stands for the endpoint's real token.
const tokenMark = "@TOKEN@"

// FuzzEndpointRequest sends random requests (method, target, Host header,
// Authorization header, peer address) to the container-credentials
// endpoint. Credentials come out only for GET /credentials from a
// loopback peer, with a Host naming the endpoint's own address and the
// exact token; every other request is refused with JSON {code, message}
// before the provider is asked; and no answer shows the token.
func FuzzEndpointRequest(f *testing.F) {
	for _, s := range []struct{ method, target, host, auth, remote string }{
		{"GET", "/credentials", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials", "localhost:@PORT@", tokenMark, "[::1]:5000"},
		{"GET", "/credentials", "[::1]:@PORT@", tokenMark, "127.8.9.10:1"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", "", "127.0.0.1:5000"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", "Bearer " + tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", tokenMark + " ", "127.0.0.1:5000"},
		{"GET", "/credentials", "evil.example:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials", "127.0.0.1", tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", tokenMark, "192.0.2.2:5000"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", tokenMark, "[::ffff:127.0.0.1]:5000"},
		{"GET", "/credentials", "127.0.0.1:@PORT@", tokenMark, "garbage"},
		{"POST", "/credentials", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials/../credentials", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "/Credentials", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "http://127.0.0.1:@PORT@/credentials", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
		{"GET", "/credentials?x=1", "127.0.0.1:@PORT@", tokenMark, "127.0.0.1:5000"},
	} {
		f.Add(s.method, s.target, s.host, s.auth, s.remote)
	}
	var calls atomic.Int64
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		calls.Add(1)
		return credbroker.Credentials{AccessKeyID: "ASIAENDPOINTFUZZ0001", SecretAccessKey: "endpoint-fuzz-secret",
			SessionToken: "endpoint-fuzz-session", Expires: time.Now().Add(time.Hour)}, nil
	})
	srv, err := endpoint.Start(endpoint.Options{Provider: prov, Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	tok, err := os.ReadFile(srv.TokenFile)
	if err != nil {
		f.Fatal(err)
	}
	token := string(tok)
	port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1 : len(srv.URL)-len(endpoint.Path)]
	own := map[string]bool{"127.0.0.1:" + port: true, "localhost:" + port: true, "[::1]:" + port: true}

	f.Fuzz(func(t *testing.T, method, target, host, auth, remote string) {
		target = strings.ReplaceAll(target, "@PORT@", port)
		host = strings.ReplaceAll(host, "@PORT@", port)
		auth = strings.ReplaceAll(auth, tokenMark, token)
		var raw bytes.Buffer
		raw.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n")
		if auth != "" {
			raw.WriteString("Authorization: " + auth + "\r\n")
		}
		raw.WriteString("\r\n")
		r, err := http.ReadRequest(bufio.NewReader(&raw))
		if err != nil {
			return // net/http refuses it before the handler
		}
		r.RemoteAddr = remote
		before := calls.Load()
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		asked := calls.Load() != before

		if strings.Contains(w.Body.String(), token) {
			t.Fatalf("the answer shows the endpoint's token: %q", w.Body.String())
		}
		peer, _, perr := net.SplitHostPort(remote)
		ip := net.ParseIP(peer)
		allowed := perr == nil && ip != nil && ip.IsLoopback() && own[r.Host] &&
			r.URL.Path == endpoint.Path && r.Method == http.MethodGet && r.Header.Get("Authorization") == token
		if w.Code == http.StatusOK {
			if !allowed {
				t.Fatalf("credentials for %s %s Host %q from %q with Authorization %q", method, target, r.Host, remote, r.Header.Get("Authorization"))
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["AccessKeyId"] == "" || body["Expiration"] == "" {
				t.Fatalf("the credentials answer %q is not the container-credentials JSON", w.Body.String())
			}
			return
		}
		if allowed {
			t.Fatalf("a request that meets every check was refused: %d %s", w.Code, w.Body.String())
		}
		if asked {
			t.Fatalf("a refused request (%d) reached the provider", w.Code)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("refusal %d with Content-Type %q", w.Code, ct)
		}
		var e map[string]string
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e["code"] == "" || e["message"] == "" {
			t.Fatalf("refusal %d is not JSON {code, message}: %q", w.Code, w.Body.String())
		}
		if w.Code < 400 || w.Code >= 500 {
			t.Fatalf("refusal with status %d", w.Code)
		}
	})
}
