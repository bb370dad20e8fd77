package testpeers

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// MinIOServer is a MinIO server started by [MinIO] for one test. Its STS
// endpoint (the same URL as its S3 endpoint) implements AssumeRole, signed
// with SigV4 by the root credentials, honouring Policy and DurationSeconds
// (900 s minimum); it has no GetCallerIdentity, GetSessionToken or
// GetFederationToken.
type MinIOServer struct {
	// Endpoint is the S3 and STS endpoint, http://127.0.0.1:PORT.
	Endpoint string
	// RootUser is the root access key ID, random per server.
	RootUser string
	// RootPassword is the root secret access key, random per server.
	RootPassword string
	// Region is the region the server answers for: us-east-1.
	Region string
	// DataDir is where the server keeps its objects.
	DataDir string
	// Process is the running server.
	Process *Process
}

// minioStartAttempts bounds retries when a free port is taken before MinIO
// binds it.
const minioStartAttempts = 3

// MinIO starts a MinIO server on loopback ports with its data in a
// t.TempDir() and random root credentials, waits until it serves requests
// (/minio/health/cluster answers 200, which needs the object layer and IAM
// ready: /minio/health/ready and /live answer 200 earlier), and stops it in
// t.Cleanup. It fails the test when minio is missing or does not start.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	return MinIOWith(t)
}

// MinIOWith is MinIO with extra MINIO_* settings in its environment, such
// as an OpenID issuer that AssumeRoleWithWebIdentity verifies tokens
// against ([MinIOServer.OpenIDEnv]).
func MinIOWith(t testing.TB, env ...string) *MinIOServer {
	t.Helper()
	bin := Binary(t, "minio")
	dir := t.TempDir()
	s := &MinIOServer{
		RootUser:     "root" + randomHex(8),
		RootPassword: randomHex(20),
		Region:       "us-east-1",
	}
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatalf("testpeers: %v", err)
	}
	for attempt := 1; ; attempt++ {
		s.DataDir = filepath.Join(dir, fmt.Sprintf("data%d", attempt))
		if err := os.Mkdir(s.DataDir, 0o700); err != nil {
			t.Fatalf("testpeers: %v", err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		console := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		cmd := exec.Command(bin, "server", s.DataDir, "--address", addr, "--console-address", console)
		cmd.Dir = dir
		cmd.Env = []string{
			"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
			"HOME=" + home,
			"MINIO_ROOT_USER=" + s.RootUser,
			"MINIO_ROOT_PASSWORD=" + s.RootPassword,
			"MINIO_SITE_REGION=" + s.Region,
			"MINIO_UPDATE=off",
			"MINIO_BROWSER=off",
			"MINIO_CALLHOME_ENABLE=off",
		}
		cmd.Env = append(cmd.Env, env...)
		proc, err := startProcess(t, "minio", dir, cmd)
		if err != nil {
			t.Fatalf("testpeers: %v", err)
		}
		s.Endpoint = "http://" + addr
		err = proc.WaitReady(2*time.Minute, httpProbe(http.MethodGet, s.Endpoint+"/minio/health/cluster", nil, http.StatusOK))
		if err == nil {
			s.Process = proc
			return s
		}
		if proc.portInUse() && attempt < minioStartAttempts {
			proc.Stop()
			continue
		}
		t.Fatalf("testpeers: start minio: %v", err)
	}
}

// OpenIDEnv is the MinIO setting that trusts the issuer at issuerURL for
// AssumeRoleWithWebIdentity, for tokens whose audience is clientID: the
// policy a session gets is the token's "policy" claim (a MinIO policy
// such as readonly), narrowed by the call's session policy. MinIO ignores
// the call's RoleArn with such an issuer.
func OpenIDEnv(issuerURL, clientID string) []string {
	return []string{
		"MINIO_IDENTITY_OPENID_CONFIG_URL=" + issuerURL + "/.well-known/openid-configuration",
		"MINIO_IDENTITY_OPENID_CLIENT_ID=" + clientID,
		"MINIO_IDENTITY_OPENID_CLAIM_NAME=policy",
	}
}

// RootEnv returns [Env] with the root credentials and region of the server
// and AWS_EC2_METADATA_DISABLED=true, followed by extra.
func (s *MinIOServer) RootEnv(extra ...string) []string {
	return Env(append([]string{
		"AWS_ACCESS_KEY_ID=" + s.RootUser,
		"AWS_SECRET_ACCESS_KEY=" + s.RootPassword,
		"AWS_REGION=" + s.Region,
		"AWS_DEFAULT_REGION=" + s.Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}, extra...)...)
}

// AWS runs the AWS CLI v2 against the server as root (`aws --endpoint-url
// ENDPOINT args...` in [MinIOServer.RootEnv]) and returns its stdout. It fails
// the test when the command fails.
func (s *MinIOServer) AWS(t testing.TB, args ...string) string {
	t.Helper()
	cli := AWSCLI(t)
	out, errOut, err := Run(t, s.RootEnv(), cli, append([]string{"--endpoint-url", s.Endpoint}, args...)...)
	if err != nil {
		t.Fatalf("testpeers: %v\n%s", err, strings.TrimSpace(errOut))
	}
	return out
}

// MakeBucket creates the bucket name, using the AWS CLI as root.
func (s *MinIOServer) MakeBucket(t testing.TB, name string) {
	t.Helper()
	s.AWS(t, "s3api", "create-bucket", "--bucket", name)
}

// PutObject stores body as bucket/key, using the AWS CLI as root.
func (s *MinIOServer) PutObject(t testing.TB, bucket, key, body string) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "body-*")
	if err != nil {
		t.Fatalf("testpeers: %v", err)
	}
	_, err = f.WriteString(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("testpeers: write object body: %v", err)
	}
	s.AWS(t, "s3api", "put-object", "--bucket", bucket, "--key", key, "--body", f.Name())
}
