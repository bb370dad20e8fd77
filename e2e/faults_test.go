package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// Upstream faults through the credbroker binary: STS throttling, an STS
// that is black-holed, stalled, resetting or back again, the broker's
// outbound STS budget, fallback endpoints, clock skew, and a metadata
// service that stalls or refuses the IMDSv2 token. Every wait is bounded;
// no test asserts a speed.

// The fake STS's issued credentials; the secrets join the leak check.
const (
	faultKeyID  = "ASIAFAULTFAKEKEY0001"
	faultSecret = "fault-issued-secret-DO-NOT-LEAK"
	faultToken  = "fault-issued-token-DO-NOT-LEAK"
	faultBase   = "fault-base-secret-DO-NOT-LEAK"
)

// bareWorld is a world without MinIO or the metadata mock, for tests whose
// upstream is a fault injector.
func bareWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, cb: testpeers.BuildCredbroker(t), dir: t.TempDir()}
	w.secret(faultSecret, faultToken, faultBase)
	t.Cleanup(w.checkLeaks)
	return w
}

// stsMode is what the fault-injecting STS does with a request.
type stsMode string

const (
	modeOK        stsMode = "ok"         // answer with credentials valid for an hour
	modeThrottle  stsMode = "throttle"   // Throttling, always (or throttleLeft times, then ok)
	modeBlackHole stsMode = "black-hole" // take the connection, never answer
	modeReset     stsMode = "reset"      // reset the connection
	modeStall     stsMode = "stall"      // answer after 30 s
	modeExpired   stsMode = "expired"    // credentials that expired a minute ago
	modeSoon      stsMode = "soon"       // credentials that expire in 30 s
)

// faultSTS is an STS endpoint whose behaviour the test switches at will,
// on one address, so that "STS comes back" is the same endpoint.
type faultSTS struct {
	URL          string
	srv          *httptest.Server
	mode         atomic.Value // stsMode
	throttleLeft atomic.Int32 // in modeThrottle: throttle this many, then answer; negative: always
	calls        atomic.Int32
	stop         chan struct{}

	mu   sync.Mutex
	held []net.Conn
}

func newFaultSTS(t *testing.T) *faultSTS {
	t.Helper()
	f := &faultSTS{stop: make(chan struct{})}
	f.mode.Store(modeOK)
	f.throttleLeft.Store(-1) // throttle always
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.srv.URL
	t.Cleanup(func() {
		close(f.stop)
		f.mu.Lock()
		for _, c := range f.held {
			c.Close()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *faultSTS) set(m stsMode) { f.mode.Store(m) }

func (f *faultSTS) serve(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	action := r.PostForm.Get("Action")
	f.calls.Add(1)
	mode := f.mode.Load().(stsMode)
	if mode == modeThrottle && f.throttleLeft.Load() >= 0 && f.throttleLeft.Add(-1) < 0 {
		mode = modeOK
	}
	switch mode {
	case modeBlackHole, modeReset:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		if mode == modeReset {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			return
		}
		f.mu.Lock()
		f.held = append(f.held, conn)
		f.mu.Unlock()
		return
	case modeStall:
		select {
		case <-time.After(30 * time.Second):
		case <-f.stop:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case modeThrottle:
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
		return
	}
	exp := time.Now().Add(time.Hour)
	switch mode {
	case modeExpired:
		exp = time.Now().Add(-time.Minute)
	case modeSoon:
		exp = time.Now().Add(30 * time.Second)
	}
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%[1]sResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><%[1]sResult><Credentials>`+
		`<AccessKeyId>%[2]s</AccessKeyId><SecretAccessKey>%[3]s</SecretAccessKey><SessionToken>%[4]s</SessionToken>`+
		`<Expiration>%[5]s</Expiration></Credentials><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/reader/s</Arn>`+
		`<AssumedRoleId>AROAFAULT:s</AssumedRoleId></AssumedRoleUser></%[1]sResult><ResponseMetadata><RequestId>r</RequestId>`+
		`</ResponseMetadata></%[1]sResponse>`, action, faultKeyID, faultSecret, faultToken, exp.UTC().Format(time.RFC3339))
}

// faultSite is a broker whose connectors call a fault-injecting STS.
type faultSite struct {
	w      *world
	b      *brokerProc
	admin  string
	agent  string
	tokenF string
}

func newFaultSite(t *testing.T, w *world, serveFlags ...string) *faultSite {
	t.Helper()
	dd := dataDir(w, "broker")
	s := &faultSite{w: w, b: w.startBroker(dd, serveFlags...)}
	s.admin = w.adminToken(dd)
	r := s.b.adminShown(s.admin, "token", "create", "--role", "agent", "--name", "ops-agents", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	s.agent = strings.TrimSpace(r.stdout)
	w.secret(s.agent)
	s.tokenF = w.write("input-agent.token", s.agent+"\n")
	return s
}

// connector creates a connector with base keys the fake does not check.
func (s *faultSite) connector(name string, extra ...string) {
	s.w.t.Helper()
	secretFile := s.w.write("input-"+name+".secret", faultBase)
	args := append([]string{"connector", "create", name, "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", "AKIAFAULTBASEKEY0001", "--secret-access-key-file", secretFile,
		"--default-duration", "1h", "--allow-plan", "OPS-*"}, extra...)
	s.w.expectOK(s.b.admin(s.admin, "", args...), "connector create "+name)
}

// vendReply is the outcome of one vend.
type vendReply struct {
	status int
	res    credbroker.VendResult
	code   string
	msg    string
	err    error
}

// vendWithin asks for credentials, giving up after limit. It may run on
// any goroutine: it reports instead of failing the test. A granted vend's
// secrets join the leak check; other answers join the recorded output.
func (s *faultSite) vendWithin(req credbroker.VendRequest, limit time.Duration) vendReply {
	body, _ := json.Marshal(req)
	hr, _ := http.NewRequest(http.MethodPost, s.b.URL+"/v1/credentials", bytes.NewReader(body))
	hr.Header.Set("Authorization", "Bearer "+s.agent)
	hr.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: limit}).Do(hr)
	if err != nil {
		return vendReply{err: err}
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := vendReply{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		json.Unmarshal(data, &out.res)
		s.w.secret(out.res.SecretAccessKey, out.res.SessionToken)
		return out
	}
	s.w.record("API POST /v1/credentials", data)
	var e struct{ Code, Message, Fix string }
	json.Unmarshal(data, &e)
	out.code, out.msg = e.Code, e.Message+"; "+e.Fix
	return out
}

func (s *faultSite) mustVend(req credbroker.VendRequest) vendReply {
	s.w.t.Helper()
	r := s.vendWithin(req, 60*time.Second)
	if r.err != nil || r.status != http.StatusOK {
		s.w.t.Fatalf("vend %s: %d %s %v", req.Build, r.status, r.msg, r.err)
	}
	return r
}

func (s *faultSite) mustFail(req credbroker.VendRequest, status int, code string, parts ...string) vendReply {
	s.w.t.Helper()
	r := s.vendWithin(req, 60*time.Second)
	if r.err != nil {
		s.w.t.Fatalf("vend %s: no answer: %v", req.Build, r.err)
	}
	if r.status != status || r.code != code {
		s.w.t.Fatalf("vend %s: %d %s %q, want %d %s", req.Build, r.status, r.code, r.msg, status, code)
	}
	for _, p := range parts {
		if !strings.Contains(r.msg, p) {
			s.w.t.Fatalf("vend %s: message %q does not say %q", req.Build, r.msg, p)
		}
	}
	return r
}

func TestFaultSTSThrottlingRetriedThen429(t *testing.T) {
	w := bareWorld(t)
	sts := newFaultSTS(t)
	s := newFaultSite(t, w)
	s.connector("deploy", "--sts-endpoint", sts.URL, "--retries", "3", "--max-backoff", "20ms")
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"}

	// Throttled twice, then answered: the vend succeeds after 3 calls.
	sts.set(modeThrottle)
	sts.throttleLeft.Store(2)
	s.mustVend(req)
	if n := sts.calls.Load(); n != 3 {
		t.Fatalf("%d STS calls, want 3", n)
	}

	// Always throttled: the connector's 4 attempts, then 429 throttled.
	sts.throttleLeft.Store(-1)
	sts.calls.Store(0)
	req.Build = "2"
	s.mustFail(req, http.StatusTooManyRequests, "throttled", "STS throttled AssumeRole")
	if n := sts.calls.Load(); n != 4 {
		t.Fatalf("%d STS calls, want 4 (--retries 3)", n)
	}
}

func TestFaultSTSRateBudget(t *testing.T) {
	w := bareWorld(t)
	sts := newFaultSTS(t)
	const rate, burst = 2, 3
	s := newFaultSite(t, w, "--sts-rate", fmt.Sprint(rate), "--sts-burst", fmt.Sprint(burst), "--sts-rate-wait", "1s")
	s.connector("deploy", "--sts-endpoint", sts.URL)

	start := time.Now()
	cached := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "cached"}
	first := s.mustVend(cached)

	// A burst of 30 builds: some wait their turn, the rest get 429.
	var wg sync.WaitGroup
	replies := make([]vendReply, 30)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = s.vendWithin(credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(100 + i)}, 60*time.Second)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	granted := 0
	for _, r := range replies {
		switch {
		case r.err != nil:
			t.Fatalf("no answer: %v", r.err)
		case r.status == http.StatusOK:
			granted++
		case r.status != http.StatusTooManyRequests || r.code != "throttled" ||
			!strings.Contains(r.msg, "the broker's STS budget for access key ****0001 in us-east-1 (2 calls per second, bursts of 3) is used up"):
			t.Fatalf("refusal: %d %s %q", r.status, r.code, r.msg)
		}
	}
	if granted == 0 || granted == len(replies) {
		t.Fatalf("%d of %d granted: the budget did not both serve and refuse", granted, len(replies))
	}
	// Never more calls than the budget allows over the time they took.
	calls := int(sts.calls.Load())
	if allowed := burst + int(rate*elapsed.Seconds()) + 1; calls > allowed {
		t.Fatalf("%d STS calls in %s; the budget allows %d", calls, elapsed.Round(time.Millisecond), allowed)
	}
	if calls != granted+1 {
		t.Fatalf("%d STS calls for %d granted vends", calls, granted+1)
	}

	// Meanwhile the cached session is served, with no STS call.
	again := s.mustVend(cached)
	if again.res.AccessKeyID != first.res.AccessKeyID || int(sts.calls.Load()) != calls {
		t.Fatal("the cached session was not served from the cache")
	}
}

func TestFaultSTSUnreachableThenBack(t *testing.T) {
	w := bareWorld(t)
	sts := newFaultSTS(t)
	s := newFaultSite(t, w, "--sts-timeout", "300ms", "--sts-deadline", "3s")
	s.connector("deploy", "--sts-endpoint", sts.URL, "--retries", "1", "--max-backoff", "10ms")
	s.connector("patient", "--sts-endpoint", sts.URL, "--retries", "20", "--max-backoff", "10ms")

	for i, tt := range []struct {
		mode   stsMode
		status int
		msg    string
	}{
		{modeBlackHole, http.StatusBadGateway, "STS at " + sts.URL + " did not answer AssumeRole within 300ms (2 attempts)"},
		{modeStall, http.StatusBadGateway, "STS at " + sts.URL + " did not answer AssumeRole within 300ms (2 attempts)"},
		{modeReset, http.StatusBadGateway, "STS at " + sts.URL + " is not reachable"},
	} {
		t.Run(string(tt.mode), func(t *testing.T) {
			sts.set(tt.mode)
			req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(i)}
			s.mustFail(req, tt.status, "upstream", tt.msg)

			// STS is back: the next vend works, with no restart.
			sts.set(modeOK)
			s.mustVend(req)
		})
	}

	// Many retries: the deadline ends the call.
	sts.set(modeBlackHole)
	req := credbroker.VendRequest{Connector: "patient", Plan: "OPS-DEPLOY", Build: "9"}
	s.mustFail(req, http.StatusBadGateway, "upstream", "STS at "+sts.URL+" did not answer AssumeRole within the 3s deadline")
	sts.set(modeOK)
	s.mustVend(req)

	// The refusals are audited with their code, and the chain verifies.
	r := s.b.admin(s.admin, "", "audit", "--outcome", "refused", "--output", "json")
	w.expectOK(r, "audit")
	if strings.Count(r.stdout, `"error_code": "upstream"`) != 4 {
		t.Fatalf("refusals audited:\n%s", r.stdout)
	}
	w.expectOK(s.b.admin(s.admin, "", "audit", "verify"), "audit verify")
}

func TestFaultFallbackEndpointPastABlackHole(t *testing.T) {
	w := newWorld(t, false)
	hole, accepts := testpeers.BlackHole(t)
	dd := dataDir(w, "broker")
	b := w.startBroker(dd, "--sts-timeout", "500ms")
	admin := w.adminToken(dd)
	secretFile := w.write("input-base.secret", w.minio.RootPassword)
	w.expectOK(b.admin(admin, "", "connector", "create", "deploy", "--region", "us-east-1", "--role-arn", roleARN,
		"--access-key-id", w.minio.RootUser, "--secret-access-key-file", secretFile,
		"--policy-file", filepath.Join(w.dir, "ro.json"), "--sts-endpoint", hole, "--sts-endpoint", w.minio.Endpoint,
		"--default-duration", "15m", "--allow-plan", "OPS-*"), "connector create")
	r := b.adminShown(admin, "token", "create", "--role", "agent", "--name", "ops", "--plans", "OPS-*")
	w.expectOK(r, "agent token")
	agent := strings.TrimSpace(r.stdout)
	w.secret(agent)
	s := &faultSite{w: w, b: b, admin: admin, agent: agent}

	got := s.mustVend(credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "1"})
	if n := accepts.Load(); n != 1 {
		t.Fatalf("the black-holed endpoint was tried %d times, want once before moving on", n)
	}
	// The credentials are MinIO's, limited by the session policy.
	env := w.env("AWS_ACCESS_KEY_ID="+got.res.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+got.res.SecretAccessKey, "AWS_SESSION_TOKEN="+got.res.SessionToken)
	out := w.run(env, "", w.aws, w.awsArgs("s3", "cp", "s3://alpha/hello.txt", "-")[1:]...)
	w.expectOK(out, "read alpha with the fallback's credentials")
	if strings.TrimSpace(out.stdout) != helloTxt {
		t.Fatalf("read alpha: %q", out.stdout)
	}
	// The broker's log names the skipped endpoint.
	if !strings.Contains(b.log.String(), "trying the next one") || !strings.Contains(b.log.String(), hole) {
		t.Fatalf("the broker log does not name the skipped endpoint:\n%s", b.log.String())
	}
}

func TestFaultClockSkewNeverHandsOutShortCredentials(t *testing.T) {
	w := bareWorld(t)
	sts := newFaultSTS(t)
	s := newFaultSite(t, w)
	s.connector("deploy", "--sts-endpoint", sts.URL)

	for i, mode := range []stsMode{modeExpired, modeSoon} {
		sts.set(mode)
		// The broker refuses them: 502 naming clock skew and NTP.
		req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: fmt.Sprint(i)}
		s.mustFail(req, http.StatusBadGateway, "upstream", "clock skew", "NTP")

		// The agent says the same through the broker ...
		r := w.cbr(w.env("CREDBROKER_BROKER="+s.b.URL, "CREDBROKER_TOKEN_FILE="+s.tokenF),
			"credential-process", "--connector", "deploy", "--plan", "OPS-DEPLOY", "--build", fmt.Sprint(10+i))
		if r.code == 0 || r.stdout != "" || !strings.Contains(r.stderr, "clock skew") {
			t.Fatalf("%s: credential-process through the broker: exit %d\nstdout: %s\nstderr: %s", mode, r.code, r.stdout, r.stderr)
		}

		// ... and on its own, assuming a role with static keys.
		for _, cmd := range [][]string{{"credential-process"}, {"exec"}} {
			args := append(cmd, "--region", "us-east-1", "--access-key-id", "AKIAFAULTBASEKEY0001",
				"--secret-access-key", "${bamboo.baseSecret}", "--var", "baseSecret="+faultBase,
				"--role-arn", roleARN, "--sts-endpoint", sts.URL)
			if cmd[0] == "exec" {
				args = append(args, "--", "true")
			}
			r := w.cbr(w.env(), args...)
			if r.code != wantExit(cmd[0]) || r.stdout != "" || !strings.Contains(r.stderr, "clock skew") || !strings.Contains(r.stderr, "NTP") {
				t.Fatalf("%s: agent %s: exit %d\nstdout: %s\nstderr: %s", mode, cmd[0], r.code, r.stdout, r.stderr)
			}
		}
	}
	sts.set(modeOK)
	s.mustVend(credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "ok"})
}

// imdsFault is a metadata service whose token request stalls or is
// refused; it would answer GETs without a token (IMDSv1), so a fallback
// shows in its log.
type imdsFault struct {
	URL  string
	mu   sync.Mutex
	gets []string
}

func newIMDSFault(t *testing.T, tokenStatus int, stall time.Duration) *imdsFault {
	t.Helper()
	f := &imdsFault{}
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if stall > 0 {
				select {
				case <-time.After(stall):
				case <-stop:
				case <-r.Context().Done():
				}
			}
			w.WriteHeader(tokenStatus)
			return
		}
		f.mu.Lock()
		f.gets = append(f.gets, r.URL.Path)
		f.mu.Unlock()
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "agent-role")
		case "/latest/meta-data/iam/security-credentials/agent-role":
			fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":"AKIAIMDSV1FALLBACK01","SecretAccessKey":%q,"Token":%q,"Expiration":%q}`,
				faultSecret, faultToken, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	f.URL = srv.URL + "/"
	return f
}

func (f *imdsFault) tokenlessGets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.gets...)
}

// runWithin runs credbroker and fails the test if it has not ended within
// limit.
func (w *world) runWithin(limit time.Duration, env []string, args ...string) result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.cb, args...)
	cmd.Env, cmd.Dir = env, w.dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	w.record("credbroker "+strings.Join(args, " ")+" (stdout)", out.Bytes())
	w.record("credbroker "+strings.Join(args, " ")+" (stderr)", errb.Bytes())
	if ctx.Err() != nil {
		w.t.Fatalf("credbroker %s: no end within %s\n%s", strings.Join(args, " "), limit, errb.String())
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return result{out.String(), errb.String(), code}
}

func TestFaultIMDSSlowOrRefusingToken(t *testing.T) {
	w := bareWorld(t)
	for _, tt := range []struct {
		name   string
		status int
		stall  time.Duration
		msg    string
	}{
		{"stalls", http.StatusOK, 30 * time.Second, "did not answer the IMDSv2 session token request in time"},
		{"refuses", http.StatusForbidden, 0, "refused the IMDSv2 session token request (HTTP 403)"},
		{"no PUT", http.StatusMethodNotAllowed, 0, "refused the IMDSv2 session token request (HTTP 405)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			imds := newIMDSFault(t, tt.status, tt.stall)
			for _, cmd := range [][]string{{"exec", "--source", "instance", "--region", "us-east-1", "--imds-endpoint", imds.URL, "--", "true"},
				{"credential-process", "--source", "instance", "--region", "us-east-1", "--imds-endpoint", imds.URL}} {
				r := w.runWithin(60*time.Second, w.env(), cmd...)
				if r.code != wantExit(cmd[0]) || r.stdout != "" || !strings.Contains(r.stderr, tt.msg) || !strings.Contains(r.stderr, strings.TrimSuffix(imds.URL, "/")) {
					t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", cmd[0], r.code, r.stdout, r.stderr)
				}
			}
			if g := imds.tokenlessGets(); len(g) != 0 {
				t.Fatalf("fell back to IMDSv1 without being asked: %q", g)
			}
			// Asked for, the fallback works, with a warning.
			r := w.runWithin(60*time.Second, w.env(), "exec", "--source", "instance", "--region", "us-east-1", "--imds-endpoint", imds.URL, "--imds-v1", "--", "true")
			if r.code != 0 || !strings.Contains(r.stderr, "IMDSv1") {
				t.Fatalf("with --imds-v1: exit %d\n%s", r.code, r.stderr)
			}
		})
	}
}

// wantExit is the exit code of a credbroker failure: 125 for exec and run,
// which pass a task's own codes through; 1 for the others.
func wantExit(cmd string) int {
	if cmd == "exec" || cmd == "run" {
		return 125
	}
	return 1
}
