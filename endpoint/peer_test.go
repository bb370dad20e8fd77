package endpoint_test

import (
	"context"
	"encoding/json"
	"io"
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

// hostAddress returns an IPv4 address of this host that is not loopback,
// or nil.
func hostAddress() net.IP {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP
		}
	}
	return nil
}

// TestRealNonLoopbackPeer connects to the endpoint from this host's own
// non-loopback address, a real peer that is not loopback: refused with
// 403 before the provider is asked, token or not. The endpoint's port on
// that address has nothing listening. A host with loopback only gets the
// same check through the handler with a made-up peer.
func TestRealNonLoopbackPeer(t *testing.T) {
	var calls atomic.Int64
	prov := credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) {
		calls.Add(1)
		return credbroker.Credentials{AccessKeyID: "ASIAPEERTEST00000001", SecretAccessKey: "peer-test-secret", Expires: time.Now().Add(time.Hour)}, nil
	})
	srv, err := endpoint.Start(endpoint.Options{Provider: prov, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tok, err := os.ReadFile(srv.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Authorization", string(tok))

	ip := hostAddress()
	var status int
	var body []byte
	if ip == nil {
		t.Log("this host has no address but loopback: checking through the handler with peer 192.0.2.7")
		r := httptest.NewRequest(http.MethodGet, srv.URL, nil)
		r.Header = req.Header.Clone()
		r.RemoteAddr = "192.0.2.7:40000"
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, r)
		status, body = w.Code, w.Body.Bytes()
	} else {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}, Timeout: 5 * time.Second}
		c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 10 * time.Second}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("connect from %s: %v", ip, err)
		}
		defer resp.Body.Close()
		status = resp.StatusCode
		body, _ = io.ReadAll(resp.Body)
		// Nothing listens on the endpoint's port at the host address.
		port := srv.URL[strings.LastIndexByte(srv.URL, ':')+1 : len(srv.URL)-len(endpoint.Path)]
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.String(), port), 2*time.Second); err == nil {
			conn.Close()
			t.Errorf("the endpoint's port answers on %s", ip)
		}
	}
	if status != http.StatusForbidden {
		t.Fatalf("a non-loopback peer got %d: %s", status, body)
	}
	var m map[string]string
	if err := json.Unmarshal(body, &m); err != nil || m["code"] != "forbidden" || !strings.Contains(m["message"], "loopback") {
		t.Errorf("refusal %q does not say why in JSON", body)
	}
	if calls.Load() != 0 {
		t.Fatal("a non-loopback peer reached the provider")
	}
}
