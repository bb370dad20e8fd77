package testpeers

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// IMDSOptions says what an [IMDSMock] serves.
type IMDSOptions struct {
	// AccessKeyID is the instance role's access key ID (required).
	AccessKeyID string
	// SecretAccessKey is the instance role's secret key (required).
	SecretAccessKey string
	// Token is the session token served with the keys; leave it empty to serve
	// MinIO root credentials, which MinIO refuses if a token comes with them.
	Token string
	// Expiration is when the served credentials expire; zero means six hours
	// from now.
	Expiration time.Time
	// RoleName is the instance profile's role, listed at
	// /latest/meta-data/iam/security-credentials/; empty means "agent-role".
	RoleName string
	// V2Only makes the mock refuse requests without an IMDSv2 session token
	// (401), as an instance with HttpTokens=required does.
	V2Only bool
}

// IMDSServer is an ec2-metadata-mock started by [IMDSMock] for one test.
type IMDSServer struct {
	// Endpoint is the base URL with a trailing slash, http://127.0.0.1:PORT/,
	// ready for AWS_EC2_METADATA_SERVICE_ENDPOINT (the AWS CLI joins
	// "latest/api/token" to it without adding a slash).
	Endpoint string
	// RoleName is the role whose credentials the mock serves.
	RoleName string
	// Process is the running mock.
	Process *Process
}

// imdsStartAttempts bounds retries when a free port is taken before the mock
// binds it.
const imdsStartAttempts = 3

// IMDSMock starts ec2-metadata-mock on 127.0.0.1 with a generated JSON config
// (-c) that serves opts' credentials for opts.RoleName, and -I when
// opts.V2Only; waits until it answers an IMDSv2 token PUT; and stops it in
// t.Cleanup. It fails the test when ec2-metadata-mock is missing or does not
// start.
func IMDSMock(t testing.TB, opts IMDSOptions) *IMDSServer {
	t.Helper()
	if opts.AccessKeyID == "" || opts.SecretAccessKey == "" {
		t.Fatalf("testpeers: IMDSMock needs AccessKeyID and SecretAccessKey")
	}
	if opts.RoleName == "" {
		opts.RoleName = "agent-role"
	}
	if opts.Expiration.IsZero() {
		opts.Expiration = time.Now().Add(6 * time.Hour)
	}
	bin := Binary(t, "ec2-metadata-mock")
	dir := t.TempDir()

	// Keys are lower case: the mock reads its config through viper, which
	// folds keys. Setting the role value also renames the credentials path
	// (.../security-credentials/<role>).
	config := map[string]any{
		"imdsv2": opts.V2Only,
		"metadata": map[string]any{
			"values": map[string]any{
				"iam-security-credentials-role": opts.RoleName,
				"iam-security-credentials": map[string]string{
					"accesskeyid":     opts.AccessKeyID,
					"secretaccesskey": opts.SecretAccessKey,
					"token":           opts.Token,
					"code":            "Success",
					"type":            "AWS-HMAC",
					"expiration":      opts.Expiration.UTC().Format(time.RFC3339),
					"lastupdated":     time.Now().UTC().Format(time.RFC3339),
				},
			},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatalf("testpeers: encode ec2-metadata-mock config: %v", err)
	}
	configPath := filepath.Join(dir, "aemm-config.json")
	if err := os.WriteFile(configPath, data, 0o600); err != nil {
		t.Fatalf("testpeers: %v", err)
	}

	for attempt := 1; ; attempt++ {
		port := FreePort(t)
		args := []string{"-c", configPath, "-n", "127.0.0.1", "-p", strconv.Itoa(port)}
		if opts.V2Only {
			args = append(args, "-I")
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		// A clean environment: the mock also reads AEMM_* variables.
		cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir}
		proc, err := startProcess(t, "ec2-metadata-mock", dir, cmd)
		if err != nil {
			t.Fatalf("testpeers: %v", err)
		}
		s := &IMDSServer{Endpoint: fmt.Sprintf("http://127.0.0.1:%d/", port), RoleName: opts.RoleName}
		header := http.Header{"X-Aws-Ec2-Metadata-Token-Ttl-Seconds": {"60"}}
		err = proc.WaitReady(time.Minute, httpProbe(http.MethodPut, s.Endpoint+"latest/api/token", header, http.StatusOK))
		if err == nil {
			s.Process = proc
			return s
		}
		if proc.portInUse() && attempt < imdsStartAttempts {
			proc.Stop()
			continue
		}
		t.Fatalf("testpeers: start ec2-metadata-mock: %v", err)
	}
}
