package testpeers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CountingProxy stands between credbroker and its STS (MinIO) and counts
// the STS calls by Action, with when each arrived and how long the STS
// took to answer it: the peer's view of how many calls credbroker made,
// and when.
type CountingProxy struct {
	// URL is the proxy's address, to give credbroker as the STS endpoint.
	URL string

	target *url.URL
	tr     *http.Transport
	srv    *http.Server
	done   chan struct{}

	mu    sync.Mutex
	calls map[string][]proxiedCall
}

// proxiedCall is one call the proxy forwarded: when it arrived, by the
// proxy's clock, how long the upstream took to answer, and its form.
type proxiedCall struct {
	at   time.Time
	took time.Duration
	form url.Values
}

// StartCountingProxy listens on a free loopback port and forwards every
// request to target.
func StartCountingProxy(target string) (*CountingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("counting proxy target: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("counting proxy: %w", err)
	}
	p := &CountingProxy{
		URL:    "http://" + ln.Addr().String(),
		target: u,
		tr:     &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute},
		done:   make(chan struct{}),
		calls:  map[string][]proxiedCall{},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(p.done)
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *CountingProxy) serve(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	action := r.URL.Query().Get("Action")
	form, err := url.ParseQuery(string(body))
	if err == nil && form.Get("Action") != "" {
		action = form.Get("Action")
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.target.Scheme+"://"+p.target.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	out.Header = r.Header.Clone()
	// The request was signed for the Host the client saw: keep it.
	out.Host = r.Host
	start := time.Now()
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		http.Error(w, "upstream unreachable", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		http.Error(w, "upstream read", http.StatusBadGateway)
		return
	}
	if action != "" {
		p.mu.Lock()
		p.calls[action] = append(p.calls[action], proxiedCall{arrived, took, form})
		p.mu.Unlock()
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
}

// Calls returns how many requests with action (such as "AssumeRole") the
// proxy forwarded.
func (p *CountingProxy) Calls(action string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls[action])
}

// Durations returns how long the upstream took to answer each request
// with action, in the order they were answered.
func (p *CountingProxy) Durations(action string) []time.Duration {
	return callsOf(p, action, func(c proxiedCall) time.Duration { return c.took })
}

// Arrivals returns when each request with action reached the proxy, by
// the proxy's clock, in the order they were answered (not necessarily the
// order they arrived in).
func (p *CountingProxy) Arrivals(action string) []time.Time {
	return callsOf(p, action, func(c proxiedCall) time.Time { return c.at })
}

// Forms returns the form of each request with action the proxy
// forwarded, in order: what credbroker asked of STS (RoleSessionName,
// SourceIdentity, Tags.member.N.Key, ...).
func (p *CountingProxy) Forms(action string) []url.Values {
	return callsOf(p, action, func(c proxiedCall) url.Values { return c.form })
}

// callsOf returns field of each call with action that p forwarded, in the
// order they were answered.
func callsOf[T any](p *CountingProxy, action string, field func(proxiedCall) T) []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]T, len(p.calls[action]))
	for i, c := range p.calls[action] {
		out[i] = field(c)
	}
	return out
}

// Close stops the proxy.
func (p *CountingProxy) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.srv.Shutdown(ctx)
	<-p.done
	p.tr.CloseIdleConnections()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
