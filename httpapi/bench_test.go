package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/credbroker/credbroker"
	"github.com/credbroker/credbroker/httpapi"
)

// vendOnly is the service of the benchmarks: a fixed token and a fixed
// vend result, as a broker answering from its cache.
type vendOnly struct{ httpapi.Service }

func (vendOnly) Authenticate(_ context.Context, bearer string) (*credbroker.Token, error) {
	if bearer == agentSecret {
		return agentTok, nil
	}
	return nil, credbroker.Errorf(credbroker.CodeUnauthorized, "", "wrong token")
}

func (vendOnly) Vend(context.Context, *credbroker.Token, credbroker.VendRequest) (*credbroker.VendResult, error) {
	return fixVend, nil
}

// benchBody is a request body that can be rewound without allocating.
type benchBody struct{ bytes.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a ResponseWriter that keeps nothing but the status.
type benchWriter struct {
	h      http.Header
	status int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(p []byte) (int, error) { return len(p), nil }

var vendBody = []byte(`{"connector":"deploy","plan":"OPS-DEPLOY","build":"42","job":"OPS-DEPLOY-JOB1","task":"upload","duration_seconds":900}`)

// baselineHandler writes the same bytes the vend handler would, with no
// authentication, decoding or encoding: the floor of the vend path.
func baselineHandler() http.Handler {
	fixed, err := json.Marshal(fixVend)
	if err != nil {
		panic(err)
	}
	fixed = append(fixed, '\n')
	length := strconv.Itoa(len(fixed))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Content-Length", length)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(fixed)
	})
}

func vendHandler(logger *slog.Logger) http.Handler {
	return httpapi.NewServer(vendOnly{}, httpapi.ServerOptions{Logger: logger}).Handler()
}

// runVend sends b.N vend requests to h on one goroutine.
func runVend(b *testing.B, h http.Handler) {
	r := httptest.NewRequest(http.MethodPost, "/v1/credentials", nil)
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Authorization", "Bearer "+agentSecret)
	body := &benchBody{}
	w := &benchWriter{h: make(http.Header)}
	b.ReportAllocs()
	b.SetBytes(int64(len(vendBody)))
	for b.Loop() {
		body.Reset(vendBody)
		r.Body = body
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// runVendParallel is runVend on GOMAXPROCS goroutines.
func runVendParallel(b *testing.B, h http.Handler) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		r := httptest.NewRequest(http.MethodPost, "/v1/credentials", nil)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+agentSecret)
		body := &benchBody{}
		w := &benchWriter{h: make(http.Header)}
		for pb.Next() {
			body.Reset(vendBody)
			r.Body = body
			clear(w.h)
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
}

// BenchmarkVendHandler measures the vend path through Handler() against a
// baseline handler that writes the same JSON bytes.
func BenchmarkVendHandler(b *testing.B) {
	jsonLog := slog.New(slog.NewJSONHandler(io.Discard, nil))
	b.Run("server", func(b *testing.B) { runVend(b, vendHandler(nil)) })
	b.Run("server+jsonlog", func(b *testing.B) { runVend(b, vendHandler(jsonLog)) })
	b.Run("baseline", func(b *testing.B) { runVend(b, baselineHandler()) })
	b.Run("server/parallel", func(b *testing.B) { runVendParallel(b, vendHandler(jsonLog)) })
	b.Run("baseline/parallel", func(b *testing.B) { runVendParallel(b, baselineHandler()) })
}

// BenchmarkVendRoundTrip measures vends through the real Client over
// loopback TCP, in parallel: what an agent fleet sees of a cached vend.
func BenchmarkVendRoundTrip(b *testing.B) {
	ts := httptest.NewServer(vendHandler(slog.New(slog.NewJSONHandler(io.Discard, nil))))
	defer ts.Close()
	c, err := httpapi.NewClient(ts.URL, httpapi.ClientOptions{Token: agentSecret})
	if err != nil {
		b.Fatal(err)
	}
	req := credbroker.VendRequest{Connector: "deploy", Plan: "OPS-DEPLOY", Build: "42"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Vend(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
