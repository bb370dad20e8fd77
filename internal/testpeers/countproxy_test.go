package testpeers

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

func TestCountingProxyCountsActions(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hosts = append(hosts, r.Host)
		mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("<AssumeRoleResponse/>"))
	}))
	defer upstream.Close()
	p, err := StartCountingProxy(upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, body := range []string{"Action=AssumeRole&Version=2011-06-15", "Action=AssumeRole", "Action=GetCallerIdentity"} {
		resp, err := http.Post(p.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusTeapot || string(b) != "<AssumeRoleResponse/>" || resp.Header.Get("X-Upstream") != "yes" {
			t.Errorf("proxied response: %d %q %v", resp.StatusCode, b, resp.Header)
		}
	}
	if p.Calls("AssumeRole") != 2 || p.Calls("GetCallerIdentity") != 1 || len(p.Durations("AssumeRole")) != 2 {
		t.Errorf("counted AssumeRole %d, GetCallerIdentity %d", p.Calls("AssumeRole"), p.Calls("GetCallerIdentity"))
	}
	if at := p.Arrivals("AssumeRole"); len(at) != 2 || at[0].IsZero() || at[1].Before(at[0]) {
		t.Errorf("arrivals of the two AssumeRole calls, sent one after the other: %v", at)
	}
	// The signed Host header reaches the upstream unchanged.
	mu.Lock()
	defer mu.Unlock()
	if len(hosts) == 0 || hosts[0] != strings.TrimPrefix(p.URL, "http://") {
		t.Errorf("upstream saw Host %v, want the proxy's %s", hosts, p.URL)
	}
}
