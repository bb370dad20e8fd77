package taskrun

import (
	"io"
	"sync"
)

// lockedWriter serialises writes from a task's stdout and stderr to one
// destination.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// prefixWriter starts every line with a prefix such as "[upload] ". It
// sits after the masking filter, so a secret that spans lines is masked
// before the prefix could split it.
type prefixWriter struct {
	w       io.Writer
	prefix  []byte
	midLine bool
	buf     []byte
}

func newPrefixWriter(w io.Writer, prefix string) *prefixWriter {
	return &prefixWriter{w: w, prefix: []byte(prefix)}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if len(p.prefix) == 0 {
		return p.w.Write(b)
	}
	p.buf = p.buf[:0]
	for _, c := range b {
		if !p.midLine {
			p.buf = append(p.buf, p.prefix...)
			p.midLine = true
		}
		p.buf = append(p.buf, c)
		if c == '\n' {
			p.midLine = false
		}
	}
	if _, err := p.w.Write(p.buf); err != nil {
		return 0, err
	}
	return len(b), nil
}

// endLine finishes a last line that had no newline, so the next task's
// output starts on its own line.
func (p *prefixWriter) endLine() {
	if p.midLine {
		p.w.Write([]byte{'\n'})
		p.midLine = false
	}
}
