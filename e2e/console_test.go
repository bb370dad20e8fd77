package e2e

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
)

// fakeFederation answers getSigninToken like signin.aws.amazon.com does,
// and remembers the session it was given.
type fakeFederation struct {
	URL      string
	mu       sync.Mutex
	session  map[string]string
	duration string // the SessionDuration asked for, "" for none
}

func startFakeFederation(t *testing.T) *fakeFederation {
	f := &fakeFederation{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.URL = "http://" + ln.Addr().String() + "/federation"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("Action") != "getSigninToken" {
			http.Error(w, "unexpected action", 400)
			return
		}
		var s map[string]string
		if err := json.Unmarshal([]byte(r.URL.Query().Get("Session")), &s); err != nil {
			http.Error(w, "bad session", 400)
			return
		}
		f.mu.Lock()
		f.session, f.duration = s, r.URL.Query().Get("SessionDuration")
		f.mu.Unlock()
		w.Write([]byte(`{"SigninToken":"fake-signin-token-123"}`))
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

func TestConsoleSignin(t *testing.T) {
	w := newWorld(t, false)
	fed := startFakeFederation(t)
	dd := dataDir(w, "broker")
	b := w.startBroker(dd, "--federation-endpoint", fed.URL)
	admin := w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile, "--sts-endpoint", w.minio.Endpoint,
		"--default-duration", "15m"), "connector create")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "console", "--plans", "OPS-*")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)

	r = w.runShown(w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+agent), w.cb, "console", "--connector", "deploy", "--plan", "OPS-DEPLOY")
	w.expectOK(r, "console")
	url := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(url, fed.URL+"?") || !strings.Contains(url, "Action=login") || !strings.Contains(url, "SigninToken=fake-signin-token-123") {
		t.Fatalf("sign-in URL %q", url)
	}
	fed.mu.Lock()
	s := fed.session
	fed.mu.Unlock()
	if s["sessionId"] == "" || s["sessionKey"] == "" || s["sessionToken"] == "" {
		t.Fatalf("federation endpoint got session %v", s)
	}
	w.secret(s["sessionKey"], s["sessionToken"])
	// The sign-in is a vend: audited.
	a := b.admin(admin, "", "audit", "--action", "vend", "--output", "json")
	if !strings.Contains(a.stdout, `"task": "console"`) {
		t.Fatalf("console vend not audited:\n%s", a.stdout)
	}

	// --plan and --build default to $CREDBROKER_PLAN and $CREDBROKER_BUILD,
	// as the help says.
	r = w.runShown(w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+agent, "CREDBROKER_PLAN=OPS-DEPLOY", "CREDBROKER_BUILD=7"), w.cb, "console", "--connector", "deploy")
	w.expectOK(r, "console with $CREDBROKER_PLAN")
	fed.mu.Lock()
	w.secret(fed.session["sessionKey"], fed.session["sessionToken"])
	fed.mu.Unlock()
	a = b.admin(admin, "", "audit", "--action", "console", "--plan", "OPS-DEPLOY", "--output", "json")
	var byEnv []credbroker.AuditRecord
	if err := json.Unmarshal([]byte(a.stdout), &byEnv); err != nil || len(byEnv) != 2 || byEnv[1].Build != "7" {
		t.Fatalf("console records after the sign-in named by $CREDBROKER_PLAN: %v\n%s", err, a.stdout)
	}

	// A session longer than the connector allows (its maximum is 1 h) is
	// capped: the federation endpoint is asked for 1 h, and the console
	// record says so, with the session's real end.
	r = w.runShown(w.env("CREDBROKER_BROKER="+b.URL, "CREDBROKER_TOKEN="+agent), w.cb, "console", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", "2", "--duration", "12h")
	w.expectOK(r, "console --duration 12h")
	fed.mu.Lock()
	asked := fed.duration
	w.secret(fed.session["sessionKey"], fed.session["sessionToken"])
	fed.mu.Unlock()
	if asked != "3600" {
		t.Fatalf("the federation endpoint was asked for SessionDuration %q, want 3600 (the connector's maximum)", asked)
	}
	a = b.admin(admin, "", "audit", "--action", "console", "--output", "json")
	var recs []credbroker.AuditRecord
	if err := json.Unmarshal([]byte(a.stdout), &recs); err != nil || len(recs) != 3 {
		t.Fatalf("console records: %v\n%s", err, a.stdout)
	}
	last := recs[2]
	if got := last.Expiration.Sub(last.Time); last.Outcome != credbroker.OutcomeGranted || got < 59*time.Minute || got > time.Hour+time.Minute ||
		!strings.Contains(last.Detail, "capped at connector deploy's maximum of 1h0m0s") {
		t.Fatalf("console record %+v (session of %s), want a capped one-hour session", last, got)
	}
}
