package broker

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/seal"
	"github.com/credbroker/credbroker/sqlite"
)

// memoryAudit keeps the records appended, for a fuzz target that must not
// wait for the disk.
type memoryAudit struct {
	mu   sync.Mutex
	recs []credbroker.AuditRecord
}

func (m *memoryAudit) Append(_ context.Context, recs ...*credbroker.AuditRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range recs {
		m.recs = append(m.recs, *r)
	}
	return nil
}

func (m *memoryAudit) last() (credbroker.AuditRecord, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.recs) == 0 {
		return credbroker.AuditRecord{}, 0
	}
	return m.recs[len(m.recs)-1], len(m.recs)
}

// FuzzVendFields (issue 11): whatever a vend request carries in its
// fields, the broker answers without a panic or a 500; what it accepts is
// bounded and free of control and formatting characters; no request tag
// with the reserved prefix reaches STS and the build's tags carry the
// build's own values; and the audit record of every request, granted or
// refused, is bounded and safe to print.
func FuzzVendFields(f *testing.F) {
	f.Add("deploy", "OPS-DEPLOY", "42", "OPS-DEPLOY-JOB1", "upload", "team", "ops", 900, 0)
	f.Add("deploy", "OPS-DEPLOY", "42\nforged row", "", "", "credbroker:job", "OPS-DEPLOY-RELEASE", 0, 0)
	f.Add("deploy\x1b[2J", "OPS-*", "", "job\u202e", "t\x00", "CredBroker:Plan", "x", 1<<55+900, 1<<55+30)
	f.Add("deploy", "OPS-"+strings.Repeat("D", 300), "\xff", "", "", "team=", "=ops", -1, -5)
	ctx := context.Background()
	dir := f.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "f.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	key, _ := seal.GenerateKey()
	ring, _ := seal.NewRing(map[int][]byte{1: key})
	audit := &memoryAudit{}
	iss := &fakeIssuer{now: time.Now}
	svc, err := New(Options{Store: st, Keys: ring, Issuer: iss, Audit: audit, RefusalBurst: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { svc.Close() })
	adminNew, _ := svc.CreateTokenLocal(ctx, credbroker.TokenSpec{Name: "admin", Role: credbroker.RoleAdmin})
	admin, _ := svc.Authenticate(ctx, adminNew.Secret)
	agentNew, _ := svc.CreateToken(ctx, admin, credbroker.TokenSpec{Name: "agents", Role: credbroker.RoleAgent, Plans: "*"})
	agent, _ := svc.Authenticate(ctx, agentNew.Secret)
	if _, err := svc.CreateConnector(ctx, admin, credbroker.ConnectorSpec{Name: "deploy", Region: "us-east-1",
		AccessKeyID: "AKIABASEKEY000000001", SecretAccessKey: baseSecret, RoleARN: "arn:aws:iam::123456789012:role/deploy",
		MaxDurationSeconds: 12 * 3600}); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, conn, plan, build, job, task, tagKey, tagValue string, dur, minRem int) {
		req := credbroker.VendRequest{Connector: conn, Plan: plan, Build: build, Job: job, Task: task, DurationSeconds: dur, MinRemainingSeconds: minRem}
		if tagKey != "" {
			req.Tags = []credbroker.Tag{{Key: tagKey, Value: tagValue}}
		}
		calls := iss.calls.Load()
		_, before := audit.last()
		res, err := svc.Vend(ctx, agent, req)
		rec, after := audit.last()
		if after != before+1 {
			t.Fatalf("%d audit records for one vend", after-before)
		}
		for name, v := range map[string]string{"plan": rec.Plan, "build": rec.Build, "job": rec.Job, "task": rec.Task, "connector": rec.Connector, "detail": rec.Detail} {
			if len(v) > 300 || !credbroker.SafeText(v) {
				t.Fatalf("the audit record's %s is %q", name, v)
			}
		}
		if err != nil {
			code := credbroker.ErrorCode(err)
			if code == credbroker.CodeInternal || rec.Outcome != credbroker.OutcomeRefused {
				t.Fatalf("%+v: %v (%s), record %s", req, err, code, rec.Outcome)
			}
			if !credbroker.SafeText(credbroker.PublicMessage(err)) {
				t.Fatalf("the answer %q holds a control character", credbroker.PublicMessage(err))
			}
			return
		}
		if res == nil || rec.Outcome != credbroker.OutcomeGranted {
			t.Fatalf("granted without credentials or record: %v %+v", res, rec)
		}
		for name, v := range map[string]string{"plan": plan, "build": build, "job": job, "task": task, "connector": conn, "tag key": tagKey, "tag value": tagValue} {
			if !credbroker.SafeText(v) || len(v) > 4*credbroker.MaxTagValue {
				t.Fatalf("a vend with %s %q was granted", name, v)
			}
		}
		if credbroker.ReservedTagKey(tagKey) {
			t.Fatalf("a request tag %q with the reserved prefix was accepted", tagKey)
		}
		if dur < 0 || dur > maxDurationSeconds || minRem < 0 || minRem > maxDurationSeconds {
			t.Fatalf("out-of-range numbers %d, %d accepted", dur, minRem)
		}
		if iss.calls.Load() == calls {
			return // a cached session: no tags were sent now
		}
		want := map[string]string{}
		for _, tg := range credbroker.BuildTags(credbroker.Build{Plan: plan, Number: build, Job: job}) {
			want[tg.Key] = tg.Value
		}
		for _, tg := range iss.last().Tags {
			if credbroker.ReservedTagKey(tg.Key) && want[tg.Key] != tg.Value {
				t.Fatalf("STS got tag %s=%q; the build says %q", tg.Key, tg.Value, want[tg.Key])
			}
		}
		if !slices.Equal(rec.Tags, iss.last().Tags) {
			t.Fatalf("the record has tags %v, STS got %v", rec.Tags, iss.last().Tags)
		}
	})
}
