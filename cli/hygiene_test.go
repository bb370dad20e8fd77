package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker/internal/jobtest"
)

// One output switch: --output everywhere, and the spellings users already
// have (check's text, export's --format) still work.
func TestOutputSwitchAndItsAliases(t *testing.T) {
	for _, form := range [][]string{{"--output", "json"}, {"-o", "json"}, {"--format", "json"}} {
		o := run(t, nil, append(append([]string{"export"}, form...), staticFlags()...)...)
		var m map[string]string
		if err := json.Unmarshal([]byte(o.stdout), &m); o.code != 0 || err != nil || m["AccessKeyId"] != keyID {
			t.Errorf("export %v: exit %d %v %q %q", form, o.code, err, o.stdout, o.stderr)
		}
	}
	o := run(t, nil, append([]string{"export", "--output", "ini", "--profile", "ci"}, staticFlags()...)...)
	if o.code != 0 || !strings.HasPrefix(o.stdout, "[ci]\n") {
		t.Errorf("export --output ini: %d %q", o.code, o.stdout)
	}
	o = run(t, nil, append([]string{"export", "--format", "json", "--output", "ini"}, staticFlags()...)...)
	if o.code != 1 || !strings.Contains(o.stderr, "credbroker: --output: the output format is given twice, as json and ini") || o.stdout != "" {
		t.Errorf("two formats: %d %q %q", o.code, o.stdout, o.stderr)
	}

	job := jobtest.Write(t, t.TempDir(), "job.yaml", "version: 1\ntasks:"+jobtest.StaticTask("eu-west-1", ""))
	args := []string{"--offline", job, "--var", "keyId=" + checkKeyID, "--var", "secretKeyPassword=" + checkSecret}
	text := run(t, nil, append([]string{"check", "--output", "text"}, args...)...)
	table := run(t, nil, append([]string{"check", "--output", "table"}, args...)...)
	plain := run(t, nil, append([]string{"check"}, args...)...)
	if text.code != 0 || text.stdout != table.stdout || text.stdout != plain.stdout || !strings.HasPrefix(text.stdout, "ok      ") {
		t.Errorf("check --output text/table/default differ:\n%s\n%s\n%s", text.stdout, table.stdout, plain.stdout)
	}

	for _, args := range [][]string{
		{"connector", "list", "--output", "yaml"}, {"audit", "--output", "yaml"}, {"token", "list", "-o", "yaml"},
		{"variable", "list", "--output", "yaml"}, {"console", "--connector", "x", "--output", "yaml"},
	} {
		o := run(t, nil, args...)
		if o.code != 1 || strings.TrimSpace(o.stderr) != `credbroker: --output: unknown format "yaml"; use table or json` {
			t.Errorf("%v: exit %d %q", args, o.code, o.stderr)
		}
	}
}

// The broker flags are the parent command's, for every subcommand, in
// either place on the command line.
func TestBrokerFlagsOnTheParent(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "admin.token")
	if err := os.WriteFile(tok, []byte("tok_0123456789abcdef.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"connector", "list", "--broker", "http://127.0.0.1:1", "--token-file", tok},
		{"connector", "--broker", "http://127.0.0.1:1", "--token-file", tok, "show", "deploy"},
		{"token", "revoke", "tok_0123456789abcdef", "--broker", "http://127.0.0.1:1", "--token-file", tok},
		{"variable", "set", "x", "--value", "y", "--broker", "http://127.0.0.1:1", "--token-file", tok},
		{"audit", "verify", "--broker", "http://127.0.0.1:1", "--token-file", tok},
		{"console", "--connector", "audit", "--broker", "http://127.0.0.1:1", "--token-file", tok},
	} {
		o := run(t, nil, args...)
		if o.code == 0 || !strings.Contains(o.stderr, "127.0.0.1:1") || strings.Contains(o.stderr, "BBBBBBBB") {
			t.Errorf("%v: exit %d %q", args, o.code, o.stderr)
		}
	}
	o := run(t, nil, "connector", "list", "--help")
	if !strings.Contains(o.stdout, "Global Flags:") || !strings.Contains(o.stdout, "--token-file") || !strings.Contains(o.stdout, "--ca-file") {
		t.Errorf("connector list --help does not show the parent's broker flags:\n%s", o.stdout)
	}
}

// --duration is a duration wherever it is: 90m, 1h, or a bare number of
// seconds; anything else is an error naming the flag, before any work.
func TestDurationFlags(t *testing.T) {
	for _, d := range []string{"900", "30m", "1h"} {
		o := run(t, nil, append(append([]string{"check", "--offline", "--role-arn", "arn:aws:iam::123456789012:role/x", "--duration", d}, staticFlags()...), "-o", "json")...)
		if o.code != 0 || !strings.Contains(o.stdout, "is within STS's limits") {
			t.Errorf("--duration %s: exit %d %s %s", d, o.code, o.stdout, o.stderr)
		}
	}
	for _, args := range [][]string{
		append(append([]string{"exec", "--role-arn", "arn:aws:iam::123456789012:role/x", "--duration", "soon"}, staticFlags()...), "--", "true"),
		{"console", "--connector", "x", "--duration", "soon"},
		{"check", "--duration", "-5m"},
	} {
		o := run(t, nil, args...)
		if o.code != 1 || !strings.Contains(o.stderr, `credbroker: --duration: "`) || !strings.Contains(o.stderr, "is not a duration; write a duration such as 900s") {
			t.Errorf("%v: exit %d %q", args, o.code, o.stderr)
		}
	}
}

// A job file's problems are credbroker errors like any other: one line
// each, with the file, line, field path and fix.
func TestJobFileErrorsAreOneFamily(t *testing.T) {
	job := jobtest.Write(t, t.TempDir(), "job.yaml", "version: 1\ntasks:\n - name: a\n   comand: [x]\n")
	o := run(t, nil, "run", job)
	want := "credbroker: " + job + ":3: tasks[0]: the task does nothing; add `command: [...]`, `run: ...` or `set_variables:`\n" +
		"credbroker: " + job + ":4: tasks[0].comand: unknown field; did you mean \"command\"?\n"
	if o.code != 125 || o.stderr != want {
		t.Fatalf("exit %d, stderr:\n%s\nwant:\n%s", o.code, o.stderr, want)
	}
}

// The runtime variables of the task credbroker runs in
// ($CREDBROKER_VARIABLES) reach exec's references.
func TestExecReadsRuntimeVariables(t *testing.T) {
	rt := jobtest.Write(t, t.TempDir(), "runtime", "secret laterSecret="+secret+"\n")
	o := run(t, []string{"CREDBROKER_VARIABLES=" + rt}, "exec", "--region", "us-east-1", "--access-key-id", keyID,
		"--secret-access-key", "${bamboo.laterSecret}", "--", "/bin/sh", "-c", `echo "$AWS_SECRET_ACCESS_KEY"`)
	if o.code != 0 || strings.TrimSpace(o.stdout) != "********" {
		t.Fatalf("exit %d %q %q", o.code, o.stdout, o.stderr)
	}
}

// Without --region the region comes from the environment, as awscreds
// decides it for exec and reports it for check.
func TestRegionFromTheEnvironment(t *testing.T) {
	flags := []string{"--access-key-id", keyID, "--secret-access-key", "${s}", "--var", "s=" + secret}
	o := run(t, []string{"AWS_DEFAULT_REGION=cn-north-1"}, append(append([]string{"exec"}, flags...), "--", "/bin/sh", "-c", `echo "$AWS_REGION"`)...)
	if o.code != 0 || strings.TrimSpace(o.stdout) != "cn-north-1" {
		t.Fatalf("exec: exit %d %q %q", o.code, o.stdout, o.stderr)
	}
	c := check(t, []string{"AWS_REGION=us-gov-west-1", "AWS_DEFAULT_REGION=cn-north-1"}, append([]string{"--offline"}, flags...)...)
	if c.code != 0 || c.has("ok", "--region", "region us-gov-west-1 is in partition aws-us-gov") == nil {
		t.Fatalf("check: exit %d:\n%s", c.code, c.dump())
	}
}

// The agent's commands, built alone when the command line names one
// (rootCommand), print the same help and the same errors as in the whole
// tree.
func TestLeanTreeHelpIsTheSame(t *testing.T) {
	for _, name := range []string{"exec", "run", "check", "credential-process", "export"} {
		for _, args := range [][]string{{name, "--help"}, {name, "--bogus"}, {name, "--region"}} {
			out := func(lean bool) string {
				var b bytes.Buffer
				a := &app{io: IO{Stdout: &b, Stderr: &b}}
				var root *cobra.Command
				if lean {
					root = a.rootCommand(args...)
				} else {
					root = a.rootCommand()
				}
				root.SetArgs(args)
				root.SetOut(&b)
				root.SetErr(&b)
				err := root.Execute()
				return fmt.Sprintf("%s\nerror: %v", b.String(), err)
			}
			lean, full := out(true), out(false)
			if lean != full {
				t.Errorf("%v: the lean tree says\n%s\nthe whole tree says\n%s", args, lean, full)
			}
			if len(args) == 2 && args[1] == "--help" && !strings.Contains(lean, "Usage:") {
				t.Errorf("%v: no usage:\n%s", args, lean)
			}
		}
		if n := len((&app{}).rootCommand(name).Commands()); n != 1 {
			t.Errorf("%s: the lean tree holds %d commands", name, n)
		}
	}
}

// The agent build's stand-ins and its help name the full build's broker
// commands: brokerCommandNames must stay their list.
func TestBrokerCommandNames(t *testing.T) {
	a := &app{}
	var names []string
	for _, c := range a.brokerCommands() {
		names = append(names, c.Name())
	}
	if strings.Join(names, " ") != strings.Join(brokerCommandNames, " ") {
		t.Fatalf("brokerCommands are %v, brokerCommandNames %v", names, brokerCommandNames)
	}
}
