package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test, and a server
// certificate it signed for 127.0.0.1 and broker.test.
type testCA struct {
	caFile, certFile, keyFile string
	// otherCA is a CA that signed nothing of the broker's.
	otherCA string
}

func newTestCA(t *testing.T, dir string) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "credbroker test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "broker.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{"broker.test"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{
		caFile:   filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "broker.pem"),
		keyFile:  filepath.Join(dir, "broker-key.pem"),
		otherCA:  filepath.Join(dir, "other-ca.pem"),
	}
	write := func(path, typ string, der []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(ca.caFile, "CERTIFICATE", caDER)
	write(ca.certFile, "CERTIFICATE", der)
	write(ca.keyFile, "PRIVATE KEY", pkcs8)
	// A second, unrelated CA.
	otherKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherTmpl := *caTmpl
	otherTmpl.Subject = pkix.Name{CommonName: "some other CA"}
	otherDER, err := x509.CreateCertificate(rand.Reader, &otherTmpl, &otherTmpl, &otherKey.PublicKey, otherKey)
	if err != nil {
		t.Fatal(err)
	}
	write(ca.otherCA, "CERTIFICATE", otherDER)
	return ca
}

// TestTLS: `serve --tls-cert --tls-key` speaks HTTPS; the admin CLI and an
// agent's `credbroker exec` with a connector verify it against --ca-file
// (or $CREDBROKER_CA_FILE, or a job file's ca_file) and work; without the
// CA, with another CA, or under a host name the certificate does not
// name, they fail with one clear line before sending anything.
func TestTLS(t *testing.T) {
	w := newWorld(t, false)
	ca := newTestCA(t, dataDir(w, "pki"))
	dd := dataDir(w, "broker")
	b := w.startBroker(dd, "--tls-cert", ca.certFile, "--tls-key", ca.keyFile)
	b.caFile = ca.caFile
	if !strings.HasPrefix(b.URL, "https://127.0.0.1:") {
		t.Fatalf("broker URL %s", b.URL)
	}
	admin := w.adminToken(dd)
	adminEnv := func(extra ...string) []string {
		return w.env(append([]string{"CREDBROKER_BROKER=" + b.URL, "CREDBROKER_TOKEN=" + admin}, extra...)...)
	}

	// The admin CLI with the CA: a connector and an agent token.
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(w.cbr(adminEnv(), "connector", "create", "deploy", "--ca-file", ca.caFile, "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", w.minio.Endpoint,
		"--default-duration", "15m", "--allow-plan", "OPS-*"), "connector create over TLS")
	r := w.runShown(adminEnv("CREDBROKER_CA_FILE="+ca.caFile), w.cb, "token", "create", "--role", "agent", "--name", "tls-agents", "--plans", "OPS-*")
	w.expectOK(r, "token create over TLS with $CREDBROKER_CA_FILE")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)
	tokF := w.write("input-agent.token", agent)

	// The agent: exec with the connector reads alpha, and only alpha.
	agentEnv := w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN_FILE="+tokF)
	exec := func(extra []string, cmd ...string) result {
		args := append([]string{"exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "1"}, extra...)
		return w.cbr(agentEnv, append(append(args, "--"), cmd...)...)
	}
	r = exec([]string{"--ca-file", ca.caFile}, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")...)
	w.expectOK(r, "exec over TLS")
	if strings.TrimSpace(r.stdout) != helloTxt {
		t.Fatalf("read alpha over TLS: %q", r.stdout)
	}
	w.expectDenied(exec([]string{"--ca-file", ca.caFile}, w.awsArgs("s3", "cp", "s3://beta/hello.txt", "-")...), "read beta")

	// A job file names the CA with ca_file.
	job := w.write("job.yaml", `
version: 1
plan: OPS-DEPLOY
build: "2"
tasks:
  - name: read
    credentials:
      source: connector
      connector: deploy
      ca_file: `+ca.caFile+`
    run: aws --endpoint-url `+w.minio.Endpoint+` --region us-east-1 s3 cp s3://alpha/hello.txt -
`)
	// (run reads the plan's variables from the broker first, verifying it
	// with $CREDBROKER_CA_FILE.)
	r = w.cbr(append(agentEnv, "CREDBROKER_CA_FILE="+ca.caFile), "run", job)
	w.expectOK(r, "job with ca_file")
	if !strings.Contains(r.stdout, helloTxt) {
		t.Fatalf("job output: %s", r.stdout)
	}

	// Failures: each one line naming the broker and what to do.
	// exec fails as credbroker's own failure (125), the admin CLI with 1.
	tlsFails := func(what string, r result, want ...string) {
		t.Helper()
		if r.code != 125 && !(r.code == 1 && !strings.Contains(what, "exec")) {
			t.Errorf("%s: exit %d\n%s", what, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "credbroker: ") {
			t.Errorf("%s: want one line on stderr, got:\n%s", what, r.stderr)
		}
		for _, s := range want {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("%s: stderr lacks %q:\n%s", what, s, r.stderr)
			}
		}
	}
	tlsFails("exec without the CA", exec(nil, "true"), "TLS verification", b.URL, "--ca-file")
	tlsFails("exec with another CA", exec([]string{"--ca-file", ca.otherCA}, "true"), "TLS verification", "--ca-file")
	tlsFails("admin CLI without the CA", w.cbr(adminEnv(), "connector", "list"), "TLS verification", "--ca-file")
	port := strings.TrimPrefix(b.URL, "https://127.0.0.1:")
	wrongHost := "https://localhost:" + port
	tlsFails("exec under a host name the certificate does not name",
		w.cbr(w.env("CREDBROKER_BROKER="+wrongHost, "CREDBROKER_TOKEN_FILE="+tokF), "exec", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--ca-file", ca.caFile, "--", "true"),
		"TLS verification", "localhost")
	r = w.cbr(adminEnv(), "connector", "list", "--ca-file", ca.keyFile)
	if r.code == 0 || !strings.Contains(r.stderr, "no PEM certificate") {
		t.Errorf("a CA file that holds no certificate: exit %d\n%s", r.code, r.stderr)
	}
	r = w.cbr(w.env("CREDBROKER_BROKER=http://127.0.0.1:"+port, "CREDBROKER_TOKEN="+admin), "connector", "list")
	if r.code == 0 {
		t.Errorf("plain http to the TLS port worked:\n%s", r.stdout)
	}

	// The audit over TLS names the builds.
	r = w.cbr(adminEnv("CREDBROKER_CA_FILE="+ca.caFile), "audit", "--plan", "OPS-DEPLOY", "--output", "json")
	w.expectOK(r, "audit over TLS")
	if !strings.Contains(r.stdout, `"build": "1"`) || !strings.Contains(r.stdout, `"build": "2"`) {
		t.Fatalf("audit:\n%s", r.stdout)
	}
}
