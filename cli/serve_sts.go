//go:build !agentonly

package cli

import (
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/awscreds"
	"github.com/credbroker/credbroker/broker"
)

// Defaults of serve's bounds on STS calls. The deadline stays under the
// HTTP server's write timeout and the clients' 30 s, so a vend that STS
// cannot serve is answered with a clear error rather than cut off.
const (
	defaultSTSTimeout  = 10 * time.Second
	defaultSTSDeadline = 20 * time.Second
)

// stsFlags are serve's bounds on its calls to STS: time, retries, and the
// outbound rate budget.
type stsFlags struct {
	timeout, deadline time.Duration
	retries           int
	maxBackoff        time.Duration
	rate              float64
	burst             int
	wait              time.Duration
}

func (s *stsFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.DurationVar(&s.timeout, "sts-timeout", defaultSTSTimeout, "bound of one STS attempt (connect, send, answer); a black-holed or stalled endpoint fails after it, and the next --sts-endpoint of the connector is tried")
	f.DurationVar(&s.deadline, "sts-deadline", defaultSTSDeadline, "bound of a vend's whole STS work: attempts, retries, fallback endpoints and the wait for the rate budget (keep it under --write-timeout)")
	f.IntVar(&s.retries, "sts-retries", awscreds.DefaultMaxAttempts-1, "retries of a throttled or failed STS call, for connectors that set none (--retries)")
	f.DurationVar(&s.maxBackoff, "sts-max-backoff", awscreds.DefaultMaxBackoff, "longest wait between two STS retries (full-jitter exponential backoff), for connectors that set none (--max-backoff)")
	f.Float64Var(&s.rate, "sts-rate", broker.DefaultSTSRate, "STS calls per second this broker makes per base identity (access key, default chain, or base connector's account) and region (with --database-url, the brokers on the database together); STS allows about 600 per account and region; 0 turns the budget off")
	f.IntVar(&s.burst, "sts-burst", broker.DefaultSTSBurst, "STS calls this broker (with --database-url, the brokers on the database together) may make at once per base identity and region, above --sts-rate")
	f.DurationVar(&s.wait, "sts-rate-wait", broker.DefaultSTSWait, "how long a vend waits for its turn in the STS budget before it is refused with 429; cached sessions are served without waiting")
}

// check validates the flags; writeTimeout is the HTTP server's.
func (s *stsFlags) check(writeTimeout time.Duration) error {
	positive := func(flag string, d time.Duration) error {
		if d <= 0 {
			return credbroker.Errorf(credbroker.CodeInvalid, flag, "must be positive, got %s", d).WithFix("give a duration like 10s")
		}
		return nil
	}
	for _, c := range []struct {
		flag string
		d    time.Duration
	}{{"--sts-timeout", s.timeout}, {"--sts-deadline", s.deadline}, {"--sts-max-backoff", s.maxBackoff}, {"--sts-rate-wait", s.wait}} {
		if err := positive(c.flag, c.d); err != nil {
			return err
		}
	}
	switch {
	case writeTimeout > 0 && s.deadline >= writeTimeout:
		return credbroker.Errorf(credbroker.CodeInvalid, "--sts-deadline", "%s is not shorter than --write-timeout %s", s.deadline, writeTimeout).
			WithFix("keep the STS deadline under the write timeout, so that a failed vend is answered before the connection is cut")
	case s.retries < 0 || s.retries > 20:
		return credbroker.Errorf(credbroker.CodeInvalid, "--sts-retries", "use 0 to 20 retries, got %d", s.retries)
	case s.rate < 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--sts-rate", "must not be negative").
			WithFix("give calls per second, or 0 to turn the budget off")
	case s.burst <= 0:
		return credbroker.Errorf(credbroker.CodeInvalid, "--sts-burst", "must be positive")
	}
	return nil
}

// issuerOptions sets the bounds on o: the HTTP client with the attempt
// timeout, the deadline and the default retries.
func (s *stsFlags) issuerOptions(o awscreds.Options) awscreds.Options {
	o.HTTPClient = stsHTTPClient(s.timeout)
	o.AttemptTimeout = s.timeout
	o.Deadline = s.deadline
	o.Retry = credbroker.RetrySpec{MaxAttempts: s.retries + 1, MaxBackoff: s.maxBackoff}
	return o
}

// budget is the broker's STS budget.
func (s *stsFlags) budget() broker.STSBudget {
	b := broker.STSBudget{Rate: s.rate, Burst: s.burst, MaxWait: s.wait}
	if s.rate == 0 {
		b.Rate = -1
	}
	return b
}

// stsHTTPClient is the one client the broker uses for STS: connections are
// reused, and every attempt is bounded by timeout.
func stsHTTPClient(timeout time.Duration) *http.Client {
	step := min(5*time.Second, timeout)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	tr.ResponseHeaderTimeout = timeout
	tr.TLSHandshakeTimeout = step
	tr.DialContext = (&net.Dialer{Timeout: step, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{Transport: tr, Timeout: timeout}
}
