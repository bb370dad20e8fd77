// Package jobtest holds the job-file fixtures that the tests of
// credbroker check share (package preflight, which checks, and package
// cli, which runs the command).
package jobtest

import (
	"os"
	"path/filepath"
	"testing"
)

// The key values of the check tests; no output may hold Secret or Token.
const (
	KeyID  = "AKIACHECKKEYID000001"
	Secret = "check/Secret+Value/DO-NOT-PRINT-0123456"
	Token  = "tok_0123456789abcdef.CHECKTOKENDONOTPRINT"
)

// Write writes body to dir/name (mode 0600) and returns the path.
func Write(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// StaticTask is a tasks: entry named t with static keys from the
// variables keyId and secretKeyPassword, in region, with extra credential
// lines (indented by six spaces), running "true".
func StaticTask(region, extra string) string {
	return `
  - name: t
    credentials:
      source: static
      region: ` + region + `
      access_key_id: ${bamboo.keyId}
      secret_access_key: ${bamboo.secretKeyPassword}
` + extra + `    run: "true"
`
}
