package preflight

import (
	"testing"

	"github.com/credbroker/credbroker/internal/jobtest"
)

// Each profile of a task is checked as a source of its own, its findings
// named by the profile's path in the job file; online, each is obtained.
func TestCheckEachProfile(t *testing.T) {
	fake := newFakeAWS(t)
	job := jobtest.Write(t, t.TempDir(), "job.yaml", `version: 1
plan: OPS-COPY
tasks:
  - name: copy
    profiles:
      source:
        source: instance
        region: us-east-1
        imds_endpoint: `+fake.URL+`
        sts_endpoint: `+fake.URL+`
        role: {arn: 'arn:aws:iam::123456789012:role/reader', duration: 2h}
      target:
        source: static
        region: cn-north-1
        access_key_id: ${bamboo.keyId}
        secret_access_key: ${bamboo.secretKeyPassword}
        role: {arn: 'arn:aws:iam::123456789012:role/writer'}
      later:
        source: static
        region: us-east-1
        access_key_id: ${bamboo.keyId}
        secret_access_key: ${bamboo.notYet}
        sts_endpoint: `+fake.URL+`
    run: "true"
`)
	o := checkJob(t, nil, false, job, "keyId="+checkKeyID, "secretKeyPassword="+checkSecret)
	for _, want := range []struct {
		sev        Severity
		field, msg string
	}{
		{SevWarning, "profiles.source.role.duration", "will be lowered to 1h"},
		{SevOK, "profiles.source.role.arn", "answered AssumeRole: credentials ****0001"},
		{SevError, "profiles.target.role.arn", `role ARN is in partition "aws" but region cn-north-1 is in "aws-cn"`},
		{SevError, "profiles.later.secret_access_key", `undefined variable "notYet"`},
	} {
		if o.has(want.sev, want.field, want.msg) == nil {
			t.Errorf("no %s for %s holding %q:\n%s", want.sev, want.field, want.msg, o.dump())
		}
	}
	if !o.failed {
		t.Fatal("the check passed")
	}
	for _, f := range o.findings {
		if f.Task != "copy" && f.Task != "" {
			t.Errorf("a finding of task %q", f.Task)
		}
	}
}
