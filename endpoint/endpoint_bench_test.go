package endpoint_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/credcache"
	"github.com/credbroker/credbroker/endpoint"
)

// benchServer is an endpoint serving cached hour-long credentials of real
// sizes, as during a task.
func benchServer(b *testing.B) *endpoint.Server {
	b.Helper()
	creds := credbroker.Credentials{
		AccessKeyID: "ASIABENCHENDPOINT001", SecretAccessKey: strings.Repeat("s", 40),
		SessionToken: strings.Repeat("t", 800), Expires: time.Now().Add(time.Hour),
	}
	p := credcache.New(credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return creds, nil }), credcache.Options{})
	s, err := endpoint.Start(endpoint.Options{Provider: p, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// discardWriter is a ResponseWriter that keeps only the status.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// serveLoop has h answer r once per benchmark iteration, with nothing
// of net/http around it, and fails on an answer other than 200.
func serveLoop(b *testing.B, h http.Handler, r *http.Request) {
	b.Helper()
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkServeHTTP measures one credentials request: the endpoint's
// handler alone, the profile channel's, and the endpoint over loopback TCP
// through net/http as an SDK would send it.
func BenchmarkServeHTTP(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		s := benchServer(b)
		u, err := url.Parse(s.URL)
		if err != nil {
			b.Fatal(err)
		}
		r, err := http.NewRequest(http.MethodGet, s.URL, nil)
		if err != nil {
			b.Fatal(err)
		}
		r.RemoteAddr = "127.0.0.1:50000"
		r.Host = u.Host
		r.Header.Set("Authorization", s.Token())
		serveLoop(b, s, r)
	})
	b.Run("channel-handler", func(b *testing.B) {
		creds := credbroker.Credentials{
			AccessKeyID: "ASIABENCHCHANNEL0001", SecretAccessKey: strings.Repeat("s", 40),
			SessionToken: strings.Repeat("t", 800), Expires: time.Now().Add(time.Hour),
		}
		p := credcache.New(credbroker.ProviderFunc(func(context.Context) (credbroker.Credentials, error) { return creds, nil }), credcache.Options{})
		c, err := endpoint.StartChannel(endpoint.ChannelOptions{Dir: b.TempDir(), Command: []string{"credbroker", "credential-process"},
			Profiles: []endpoint.ChannelProfile{{Name: "ci", Region: "us-east-1", Provider: p}}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		r, err := http.NewRequest(http.MethodGet, "http://channel"+endpoint.ProfilePath+"ci", nil)
		if err != nil {
			b.Fatal(err)
		}
		r.Header.Set("Authorization", c.Token())
		serveLoop(b, c, r)
	})
	b.Run("loopback/parallel", func(b *testing.B) {
		s := benchServer(b)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		b.Cleanup(client.CloseIdleConnections)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequest(http.MethodGet, s.URL, nil)
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Authorization", s.Token())
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	})
}
