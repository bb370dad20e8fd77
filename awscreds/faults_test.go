package awscreds

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/internal/testpeers"
)

// Upstream faults: throttling, unreachable or slow STS and IMDS, clock
// skew. Durations below bound waits; none asserts a speed.

// bounded runs fn and fails the test if it has not returned within limit:
// a call that hangs is a failure, not a stuck test run.
func bounded[T any](t *testing.T, limit time.Duration, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("no answer within %s", limit)
		panic("unreachable")
	}
}

// resetter accepts connections and resets them (RST) at once.
func resetter(t *testing.T) (endpoint string, accepts *atomic.Int32) {
	t.Helper()
	return testpeers.TCPPeer(t, func(c net.Conn) {
		// Read the request first, so the reset meets a waiting client.
		c.SetReadDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 4096)
		c.Read(buf)
		c.(*net.TCPConn).SetLinger(0)
		c.Close()
	})
}

// staller is an HTTP server whose answers wait stall (30 s in the issue's
// scenario) before they come, or until the test ends.
func staller(t *testing.T, stall time.Duration) (endpoint string, requests *atomic.Int32) {
	t.Helper()
	requests = new(atomic.Int32)
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-time.After(stall):
		case <-stop:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	return srv.URL, requests
}

func throttleThenSucceed(n int32, calls *atomic.Int32) func(url.Values) (int, string) {
	return func(f url.Values) (int, string) {
		if calls.Add(1) <= n {
			return 400, stsError("Throttling", "Rate exceeded")
		}
		return 200, stsSuccess(f.Get("Action"), fixedNow.Add(time.Hour))
	}
}

func TestThrottlingRetriedWithinTheConfiguredAttempts(t *testing.T) {
	is := &Issuer{Options: Options{Now: func() time.Time { return fixedNow }}}
	quick := func(attempts int) credbroker.RetrySpec {
		return credbroker.RetrySpec{MaxAttempts: attempts, MaxBackoff: 5 * time.Millisecond}
	}

	// Throttled twice, then an answer: three calls, success.
	fake := newFakeSTS(t)
	var calls atomic.Int32
	fake.setRespond(throttleThenSucceed(2, &calls))
	req := roleRequest(fake.URL)
	req.Retry = quick(4)
	err := bounded(t, 30*time.Second, func() error { _, err := is.Issue(context.Background(), req); return err })
	if err != nil || calls.Load() != 3 {
		t.Fatalf("throttled twice: %v after %d calls, want success after 3", err, calls.Load())
	}

	// Always throttled: exactly the configured attempts, then 429.
	for _, attempts := range []int{1, 3, 6} {
		fake := newFakeSTS(t)
		var calls atomic.Int32
		fake.setRespond(throttleThenSucceed(1000, &calls))
		req := roleRequest(fake.URL)
		req.Retry = quick(attempts)
		err := bounded(t, 30*time.Second, func() error { _, err := is.Issue(context.Background(), req); return err })
		wantError(t, err, credbroker.CodeThrottled, "sts", "STS throttled AssumeRole: Throttling")
		if int(calls.Load()) != attempts {
			t.Fatalf("MaxAttempts %d: STS called %d times", attempts, calls.Load())
		}
	}

	// The issuer's own retry setting applies where the request sets none.
	fake = newFakeSTS(t)
	calls.Store(0)
	fake.setRespond(throttleThenSucceed(1000, &calls))
	is.Retry = quick(2)
	_, err = is.Issue(context.Background(), roleRequest(fake.URL))
	if credbroker.ErrorCode(err) != credbroker.CodeThrottled || calls.Load() != 2 {
		t.Fatalf("issuer default of 2 attempts: %v after %d calls", err, calls.Load())
	}
}

func TestRetryerIsBoundedFullJitter(t *testing.T) {
	var o Options
	if spec := o.retrySpec(credbroker.RetrySpec{}); spec.MaxAttempts != DefaultMaxAttempts || spec.MaxBackoff != DefaultMaxBackoff {
		t.Fatalf("defaults: %+v", spec)
	}
	o.Retry = credbroker.RetrySpec{MaxAttempts: 4, MaxBackoff: time.Second}
	if spec := o.retrySpec(credbroker.RetrySpec{MaxBackoff: 3 * time.Second}); spec.MaxAttempts != 4 || spec.MaxBackoff != 3*time.Second {
		t.Fatalf("request over options: %+v", spec)
	}

	const limit = 300 * time.Millisecond
	r := newRetryer(credbroker.RetrySpec{MaxAttempts: 6, MaxBackoff: limit}, false)
	if r.MaxAttempts() != 6 {
		t.Fatalf("MaxAttempts %d", r.MaxAttempts())
	}
	throttle := &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	if !r.IsErrorRetryable(throttle) {
		t.Fatal("throttling is not retried")
	}
	for attempt := 1; attempt <= 12; attempt++ {
		lo, hi := time.Hour, time.Duration(0)
		for range 300 {
			d, err := r.RetryDelay(attempt, throttle)
			if err != nil {
				t.Fatal(err)
			}
			if d < 0 || d > limit {
				t.Fatalf("attempt %d: backoff %s outside [0, %s]", attempt, d, limit)
			}
			lo, hi = min(lo, d), max(hi, d)
		}
		// Throttling backs off from 1 s, so from the first retry the cap
		// applies; full jitter spreads the waits over all of [0, cap].
		if lo > limit/4 || hi < limit*3/4 {
			t.Fatalf("attempt %d: backoffs between %s and %s, not spread over [0, %s]", attempt, lo, hi, limit)
		}
	}
}

func TestBeforeAttemptRunsBeforeEveryAttempt(t *testing.T) {
	is := &Issuer{Options: testOptions()}
	fake := newFakeSTS(t)
	var calls atomic.Int32
	fake.setRespond(throttleThenSucceed(2, &calls))
	var gates atomic.Int32
	req := roleRequest(closedURL(t), fake.URL)
	req.Retry = credbroker.RetrySpec{MaxAttempts: 4, MaxBackoff: time.Millisecond}
	req.BeforeAttempt = func(context.Context) error { gates.Add(1); return nil }
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// One attempt at the closed endpoint, three at the fake.
	if gates.Load() != 4 || calls.Load() != 3 {
		t.Fatalf("%d gates for %d STS calls (+1 at the closed endpoint)", gates.Load(), calls.Load())
	}

	// A refusal of the gate ends the call with its own error, unsent.
	calls.Store(0)
	refusal := credbroker.Errorf(credbroker.CodeThrottled, "sts", "the broker's STS budget is used up")
	gates.Store(0)
	req = roleRequest(fake.URL)
	req.Retry = credbroker.RetrySpec{MaxAttempts: 4, MaxBackoff: time.Millisecond}
	req.BeforeAttempt = func(context.Context) error {
		if gates.Add(1) > 1 {
			return refusal
		}
		return nil
	}
	_, err := is.Issue(context.Background(), req)
	if credbroker.AsError(err) != refusal || calls.Load() != 1 {
		t.Fatalf("gate refusal: %v after %d calls", err, calls.Load())
	}
}

// TestAfterCallSeesEachEndpoint: the hook is told of the call at the
// closed endpoint (unreachable, then skipped) and of the one that
// succeeded, with the operation, the endpoint and the error's code.
func TestAfterCallSeesEachEndpoint(t *testing.T) {
	is := &Issuer{Options: testOptions()}
	fake := newFakeSTS(t)
	var calls atomic.Int32
	fake.setRespond(throttleThenSucceed(1, &calls))
	closed := closedURL(t)
	req := roleRequest(closed, fake.URL)
	req.Retry = credbroker.RetrySpec{MaxAttempts: 3, MaxBackoff: time.Millisecond}
	type seen struct {
		op, ep string
		code   credbroker.Code
	}
	var got []seen
	req.AfterCall = func(op, ep string, err error, d time.Duration) {
		if d < 0 {
			t.Errorf("negative duration %s", d)
		}
		got = append(got, seen{op, ep, credbroker.ErrorCode(err)})
	}
	if _, err := is.Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	want := []seen{{"AssumeRole", closed, credbroker.CodeUpstream}, {"AssumeRole", fake.URL, ""}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("AfterCall saw %+v, want %+v", got, want)
	}

	// A call that STS refuses ends with the refusal's code.
	got = nil
	fake.setRespond(func(url.Values) (int, string) { return 403, stsError("AccessDenied", "no") })
	if _, err := is.Issue(context.Background(), roleRequestWith(req, fake.URL)); err == nil {
		t.Fatal("a refused call succeeded")
	}
	if len(got) != 1 || got[0].code != credbroker.CodeForbidden {
		t.Fatalf("refused call: AfterCall saw %+v", got)
	}
}

// roleRequestWith is req at the endpoints eps.
func roleRequestWith(req credbroker.IssueRequest, eps ...string) credbroker.IssueRequest {
	req.STSEndpoints = eps
	return req
}

func TestUnreachableSTSFailsWithinBounds(t *testing.T) {
	hole, holeAccepts := testpeers.BlackHole(t)
	reset, resetAccepts := resetter(t)
	stall, stallRequests := staller(t, 30*time.Second)
	is := &Issuer{Options: Options{
		Now:            func() time.Time { return fixedNow },
		Retry:          credbroker.RetrySpec{MaxAttempts: 2, MaxBackoff: 10 * time.Millisecond},
		AttemptTimeout: 300 * time.Millisecond,
	}}
	tests := []struct {
		name     string
		endpoint string
		count    *atomic.Int32
		msg      string
	}{
		{"black hole", hole, holeAccepts, "STS at " + hole + " did not answer AssumeRole within 300ms (2 attempts)"},
		{"30 s stall", stall, stallRequests, "STS at " + stall + " did not answer AssumeRole within 300ms (2 attempts)"},
		{"reset", reset, resetAccepts, "STS at " + reset + " is not reachable: the connection was reset (2 attempts)"},
		{"refused", closedURL(t), nil, "is not reachable: connection refused (2 attempts)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := bounded(t, 20*time.Second, func() error {
				_, err := is.Issue(context.Background(), roleRequest(tt.endpoint))
				return err
			})
			e := wantError(t, err, credbroker.CodeUpstream, "sts", tt.msg)
			if e.Fix == "" {
				t.Error("no fix")
			}
			if tt.count != nil && tt.count.Load() != 2 {
				t.Errorf("%d attempts reached the endpoint, want 2", tt.count.Load())
			}
		})
	}
}

func TestDeadlineBoundsTheWholeCall(t *testing.T) {
	// No timeout per attempt, many attempts: the deadline ends it.
	hole, _ := testpeers.BlackHole(t)
	is := &Issuer{Options: Options{
		Now:      func() time.Time { return fixedNow },
		Retry:    credbroker.RetrySpec{MaxAttempts: 50, MaxBackoff: 50 * time.Millisecond},
		Deadline: 400 * time.Millisecond,
	}}
	err := bounded(t, 20*time.Second, func() error { _, err := is.Issue(context.Background(), roleRequest(hole)); return err })
	wantError(t, err, credbroker.CodeUpstream, "sts", "STS at "+hole+" did not answer AssumeRole within the 400ms deadline")

	// Throttled until the deadline: 429, saying so.
	fake := newFakeSTS(t)
	var calls atomic.Int32
	fake.setRespond(throttleThenSucceed(1_000_000, &calls))
	err = bounded(t, 20*time.Second, func() error { _, err := is.Issue(context.Background(), roleRequest(fake.URL)); return err })
	wantError(t, err, credbroker.CodeThrottled, "sts", "STS kept throttling AssumeRole at "+fake.URL+": no success within the 400ms deadline")
	if calls.Load() < 2 {
		t.Fatalf("%d calls: the retries did not run", calls.Load())
	}

	// The deadline also bounds the gate's wait.
	req := roleRequest(fake.URL)
	req.BeforeAttempt = func(ctx context.Context) error {
		<-ctx.Done()
		return credbroker.Errorf(credbroker.CodeThrottled, "sts", "no slot in the budget before the deadline")
	}
	err = bounded(t, 20*time.Second, func() error { _, err := is.Issue(context.Background(), req); return err })
	wantError(t, err, credbroker.CodeThrottled, "sts", "no slot in the budget")
}

func TestFallbackPastABlackHoleAndRecovery(t *testing.T) {
	hole, accepts := testpeers.BlackHole(t)
	fake := newFakeSTS(t)
	is := &Issuer{Options: Options{
		Now:            func() time.Time { return fixedNow },
		Retry:          credbroker.RetrySpec{MaxAttempts: 3, MaxBackoff: 10 * time.Millisecond},
		AttemptTimeout: 300 * time.Millisecond,
	}}
	c, err := bounded(t, 20*time.Second, func() result2 {
		c, err := is.Issue(context.Background(), roleRequest(hole, fake.URL))
		return result2{c, err}
	}).get()
	if err != nil || c.AccessKeyID != issuedKeyID {
		t.Fatalf("fallback past a black hole: %v", err)
	}
	if accepts.Load() != 1 || len(fake.Calls()) != 1 {
		t.Fatalf("black hole tried %d times, fallback %d times; want once each", accepts.Load(), len(fake.Calls()))
	}

	// Every endpoint down: the error names the last and the ones before.
	hole2, _ := testpeers.BlackHole(t)
	_, err = bounded(t, 20*time.Second, func() result2 {
		c, err := is.Issue(context.Background(), roleRequest(hole, hole2))
		return result2{c, err}
	}).get()
	wantError(t, err, credbroker.CodeUpstream, "sts", "STS at "+hole2+" did not answer AssumeRole within 300ms (3 attempts); the endpoints before it could not be reached either ("+hole+")")

	// STS comes back: the same issuer succeeds, nothing to reset.
	var down atomic.Bool
	down.Store(true)
	stop := make(chan struct{})
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
			return
		}
		r.ParseForm()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, stsSuccess(r.PostForm.Get("Action"), fixedNow.Add(time.Hour)))
	}))
	t.Cleanup(func() { close(stop); flaky.Close() })
	_, err = bounded(t, 20*time.Second, func() result2 {
		c, err := is.Issue(context.Background(), roleRequest(flaky.URL))
		return result2{c, err}
	}).get()
	wantError(t, err, credbroker.CodeUpstream, "sts", "did not answer")
	down.Store(false)
	if _, err := is.Issue(context.Background(), roleRequest(flaky.URL)); err != nil {
		t.Fatalf("after STS came back: %v", err)
	}
}

type result2 struct {
	c   credbroker.Credentials
	err error
}

func (r result2) get() (credbroker.Credentials, error) { return r.c, r.err }

func TestClockSkewRefusesShortLivedSTSCredentials(t *testing.T) {
	tests := []struct {
		name string
		exp  time.Time
		msg  string
	}{
		{"expired", fixedNow.Add(-time.Minute), "that expired at 2026-03-01T11:59:00Z, before this host's time 2026-03-01T12:00:00Z: clock skew"},
		{"30 s ahead", fixedNow.Add(30 * time.Second), "only 30s after this host's time 2026-03-01T12:00:00Z although a 2h0m0s session was asked for: clock skew"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(f url.Values) (int, string) { return 200, stsSuccess(f.Get("Action"), tt.exp) })
			_, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL))
			e := wantError(t, err, credbroker.CodeUpstream, "sts", tt.msg)
			if !strings.Contains(e.Fix, "NTP") {
				t.Errorf("fix does not name NTP: %s", e.Fix)
			}
		})
	}
	// Two minutes is short but possible (a skewed but usable clock).
	fake := newFakeSTS(t)
	fake.setRespond(func(f url.Values) (int, string) { return 200, stsSuccess(f.Get("Action"), fixedNow.Add(2*time.Minute)) })
	if _, err := testIssuer().Issue(context.Background(), roleRequest(fake.URL)); err != nil {
		t.Fatal(err)
	}
}

func TestClockSkewOnTheAgent(t *testing.T) {
	// Assumed with stscreds on the agent.
	for name, exp := range map[string]time.Time{"expired": fixedNow.Add(-time.Hour), "30 s ahead": fixedNow.Add(30 * time.Second)} {
		t.Run("assume role "+name, func(t *testing.T) {
			fake := newFakeSTS(t)
			fake.setRespond(func(f url.Values) (int, string) { return 200, stsSuccess(f.Get("Action"), exp) })
			src := credbroker.Source{Kind: credbroker.SourceStatic, Region: "us-east-1", AccessKeyID: baseKeyID, SecretAccessKey: baseSecret,
				STSEndpoint: fake.URL, Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy"}}
			res, err := Resolve(context.Background(), src, testBuild, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = res.Provider.Retrieve(context.Background())
			wantError(t, err, credbroker.CodeUpstream, "role_arn", "clock skew between this host and STS")
		})
		t.Run("instance profile "+name, func(t *testing.T) {
			imds := newFakeIMDS(t, imdsV2, exp)
			src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: imds.URL}
			res, err := Resolve(context.Background(), src, testBuild, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			_, err = res.Provider.Retrieve(context.Background())
			wantError(t, err, credbroker.CodeUpstream, "instance", "clock skew between this host and the instance metadata service")
		})
	}
}

// imdsFault is a metadata service whose token request stalls, or is
// refused with a status; GETs without a token would be answered (as IMDSv1
// does), so any fallback to v1 shows in its request log.
type imdsFault struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []string
}

func newIMDSFault(t *testing.T, tokenStatus int, stall time.Duration) *imdsFault {
	t.Helper()
	f := &imdsFault{}
	stop := make(chan struct{})
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.reqs = append(f.reqs, fmt.Sprintf("%s %s token=%v", r.Method, r.URL.Path, r.Header.Get("X-Aws-Ec2-Metadata-Token") != ""))
		f.mu.Unlock()
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
		switch r.URL.Path {
		case "/latest/meta-data/iam/security-credentials/":
			io.WriteString(w, "agent-role")
		case "/latest/meta-data/iam/security-credentials/agent-role":
			fmt.Fprintf(w, `{"Code":"Success","Type":"AWS-HMAC","AccessKeyId":%q,"SecretAccessKey":%q,"Token":%q,"Expiration":%q}`,
				baseKeyID, baseSecret, baseToken, fixedNow.Add(time.Hour).Format(time.RFC3339))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(func() { close(stop); f.Close() })
	return f
}

func (f *imdsFault) gets() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.reqs {
		if strings.HasPrefix(r, "GET") {
			out = append(out, r)
		}
	}
	return out
}

func TestIMDSSlowOrRefusingTheToken(t *testing.T) {
	tests := []struct {
		name   string
		status int
		stall  time.Duration
		msg    string
	}{
		{"stalls 30 s", http.StatusOK, 30 * time.Second, "did not answer the IMDSv2 session token request in time"},
		{"refuses with 403", http.StatusForbidden, 0, "refused the IMDSv2 session token request (HTTP 403)"},
		{"refuses with 405", http.StatusMethodNotAllowed, 0, "refused the IMDSv2 session token request (HTTP 405)"},
		{"refuses with 404", http.StatusNotFound, 0, "refused the IMDSv2 session token request (HTTP 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imds := newIMDSFault(t, tt.status, tt.stall)
			src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: imds.URL}
			res, err := Resolve(context.Background(), src, testBuild, Options{Now: func() time.Time { return fixedNow }})
			if err != nil {
				t.Fatal(err)
			}
			err = bounded(t, 30*time.Second, func() error { _, err := res.Provider.Retrieve(context.Background()); return err })
			e := wantError(t, err, credbroker.CodeUpstream, "instance", tt.msg)
			if !strings.Contains(e.Message, imds.URL) || e.Fix == "" {
				t.Errorf("message does not name the endpoint, or no fix: %s", e)
			}
			if g := imds.gets(); len(g) != 0 {
				t.Fatalf("fell back to IMDSv1 without being asked: %q", g)
			}

			// Asked for, the fallback is used (and Resolve warned).
			src.IMDSv1 = true
			res, err = Resolve(context.Background(), src, testBuild, Options{Now: func() time.Time { return fixedNow }})
			if err != nil {
				t.Fatal(err)
			}
			c, err := bounded(t, 30*time.Second, func() result2 { c, err := res.Provider.Retrieve(context.Background()); return result2{c, err} }).get()
			if err != nil || c.AccessKeyID != baseKeyID || len(res.Warnings) == 0 {
				t.Fatalf("with the v1 fallback asked for: %v %v", err, res.Warnings)
			}
		})
	}
}

func TestIMDSStallAfterTheToken(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(imdsWith(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(30 * time.Second):
		case <-stop:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(stop); srv.Close() })
	src := credbroker.Source{Kind: credbroker.SourceInstance, Region: "us-east-1", IMDSEndpoint: srv.URL}
	res, err := Resolve(context.Background(), src, testBuild, Options{Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	err = bounded(t, 30*time.Second, func() error { _, err := res.Provider.Retrieve(context.Background()); return err })
	wantError(t, err, credbroker.CodeUpstream, "instance", "the instance metadata service at "+srv.URL+" did not answer in time")
}

func TestTaskRetrySpecBoundsAssumeRoleOnTheAgent(t *testing.T) {
	for _, attempts := range []int{1, 4} {
		fake := newFakeSTS(t)
		var calls atomic.Int32
		fake.setRespond(throttleThenSucceed(1000, &calls))
		src := credbroker.Source{Kind: credbroker.SourceStatic, Region: "us-east-1", AccessKeyID: baseKeyID, SecretAccessKey: baseSecret,
			STSEndpoint: fake.URL, Role: credbroker.RoleSpec{ARN: "arn:aws:iam::123456789012:role/deploy"},
			Retry: credbroker.RetrySpec{MaxAttempts: attempts, MaxBackoff: 5 * time.Millisecond}}
		res, err := Resolve(context.Background(), src, testBuild, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		err = bounded(t, 30*time.Second, func() error { _, err := res.Provider.Retrieve(context.Background()); return err })
		wantError(t, err, credbroker.CodeThrottled, "sts", "STS throttled AssumeRole")
		if int(calls.Load()) != attempts {
			t.Fatalf("task retry spec of %d attempts: STS called %d times", attempts, calls.Load())
		}
	}
}
