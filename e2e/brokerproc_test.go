package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// brokerProc is a running `credbroker serve`.
type brokerProc struct {
	w   *world
	URL string // what clients use: a recording proxy in front of the broker
	// direct is the broker's own URL.
	direct  string
	caFile  string   // CA of the broker's TLS certificate, for the harness's own calls
	env     []string // extra environment of the broker process
	dataDir string
	args    []string
	cmd     *exec.Cmd
	log     *lockedBuf
	done    chan error
}

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startBroker runs credbroker serve with extra flags on a free port and
// waits until it is ready; its log goes to the leak check.
func (w *world) startBroker(dataDir string, extra ...string) *brokerProc {
	w.t.Helper()
	return w.startBrokerEnv(nil, dataDir, extra...)
}

// startBrokerEnv is startBroker with extra environment entries for the
// broker process.
func (w *world) startBrokerEnv(env []string, dataDir string, extra ...string) *brokerProc {
	w.t.Helper()
	b := &brokerProc{w: w, dataDir: dataDir, env: env}
	port := testpeers.FreePort(w.t)
	b.direct = fmt.Sprintf("http://127.0.0.1:%d", port)
	b.URL = b.direct
	b.args = append([]string{"serve", "--listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dataDir}, extra...)
	if b.flag("--tls-cert") == "" {
		// Every answer the broker gives joins the leak check.
		b.URL = recordingProxy(w.t, w, b.direct)
	} else {
		b.direct = "https" + strings.TrimPrefix(b.direct, "http")
		b.URL = b.direct
	}
	if err := b.start(); err != nil {
		w.t.Fatal(err)
	}
	return b
}

func (b *brokerProc) start() error {
	b.log = &lockedBuf{}
	b.cmd = exec.Command(b.w.cb, b.args...)
	b.cmd.Env = b.w.env(b.env...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := b.cmd.Start(); err != nil {
		return err
	}
	b.done = make(chan error, 1)
	go func() { b.done <- b.cmd.Wait() }()
	b.w.t.Cleanup(func() { b.stop() })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-b.done:
			b.done <- err
			return fmt.Errorf("credbroker serve exited: %v\n%s", err, b.log.String())
		default:
		}
		resp, err := b.readyz()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("credbroker serve not ready in 30s\n%s", b.log.String())
}

// readyz asks the broker whether it is ready.
func (b *brokerProc) readyz() (*http.Response, error) {
	if b.caFile == "" && strings.HasPrefix(b.URL, "https:") {
		// Before the test names the CA: readiness only, nothing sent.
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // readiness probe of a test broker
		defer tr.CloseIdleConnections()
		return (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(b.URL + "/readyz")
	}
	c := &http.Client{Timeout: 5 * time.Second}
	if b.caFile != "" {
		pem, err := os.ReadFile(b.caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
		defer tr.CloseIdleConnections()
		c.Transport = tr
	}
	return c.Get(b.URL + "/readyz")
}

// stop ends the broker (SIGTERM, then kill) and records its log, its
// audit rows and its database.
func (b *brokerProc) stop() {
	if b.cmd == nil || b.cmd.Process == nil {
		return
	}
	b.recordAudit()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		b.cmd.Process.Kill()
		<-b.done
	}
	b.w.record("broker log", []byte(b.log.String()))
	b.cmd = nil
	b.recordStore()
}

// kill ends the broker with SIGKILL.
func (b *brokerProc) kill() {
	b.cmd.Process.Kill()
	<-b.done
	b.w.record("broker log", []byte(b.log.String()))
	b.cmd = nil
}

// adminShown runs an admin command whose stdout shows a secret once by
// design (token create): its stdout is kept out of the leak check.
func (b *brokerProc) adminShown(tok string, args ...string) result {
	b.w.t.Helper()
	env := b.w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+tok)
	return b.w.runShown(env, b.w.cb, args...)
}

// runOnce runs `credbroker serve` expecting it to fail, returning its output.
func (w *world) serveFails(args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.cb, append([]string{"serve"}, args...)...)
	cmd.Env = w.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	w.record("failed serve", out.Bytes())
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("serve: %v (%s)", err, out.String())
	}
	return result{stdout: out.String(), code: code}
}

// adminToken makes the first admin token with token create --local.
func (w *world) adminToken(dataDir string, extra ...string) string {
	w.t.Helper()
	r := w.runShown(w.env(), w.cb, append([]string{"token", "create", "--local", "--role", "admin", "--name", "test-admin", "--data-dir", dataDir}, extra...)...)
	w.expectOK(r, "token create --local")
	tok := strings.TrimSpace(r.stdout)
	w.secret(tok)
	w.mu.Lock()
	w.admins = append(w.admins, tok)
	w.mu.Unlock()
	return tok
}

// admin runs an admin command against the broker.
func (b *brokerProc) admin(tok string, stdin string, args ...string) result {
	b.w.t.Helper()
	env := b.w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+tok)
	return b.w.run(env, stdin, b.w.cb, args...)
}

// api calls the broker's HTTP API directly and records the response body
// (unless it is a vend, whose secrets are the point of the call).
func (b *brokerProc) api(method, path, tok string, body any, out any) int {
	b.w.t.Helper()
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, _ := http.NewRequest(method, b.URL+path, rd)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.w.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	// A granted vend and the agent's variables carry secrets by design.
	intended := resp.StatusCode == 200 && (path == "/v1/credentials" || strings.HasPrefix(path, "/v1/agent/variables"))
	if !intended {
		b.w.record("API "+method+" "+path, data)
	}
	if out != nil {
		json.Unmarshal(data, out)
	}
	return resp.StatusCode
}

// vend asks for credentials; a granted vend's secrets join the leak check.
func (b *brokerProc) vend(tok string, req credbroker.VendRequest) (int, *credbroker.VendResult, map[string]string) {
	var res credbroker.VendResult
	var raw map[string]any
	st := b.api(http.MethodPost, "/v1/credentials", tok, req, &raw)
	buf, _ := json.Marshal(raw)
	json.Unmarshal(buf, &res)
	if st == 200 {
		b.w.secret(res.SecretAccessKey, res.SessionToken)
		return st, &res, nil
	}
	e := map[string]string{}
	json.Unmarshal(buf, &e)
	return st, nil, e
}

// writeKeyFile writes a valid master key file with a random key.
func writeKeyFile(t *testing.T, path string) {
	k := make([]byte, 32)
	rand.Read(k)
	body := fmt.Sprintf(`{"format":"credbroker-keys-v1","keys":[{"version":1,"key":%q}]}`, base64.StdEncoding.EncodeToString(k))
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func dataDir(w *world, name string) string {
	d := filepath.Join(w.dir, name)
	os.MkdirAll(d, 0o700)
	return d
}
