package taskrun

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestMalformedRuntimeLineKeepsMasking (issue 11, defect 7): a task that
// writes a valid secret runtime variable and then a malformed line keeps
// the secret masked in the rest of its output, and the failure names the
// bad line by its number, never by its text.
func TestMalformedRuntimeLineKeepsMasking(t *testing.T) {
	r, out, _ := runner()
	j := job(t, `
version: 1
tasks:
  - name: mint
    run: |
      echo "secret mintedToken=fresh-secret-value-456" >> "$CREDBROKER_VARIABLES"
      echo "this line is not a variable hunter2" >> "$CREDBROKER_VARIABLES"
      sleep 0.3
      echo "later: fresh-secret-value-456"
  - name: next
    run: echo "next ${bamboo.mintedToken}"
`)
	code, err := r.RunJob(context.Background(), j, JobOptions{})
	o := out.String()
	if strings.Contains(o, "fresh-secret-value-456") || !strings.Contains(o, "[mint] later: ********") {
		t.Fatalf("output %q: the secret of a valid line was not masked", o)
	}
	if code != ExitOwnFailure || err == nil || !strings.Contains(err.Error(), "$CREDBROKER_VARIABLES of task mint:2") {
		t.Fatalf("code %d, error %v; want the task to fail naming line 2", code, err)
	}
	if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "not a variable") {
		t.Fatalf("the error repeats the bad line: %v", err)
	}
}

// TestStaleRunDirectoriesSwept (issue 11): what a run of credbroker that
// was killed (kill -9) left in its run directory (a profile's credentials
// file, runtime variables) is removed by the next run; the directories of
// runs still alive are left alone.
func TestStaleRunDirectoriesSwept(t *testing.T) {
	tmp := t.TempDir()
	r, _, _ := runner()
	r.Environ = append(r.Environ, "TMPDIR="+tmp)
	base, err := runBase(r.Environ)
	if err != nil {
		t.Fatal(err)
	}
	// A process that has ended: its directory is stale.
	dead := deadPID(t)
	stale := filepath.Join(base, "run-"+strconv.Itoa(dead)+"-profile-123")
	alive := filepath.Join(base, "run-"+strconv.Itoa(os.Getpid())+"-profile-456")
	for _, d := range []string{stale, alive} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "credentials"), []byte("aws_secret_access_key = left-behind"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var where string
	code, err := r.Run(context.Background(), &Command{
		Argv:  []string{"/bin/sh", "-c", `printf '%s' "$AWS_SHARED_CREDENTIALS_FILE" > "$1"`, "x", filepath.Join(tmp, "where")},
		Creds: resolved(), Delivery: DeliverProfile,
	})
	if err != nil || code != 0 {
		t.Fatal(code, err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the directory of a dead run is still there: %v", err)
	}
	if _, err := os.Stat(alive); err != nil {
		t.Errorf("the directory of a live run was removed: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(tmp, "where"))
	where = string(b)
	if !strings.HasPrefix(where, base+string(filepath.Separator)+"run-"+strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("the profile was written at %s, not in a run directory of this process under %s", where, base)
	}
	if _, err := os.Stat(where); !os.IsNotExist(err) {
		t.Errorf("the profile outlived its task: %v", err)
	}
	fi, err := os.Stat(base)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("run base %s: %v %v, want mode 0700", base, fi.Mode(), err)
	}
}

// deadPID returns the ID of a process that has ended.
func deadPID(t *testing.T) int {
	t.Helper()
	p, err := os.StartProcess("/bin/true", []string{"true"}, &os.ProcAttr{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	return p.Pid
}
