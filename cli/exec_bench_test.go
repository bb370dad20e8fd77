package cli

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkExec is credbroker exec -- true with static keys from a
// variables file, in process: what exec itself costs once the binary has
// started (flags, variables, the source, the masks, the spawn and wait of
// true), without the process start-up that scripts/bench's exec scenario
// measures with it.
func BenchmarkExec(b *testing.B) {
	dir := b.TempDir()
	vars := filepath.Join(dir, "plan.vars")
	if err := os.WriteFile(vars, []byte("awsAccessKeyId="+keyID+"\nsecret awsSecretKeyPassword="+secret+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	args := []string{"exec", "--vars", vars, "--region", "us-east-1", "--access-key-id", "${bamboo.awsAccessKeyId}",
		"--secret-access-key", "${bamboo.awsSecretKeyPassword}", "--", "true"}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	b.ReportAllocs()
	for b.Loop() {
		if code := Main(context.Background(), args, IO{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Environ: env}); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
