package testpeers

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// aBuild is one build of ./cmd/credbroker, made once per test binary.
type aBuild struct {
	once sync.Once
	path string
	err  error
}

var credbrokerBuild, agentBuild aBuild

// BuildCredbroker builds ./cmd/credbroker once per test binary and returns the
// path of the executable, for integration tests that run it. When the test
// binary has the race detector on, so does the build; otherwise it is built
// as the README says, static (CGO_ENABLED=0). The executable is
// <cache>/build/credbroker (credbroker-race with -race); each build writes a
// temporary file and renames it into place, so test binaries of several
// packages building at once never see a partial file. A failed build fails
// every test that asks for it, with the compiler's output.
func BuildCredbroker(t testing.TB) string {
	t.Helper()
	p := mustPeers(t)
	return credbrokerBuild.get(t, p, "credbroker", "")
}

// BuildCredbrokerAgent is BuildCredbroker for the agent build (build tag
// agentonly: the build-task commands only), as the README builds it for
// build agents. The executable is <cache>/build/credbroker-agent.
func BuildCredbrokerAgent(t testing.TB) string {
	t.Helper()
	p := mustPeers(t)
	return agentBuild.get(t, p, "credbroker-agent", "agentonly")
}

func (b *aBuild) get(t testing.TB, p *peers, name, tags string) string {
	t.Helper()
	b.once.Do(func() {
		b.path, b.err = buildCredbroker(p.root, filepath.Join(p.cache, "build"), name, tags)
	})
	if b.err != nil {
		t.Fatalf("testpeers: %v", b.err)
	}
	return b.path
}

// buildCredbroker builds ./cmd/credbroker of the module at root into
// outDir as name (with the build tags given, none when empty).
func buildCredbroker(root, outDir, name, tags string) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("build credbroker: %w", err)
	}
	args := []string{"build"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if raceEnabled {
		name += "-race"
		args = append(args, "-race")
	}
	final := filepath.Join(outDir, name)
	tmp := filepath.Join(outDir, fmt.Sprintf(".%s-%d-%s.tmp", name, os.Getpid(), randomHex(4)))
	args = append(args, "-o", tmp, "./cmd/credbroker")

	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build credbroker: find the go command: %w", err)
	}
	cmd := exec.Command(goBin, args...)
	cmd.Dir = root
	if !raceEnabled {
		// As the README builds it: static, without cgo (-race needs cgo).
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("build credbroker: %w", err)
	}
	return final, nil
}
