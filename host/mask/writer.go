package mask

import (
	"errors"
	"io"
	"sync"
	"time"
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("mask: write after close")

// Writer masks patterns in what is written to it before passing it on. It
// is safe for concurrent use; concurrent writes are masked as one stream,
// in the order they take the lock.
type Writer struct {
	w    io.Writer
	hold time.Duration
	m    *matcher // nil when no pattern is long enough to mask

	mu sync.Mutex
	// pending is the held tail: the output from the first position that
	// could not be decided, a proper prefix of a pattern, at most
	// m.maxLen-1 bytes.
	pending  []byte
	scratch  []byte // pending + a write
	obuf     []byte // output of the current call, when a match was replaced
	replaced bool   // obuf is in use
	timer    *time.Timer
	deadline time.Time
	err      error
	closed   bool
}

// NewWriter returns a Writer that masks patterns on their way to w.
// Patterns shorter than MinLen are ignored. Bytes held back as a possible
// partial match are passed on, unmasked, when no write arrives within hold;
// with hold <= 0 only the next Write, Flush or Close decides them.
func NewWriter(w io.Writer, patterns [][]byte, hold time.Duration) *Writer {
	return &Writer{w: w, hold: hold, m: newMatcher(patterns)}
}

// Sibling returns a Writer to w that masks the same patterns with the same
// hold, sharing the matcher (a task's stdout and stderr mask the same values).
func (m *Writer) Sibling(w io.Writer) *Writer {
	return &Writer{w: w, hold: m.hold, m: m.m}
}

// String describes the Writer without its contents, so that formatting one
// by mistake cannot print a pattern or a held prefix.
func (m *Writer) String() string { return "mask.Writer" }

// GoString is String, for %#v.
func (m *Writer) GoString() string { return "mask.Writer" }

// Write masks p and passes on everything that can no longer be part of a
// match, in one write to the underlying writer when there is anything to
// pass on. It reports len(p) consumed, although the number of bytes written
// on differs when a match is replaced or a tail is held.
func (m *Writer) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.closed {
		return 0, ErrClosed
	}
	if m.m == nil {
		m.send(p)
		if m.err != nil {
			return 0, m.err
		}
		return len(p), nil
	}

	buf := p
	if len(m.pending) > 0 {
		m.scratch = append(append(m.scratch[:0], m.pending...), p...)
		buf = m.scratch
	}
	emit, h := m.scan(buf, false)
	m.out(buf, emit, h)
	m.pending = append(m.pending[:0], buf[h:]...)
	m.trim()

	if len(m.pending) > 0 && m.hold > 0 && m.err == nil {
		m.deadline = time.Now().Add(m.hold)
		if m.timer == nil {
			m.timer = time.AfterFunc(m.hold, m.expire)
		} else {
			m.timer.Reset(m.hold)
		}
	} else if m.timer != nil {
		m.timer.Stop()
	}
	if m.err != nil {
		return 0, m.err
	}
	return len(p), nil
}

// Flush passes on everything held back, masking any whole match in it.
func (m *Writer) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.flush()
	return m.err
}

// Close flushes and stops the hold timer. Later writes fail with ErrClosed.
func (m *Writer) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.flush()
	return m.err
}

// expire runs on the hold timer.
func (m *Writer) expire() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || len(m.pending) == 0 {
		return
	}
	// A write may have re-armed the timer while this call waited for the
	// lock; then it is not yet time.
	if d := time.Until(m.deadline); d > 0 {
		m.timer.Reset(d)
		return
	}
	m.flush()
}

// flush ends the stream so far: every remaining match is replaced and the
// rest of the held tail passed on.
func (m *Writer) flush() {
	if m.timer != nil {
		m.timer.Stop()
	}
	if len(m.pending) == 0 {
		return
	}
	emit, h := m.scan(m.pending, true)
	m.out(m.pending, emit, h)
	clear(m.pending)
	m.pending = m.pending[:0]
	m.trim()
}

// scan decides the positions of buf, which starts at the first undecided
// one, from left to right: a position that begins a pattern is replaced
// with the longest such pattern, and scanning resumes after it; one that
// does not is passed on. Unless final, scan stops at the first position
// whose rest of buf is a proper prefix of a pattern and returns it as h:
// buf[h:] is to be held. Replacements go to m.obuf, with the bytes before
// them; buf[emit:h] is the rest to pass on.
func (m *Writer) scan(buf []byte, final bool) (emit, h int) {
	mt := m.m
	m.obuf, m.replaced = m.obuf[:0], false
	i, n := 0, len(buf)
	for i < n {
		// Ordinary output: one filter probe per byte.
		if i = mt.skip(buf, i); i == n {
			break
		}
		l, hold := mt.at(buf[i:], final)
		if hold {
			return emit, i
		}
		if l == 0 {
			i++
			continue
		}
		m.obuf = append(m.obuf, buf[emit:i]...)
		m.obuf = append(m.obuf, Redacted...)
		m.replaced = true
		i += l
		emit = i
	}
	return emit, n
}

// out passes on what scan decided: m.obuf, if anything was replaced, and
// buf[emit:h].
func (m *Writer) out(buf []byte, emit, h int) {
	if m.replaced {
		m.obuf = append(m.obuf, buf[emit:h]...)
		m.send(m.obuf)
		return
	}
	m.send(buf[:h])
}

// send passes b on, recording the first error.
func (m *Writer) send(b []byte) {
	if len(b) == 0 || m.err != nil {
		return
	}
	n, err := m.w.Write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	m.err = err
}

// trim drops buffers grown by a large write, wiping what they held.
func (m *Writer) trim() {
	const keep = 64 << 10
	if cap(m.obuf) > keep {
		m.obuf = nil
	}
	if cap(m.scratch) > keep+2*m.m.maxLen {
		m.scratch = nil
	}
	clear(m.scratch)
	m.scratch = m.scratch[:0]
}
