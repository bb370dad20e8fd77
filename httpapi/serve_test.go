package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// startServe runs srv.Serve on a loopback listener until the test ends,
// and returns the address and a function that stops it and returns what
// Serve returned.
func startServe(t *testing.T, srv *httpapi.Server) (addr string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	var result error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not return after its context ended")
			}
		}
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return ln.Addr().String(), stop
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "credbroker test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSigned(t, dir)
	srv := httpapi.NewServer(&fakeService{}, httpapi.ServerOptions{CertFile: certFile, KeyFile: keyFile})
	addr, stop := startServe(t, srv)
	url := "https://" + addr
	ctx := context.Background()

	t.Run("client with the CA file", func(t *testing.T) {
		c, err := httpapi.NewClient(url, httpapi.ClientOptions{Token: agentSecret, CAFile: certFile})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Vend(ctx, credbroker.VendRequest{Connector: "deploy"})
		if err != nil {
			t.Fatal(err)
		}
		if res.SecretAccessKey != vendSecret {
			t.Errorf("vend over TLS returned %+v", res)
		}
	})
	t.Run("client without it", func(t *testing.T) {
		c := newClient(t, url, agentSecret)
		_, err := c.Vend(ctx, credbroker.VendRequest{Connector: "deploy"})
		e := credbroker.AsError(err)
		if e == nil || e.Code != credbroker.CodeUnavailable {
			t.Fatalf("err = %v, want CodeUnavailable", err)
		}
		if !strings.Contains(e.Message, "TLS verification") || !strings.Contains(e.Message, url) || !strings.Contains(e.Fix, "--ca-file") {
			t.Errorf("error does not explain the TLS failure: %v", e)
		}
		if strings.Contains(errorChain(err), agentSecret) {
			t.Errorf("error shows the token: %s", errorChain(err))
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(addr)
		c, err := httpapi.NewClient("https://localhost:"+port, httpapi.ClientOptions{Token: agentSecret, CAFile: certFile})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Ready(ctx)
		if e := credbroker.AsError(err); e == nil || !strings.Contains(e.Message, "TLS verification") {
			t.Errorf("err = %v, want a TLS verification failure", err)
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}) //nolint:gosec // the point of the test
		if err == nil {
			conn.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})
	t.Run("plain http refused", func(t *testing.T) {
		c := newClient(t, "http://"+addr, agentSecret)
		if err := c.Ready(ctx); err == nil {
			t.Fatal("plain HTTP to the TLS port succeeded")
		}
	})
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v after its context ended, want nil", err)
	}

	t.Run("bad key pair", func(t *testing.T) {
		srv := httpapi.NewServer(&fakeService{}, httpapi.ServerOptions{CertFile: certFile, KeyFile: filepath.Join(dir, "missing.pem")})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		if err := srv.Serve(ctx, ln); err == nil || !strings.Contains(err.Error(), "load tls certificate") {
			t.Errorf("Serve with a missing key = %v", err)
		}
		srv = httpapi.NewServer(&fakeService{}, httpapi.ServerOptions{CertFile: certFile})
		if err := srv.Serve(ctx, ln); err == nil {
			t.Error("Serve with a certificate and no key succeeded")
		}
	})
}

// TestSlowClient: a client that sends its headers slower than
// ReadHeaderTimeout is cut off.
func TestSlowClient(t *testing.T) {
	const headerTimeout = 300 * time.Millisecond
	srv := httpapi.NewServer(&fakeService{}, httpapi.ServerOptions{ReadHeaderTimeout: headerTimeout, ReadTimeout: 2 * time.Second})
	addr, _ := startServe(t, srv)

	// A fast client is served.
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz: %d", resp.StatusCode)
	}

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		head := "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + strings.Repeat("a", 40) + "\r\n\r\n"
		for i := range len(head) {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := conn.Write([]byte{head[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	data, err := io.ReadAll(conn)
	elapsed := time.Since(start)
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		t.Fatalf("the server kept the slow connection open for %v", elapsed)
	}
	// net/http may say 400 before it closes; the request is never served.
	if len(data) != 0 && !strings.HasPrefix(string(data), "HTTP/1.1 400 ") {
		t.Errorf("the slow client got an answer other than 400: %q", data)
	}
	if elapsed < headerTimeout || elapsed > headerTimeout+2*time.Second {
		t.Errorf("connection closed after %v, want about %v", elapsed, headerTimeout)
	}
}

// TestGracefulShutdown: when Serve's context ends, a request in flight
// finishes and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	svc := &fakeService{Block: make(chan struct{}), Entered: make(chan struct{}, 1)}
	srv := httpapi.NewServer(svc, httpapi.ServerOptions{})
	addr, stop := startServe(t, srv)
	c := newClient(t, "http://"+addr, agentSecret)

	type result struct {
		res *credbroker.VendResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := c.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy"})
		done <- result{res, err}
	}()
	<-svc.Entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()

	// New connections are refused once shutdown has begun.
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		conn.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after shutdown began")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(svc.Block)
	r := <-done
	if r.err != nil || r.res == nil || r.res.AccessKeyID != fixVend.AccessKeyID {
		t.Errorf("request in flight: %v %v", r.res, r.err)
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
}

// TestShutdownTimeout: a request that outlasts ShutdownTimeout is cut and
// Serve still returns.
func TestShutdownTimeout(t *testing.T) {
	svc := &fakeService{Block: make(chan struct{}), Entered: make(chan struct{}, 1)}
	defer close(svc.Block)
	srv := httpapi.NewServer(svc, httpapi.ServerOptions{ShutdownTimeout: 100 * time.Millisecond})
	addr, stop := startServe(t, srv)
	c := newClient(t, "http://"+addr, agentSecret)
	done := make(chan error, 1)
	go func() {
		_, err := c.Vend(context.Background(), credbroker.VendRequest{Connector: "deploy"})
		done <- err
	}()
	<-svc.Entered
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve returned %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v with a 100ms timeout", d)
	}
	if err := <-done; codeOf(t, err) != credbroker.CodeUnavailable {
		t.Errorf("cut request: %v, want unavailable", err)
	}
}
