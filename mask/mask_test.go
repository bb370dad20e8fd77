package mask

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// refPattern is a pattern of the reference masker.
type refPattern struct{ text, repl string }

// refPatterns lists the patterns a Writer with these options must mask,
// built from the specification: every form of every secret becomes
// DefaultReplacement, and every key ID "****" and its last four characters.
// Patterns are what the forms read as with their %XX escapes decoded (and
// with "+" for a space, as quote_plus writes it): refMask reads the text
// that way, from every position.
func refPatterns(secrets, keyIDs []string) []refPattern {
	var ps []refPattern
	seen := map[string]bool{}
	add := func(text, repl string) {
		if !seen[text] {
			seen[text] = true
			ps = append(ps, refPattern{text, repl})
		}
	}
	for _, s := range secrets {
		for _, f := range Forms(s) {
			d := refDecode(f)
			add(d, DefaultReplacement)
			add(strings.ReplaceAll(d, " ", "+"), DefaultReplacement)
		}
	}
	for _, id := range keyIDs {
		repl := "****"
		if len(id) > 8 {
			repl += id[len(id)-4:]
		}
		add(id, repl)
	}
	return ps
}

// refDecode decodes every %XX escape of s from left to right.
func refDecode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if v, ok := refEscape(s, i); ok {
			b.WriteByte(v)
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// refEscape reports whether an escape %XX starts at s[i], and its byte.
func refEscape(s string, i int) (byte, bool) {
	if i+2 >= len(s) || s[i] != '%' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
	if err != nil || strings.ContainsAny(s[i+1:i+3], "+-") {
		return 0, false
	}
	return byte(v), true
}

// refMask is a slow, obviously correct masker. It walks text from the
// left, reading from each position with the escapes decoded. It stops
// (unless final) where more input could still make a match: at a "%"
// near the end that may start an escape, or where what follows is a
// proper prefix of a pattern. Otherwise it replaces the longest pattern
// starting there, or copies one byte. With final false it returns what a
// streaming masker must have written after receiving text.
func refMask(text string, ps []refPattern, final bool) string {
	stop := len(text) // the bytes from stop on may be an escape still arriving
	if !final {
		for _, k := range []int{len(text) - 1, len(text) - 2} {
			if k >= 0 && text[k] == '%' && (k == len(text)-1 || strings.ContainsAny(text[k+1:k+2], "0123456789abcdefABCDEF")) {
				stop = k
				break
			}
		}
	}
	var b strings.Builder
	pos := 0
	for pos < stop {
		// The decoded text from pos, and where each decoded byte ends.
		var dec []byte
		var ends []int
		for j := pos; j < stop; j++ {
			if v, ok := refEscape(text[:stop], j); ok {
				dec = append(dec, v)
				j += 2
			} else {
				dec = append(dec, text[j])
			}
			ends = append(ends, j+1)
		}
		rest := string(dec)
		if !final && slices.ContainsFunc(ps, func(p refPattern) bool {
			return len(rest) < len(p.text) && strings.HasPrefix(p.text, rest)
		}) {
			break
		}
		best := -1
		for k, p := range ps {
			if strings.HasPrefix(rest, p.text) && (best < 0 || len(p.text) > len(ps[best].text)) {
				best = k
			}
		}
		if best >= 0 {
			b.WriteString(ps[best].repl)
			pos = ends[len(ps[best].text)-1]
			continue
		}
		b.WriteByte(text[pos])
		pos++
	}
	return b.String()
}

// recorder records what arrives, and copies of it after each write.
type recorder struct {
	buf    bytes.Buffer
	writes int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	return r.buf.Write(p)
}

func maskAll(t testing.TB, opts Options, chunks ...string) string {
	t.Helper()
	var out bytes.Buffer
	w := New(&out, opts)
	for _, c := range chunks {
		n, err := w.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%d bytes) = %d, %v", len(c), n, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func TestForms(t *testing.T) {
	got := Forms("a/b+c d?é")
	want := []string{
		"a/b+c d?é",
		"YS9iK2MgZD/DqQ==",
		"YS9iK2MgZD/DqQ",
		"YS9iK2MgZD_DqQ==",
		"YS9iK2MgZD_DqQ",
		"a%2Fb%2Bc+d%3F%C3%A9",
		"a%2Fb+c%20d%3F%C3%A9",
		`a\/b+c d?é`,
		`a/b+c d?\u00e9`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("Forms = %q\nwant    %q", got, want)
	}
	// "abc" is the same raw, query- and path-escaped, and its base64 has
	// no padding and no URL-unsafe characters: two forms only.
	if got := Forms("abc"); !slices.Equal(got, []string{"abc", "YWJj"}) {
		t.Errorf("Forms(abc) = %q", got)
	}
	if Forms("") != nil {
		t.Error("Forms of an empty secret is not nil")
	}
}

func TestMasksSecretsAndForms(t *testing.T) {
	secret := "wJalrXUtnFEMI/K7MDENG+bPxRfiCY EXAMPLE?KEY"
	for _, f := range Forms(secret) {
		in := "before " + f + " after\n"
		got := maskAll(t, Options{Secrets: []string{secret}}, in)
		if want := "before ******** after\n"; got != want {
			t.Errorf("form %q: got %q, want %q", f, got, want)
		}
	}
	got := maskAll(t, Options{Secrets: []string{"s3cr3t", "", "s3cr3t"}}, "s3cr3ts3cr3t x s3cr3")
	if want := "**************** x s3cr3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReplacementOption(t *testing.T) {
	got := maskAll(t, Options{Secrets: []string{"hunter2"}, Replacement: "[masked]"}, "pw=hunter2;")
	if want := "pw=[masked];"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKeyIDs(t *testing.T) {
	id := "AKIAIOSFODNNABCDWXYZ"
	got := maskAll(t, Options{KeyIDs: []string{id}}, "key "+id+" used; again:"+id)
	if want := "key ****WXYZ used; again:****WXYZ"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// A key ID that is also a secret is masked whole.
	got = maskAll(t, Options{KeyIDs: []string{id}, Secrets: []string{id}}, id)
	if got != DefaultReplacement {
		t.Errorf("key ID that is also a secret: got %q", got)
	}
}

func TestLeftmostThenLongest(t *testing.T) {
	opts := Options{Secrets: []string{"abcd", "abcdefgh", "cdefghij"}, Replacement: "#"}
	tests := []struct{ in, want string }{
		{"xabcdefghx", "x#x"},     // longest at the leftmost start
		{"xabcdefgx", "x#efgx"},   // the long one did not complete
		{"xabcdefghij", "x#ij"},   // leftmost wins over a later, longer one
		{"xbcdefghijx", "xb#x"},   // no match at a: the one at c
		{"abcdabcd", "##"},        // back to back
		{"aabcdd", "a#d"},         // after a false start
		{"abcdefghabcd", "##"},    //
		{"abcdefgh", "#"},         // at the very end
		{"abcdefg", "#efg"},       // the longer one cut by the end of input
		{"cdefghi", "cdefghi"},    //
		{"abccdefghijk", "abc#k"}, //
	}
	for _, tt := range tests {
		if got := maskAll(t, opts, tt.in); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.in, got, tt.want)
		}
		// And one byte per write.
		var chunks []string
		for i := range len(tt.in) {
			chunks = append(chunks, tt.in[i:i+1])
		}
		if got := maskAll(t, opts, chunks...); got != tt.want {
			t.Errorf("%q one byte per write: got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// testSecrets are the secrets of the streaming tests: overlapping ones,
// one that is a prefix of another, and ones with characters that the
// encodings change.
var testSecrets = []string{
	"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	"FwoGZXIvYXdzEJr//////////wEaDH+session+token==",
	"hunter2",
	"hunter2hunter3",
	"p@ss w0rd&x=y",
	"aaaab",
}

var testKeyIDs = []string{"AKIAIOSFODNN7EXAMPLE", "ASIAXYZXYZXYZXYZWXYZ"}

// testText returns log-like text with the secrets, their forms and the key
// IDs at random places, including partial occurrences.
func testText(rng *rand.Rand, n int) string {
	var pieces []string
	for _, s := range testSecrets {
		pieces = append(pieces, Forms(s)...)
	}
	pieces = append(pieces, testKeyIDs...)
	var b strings.Builder
	for b.Len() < n {
		switch rng.IntN(6) {
		case 0:
			b.WriteString(pieces[rng.IntN(len(pieces))])
		case 1: // a piece cut short: a false start
			p := pieces[rng.IntN(len(pieces))]
			b.WriteString(p[:rng.IntN(len(p))])
		case 2:
			b.WriteString("aaaa")
		default:
			b.WriteString([]string{"INFO ", "uploading s3://bucket/key ", "done\n", "hunter", "a", " = ", "%2F", "AKIA"}[rng.IntN(8)])
		}
	}
	return b.String()
}

func randomSplit(rng *rand.Rand, s string) []string {
	var chunks []string
	for len(s) > 0 {
		n := 1 + rng.IntN(min(len(s), 1+rng.IntN(40)))
		chunks = append(chunks, s[:n])
		s = s[n:]
	}
	return chunks
}

func TestSplitsGiveSameOutput(t *testing.T) {
	opts := Options{Secrets: testSecrets, KeyIDs: testKeyIDs}
	ps := refPatterns(testSecrets, testKeyIDs)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		text := testText(rng, 300)
		want := refMask(text, ps, true)
		whole := maskAll(t, opts, text)
		if whole != want {
			t.Fatalf("round %d: single write differs from the reference\ntext %q\ngot  %q\nwant %q", round, text, whole, want)
		}
		if got := maskAll(t, opts, randomSplit(rng, text)...); got != want {
			t.Fatalf("round %d: random split differs\ntext %q\ngot  %q\nwant %q", round, text, got, want)
		}
		var bytewise []string
		for i := range len(text) {
			bytewise = append(bytewise, text[i:i+1])
		}
		if got := maskAll(t, opts, bytewise...); got != want {
			t.Fatalf("round %d: one byte per write differs\ntext %q\ngot  %q\nwant %q", round, text, got, want)
		}
	}
}

func TestEverySecretOneBytePerWrite(t *testing.T) {
	for _, s := range testSecrets {
		for _, f := range Forms(s) {
			in := "x" + f + "y"
			var out bytes.Buffer
			w := New(&out, Options{Secrets: testSecrets})
			for i := range len(in) {
				if n, err := w.Write([]byte{in[i]}); n != 1 || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := out.String(); strings.Contains(got, f) || !strings.HasPrefix(got, "x") || !strings.HasSuffix(got, "y") || !strings.Contains(got, DefaultReplacement) {
				t.Errorf("form %q of %q written bytewise came out as %q", f, s, got)
			}
		}
	}
}

// TestNothingWithheld checks after every write that the output is exactly
// what can no longer be part of a secret: no more, no less.
func TestNothingWithheld(t *testing.T) {
	opts := Options{Secrets: testSecrets, KeyIDs: testKeyIDs}
	ps := refPatterns(testSecrets, testKeyIDs)
	maxLen := 0
	for _, p := range ps {
		maxLen = max(maxLen, len(p.text))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 100 {
		text := testText(rng, 400)
		rec := &recorder{}
		w := New(rec, opts)
		sent := 0
		for _, c := range randomSplit(rng, text) {
			if _, err := w.Write([]byte(c)); err != nil {
				t.Fatal(err)
			}
			sent += len(c)
			want := refMask(text[:sent], ps, false)
			if got := rec.buf.String(); got != want {
				t.Fatalf("round %d after %d bytes:\ngot  %q\nwant %q", round, sent, got, want)
			}
			// A proper prefix of the longest pattern, every byte escaped,
			// and a "%" and a digit that may start one more escape.
			if held := len(w.pend); held > 3*(maxLen-1)+2 {
				t.Fatalf("holding %d bytes, more than the longest pattern minus one, escaped, and an escape's start (%d)", held, 3*(maxLen-1)+2)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, want := rec.buf.String(), refMask(text, ps, true); got != want {
			t.Fatalf("round %d after Flush:\ngot  %q\nwant %q", round, got, want)
		}
	}
}

func TestHeldBytesAppearAtFlush(t *testing.T) {
	rec := &recorder{}
	w := New(rec, Options{Secrets: []string{"SECRETVALUE"}})
	step := func(in, want string) {
		t.Helper()
		if _, err := w.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		if got := rec.buf.String(); got != want {
			t.Fatalf("after writing %q: output %q, want %q", in, got, want)
		}
	}
	step("log line ", "log line ")
	step("SEC", "log line ")          // could be the secret: held
	step("RET", "log line ")          // still could be
	step("X\n", "log line SECRETX\n") // cannot any more: all of it at once
	step("SECRETVAL", "log line SECRETX\n")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.buf.String(), "log line SECRETX\nSECRETVAL"; got != want {
		t.Fatalf("after Flush: %q, want %q", got, want)
	}
	step("SECRETVALUE", "log line SECRETX\nSECRETVAL********")
	writes := rec.writes
	if err := w.Flush(); err != nil || rec.writes != writes {
		t.Fatalf("Flush with nothing held wrote to the destination (%v)", err)
	}
}

func TestAddSecretMidStream(t *testing.T) {
	var out bytes.Buffer
	w := New(&out, Options{Secrets: []string{"tok1234"}})
	w.Write([]byte("a: tok12")) // "tok12" held: it may be tok1234
	w.AddSecret("tok12zz")      // the held bytes are checked against it too
	w.AddSecrets([]string{"newsecret", "", "tok12zz"})
	w.AddKeyID("AKIAIOSFODNN7EXAMPLE")
	w.Write([]byte("zz b: newsecret c: AKIAIOSFODNN7EXAMPLE "))
	w.Write([]byte(Forms("newsecret")[1]))
	w.Close()
	if got, want := out.String(), "a: ******** b: ******** c: ****MPLE ********"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A new secret found inside the bytes already held back.
	out.Reset()
	w = New(&out, Options{Secrets: []string{"ABCDEF"}})
	w.Write([]byte("ABCD")) // held: it may be ABCDEF
	w.AddSecret("BC")
	w.Write([]byte("x"))
	if got, want := out.String(), "A********Dx"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// A Writer created with nothing to mask starts masking once told.
	out.Reset()
	w = New(&out, Options{})
	w.Write([]byte("early early "))
	w.AddSecret("early")
	w.Write([]byte("early"))
	w.Close()
	if got, want := out.String(), "early early ********"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestConcurrentWritesAndAdds(t *testing.T) {
	var out bytes.Buffer
	w := New(&out, Options{Secrets: []string{"s3cr3t-0"}})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(w, "goroutine %d line %d: s3cr3t-0 s3cr3t-1\n", g, i)
			}
		})
	}
	wg.Go(func() { w.AddSecret("s3cr3t-1") })
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "s3cr3t-0") {
		t.Fatal("secret leaked under concurrent writes")
	}
	if n := strings.Count(got, "\n"); n != 800 {
		t.Fatalf("got %d lines, want 800", n)
	}
	// Each write is masked whole: lines do not interleave.
	for line := range strings.Lines(got) {
		if !strings.HasPrefix(line, "goroutine ") || !strings.Contains(line, ": ******** ") {
			t.Fatalf("mangled line %q", line)
		}
	}
}

func TestCloseAndErrors(t *testing.T) {
	var out bytes.Buffer
	w := New(&out, Options{Secrets: []string{"abc"}})
	w.Write([]byte("xab"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "xab" {
		t.Fatalf("Close did not flush: %q", out.String())
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}

	// Close does not close the destination.
	dst := &closeRecorder{}
	w = New(dst, Options{})
	w.Close()
	if dst.closed {
		t.Fatal("Close closed the destination")
	}

	// A destination error sticks.
	boom := errors.New("pipe gone")
	for _, opts := range []Options{{}, {Secrets: []string{"abc"}}} {
		w = New(failWriter{boom}, opts)
		if n, err := w.Write([]byte("hello")); !errors.Is(err, boom) || n == 5 {
			t.Fatalf("Write to a failing destination = %d, %v", n, err)
		}
		if _, err := w.Write([]byte("again")); !errors.Is(err, boom) {
			t.Fatalf("second Write: %v, want the first error", err)
		}
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush: %v, want the first error", err)
		}
	}
	// A short write without an error is an error.
	w = New(shortWriter{}, Options{Secrets: []string{"abc"}})
	if _, err := w.Write([]byte("hello")); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("short write: %v", err)
	}
}

type closeRecorder struct{ closed bool }

func (c *closeRecorder) Write(p []byte) (int, error) { return len(p), nil }
func (c *closeRecorder) Close() error                { c.closed = true; return nil }

type failWriter struct{ err error }

func (f failWriter) Write(p []byte) (int, error) { return 0, f.err }

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestLargeWrite(t *testing.T) {
	// Bigger than a chunk, with a secret across the chunk boundary.
	secret := "BOUNDARY-SECRET"
	in := strings.Repeat("x", chunkSize-5) + secret + strings.Repeat("y", chunkSize)
	got := maskAll(t, Options{Secrets: []string{secret}}, in)
	want := strings.Repeat("x", chunkSize-5) + DefaultReplacement + strings.Repeat("y", chunkSize)
	if got != want {
		t.Fatal("secret across a chunk boundary not masked")
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	w := New(io.Discard, Options{Secrets: testSecrets, KeyIDs: testKeyIDs})
	line := []byte("2026-01-02T15:04:05Z INFO uploading hunter2 to s3://bucket/key wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY AKIA\n")
	w.Write(line) // warm the buffers up
	if a := testing.AllocsPerRun(100, func() { w.Write(line) }); a != 0 {
		t.Errorf("Write allocated %v times per call", a)
	}
}
