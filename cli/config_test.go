package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// serveWith parses serve's flags from args with env, applies the settings
// and returns the command (its flags hold the result) and the error.
func serveWith(t *testing.T, env []string, args ...string) (*cobra.Command, error) {
	t.Helper()
	a := &app{io: IO{Environ: env}}
	root := a.rootCommand()
	var serve *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == "serve" {
			serve = c
		}
	}
	if serve == nil {
		t.Fatal("no serve command")
	}
	if err := serve.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return serve, a.applySettings(serve)
}

func flagValue(t *testing.T, cmd *cobra.Command, name string) string {
	t.Helper()
	f := cmd.Flags().Lookup(name)
	if f == nil {
		f = cmd.InheritedFlags().Lookup(name)
	}
	if f == nil {
		t.Fatalf("no flag --%s", name)
	}
	return f.Value.String()
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "credbroker.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeSettingsPrecedence(t *testing.T) {
	path := writeConfig(t, `# a production broker
listen: 0.0.0.0:8420
sts-rate: 50
sts-burst: 20
sts-timeout: 5s
database-url: postgres://credbroker@db/credbroker
log-format: json
no-console: true
`)
	cmd, err := serveWith(t, []string{"CREDBROKER_STS_RATE=30"}, "--config", path, "--sts-burst", "7")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"listen":       "0.0.0.0:8420", // the file
		"sts-rate":     "30",           // the environment over the file
		"sts-burst":    "7",            // the flag over the file
		"sts-timeout":  (5 * time.Second).String(),
		"database-url": "postgres://credbroker@db/credbroker",
		"log-format":   "json", // a global flag
		"no-console":   "true",
		"sts-deadline": (20 * time.Second).String(), // not set anywhere: the default
	} {
		if got := flagValue(t, cmd, name); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}

	// $CREDBROKER_CONFIG names the file when --config does not.
	cmd, err = serveWith(t, []string{"CREDBROKER_CONFIG=" + path})
	if err != nil {
		t.Fatal(err)
	}
	if got := flagValue(t, cmd, "sts-rate"); got != "50" {
		t.Fatalf("with $CREDBROKER_CONFIG: --sts-rate = %q, want 50", got)
	}
}

func TestServeSettingsErrorsNameTheLine(t *testing.T) {
	path := writeConfig(t, `listen: 127.0.0.1:8420
sts-rat: 5
sts-timeout: soon
tls-cert: [a.pem, b.pem]
database-url: postgres://u:hunter2@db/x
listen: 127.0.0.1:9999
store-sync:
console: {off: true}
`)
	_, err := serveWith(t, nil, "--config", path)
	if err == nil {
		t.Fatal("a bad settings file was accepted")
	}
	msg := err.Error()
	for _, want := range []string{
		path + `:2: sts-rat: unknown setting; did you mean "sts-rate"?`,
		path + ":3: sts-timeout: not a valid duration; write a duration such as 30s, 5m or 1h",
		path + ":4: tls-cert: takes one value, not a list",
		path + ":6: listen: set twice (first on line 1)",
		path + ":7: store-sync: no value",
		path + ":8: console: unknown setting",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") || strings.Contains(msg, "soon") {
		t.Errorf("the error repeats a value:\n%s", msg)
	}
	if lines := strings.Count(msg, "\n") + 1; lines != 6 {
		t.Errorf("%d problems reported, want 6:\n%s", lines, msg)
	}

	_, err = serveWith(t, []string{"CREDBROKER_DRAIN_TIMEOUT=forever"})
	if err == nil || !strings.Contains(err.Error(), "$CREDBROKER_DRAIN_TIMEOUT: not a valid duration for --drain-timeout") || strings.Contains(err.Error(), "forever") {
		t.Fatalf("a bad environment value: %v", err)
	}

	_, err = serveWith(t, nil, "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "cannot read the settings file") {
		t.Fatalf("a missing settings file: %v", err)
	}
	_, err = serveWith(t, nil, "--config", writeConfig(t, "- listen\n"))
	if err == nil || !strings.Contains(err.Error(), "a settings file is a mapping of settings") {
		t.Fatalf("a list as the settings file: %v", err)
	}
}

// TestEverySettingHasAnEnvironmentVariable: each flag of serve can be set
// from its variable, so a container needs no file.
func TestEverySettingHasAnEnvironmentVariable(t *testing.T) {
	a := &app{}
	var serve *cobra.Command
	for _, c := range a.rootCommand().Commands() {
		if c.Name() == "serve" {
			serve = c
		}
	}
	if err := serve.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range settableFlags(serve) {
		n++
		if env := envForFlag(f.Name); !strings.HasPrefix(env, "CREDBROKER_") || strings.ContainsAny(env, "-a-z") {
			t.Errorf("--%s: variable %q", f.Name, env)
		}
	}
	if n < 30 {
		t.Fatalf("only %d settable flags of serve", n)
	}
	if envForFlag("sts-rate") != "CREDBROKER_STS_RATE" {
		t.Fatal(envForFlag("sts-rate"))
	}
}

// TestProductionConfig: deploy/credbroker.yaml, the production settings
// file the README shows, is one serve accepts whole, and the README shows
// it as it is.
func TestProductionConfig(t *testing.T) {
	const path = "../deploy/credbroker.yaml"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd, err := serveWith(t, nil, "--config", path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for name, want := range map[string]string{
		"listen":         "0.0.0.0:8420",
		"metrics-listen": "0.0.0.0:9420",
		"key-file":       "/etc/credbroker/master.key",
		"drain-timeout":  (25 * time.Second).String(),
		"sts-rate":       "100",
	} {
		if got := flagValue(t, cmd, name); got != want {
			t.Errorf("--%s = %q, want %q", name, got, want)
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "```yaml\n"+string(raw)+"```\n") {
		t.Error("README.md does not show deploy/credbroker.yaml as it is, in a yaml block")
	}
}
