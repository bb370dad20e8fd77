package cli

import (
	"bytes"
	"io"
	"sync"

	"github.com/credbroker/credbroker/mask"
	"github.com/credbroker/credbroker/vars"
)

// hider masks the secrets this run of credbroker knows (secret variables,
// runtime ones included, and tokens) in credbroker's own messages: the
// errors a command ends with, its warnings and its log lines, with the
// masking of task output. exec and run register what they load; a message
// from a broker that repeats a value it was sent (an older broker's "no
// connector ..." did) is masked too.
type hider struct {
	mu     sync.Mutex
	values []string
	sets   []*vars.Set
	buf    bytes.Buffer
	mw     *mask.Writer
	known  int // secrets the mask had when last brought up to date
}

// add registers secret values; empty ones are ignored.
func (h *hider) add(vals ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range vals {
		if v != "" {
			h.values = append(h.values, v)
		}
	}
}

// addVars registers a variable set: its secret values at the time each
// message is masked, those set later included.
func (h *hider) addVars(vs *vars.Set) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sets = append(h.sets, vs)
}

// text returns s with every registered secret masked.
func (h *hider) text(s string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	secrets := append([]string(nil), h.values...)
	for _, vs := range h.sets {
		secrets = append(secrets, vs.Secrets()...)
	}
	if len(secrets) == 0 {
		return s
	}
	if h.mw == nil {
		h.mw = mask.New(&h.buf, mask.Options{})
	}
	if len(secrets) != h.known {
		h.mw.AddSecrets(secrets)
		h.known = len(secrets)
	}
	h.buf.Reset()
	h.mw.Write([]byte(s))
	h.mw.Flush()
	return h.buf.String()
}

// writer returns w with each write masked as a whole: for a log handler,
// which writes one record per call.
func (h *hider) writer(w io.Writer) io.Writer { return hiddenWriter{h, w} }

type hiddenWriter struct {
	h *hider
	w io.Writer
}

// Write masks p and writes it.
func (hw hiddenWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(hw.w, hw.h.text(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
