package preflight

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/credbroker/credbroker/internal/jobtest"
)

// FuzzCheckOffline: whatever a job file holds, an offline check ends with
// findings, never a panic, and its output (text and JSON) never holds a
// secret variable's value or the agent token. No network call is made:
// every task is checked offline.
func FuzzCheckOffline(f *testing.F) {
	f.Add([]byte("version: 1\ntasks:" + jobtest.StaticTask("eu-west-1", "      role: {arn: 'arn:aws:iam::123456789012:role/x', duration: 2h}\n")))
	f.Add([]byte("version: 1\ntasks:" + jobtest.StaticTask("cn-north-1", "      session_token: ${bamboo.later}\n      role: {arn: '${bamboo.role}', policy_arns: ['${bamboo.p}']}\n")))
	f.Add([]byte("version: 1\ntasks:\n - name: a\n   credentials: {source: static, region: '${bamboo.r}', access_key_id: x, secret_access_key: '${bamboo.secretKeyPassword}'}\n" +
		"   set_variables: {namespace: o}\n - name: b\n   credentials: {source: connector, connector: '${bamboo.o.region}', broker: '${bamboo.o.partition}', tags: {k: '${bamboo.o.accessKeyId}'}}\n   run: x\n"))
	f.Add([]byte("version: 1\ntasks:\n - name: i\n   credentials: {source: instance, imds_v1: true, imds_endpoint: 'ftp://x', sts_endpoint: '${bamboo.e}', role: {arn: a, tags: {'credbroker:plan': x}}}\n   command: ['${bamboo.secretKeyPassword}']\n"))
	f.Add([]byte("version: 1\ntasks:\n - name: a\n   comand: [x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := jobtest.Write(t, dir, "job.yaml", string(data))
		o := checkJob(t, []string{"CREDBROKER_TOKEN=" + checkToken, "CREDBROKER_BROKER=http://127.0.0.1:1"}, true, path,
			"keyId="+checkKeyID, "secretKeyPassword="+checkSecret)
		if len(o.findings) == 0 {
			t.Fatal("a check without findings")
		}
		for _, fd := range o.findings {
			if fd.Message == "" || fd.Severity == "" {
				t.Fatalf("finding without a message: %+v", fd)
			}
		}
		if !o.failed && !strings.Contains(o.text, filepath.Base(path)+" is well formed") {
			t.Fatalf("passed without saying the file is well formed:\n%s", o.text)
		}
	})
}
