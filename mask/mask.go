// Package mask hides secrets in a stream of task output.
//
// A [Writer] sits between a task's stdout or stderr and the log. Every
// occurrence of a secret value, and of its usual encodings (see [Forms]),
// becomes a replacement ("********" unless set otherwise). Every occurrence
// of an access key ID becomes its masked form, such as "****WXYZ", from
// credbroker.MaskKeyID: key IDs are not secret, but logs show them masked
// only.
//
// # Streaming
//
// A secret may arrive split over many writes, down to one byte per write,
// and is masked all the same. To do so a Writer holds back the longest
// tail of the output that could still be the start of a secret, and passes
// on everything before it during the same Write call. Output is thus held
// back only while it may belong to a secret, and never by more than the
// length of the longest secret (in its longest encoding) minus one byte.
// Flush and Close write the bytes held back; a secret that a Flush cuts in
// two is not masked, so flush at the end of a task, not in the middle.
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
// patterns: about 30 bytes of memory per byte of pattern, and every secret
// makes up to seven patterns. A secret of a few KiB is cheap; one of 1 MiB
// costs about 140 MB. Add secrets in batches (AddSecrets) where possible.
//
// A secret of one or two characters masks every occurrence of them; the
// caller decides whether such values are worth masking.
package mask

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"

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

// Forms returns the strings under which secret is masked: the value itself
// and its base64 encodings (standard and URL alphabets, with and without
// padding) and its URL query and path escapes, without duplicates. It
// returns nil for an empty secret.
func Forms(secret string) []string {
	if secret == "" {
		return nil
	}
	b := []byte(secret)
	all := []string{
		secret,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		url.QueryEscape(secret),
		url.PathEscape(secret),
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
			if _, dup := index[f]; !dup {
				index[f] = len(pats)
				pats = append(pats, pattern{text: f, repl: w.repl})
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
	w.scanned, w.state, w.cs = 0, 0, -1
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
// The automaton's state tells, at each byte, the longest match ending
// there and how long a tail of the text can still grow into a pattern
// (live). A match is taken once no pattern that starts at or before its
// start is still growing: then no match further left, and no longer match
// at its start, can appear. After a match, scanning restarts just after
// it, so that matches never overlap.
func (w *Writer) scan(final bool) {
	a, pend, out := w.a, w.pend, w.out
	i, u := w.scanned, w.state
	cs, ce, cp := w.cs, w.ce, w.cp
	base := 0 // pend[:base] has been decided and is in out
	for {
		for i < len(pend) {
			u = a.next(u, pend[i])
			i++
			nd := &a.nodes[u]
			if nd.out >= 0 {
				s := i - int(a.plen[nd.out])
				if cs < 0 || s < cs || (s == cs && i > ce) {
					cs, ce, cp = s, i, nd.out
				}
			}
			if cs >= 0 && i-int(nd.live) > cs {
				out = append(out, pend[base:cs]...)
				out = append(out, a.pats[cp].repl...)
				base, i, u, cs = ce, ce, 0, -1
			}
		}
		if !final || cs < 0 {
			break
		}
		// At the end no pattern can grow further: take the match found.
		out = append(out, pend[base:cs]...)
		out = append(out, a.pats[cp].repl...)
		base, i, u, cs = ce, ce, 0, -1
	}
	keep := 0
	if !final {
		keep = int(a.nodes[u].live)
	} else {
		u = 0
	}
	cut := len(pend) - keep
	out = append(out, pend[base:cut]...)
	n := copy(pend, pend[cut:])
	if cs >= 0 {
		cs, ce = cs-cut, ce-cut
	}
	w.pend, w.out = pend[:n], out
	w.scanned, w.state = n, u
	w.cs, w.ce, w.cp = cs, ce, cp
}
