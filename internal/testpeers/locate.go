package testpeers

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// modulePath is the module whose go.mod marks the repository root.
const modulePath = "github.com/credbroker/credbroker"

// Environment variables that steer where the peers are found.
const (
	// PeersEnvVar names the peers file to read. scripts/test sets it to the
	// peers.env that scripts/deps wrote. When it is set, the file must exist.
	// When it is unset, <cache>/peers.env is read if present, else built-in
	// default paths are used.
	PeersEnvVar = "CREDBROKER_PEERS_ENV"
	// RequirePeersVar, set to "1", makes a missing peers file a test failure
	// instead of a fall-back to default paths. scripts/test sets it, so CI
	// uses exactly what scripts/deps installed and verified.
	RequirePeersVar = "CREDBROKER_REQUIRE_PEERS"
	// CacheVar overrides the cache directory, as it does for scripts/deps.
	// The default is <repo>/.cache.
	CacheVar = "CREDBROKER_CACHE"
)

// Keys of the peers file. Each line of the file is KEY=VALUE; the value may
// be wrapped in single or double quotes; blank lines and lines starting with
// # are ignored.
const (
	// KeyAWSCLI is the path of the AWS CLI v2 (Debian's awscli: /usr/bin/aws).
	KeyAWSCLI = "AWS_CLI"
	// KeyPython is the path of a python3 that can import boto3.
	KeyPython = "PYTHON"
	// KeyMinIO is the path of the minio server binary.
	KeyMinIO = "MINIO"
	// KeyIMDSMock is the path of the ec2-metadata-mock binary.
	KeyIMDSMock = "IMDS_MOCK"
	// KeyPGBin is the directory holding PostgreSQL's initdb, pg_ctl and postgres.
	KeyPGBin = "PG_BIN"
	// KeyChromium is the path of Debian's chromium, for the browser tests.
	KeyChromium = "CHROMIUM"
	// KeyNode is the path of Node.js (Debian's nodejs), whose
	// encodeURIComponent the masking tests use.
	KeyNode = "NODE"
	// KeyCurl is the path of curl, whose --data-urlencode the masking tests
	// use.
	KeyCurl = "CURL"
	// KeyHydra is the path of ory/hydra, which scripts/deps builds into
	// <cache>/bin: the real OIDC issuer of the ID token tests.
	KeyHydra = "HYDRA"
)

// depsHint ends every message about a missing or broken peer.
const depsHint = "run scripts/deps to install the test peers"

// peers is what the peers file (or the defaults) says.
type peers struct {
	root   string            // repository root
	cache  string            // cache directory
	source string            // where values came from, for messages
	values map[string]string // KEY -> path
}

var (
	peersOnce sync.Once
	peersVal  *peers
	peersErr  error
)

// loadPeers reads the peers configuration once per test binary.
func loadPeers() (*peers, error) {
	peersOnce.Do(func() { peersVal, peersErr = readPeers() })
	return peersVal, peersErr
}

func mustPeers(t testing.TB) *peers {
	t.Helper()
	p, err := loadPeers()
	if err != nil {
		t.Fatalf("testpeers: %v; %s", err, depsHint)
	}
	return p
}

func readPeers() (*peers, error) {
	root, err := findRepoRoot()
	if err != nil {
		return nil, err
	}
	cache := os.Getenv(CacheVar)
	if cache == "" {
		cache = filepath.Join(root, ".cache")
	}
	p := &peers{root: root, cache: cache, values: defaultPeers(cache)}

	path := os.Getenv(PeersEnvVar)
	explicit := path != ""
	if !explicit {
		path = filepath.Join(cache, "peers.env")
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		vals, err := parsePeersEnv(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("peers file %s: %w", path, err)
		}
		for k, v := range vals {
			p.values[k] = v
		}
		p.source = path
	case errors.Is(err, fs.ErrNotExist) && !explicit && os.Getenv(RequirePeersVar) != "1":
		p.source = "built-in defaults (" + path + " does not exist)"
	default:
		return nil, fmt.Errorf("read peers file: %w", err)
	}
	return p, nil
}

// defaultPeers are the paths scripts/deps installs to on Debian 12.
func defaultPeers(cache string) map[string]string {
	return map[string]string{
		KeyAWSCLI:   "/usr/bin/aws",
		KeyPython:   "/usr/bin/python3",
		KeyMinIO:    filepath.Join(cache, "bin", "minio"),
		KeyIMDSMock: filepath.Join(cache, "bin", "ec2-metadata-mock"),
		KeyPGBin:    "/usr/lib/postgresql/15/bin",
		KeyChromium: "/usr/bin/chromium",
		KeyNode:     "/usr/bin/node",
		KeyCurl:     "/usr/bin/curl",
		KeyHydra:    filepath.Join(cache, "bin", "hydra"),
	}
}

// parsePeersEnv parses KEY=VALUE lines as scripts/deps writes them.
func parsePeersEnv(r io.Reader) (map[string]string, error) {
	vals := make(map[string]string)
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(strings.TrimPrefix(key, "export "))
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			return nil, fmt.Errorf("line %d: want KEY=VALUE, got %q", n, line)
		}
		val = strings.TrimSpace(val)
		if len(val) >= 2 && (val[0] == '\'' || val[0] == '"') {
			if val[len(val)-1] != val[0] {
				return nil, fmt.Errorf("line %d: unbalanced quotes in %q", n, line)
			}
			val = val[1 : len(val)-1]
		}
		vals[key] = val
	}
	return vals, sc.Err()
}

// findRepoRoot walks up from the working directory to the go.mod of this
// module.
func findRepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for dir := wd; ; {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && moduleLine(data) == modulePath {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find repository root: no go.mod of %s above %s", modulePath, wd)
		}
		dir = parent
	}
}

// moduleLine returns the module path that go.mod data declares.
func moduleLine(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// RepoRoot returns the repository root: the nearest directory at or above
// the working directory whose go.mod declares module
// github.com/credbroker/credbroker.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := findRepoRoot()
	if err != nil {
		t.Fatalf("testpeers: %v", err)
	}
	return root
}

// CacheDir returns the cache directory that scripts/deps fills:
// $CREDBROKER_CACHE, or <repo>/.cache.
func CacheDir(t testing.TB) string {
	t.Helper()
	return mustPeers(t).cache
}

// pgTools are PostgreSQL programs that live in PG_BIN.
var pgTools = map[string]bool{
	"initdb": true, "pg_ctl": true, "postgres": true, "pg_isready": true,
	"psql": true, "createdb": true, "createuser": true, "pg_dump": true,
}

// binaryPath maps a peer name to its path.
func (p *peers) binaryPath(name string) string {
	switch name {
	case "aws":
		return p.values[KeyAWSCLI]
	case "python3", "python":
		return p.values[KeyPython]
	case "minio":
		return p.values[KeyMinIO]
	case "ec2-metadata-mock":
		return p.values[KeyIMDSMock]
	case "chromium":
		return p.values[KeyChromium]
	case "node":
		return p.values[KeyNode]
	case "curl":
		return p.values[KeyCurl]
	case "hydra":
		if v := p.values[KeyHydra]; v != "" {
			return v
		}
	}
	pg := filepath.Join(p.values[KeyPGBin], name)
	if _, err := os.Stat(pg); err == nil || pgTools[name] {
		return pg
	}
	return filepath.Join(p.cache, "bin", name)
}

// Binary returns the path of the peer program name and fails the test when it
// is not an executable file. Names: "aws" (the AWS CLI v2 from the peers file,
// unverified: use [AWSCLI] to check its version), "python3", "minio",
// "ec2-metadata-mock", "chromium", "node", "curl", PostgreSQL tools such as "initdb" or "pg_ctl" (looked
// up in PG_BIN), and any other name is looked up in <cache>/bin (for example
// "benchstat").
func Binary(t testing.TB, name string) string {
	t.Helper()
	p := mustPeers(t)
	path := p.binaryPath(name)
	if err := checkExecutable(path); err != nil {
		t.Fatalf("testpeers: peer %s: %v (paths from %s); %s", name, err, p.source, depsHint)
	}
	return path
}

func checkExecutable(path string) error {
	if path == "" {
		return errors.New("no path configured")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("not found: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

// probe remembers the outcome of checking one peer, so each binary is checked
// once per test binary.
type probe struct {
	once sync.Once
	out  string
	err  error
}

var probes sync.Map // string -> *probe

func probeOnce(key string, fn func() (string, error)) (string, error) {
	v, _ := probes.LoadOrStore(key, new(probe))
	pr := v.(*probe)
	pr.once.Do(func() { pr.out, pr.err = fn() })
	return pr.out, pr.err
}

// runQuiet runs path with args in the clean environment of [Env] and returns
// its combined output.
func runQuiet(path string, args ...string) (string, error) {
	cmd := exec.Command(path, args...)
	cmd.Env = Env()
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// AWSCLI returns the path of the AWS CLI v2 (/usr/bin/aws unless the peers
// file says otherwise) after checking once that `aws --version` reports
// aws-cli/2. An aws v1 earlier on PATH is never used.
func AWSCLI(t testing.TB) string {
	t.Helper()
	path := Binary(t, "aws")
	out, err := probeOnce("aws:"+path, func() (string, error) { return runQuiet(path, "--version") })
	if err != nil {
		t.Fatalf("testpeers: %s --version: %v: %s; %s", path, err, out, depsHint)
	}
	if !strings.HasPrefix(out, "aws-cli/2.") {
		t.Fatalf("testpeers: %s is not the AWS CLI v2 (it says %q); %s", path, out, depsHint)
	}
	return path
}

// Python returns the path of a python3 (/usr/bin/python3 unless the peers file
// says otherwise) after checking once that it can import boto3.
func Python(t testing.TB) string {
	t.Helper()
	path := Binary(t, "python3")
	out, err := probeOnce("python:"+path, func() (string, error) {
		return runQuiet(path, "-c", "import boto3; print(boto3.__version__)")
	})
	if err != nil {
		t.Fatalf("testpeers: %s cannot import boto3: %v: %s; %s", path, err, out, depsHint)
	}
	return path
}

// Chromium returns the path of Debian's chromium (/usr/bin/chromium unless
// the peers file says otherwise) after checking once that `chromium
// --version` names it, for the browser tests of the web console.
func Chromium(t testing.TB) string {
	t.Helper()
	path := Binary(t, "chromium")
	out, err := probeOnce("chromium:"+path, func() (string, error) {
		cmd := exec.Command(path, "--version")
		cmd.Env = Env()
		cmd.WaitDelay = 5 * time.Second
		b, err := cmd.Output() // the Debian wrapper may warn on stderr
		return strings.TrimSpace(string(b)), err
	})
	if err != nil || !strings.HasPrefix(out, "Chromium ") {
		t.Fatalf("testpeers: %s --version: %v: %q; %s", path, err, out, depsHint)
	}
	return path
}
