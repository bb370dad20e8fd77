package credbroker

import (
	"testing"
	"time"
)

func TestErrorLocation(t *testing.T) {
	cases := []struct {
		e    Error
		want string
	}{
		{Error{Field: "tasks[0].comand", Message: "unknown field", Fix: `did you mean "command"?`, File: "job.yaml", Line: 4},
			`job.yaml:4: tasks[0].comand: unknown field; did you mean "command"?`},
		{Error{Message: "cannot read the job file: no such file or directory", File: "job.yaml"}, "job.yaml: cannot read the job file: no such file or directory"},
		{Error{Field: "version", Message: "missing", Line: 1}, "line 1: version: missing"},
		{Error{Field: "region", Message: "no region is set"}, "region: no region is set"},
	}
	for _, c := range cases {
		if got := c.e.Error(); got != c.want {
			t.Errorf("%+v renders %q, want %q", c.e, got, c.want)
		}
	}
}

func TestBuildOr(t *testing.T) {
	flags := Build{Plan: "OPS-FLAG"}
	job := Build{Plan: "OPS-JOB", Number: "7"}
	env := Build{Plan: "OPS-ENV", Number: "8", Job: "OPS-ENV-JOB1", Task: "t"}
	got := flags.Or(job).Or(env)
	if want := (Build{Plan: "OPS-FLAG", Number: "7", Job: "OPS-ENV-JOB1", Task: "t"}); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 30 * time.Minute: "30m",
		90 * time.Second: "1m30s", 45 * time.Second: "45s", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}
