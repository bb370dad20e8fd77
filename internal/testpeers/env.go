package testpeers

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
)

var (
	envDirOnce sync.Once
	envDirPath string
)

// envDir returns a private directory, made once per test binary, that holds
// the HOME of [Env]: <cache>/tmp/env-* (scripts/test removes old ones), or a
// directory in the system temp directory when the cache is unknown.
func envDir() string {
	envDirOnce.Do(func() {
		parent := ""
		if p, err := loadPeers(); err == nil {
			parent = filepath.Join(p.cache, "tmp")
			if err := os.MkdirAll(parent, 0o755); err != nil {
				parent = ""
			}
		}
		dir, err := os.MkdirTemp(parent, "env-")
		if err == nil {
			err = os.Mkdir(filepath.Join(dir, "home"), 0o700)
		}
		if err != nil {
			// A HOME that does not exist still isolates the AWS tools.
			dir = filepath.Join(os.TempDir(), "credbroker-testpeers-env-absent")
		}
		envDirPath = dir
	})
	return envDirPath
}

// Env returns a minimal, clean environment for running the AWS CLI, boto3 or
// credbroker itself in a test, followed by extra ("KEY=VALUE" entries; a later
// entry replaces an earlier one with the same key, so extra can override any
// of the defaults). Nothing is inherited from the test's own environment
// except TMPDIR: no AWS_* variable, no proxy, no pyenv. The defaults are:
//
//   - PATH: the directories of the AWS CLI v2 and of the boto3 python3 from the
//     peers file, then /usr/sbin:/usr/bin:/sbin:/bin, so "aws" and "python3"
//     name the peers and never an aws v1 shim;
//   - HOME: a private empty directory under <cache>/tmp, shared by all Env
//     callers of one test binary (pass HOME=t.TempDir() in extra for a
//     per-test one);
//   - AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE: files that do not exist,
//     so no profile, region or key comes from the machine;
//   - AWS_PAGER="" so the CLI never pipes output into a pager;
//   - LANG=C.UTF-8.
//
// AWS_EC2_METADATA_DISABLED is not set: a test that must not reach IMDS passes
// AWS_EC2_METADATA_DISABLED=true, and one that wants the mock passes
// AWS_EC2_METADATA_SERVICE_ENDPOINT. No region is set either.
func Env(extra ...string) []string {
	dir := envDir()
	pathDirs := []string{}
	if p, err := loadPeers(); err == nil {
		pathDirs = append(pathDirs, filepath.Dir(p.values[KeyAWSCLI]), filepath.Dir(p.values[KeyPython]))
	}
	pathDirs = append(pathDirs, "/usr/sbin", "/usr/bin", "/sbin", "/bin")

	base := []string{
		"PATH=" + strings.Join(uniq(pathDirs), string(os.PathListSeparator)),
		"HOME=" + filepath.Join(dir, "home"),
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "aws-config-absent"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "aws-credentials-absent"),
		"AWS_PAGER=",
		"LANG=C.UTF-8",
	}
	if tmp, ok := os.LookupEnv("TMPDIR"); ok {
		base = append(base, "TMPDIR="+tmp)
	}
	return mergeEnv(base, extra)
}

// mergeEnv appends extra to base, a later KEY replacing an earlier one in
// place, and drops entries without "=".
func mergeEnv(base, extra []string) []string {
	out := make([]string, 0, len(base)+len(extra))
	index := make(map[string]int)
	for _, kv := range append(append([]string{}, base...), extra...) {
		key, _, ok := strings.Cut(kv, "=")
		if !ok || key == "" {
			continue
		}
		if i, seen := index[key]; seen {
			out[i] = kv
			continue
		}
		index[key] = len(out)
		out = append(out, kv)
	}
	return out
}

func uniq(items []string) []string {
	seen := make(map[string]bool)
	out := items[:0:0]
	for _, s := range items {
		if s != "" && s != "." && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
