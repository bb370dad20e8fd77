// Package mask hides secrets in a stream of task output.
//
// A [Writer] sits between a task's stdout or stderr and the log. Every
// occurrence of a secret value, and of its usual encodings (see [Forms]:
// base64, wrapped or not, and JSON escapes), becomes a replacement
// ("********" unless set otherwise). The text is read with its %XX escapes
// decoded (either case), so every URL encoding of those is masked too,
// whatever the encoder escapes: Go's, Python's quote and quote_plus,
// JavaScript's encodeURIComponent, curl --data-urlencode, every byte
// escaped. Every occurrence of an access key ID becomes its masked form,
// such as "****WXYZ", from credbroker.MaskKeyID: key IDs are not secret,
// but logs show them masked only.
//
// Not masked: other encodings (hex, reversed, compressed, a URL encoding
// of a URL encoding), a secret split by other bytes, or one whose end or
// start is fused into an escape by the text around it ("%4" right before a
// form that begins with a hex digit is read as the escape it may be, and
// the form from its second byte on; the escape's own digits are tried as
// the form's start too, so only a secret that ends with "%" or "%X" and
// runs into hex digits is missed).
//
// # Streaming
//
// A secret may arrive split over many writes, down to one byte per write,
// and is masked all the same. To do so a Writer holds back the longest
// tail of the output that could still be the start of a secret (and a
// "%" and one digit that may start an escape), and passes on everything
// before it during the same Write call. Output is thus held back only
// while it may belong to a secret, and never by more than the length of
// the longest secret in its longest encoding (every byte escaped) minus
// one byte, plus two. Flush and Close write the bytes held back; a secret
// that a Flush cuts in two is not masked, so flush at the end of a task,
// not in the middle.
//
// Where occurrences overlap, the leftmost wins, and among those starting at
// the same byte the longest. The output is the same however the input is
// split into writes.
//
// Secrets can be added while output flows (AddSecret, AddSecrets,
// AddKeyID), as when a task writes a secret runtime variable: the bytes
// still held back are checked against the new secret too, but output
// already passed on is not.
//
// # Cost
//
// Matching uses an Aho-Corasick automaton over all patterns, so its cost
// per byte hardly grows with the number of secrets, and Write allocates
// nothing in the steady state. Building the automaton, in New and on each
// addition, takes time and memory in proportion to the total length of the
// patterns: about 30 bytes of memory per byte of pattern, and a secret
// makes about six patterns (up to ten with spaces, JSON escapes and a
// length that base64 wraps). A secret of a few KiB is cheap; one of 1 MiB
// costs well over 100 MB. Add secrets in batches (AddSecrets) where possible.
// Escapes cost a little more per byte than other text; a text without "%"
// runs as fast as before they were decoded.
//
// A secret of one or two characters masks every occurrence of them; the
// caller decides whether such values are worth masking.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/credbroker/credbroker"
)

// DefaultReplacement replaces a secret when Options.Replacement is empty.
const DefaultReplacement = "********"

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mask: write after close")

// chunkSize bounds how much of one Write is scanned before its output is
// passed on, so that the buffers stay small whatever the size of p.
const chunkSize = 64 << 10

// Options configures a Writer.
type Options struct {
	// Secrets are the values to mask, each with its encoded forms. Empty
	// values are ignored.
	Secrets []string
	// KeyIDs are access key IDs to show masked by credbroker.MaskKeyID.
	KeyIDs []string
	// Replacement replaces each secret; DefaultReplacement when empty.
	Replacement string
}

// Writer masks secrets in what is written to it and writes the result to
// its destination. It is safe for concurrent use; concurrent writes are
// masked one after the other, each as a whole.
type Writer struct {
	mu   sync.Mutex
	dst  io.Writer
	repl []byte

	secrets []string // in the order added, no duplicates
	keyIDs  []string
	known   map[string]bool // secrets and key IDs added, by value

	a *automaton // nil while there is nothing to mask

	// pend holds the bytes received and not yet passed on; the automaton
	// has read pend[:scanned] and is in state. A match found in pend at
	// [cs, ce) of pattern cp waits for a longer one at the same start;
	// cs < 0 when there is none.
	pend    []byte
	scanned int
	state   int32
	cs, ce  int
	cp      int32
	esc     []int        // raw positions in pend of the escapes read, see scan
	side    []sideThread // the side threads of escapes, see scan

	out    []byte // output of one chunk, reused
	err    error  // sticky error of dst
	closed bool
}

// New returns a Writer that writes to dst what is written to it, with the
// secrets and key IDs of opts masked.
func New(dst io.Writer, opts Options) *Writer {
	w := &Writer{
		dst:   dst,
		repl:  []byte(opts.Replacement),
		known: make(map[string]bool),
		cs:    -1,
	}
	if len(w.repl) == 0 {
		w.repl = []byte(DefaultReplacement)
	}
	for _, s := range opts.Secrets {
		w.addSecret(s)
	}
	for _, id := range opts.KeyIDs {
		w.addKeyID(id)
	}
	w.rebuild()
	return w
}

// Forms returns the strings under which secret is written, without
// duplicates: the value itself; its base64 encodings (standard and URL
// alphabets, with and without padding, and standard wrapped at 76 columns
// as GNU base64 writes it and at 64 as openssl does); its URL query and
// path escapes; and its JSON string escapes (with "/" written as "\/", as
// PHP and some others write it, and as encoding/json writes it). It returns
// nil for an empty secret.
//
// A Writer masks more than these: it reads %XX escapes in upper or lower
// case wherever they are, so every URL encoding of a form is masked, such
// as Python's quote (which keeps "/") and quote_plus, JavaScript's
// encodeURIComponent, curl --data-urlencode, or every byte escaped.
func Forms(secret string) []string {
	if secret == "" {
		return nil
	}
	b := []byte(secret)
	std := base64.StdEncoding.EncodeToString(b)
	all := []string{
		secret,
		std,
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(secret),
		url.PathEscape(secret),
		wrap(std, 76),
		wrap(std, 64),
		jsonEscape(secret, true),
		jsonEscape(secret, false),
		jsonASCII(secret),
	}
	out := all[:0]
	for _, f := range all {
		dup := false
		for _, g := range out {
			if f == g {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, f)
		}
	}
	return out
}

// String returns s with secrets, and their forms, masked as a Writer
// masks them: for a message that is not part of a stream.
func String(s string, secrets ...string) string {
	var b bytes.Buffer
	w := New(&b, Options{Secrets: secrets})
	_, _ = w.Write([]byte(s)) // a bytes.Buffer does not fail
	_ = w.Close()
	return b.String()
}

// wrap breaks s into lines of n characters, as base64 -w N writes it
// (without the final newline).
func wrap(s string, n int) string {
	if len(s) <= n {
		return s
	}
	var b strings.Builder
	for len(s) > n {
		b.WriteString(s[:n])
		b.WriteByte('\n')
		s = s[n:]
	}
	b.WriteString(s)
	return b.String()
}

// jsonEscape is s as it appears inside a JSON string written by
// encoding/json (which escapes <, > and & too), or, with slash, by
// encoders that also write "/" as "\/".
func jsonEscape(s string, slash bool) string {
	out := s
	if !jsonPlain(s) {
		q, _ := json.Marshal(s) // a string always encodes
		out = string(q[1 : len(q)-1])
	}
	if slash {
		out = strings.ReplaceAll(out, "/", `\/`)
	}
	return out
}

// jsonPlain reports whether s is printable ASCII that JSON encoders write
// as it is (no quote, backslash or HTML character).
func jsonPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// jsonASCII is s inside a JSON string written with every character
// outside ASCII escaped, as Python's json.dumps does by default
// (lower-case \uXXXX, UTF-16 surrogate pairs above U+FFFF).
func jsonASCII(s string) string {
	if jsonPlain(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r < 0x80:
			b.WriteRune(r)
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

// patterns returns what the automaton looks for to find f, a form of a
// secret, in text it reads with %XX escapes decoded (see scan): f decoded
// the same way, and with quote_plus's "+" for a space when f has spaces.
func patterns(f string) []string {
	d := decodeEscapes(f)
	if strings.Contains(d, " ") {
		return []string{d, strings.ReplaceAll(d, " ", "+")}
	}
	return []string{d}
}

// decodeEscapes decodes every %XX escape of s (X a hex digit, either
// case), left to right, as scan reads text.
func decodeEscapes(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// AddSecret adds a secret to mask from now on, with its encoded forms. It
// may be called concurrently with Write; an empty or known value is
// ignored.
func (w *Writer) AddSecret(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addSecret(s) {
		w.rebuild()
	}
}

// AddSecrets adds several secrets at once, as AddSecret does, rebuilding
// the matcher once rather than once per secret.
func (w *Writer) AddSecrets(ss []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	added := false
	for _, s := range ss {
		added = w.addSecret(s) || added
	}
	if added {
		w.rebuild()
	}
}

// AddKeyID adds an access key ID to show masked from now on. It may be
// called concurrently with Write; an empty or known ID is ignored.
func (w *Writer) AddKeyID(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addKeyID(id) {
		w.rebuild()
	}
}

func (w *Writer) addSecret(s string) bool {
	if s == "" || w.known["s"+s] {
		return false
	}
	w.known["s"+s] = true
	w.secrets = append(w.secrets, s)
	return true
}

func (w *Writer) addKeyID(id string) bool {
	if id == "" || w.known["k"+id] {
		return false
	}
	w.known["k"+id] = true
	w.keyIDs = append(w.keyIDs, id)
	return true
}

// rebuild makes the automaton for the current secrets and key IDs, and
// has the bytes held back read again by it.
func (w *Writer) rebuild() {
	index := make(map[string]int)
	var pats []pattern
	for _, s := range w.secrets {
		for _, f := range Forms(s) {
			for _, p := range patterns(f) {
				if _, dup := index[p]; !dup {
					index[p] = len(pats)
					pats = append(pats, pattern{text: p, repl: w.repl})
				}
			}
		}
	}
	for _, id := range w.keyIDs {
		if _, dup := index[id]; !dup { // a secret's form keeps the full mask
			index[id] = len(pats)
			pats = append(pats, pattern{text: id, repl: []byte(credbroker.MaskKeyID(id))})
		}
	}
	if len(pats) == 0 {
		w.a = nil
		return
	}
	w.a = buildAutomaton(pats)
	w.scanned, w.state, w.cs, w.esc, w.side = 0, 0, -1, w.esc[:0], w.side[:0]
}

// Write masks p and writes out everything that can no longer be part of a
// secret. It returns len(p) when all of p was accepted. After an error
// from the destination, every call returns that error.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	if w.closed {
		return 0, ErrClosed
	}
	if w.a == nil { // nothing to mask, and so nothing held back
		n, err := w.dst.Write(p)
		if err == nil && n < len(p) {
			err = io.ErrShortWrite
		}
		if err != nil {
			w.err = fmt.Errorf("masked output: %w", err)
			return n, w.err
		}
		return n, nil
	}
	done := 0
	for done < len(p) {
		c := p[done:min(len(p), done+chunkSize)]
		w.pend = append(w.pend, c...)
		w.scan(false)
		if err := w.writeOut(); err != nil {
			return done, err
		}
		done += len(c)
	}
	return done, nil
}

// Flush writes the bytes held back, masking the secrets among them as if
// the output ended here.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flush()
}

func (w *Writer) flush() error {
	if w.err != nil {
		return w.err
	}
	if w.a == nil {
		return nil
	}
	w.scan(true)
	return w.writeOut()
}

// Close flushes the Writer; later writes fail with ErrClosed. It does not
// close the destination. Closing twice is harmless.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	return w.flush()
}

// writeOut writes w.out to the destination.
func (w *Writer) writeOut() error {
	if len(w.out) == 0 {
		return nil
	}
	n, err := w.dst.Write(w.out)
	if err == nil && n < len(w.out) {
		err = io.ErrShortWrite
	}
	w.out = w.out[:0]
	if err != nil {
		w.err = fmt.Errorf("masked output: %w", err)
		return w.err
	}
	return nil
}

// scan runs the automaton over the unread part of w.pend, puts into w.out
// the output that is decided, and keeps in w.pend what is not. When final,
// everything is decided: the input is taken to end here.
//
// The automaton reads the text with every %XX escape (X a hex digit,
// either case) decoded to the byte it stands for, and its patterns are
// decoded the same way (see patterns), so that every URL encoding of a
// form matches, whichever characters it escapes. A "%" with fewer than two
// bytes after it waits for more input, unless final. Because a form may
// also start on the hex digits of what reads as an escape ("%2" followed
// by a form that starts with "d"), each escape also starts a side thread
// that reads its two digits as they are, and the text after them decoded
// as the main thread does; it ends once it no longer reaches back into
// those digits, where it would only repeat the main thread. So every
// position of the text starts a candidate match, read from there with its
// escapes decoded.
//
// The state of a thread tells, at each byte, the longest match ending
// there and how long a tail of the text can still grow into a pattern
// (live). A match is taken once no thread has a pattern that starts at or
// before its start still growing: then no match further left, and no
// longer match at its start, can appear. After a match, scanning restarts
// just after it, so that matches never overlap. Lengths are in decoded
// bytes; rawBack turns them into positions in pend, from the positions of
// the escapes read (w.esc).
func (w *Writer) scan(final bool) {
	a, pend, out, esc, side := w.a, w.pend, w.out, w.esc, w.side
	i, u := w.scanned, w.state
	cs, ce, cp := w.cs, w.ce, w.cp
	base := 0 // pend[:base] has been decided and is in out
	// A match of pattern k from start to end (raw) is kept when it is the
	// leftmost and, at the same start, the longest: better says so. (Not a
	// closure over cs and ce, which would keep them out of registers in
	// the loop.)
	for {
		for i < len(pend) {
			if cs < 0 && len(side) == 0 {
				// The common case: nothing pending, no escape near. Step
				// up to the next "%", and leave a byte that completes a
				// match to the full step below.
				end := len(pend)
				if k := bytes.IndexByte(pend[i:], '%'); k >= 0 {
					end = i + k
				}
				for i < end {
					v := a.next(u, pend[i])
					if a.nodes[v].out >= 0 {
						break
					}
					u = v
					i++
				}
				if i == len(pend) {
					break
				}
			}
			c := pend[i]
			if c == '%' {
				switch {
				case i+2 < len(pend) && isHex(pend[i+1]) && isHex(pend[i+2]):
					c = unhex(pend[i+1])<<4 | unhex(pend[i+2])
					esc = append(esc, i)
					// The side thread of this escape reads its digits as
					// they are.
					t := sideThread{after: i + 3}
					for j := i + 1; j < i+3; j++ {
						t.u = a.next(t.u, pend[j])
						if k := a.nodes[t.u].out; k >= 0 {
							if s := j + 1 - int(a.plen[k]); better(cs, ce, s, j+1) {
								cs, ce, cp = s, j+1, k
							}
						}
					}
					side = append(side, t)
					i += 2
				case !final && (i+1 == len(pend) || i+2 == len(pend) && isHex(pend[i+1])):
					// Perhaps an escape: wait for the rest of it.
					goto stop
				}
			}
			u = a.next(u, c)
			i++
			nd := &a.nodes[u]
			if nd.out >= 0 {
				if s := rawBack(esc, 0, i, int(a.plen[nd.out])); better(cs, ce, s, i) {
					cs, ce, cp = s, i, nd.out
				}
			}
			sideGrowing := len(pend) // where the side threads' live tails start
			if len(side) > 0 {
				// Advance the side threads (the newest just made its
				// digits) and drop those that no longer reach into them.
				keep := side[:0]
				for _, t := range side {
					if t.after < i {
						t.u = a.next(t.u, c)
						if k := a.nodes[t.u].out; k >= 0 {
							if s := rawBack(esc, t.after, i, int(a.plen[k])); better(cs, ce, s, i) {
								cs, ce, cp = s, i, k
							}
						}
					}
					from := rawBack(esc, t.after, i, int(a.nodes[t.u].live))
					if from < t.after {
						keep = append(keep, t)
						sideGrowing = min(sideGrowing, from)
					}
				}
				side = keep
			}
			if cs >= 0 && min(rawBack(esc, 0, i, int(nd.live)), sideGrowing) > cs {
				out = append(out, pend[base:cs]...)
				out = append(out, a.pats[cp].repl...)
				base, i, u, cs = ce, ce, 0, -1
				esc, side = esc[:0], side[:0]
			}
		}
	stop:
		if !final || cs < 0 {
			break
		}
		// At the end no pattern can grow further: take the match found.
		out = append(out, pend[base:cs]...)
		out = append(out, a.pats[cp].repl...)
		base, i, u, cs = ce, ce, 0, -1
		esc, side = esc[:0], side[:0]
	}
	// Everything before the tails that may still grow into a match, and
	// the bytes not read, is decided.
	cut := len(pend)
	if !final {
		cut = rawBack(esc, 0, i, int(a.nodes[u].live))
		for _, t := range side {
			cut = min(cut, rawBack(esc, t.after, i, int(a.nodes[t.u].live)))
		}
	} else {
		u, side = 0, side[:0]
	}
	cut = max(cut, base)
	out = append(out, pend[base:cut]...)
	n := copy(pend, pend[cut:])
	if cs >= 0 {
		cs, ce = cs-cut, ce-cut
	}
	// Keep the escapes and side threads of the tail, moved with it.
	k := 0
	for _, e := range esc {
		if e >= cut {
			esc[k] = e - cut
			k++
		}
	}
	for j := range side {
		side[j].after -= cut
	}
	w.pend, w.out, w.esc, w.side = pend[:n], out, esc[:k], side
	w.scanned, w.state = i-cut, u
	w.cs, w.ce, w.cp = cs, ce, cp
}

// better reports whether a match from start to end is to be kept over
// the one from cs to ce (none when cs < 0): it starts further left, or at
// the same place and ends later.
func better(cs, ce, start, end int) bool {
	return cs < 0 || start < cs || (start == cs && end > ce)
}

// sideThread is the automaton reading the text from the hex digits of an
// escape as they are: its state, and the raw position after the escape,
// from where it reads the text decoded.
type sideThread struct {
	u     int32
	after int
}

// rawBack returns the raw position in pend of the byte that a thread read
// n decoded bytes before raw position i, given the raw positions of the
// escapes read (each three raw bytes for one decoded byte) of which it
// decoded those at or after from.
func rawBack(esc []int, from, i, n int) int {
	r := i - n
	for j := len(esc) - 1; j >= 0 && esc[j] >= from && esc[j]+3 > r; j-- {
		r -= 2
	}
	return r
}
