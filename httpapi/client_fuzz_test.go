package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// FuzzClientVend answers the agent's vend with fuzzed statuses, content
// types and bodies, as a broker gone wrong (or something else listening
// at its address) might. The client never panics; a failure is a
// *credbroker.Error with a known code and a message that does not show the
// client's token; and credentials come out only of a 2xx answer that
// holds an access key ID and a secret key.
func FuzzClientVend(f *testing.F) {
	good, _ := json.Marshal(fixVend)
	for _, s := range []struct {
		status uint16
		ctype  string
		body   string
	}{
		{200, "application/json", string(good)},
		{200, "application/json", `{}`},
		{200, "application/json", `{"access_key_id":"ASIAX","secret_access_key":""}`},
		{200, "application/json", `{"access_key_id":"ASIAX","secret_access_key":"s","expiration":"yesterday"}`},
		{200, "text/html", `<html>hello</html>`},
		{200, "application/json", `null`},
		{200, "application/json", ``},
		{204, "", ``},
		{401, "application/json", `{"code":"unauthorized","message":"token: unknown or wrong token"}`},
		{403, "application/json", `{"code":"forbidden","message":"plan: no"}`},
		{429, "application/json", `{"code":"throttled","message":"slow down"}`},
		{500, "application/json", `{"code":"internal","message":"internal error; the broker log has the details"}`},
		{502, "text/html", `<html>Bad Gateway</html>`},
		{503, "application/json", `{"code":"made_up","message":"x"}`},
		{418, "application/json", `{"code":"invalid"}`},
		{302, "", ``},
		{100, "", ``},
	} {
		f.Add(s.status, s.ctype, []byte(s.body))
	}
	var mu sync.Mutex
	var status int
	var ctype string
	var body []byte
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, ct, b := status, ctype, body
		mu.Unlock()
		if ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.WriteHeader(st)
		w.Write(b)
	}))
	f.Cleanup(ts.Close)
	c, err := httpapi.NewClient(ts.URL, httpapi.ClientOptions{Token: agentSecret, Timeout: 5 * time.Second})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, st uint16, ct string, b []byte) {
		if st < 200 || st > 599 || strings.ContainsAny(ct, "\r\n\x00") {
			return // not a status or header an HTTP server can send
		}
		mu.Lock()
		status, ctype, body = int(st), ct, b
		mu.Unlock()
		res, err := c.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY"})
		if err != nil {
			e := credbroker.AsError(err)
			if e == nil || e.Message == "" || e.Code == "" {
				t.Fatalf("status %d body %q: error %v (%T) is not a clear *credbroker.Error", st, b, err, err)
			}
			if strings.Contains(e.Error(), agentSecret) {
				t.Fatalf("the error shows the client's token: %s", e.Error())
			}
			return
		}
		if st > 299 {
			t.Fatalf("credentials out of an HTTP %d answer", st)
		}
		if res == nil || res.AccessKeyID == "" || res.SecretAccessKey == "" {
			t.Fatalf("status %d body %q gave incomplete credentials %+v", st, b, res)
		}
	})
}
