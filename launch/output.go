package launch

import (
	"bytes"
	"io"
	"sync"
)

// maxLine bounds how much of an unterminated line is held back; longer
// lines are cut into pieces of this size, each with its own prefix.
const maxLine = 64 << 10

// syncWriter serialises whole writes to w, so that lines from different
// workers never mix.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// prefixWriter writes every complete line it receives as one write of
// prefix+line to out. Partial lines wait for the rest (up to maxLine).
type prefixWriter struct {
	prefix []byte
	out    io.Writer
	buf    []byte // pending partial line
	line   []byte // scratch: prefix + line
}

func newPrefixWriter(prefix string, out io.Writer) *prefixWriter {
	return &prefixWriter{prefix: []byte(prefix), out: out}
}

// Write never fails: output to a closed terminal must not kill a worker.
func (w *prefixWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= maxLine {
				w.emit(w.buf[:maxLine])
				w.buf = append(w.buf[:0], w.buf[maxLine:]...)
			}
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.emit(w.buf)
			w.buf = w.buf[:0]
		} else {
			w.emit(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// Flush writes a pending partial line, terminated.
func (w *prefixWriter) Flush() {
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
}

func (w *prefixWriter) emit(line []byte) {
	w.line = append(append(append(w.line[:0], w.prefix...), line...), '\n')
	w.out.Write(w.line)
}
