package awscreds

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/credbroker/credbroker"
)

// Upstream faults: how a call to STS is bounded (attempts, backoff, a
// timeout per attempt, a deadline for the whole call), how a hook runs
// before each attempt, and how credentials that a skewed clock makes
// useless are refused.

// MinFreshLifetime is the least lifetime that fresh credentials from STS or
// the instance metadata service must have left by this host's clock. STS
// never issues a session shorter than 15 minutes, and the metadata service
// offers new credentials at least 5 minutes before the old ones expire, so
// less than this means the clocks disagree (clock skew).
const MinFreshLifetime = time.Minute

// attemptLog records the attempts of one STS call, so that a call ended by
// its deadline can say what the attempts before it met.
type attemptLog struct {
	mu   sync.Mutex
	n    int
	last error
}

func (l *attemptLog) started() {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
}

func (l *attemptLog) failed(err error) {
	l.mu.Lock()
	l.last = err
	l.mu.Unlock()
}

// get returns the number of attempts and the last failure.
func (l *attemptLog) get() (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.last
}

// throttled reports whether the last failed attempt was throttled.
func (l *attemptLog) throttled() bool {
	_, err := l.get()
	return err != nil && isThrottle(err)
}

func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool()
}

// observedRetryer is a retryer that calls a hook before each attempt and
// records the attempts; the retry decisions and backoff are the wrapped
// retryer's.
type observedRetryer struct {
	aws.RetryerV2
	before func(ctx context.Context) error
	log    *attemptLog
}

// observed wraps r with before and log; it returns r when both are nil.
func observed(r aws.Retryer, before func(ctx context.Context) error, log *attemptLog) aws.Retryer {
	if before == nil && log == nil {
		return r
	}
	v2, ok := r.(aws.RetryerV2)
	if !ok {
		return r
	}
	return &observedRetryer{RetryerV2: v2, before: before, log: log}
}

// GetAttemptToken runs the hook, then hands out the wrapped retryer's
// token. The SDK asks for it before every attempt.
func (r *observedRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if r.before != nil {
		if err := r.before(ctx); err != nil {
			return nil, err
		}
	}
	if r.log != nil {
		r.log.started()
	}
	return r.RetryerV2.GetAttemptToken(ctx)
}

// IsErrorRetryable records the failure, then asks the wrapped retryer. An
// attempt cut short by the end of the call's context is not recorded: it
// says nothing about what STS answered.
func (r *observedRetryer) IsErrorRetryable(err error) bool {
	var canceled *smithy.CanceledError
	if r.log != nil && !errors.As(err, &canceled) {
		r.log.failed(err)
	}
	return r.RetryerV2.IsErrorRetryable(err)
}

// attemptClient is the HTTP client of STS calls, with AttemptTimeout as
// its Timeout. The copy shares the transport, so connections are reused.
func (o *Options) attemptClient() *http.Client {
	c := o.httpClient()
	if o.AttemptTimeout <= 0 || c.Timeout == o.AttemptTimeout {
		return c
	}
	cc := *c
	cc.Timeout = o.AttemptTimeout
	return &cc
}

// withDeadline bounds ctx by o.Deadline.
func (o *Options) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if o.Deadline <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, o.Deadline)
}

// deadlineError explains a call that its context ended: parent is the
// caller's context, ctx the one bounded by o.Deadline. It returns nil when
// neither ended, or when err is a domain error already (a hook refused).
func (o *Options) deadlineError(parent, ctx context.Context, err error, log *attemptLog, op, endpoint string) error {
	if ctx.Err() == nil || credbroker.AsError(err) != nil {
		return nil
	}
	if errors.Is(parent.Err(), context.Canceled) {
		return credbroker.Errorf(credbroker.CodeUpstream, "sts", "the STS %s at %s was canceled", op, endpoint).WithCause(err)
	}
	within := "before the caller's deadline"
	if parent.Err() == nil && o.Deadline > 0 {
		within = "within the " + o.Deadline.String() + " deadline"
	}
	n, _ := log.get()
	if log.throttled() {
		return credbroker.Errorf(credbroker.CodeThrottled, "sts",
			"STS kept throttling %s at %s: no success %s (%s)", op, endpoint, within, plural(n, "attempt")).
			WithFix("retry later; STS allows about 600 requests per second per account and region, shared by everything in the account").
			WithCause(err)
	}
	return credbroker.Errorf(credbroker.CodeUpstream, "sts",
		"STS at %s did not answer %s %s (%s)", endpoint, op, within, plural(n, "attempt")).
		WithFix("check the network path and proxy to STS and the STS endpoints; the broker tries again on the next request").
		WithCause(err)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// alsoUnreachable adds the fallback endpoints that were skipped before the
// last one to the message of err.
func alsoUnreachable(err error, skipped []string) error {
	e := credbroker.AsError(err)
	if e == nil || len(skipped) == 0 || (e.Code != credbroker.CodeUpstream && e.Code != credbroker.CodeThrottled) {
		return err
	}
	e.Message += fmt.Sprintf("; the endpoints before it could not be reached either (%s)", strings.Join(skipped, ", "))
	return e
}

// checkLifetime refuses fresh credentials that have expired, or that have
// less than MinFreshLifetime left, by this host's clock now: a sign that
// this host's clock and the source's disagree. what names the source
// ("STS", "the instance metadata service"); asked is the session duration
// asked for (0 when unknown).
func checkLifetime(c credbroker.Credentials, now time.Time, field, what string, asked time.Duration) error {
	if !c.CanExpire() {
		return nil
	}
	left := c.Expires.Sub(now)
	if left >= MinFreshLifetime {
		return nil
	}
	exp, here := c.Expires.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)
	var e *credbroker.Error
	if left <= 0 {
		e = credbroker.Errorf(credbroker.CodeUpstream, field,
			"%s returned credentials (%s) that expired at %s, before this host's time %s: clock skew between this host and %s",
			what, credbroker.MaskKeyID(c.AccessKeyID), exp, here, what)
	} else {
		sought := ""
		if asked > 0 {
			sought = fmt.Sprintf(" although a %s session was asked for", asked)
		}
		e = credbroker.Errorf(credbroker.CodeUpstream, field,
			"%s returned credentials (%s) that expire at %s, only %s after this host's time %s%s: clock skew between this host and %s",
			what, credbroker.MaskKeyID(c.AccessKeyID), exp, left.Round(time.Second), here, sought, what)
	}
	return e.WithFix("check this host's clock (NTP, e.g. `timedatectl status` or `chronyc tracking`); the credentials were not used")
}

// isTimeout reports whether err is a timeout (of an HTTP client, a dial, a
// read) rather than a refusal.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

// sendFailure names, in this package's words, why a request got no
// answer, for the known cases; "" otherwise.
func sendFailure(err error) string {
	text := err.Error()
	switch {
	case strings.Contains(text, "connection refused"):
		return ": connection refused"
	case strings.Contains(text, "connection reset"), strings.Contains(text, "broken pipe"),
		// What the client sees when its read loop met the reset first.
		strings.Contains(text, "use of closed network connection"):
		return ": the connection was reset"
	case strings.Contains(text, "EOF"), strings.Contains(text, "server closed"):
		return ": the connection was closed without an answer"
	case strings.Contains(text, "no such host"):
		return ": the host name does not resolve"
	}
	return ""
}

// triedTimes says how many attempts were made, when more than one.
func triedTimes(n int) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (%d attempts)", n)
}

// imdsSlowFix is the fix of a metadata service that does not answer.
const imdsSlowFix = "the metadata service is overloaded or the request does not reach it: in a container the IMDSv2 hop limit " +
	"may need to be 2; check imds_endpoint / AWS_EC2_METADATA_SERVICE_ENDPOINT (the IMDSv1 fallback is never used unless allowed)"

// timeoutText recognises, in an error's text, a request that timed out
// (the SDK does not always keep the cause of a metadata error
// unwrappable).
func timeoutText(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "timeout") || strings.Contains(s, "deadline exceeded")
}
