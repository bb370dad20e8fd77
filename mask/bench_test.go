package mask

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

const benchSize = 1 << 20

// benchSecrets returns n secrets shaped like AWS credentials: mostly
// 40-character secret keys, every tenth a session token of 600 characters.
func benchSecrets(rng *rand.Rand, n int) []string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	out := make([]string, n)
	for i := range out {
		size := 40
		if i%10 == 9 {
			size = 600
		}
		b := make([]byte, size)
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		out[i] = string(b)
	}
	return out
}

// benchLog returns 1 MiB of log-like text in which about one line in a
// hundred holds a secret or one of its forms.
func benchLog(rng *rand.Rand, secrets []string) []byte {
	words := []string{"INFO", "DEBUG", "uploading", "s3://artifacts-bucket/builds/", "aws", "--region", "eu-west-1",
		"Completed", "1024", "bytes", "in", "0.42s", "stack", "UPDATE_COMPLETE", "arn:aws:iam::123456789012:role/deployer",
		"npm", "WARN", "deprecated", "Step", "3/7", "RUN", "go", "test", "./...", "ok", "PASS", "AKIA", "token", "=", "\"password\":"}
	var b bytes.Buffer
	for line := 0; b.Len() < benchSize; line++ {
		fmt.Fprintf(&b, "2026-01-02T15:04:%02d.%03dZ ", line%60, line%1000)
		for range 6 + rng.IntN(10) {
			b.WriteString(words[rng.IntN(len(words))])
			b.WriteByte(' ')
		}
		if rng.IntN(100) == 0 {
			s := secrets[rng.IntN(len(secrets))]
			forms := benchForms(s)
			b.WriteString(forms[rng.IntN(len(forms))])
		}
		b.WriteByte('\n')
	}
	return b.Bytes()[:benchSize]
}

// benchForms are the forms the benchmark text uses: the seven the masker
// has always known, so that the text is the same for every version of the
// masker measured against another.
func benchForms(s string) []string {
	b := []byte(s)
	return []string{s, base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b), url.QueryEscape(s), url.PathEscape(s)}
}

// benchURLLog is benchLog with URL-encoded text on every line, the worst
// case for the escapes the masker decodes.
func benchURLLog(rng *rand.Rand, secrets []string) []byte {
	var b bytes.Buffer
	for line := 0; b.Len() < benchSize; line++ {
		fmt.Fprintf(&b, "GET /v1/search?q=%s&page=%d&filter=%%22status%%3Dok%%22%%2C%%20%%E2%%9C%%93 200\n",
			url.QueryEscape(fmt.Sprintf("build %d of plan OPS/DEPLOY & more", line)), line%50)
		if rng.IntN(100) == 0 {
			s := secrets[rng.IntN(len(secrets))]
			forms := benchForms(s)
			b.WriteString(forms[rng.IntN(len(forms))] + "\n")
		}
	}
	return b.Bytes()[:benchSize]
}

func BenchmarkMask(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 7))
	all := benchSecrets(rng, 100)
	data := benchLog(rng, all)

	// The baseline: the same bytes read and discarded with no masking.
	// onlyReader makes io.Copy really move the data, as it does from a
	// pipe, instead of handing the whole slice over at once.
	b.Run("baseline-io.Copy-Discard", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			if _, err := io.Copy(io.Discard, onlyReader{bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	urlData := benchURLLog(rand.New(rand.NewPCG(8, 8)), all)
	for _, c := range []struct {
		name string
		n    int
		data []byte
	}{{"secrets=0", 0, data}, {"secrets=10", 10, data}, {"secrets=100", 100, data}, {"secrets=100/url-heavy", 100, urlData}} {
		b.Run(c.name, func(b *testing.B) {
			w := New(io.Discard, Options{Secrets: all[:c.n]})
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(c.data)))
			b.ReportAllocs()
			for b.Loop() {
				// 32 KiB writes, as io.Copy from a task's pipe makes them.
				if _, err := io.CopyBuffer(w, onlyReader{bytes.NewReader(c.data)}, buf); err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNew measures building a Writer: the automaton over every form
// of the secrets, paid once per task output stream and on each AddSecret.
func BenchmarkNew(b *testing.B) {
	all := benchSecrets(rand.New(rand.NewPCG(7, 7)), 100)
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				New(io.Discard, Options{Secrets: all[:n]})
			}
		})
	}
}

// onlyReader hides the WriterTo of its reader, so that io.CopyBuffer uses
// its buffer.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// TestBenchLogIsMasked keeps the benchmark honest: its text holds secrets,
// and none survives.
func TestBenchLogIsMasked(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	all := benchSecrets(rng, 100)
	data := benchLog(rng, all)
	var out bytes.Buffer
	w := New(&out, Options{Secrets: all})
	w.Write(data)
	w.Close()
	if !strings.Contains(out.String(), DefaultReplacement) {
		t.Fatal("the benchmark text holds no secret")
	}
	for _, s := range all {
		for _, f := range Forms(s) {
			if strings.Contains(out.String(), f) {
				t.Fatalf("form %q survived", f)
			}
		}
	}
}
