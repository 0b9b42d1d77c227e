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
	ac   *automaton // nil when no pattern is long enough to mask

	mu    sync.Mutex
	state int32 // automaton state after the bytes fed so far
	// pending is the held tail: the string of state, a proper prefix of a
	// pattern, at most ac.maxLen-1 bytes.
	pending []byte
	// mStart, mLen: the leftmost-longest whole match found and not yet
	// decidable (a longer match may still start at or before it), as an
	// offset into pending; mLen is 0 when there is none.
	mStart, mLen int
	scratch      []byte // pending + the head of a write
	obuf         []byte // output of the current call, when a match was replaced
	timer        *time.Timer
	deadline     time.Time
	err          error
	closed       bool
}

// NewWriter returns a Writer that masks patterns on their way to w.
// Patterns shorter than MinLen are ignored. Bytes held back as a possible
// partial match are passed on, unmasked, when no write arrives within hold;
// with hold <= 0 only the next Write, Flush or Close decides them.
func NewWriter(w io.Writer, patterns [][]byte, hold time.Duration) *Writer {
	var use [][]byte
	for _, p := range patterns {
		if len(p) >= MinLen {
			use = append(use, p)
		}
	}
	m := &Writer{w: w, hold: hold}
	if len(use) > 0 {
		m.ac = newAutomaton(use)
	}
	return m
}

// Sibling returns a Writer to w that masks the same patterns with the same
// hold, sharing the matcher (a task's stdout and stderr mask the same values).
func (m *Writer) Sibling(w io.Writer) *Writer {
	return &Writer{w: w, hold: m.hold, ac: m.ac}
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
	if m.ac == nil {
		m.send(p)
		if m.err != nil {
			return 0, m.err
		}
		return len(p), nil
	}

	a := m.ac
	m.obuf = m.obuf[:0]
	buf, emit, from := p, 0, 0
	if pl := len(m.pending); pl > 0 {
		// The held tail and the head of p must be scanned as one string,
		// but a match that starts in the tail ends within maxLen bytes of
		// p, so only that much of p is copied.
		k := min(len(p), a.maxLen)
		m.scratch = append(append(m.scratch[:0], m.pending...), p[:k]...)
		e := m.run(m.scratch, 0, pl)
		if k == len(p) {
			buf, emit, from = m.scratch, e, len(m.scratch)
		} else {
			// What is still held is shorter than k, so lies within p.
			h := len(m.scratch) - int(a.depth[m.state])
			m.obuf = append(m.obuf, m.scratch[e:h]...)
			emit, from = h-pl, k
			m.mStart -= pl
		}
	}
	emit = m.run(buf, emit, from)
	h := len(buf) - int(a.depth[m.state])
	if len(m.obuf) > 0 {
		m.obuf = append(m.obuf, buf[emit:h]...)
		m.send(m.obuf)
	} else {
		m.send(buf[emit:h])
	}
	m.pending = append(m.pending[:0], buf[h:]...)
	m.mStart -= h
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
	m.obuf = m.obuf[:0]
	buf, emit := m.pending, 0
	for m.mLen > 0 {
		// At the end of the stream no longer match can start at or before
		// the one found, so it is decided; then scan on after it.
		m.obuf = append(m.obuf, buf[emit:m.mStart]...)
		m.obuf = append(m.obuf, Redacted...)
		emit = m.mStart + m.mLen
		m.state, m.mLen = 0, 0
		emit = m.run(buf, emit, emit)
	}
	m.obuf = append(m.obuf, buf[emit:]...)
	m.send(m.obuf)
	clear(m.pending)
	m.pending = m.pending[:0]
	m.state, m.mLen = 0, 0
	m.trim()
}

// run feeds buf[from:] to the automaton; buf[emit:from] was fed before and
// not yet passed on. Every match that becomes decidable is replaced: the
// bytes before it and Redacted are appended to m.obuf, and scanning resumes
// after it. run returns the new emit offset; buf[emit:] is then either free
// to pass on or held, as the depth of the final state tells.
func (m *Writer) run(buf []byte, emit, from int) int {
	a := m.ac
	s, ms, ml := m.state, m.mStart, m.mLen
	i := from
	for i < len(buf) {
		if s == 0 && ml == 0 {
			// Plain text: stay in the root's dense table.
			for {
				s = a.root[buf[i]]
				i++
				if s != 0 || i == len(buf) {
					break
				}
			}
		} else {
			s = a.next(s, buf[i])
			i++
		}
		if o := int(a.out[s]); o > 0 {
			if st := i - o; ml == 0 || st < ms {
				ms, ml = st, o
			} else if st == ms && o > ml {
				ml = o
			}
		}
		if ml == 0 {
			continue
		}
		// The match at ms is decided once no longer one can start at or
		// before it: the live candidate (the state's string) starts after
		// it, or is itself that match and cannot grow.
		if sc := i - int(a.depth[s]); ms < sc || (ms == sc && a.leaf(s)) {
			m.obuf = append(m.obuf, buf[emit:ms]...)
			m.obuf = append(m.obuf, Redacted...)
			emit = ms + ml
			i = emit
			s, ml = 0, 0
		}
	}
	m.state, m.mStart, m.mLen = s, ms, ml
	return emit
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
	if cap(m.scratch) > keep+2*m.ac.maxLen {
		m.scratch = nil
	}
	clear(m.scratch)
	m.scratch = m.scratch[:0]
}
