package httpapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// fixtureSecrets are the values of the fake service that only a 2xx answer
// to the right token may carry.
var fixtureSecrets = []string{adminSecret, agentSecret, vendSecret, vendSession, newTokSecret, varSecret}

// rawRequest assembles an HTTP/1.1 request from fuzzed parts: the header
// lines are taken as they are (one per line, CRLF added), after a Host
// header, and a body gets its Content-Length unless the headers say
// otherwise.
func rawRequest(method, target, headers string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: broker.test\r\n")
	lower := strings.ToLower(headers)
	for _, line := range strings.Split(headers, "\n") {
		line = strings.TrimRight(line, "\r")
		if line != "" {
			b.WriteString(line + "\r\n")
		}
	}
	if len(body) > 0 && !strings.Contains(lower, "content-length") && !strings.Contains(lower, "transfer-encoding") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// FuzzHandler sends random requests (method, target, header lines, body)
// through the whole API handler over a fake service that never fails.
// Whatever arrives, the handler does not panic; every answer of 400 or
// more is a JSON {"code","message"} with a known code that matches the
// status; nothing a client sends makes a 500; only the right token gets a
// 2xx from an authenticated route; and no error body or log line shows a
// token or a secret the request did not itself put in its target or body.
func FuzzHandler(f *testing.F) {
	auth := func(tok string) string { return "Authorization: Bearer " + tok + "\nContent-Type: application/json" }
	seeds := []struct {
		method, target, headers, body string
	}{
		{"POST", "/v1/credentials", auth(agentSecret), `{"connector":"deploy","plan":"OPS-DEPLOY","build":"42"}`},
		{"POST", "/v1/credentials", auth(adminSecret), `{"connector":"deploy"}`},
		{"POST", "/v1/credentials", auth("cbk_wrong"), `{"connector":"deploy"}`},
		{"POST", "/v1/credentials", "Authorization: Basic dXNlcjpwYXNz\nContent-Type: application/json", `{}`},
		{"POST", "/v1/credentials", "Authorization: Bearer " + agentSecret + "\nContent-Type: text/plain", `{}`},
		{"POST", "/v1/credentials", auth(agentSecret), `{"connector":1}`},
		{"POST", "/v1/credentials", auth(agentSecret) + "\nTransfer-Encoding: chunked", "5\r\n{\"a\":\r\n0\r\n\r\n"},
		{"GET", "/v1/agent/variables?plan=OPS-DEPLOY", auth(agentSecret), ""},
		{"GET", "/v1/agent/variables?plan=A&plan=B", auth(agentSecret), ""},
		{"POST", "/v1/console", auth(agentSecret), `{"connector":"deploy","duration_seconds":900}`},
		{"GET", "/v1/connectors", auth(adminSecret), ""},
		{"POST", "/v1/connectors", auth(adminSecret), `{"name":"deploy","principal":"assumed-role","secret_access_key":"` + vendSecret + `"}`},
		{"GET", "/v1/connectors/deploy", auth(adminSecret), ""},
		{"PUT", "/v1/connectors/%2e%2e", auth(adminSecret), `{"name":"x"}`},
		{"DELETE", "/v1/connectors/deploy", auth(adminSecret), ""},
		{"GET", "/v1/tokens", auth(adminSecret), ""},
		{"POST", "/v1/tokens", auth(adminSecret), `{"name":"ci","role":"agent","plans":"OPS-*","expires_in_seconds":60}`},
		{"DELETE", "/v1/tokens/tok-1", auth(adminSecret), ""},
		{"GET", "/v1/variables?plan=OPS-DEPLOY", auth(adminSecret), ""},
		{"PUT", "/v1/variables/dbPassword?plan=OPS-DEPLOY", auth(adminSecret), `{"value":"` + varSecret + `","secret":true}`},
		{"DELETE", "/v1/variables/region", auth(adminSecret), ""},
		{"GET", "/v1/audit?since=2026-01-02T15:04:05Z&limit=5&outcome=refused", auth(adminSecret), ""},
		{"GET", "/v1/audit?limit=0", auth(adminSecret), ""},
		{"GET", "/v1/audit/verify", auth(adminSecret), ""},
		{"HEAD", "/v1/tokens", auth(adminSecret), ""},
		{"OPTIONS", "/v1/tokens", "", ""},
		{"PATCH", "/v1/credentials", auth(agentSecret), `{}`},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/nope/../v1/tokens", auth(adminSecret), ""},
		{"GET", "//v1/tokens", auth(adminSecret), ""},
		{"GET", "*", "", ""},
		{"GET", "http://other.test/v1/tokens", auth(adminSecret), ""},
		{"GET", "/v1/tokens", "Authorization: bearer    " + adminSecret, ""},
		{"GET", "/v1/tokens", "Authorization: Bearer " + strings.Repeat("A", 2000), ""},
		{"GET", "/v1/tokens", "X-Forwarded-For: 203.0.113.7\nX-Request-Id: abc", ""},
		{"POST", "/v1/tokens", auth(adminSecret), strings.Repeat(`{"a":`, 700)},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.headers, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, target, headers string, body []byte) {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(rawRequest(method, target, headers, body))))
		if err != nil {
			return // net/http answers 400 itself; no handler runs
		}
		req.RemoteAddr = "192.0.2.1:1234"
		var logs bytes.Buffer
		svc := &fakeService{}
		srv := httpapi.NewServer(svc, httpapi.ServerOptions{
			Logger:       slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			MaxBodyBytes: 4 << 10,
		})
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)

		if strings.Contains(logs.String(), "panic") {
			t.Fatalf("the handler panicked on %q %q: %s", method, target, logs.String())
		}
		if w.Code >= 500 {
			t.Fatalf("%s %s: status %d from a service that never fails (body %q)", method, target, w.Code, w.Body.String())
		}
		if w.Header().Get("X-Request-Id") == "" {
			t.Errorf("%s %s: no X-Request-Id", method, target)
		}
		path := req.URL.Path
		open := path == "/healthz" || path == "/livez" || path == "/readyz"
		if w.Code >= 200 && w.Code < 300 && !open {
			a := req.Header.Get("Authorization")
			if !strings.Contains(a, adminSecret) && !strings.Contains(a, agentSecret) {
				t.Fatalf("%s %s answered %d without a valid token (Authorization %q)", method, target, w.Code, a)
			}
		}
		if w.Code >= 400 {
			checkErrorBody(t, w)
		}
		// Secrets the request put in its target or body may come back in
		// an error message that quotes them; any other is a leak.
		echoed := target + "\x00" + string(body)
		for _, s := range fixtureSecrets {
			if strings.Contains(echoed, s) {
				continue
			}
			if w.Code >= 400 && strings.Contains(w.Body.String(), s) {
				t.Fatalf("%s %s: the error body shows a secret: %s", method, target, w.Body.String())
			}
			if strings.Contains(logs.String(), s) {
				t.Fatalf("%s %s: the log shows a secret: %s", method, target, logs.String())
			}
		}
	})
}

// checkErrorBody checks that an error answer is JSON {"code","message"}
// with a known code that matches its status.
func checkErrorBody(t *testing.T, w *httptest.ResponseRecorder) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("status %d with Content-Type %q (body %q)", w.Code, ct, w.Body.String())
	}
	var m map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("status %d: body %q is not a JSON object of strings: %v", w.Code, w.Body.String(), err)
	}
	code := credbroker.Code(m["code"])
	if len(m) != 2 || code == "" || m["message"] == "" {
		t.Fatalf("status %d: body %q is not exactly a code and a message", w.Code, w.Body.String())
	}
	want := httpapi.StatusForCode(code)
	switch {
	case want == w.Code:
	case code == credbroker.CodeInvalid && (w.Code == 405 || w.Code == 413 || w.Code == 415):
		// Protocol failures keep their own status and the invalid code.
	default:
		t.Fatalf("status %d with code %q (which maps to %d): %s", w.Code, code, want, w.Body.String())
	}
	if code == credbroker.CodeInternal {
		t.Fatalf("status %d with the internal code: %s", w.Code, w.Body.String())
	}
}

// FuzzDecodeBodies: the decoder of the connector, token, variable, console
// and vend bodies never panics, accepts one JSON object only, and refuses
// everything else with CodeInvalid, a field and a message.
func FuzzDecodeBodies(f *testing.F) {
	for i, seed := range []string{
		`{"name":"deploy","principal":"assumed-role","base":"keys","access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"s","region":"us-east-1","role_arn":"arn:aws:iam::123456789012:role/deploy","scope":{"kind":"project","key":"OPS"},"allow_plans":["OPS-*"],"tags":[{"key":"a","value":"b"}],"sts_endpoints":["http://127.0.0.1:9000"]}`,
		`{"name":"ci","role":"agent","plans":"OPS-*","expires_in_seconds":3600}`,
		`{"value":"v","secret":true}`,
		`{"connector":"audit","plan":"OPS-AUDIT","destination":"https://console.aws.amazon.com/","duration_seconds":900}`,
		`{"connector":"d","min_remaining_seconds":-1}`,
		`{"name":"x","scope":"system"}`,
		`{"role":"admin","expires_in_seconds":1e99}`,
		`{"value":null,"secret":"yes"}`,
		`{"destination":["a"]}`,
		`{"tags":{"key":"a"}}`,
		`{"name":"\u0000"}`,
		`{"name":"a","name":"b"}`,
		`{} {}`,
		` {"value":"v"} `,
		"{\"value\":\"\xff\"}",
	} {
		f.Add(uint8(i), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		k := httpapi.BodyKinds[int(kind)%len(httpapi.BodyKinds)]
		body := http.MaxBytesReader(nil, nopCloser{bytes.NewReader(data)}, httpapi.DefaultMaxBodyBytes)
		_, err := httpapi.DecodeBody(k, body)
		if err == nil {
			trimmed := bytes.TrimSpace(data)
			if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
				t.Fatalf("%s body %q accepted, but it is not one JSON object", k, data)
			}
			return
		}
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeInvalid || e.Field == "" || e.Message == "" {
			t.Fatalf("%s body %q refused with %v (%T), want CodeInvalid with a field and a message", k, data, err, err)
		}
	})
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }
