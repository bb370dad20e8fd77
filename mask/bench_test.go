package mask

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
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
			forms := Forms(s)
			b.WriteString(forms[rng.IntN(len(forms))])
		}
		b.WriteByte('\n')
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
	for _, n := range []int{0, 10, 100} {
		b.Run(fmt.Sprintf("secrets=%d", n), func(b *testing.B) {
			w := New(io.Discard, Options{Secrets: all[:n]})
			buf := make([]byte, 32<<10)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				// 32 KiB writes, as io.Copy from a task's pipe makes them.
				if _, err := io.CopyBuffer(w, onlyReader{bytes.NewReader(data)}, buf); err != nil {
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
