// Package mask is flyte's leak guard: a streaming writer that replaces
// secret values in a task's output with Redacted before it reaches the
// terminal or a log.
//
// Each value is masked in the forms a program is likely to print it: as
// is, base64 (standard and URL alphabets, padded or not) and JSON-escaped.
// Matches are found across write boundaries. Output is held back only while
// its tail could still become a match, and then for at most the hold time
// given to NewWriter: a value whose first part is written, and the rest
// more than that later, can leak its first part. flyte uses 250 ms, far
// longer than the gap between two writes of one line.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"sort"
	"sync"
	"time"
)

// MinLen is the shortest value masked: shorter ones would mask ordinary text.
const MinLen = 4

// Redacted replaces every match.
const Redacted = "*****"

// Forms returns the byte strings that reveal v: v, its base64 encodings and
// its JSON-escaped form, deduplicated; none when v is shorter than MinLen.
func Forms(v []byte) [][]byte {
	if len(v) < MinLen {
		return nil
	}
	cands := [][]byte{
		v,
		[]byte(base64.StdEncoding.EncodeToString(v)),
		[]byte(base64.RawStdEncoding.EncodeToString(v)),
		[]byte(base64.URLEncoding.EncodeToString(v)),
		[]byte(base64.RawURLEncoding.EncodeToString(v)),
	}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(string(v)) == nil {
			j := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
			cands = append(cands, j[1:len(j)-1])
		}
	}
	var out [][]byte
	for _, c := range cands {
		if len(c) < MinLen {
			continue
		}
		dup := false
		for _, o := range out {
			if bytes.Equal(o, c) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// Writer masks patterns in what passes through it. It is safe for
// concurrent use.
type Writer struct {
	w     io.Writer
	hold  time.Duration
	first [256][][]byte // patterns by first byte, longest first
	max   int

	mu      sync.Mutex
	pending []byte
	timer   *time.Timer
	err     error
}

// NewWriter returns a Writer that masks patterns on their way to w. A hold
// of zero or less keeps a possible partial match until the next Write,
// Flush or Close.
func NewWriter(w io.Writer, patterns [][]byte, hold time.Duration) *Writer {
	m := &Writer{w: w, hold: hold}
	for _, p := range patterns {
		if len(p) == 0 {
			continue
		}
		m.first[p[0]] = append(m.first[p[0]], p)
		m.max = max(m.max, len(p))
	}
	for i := range m.first {
		sort.Slice(m.first[i], func(a, b int) bool { return len(m.first[i][a]) > len(m.first[i][b]) })
	}
	return m
}

// Write masks p and passes on everything that can no longer be part of a
// match. It reports len(p) consumed.
func (m *Writer) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	if m.timer != nil {
		m.timer.Stop()
	}
	m.pending = append(m.pending, p...)
	m.emit(false)
	if len(m.pending) > 0 && m.hold > 0 {
		m.timer = time.AfterFunc(m.hold, func() { _ = m.Flush() })
	}
	return len(p), m.err
}

// Flush passes on everything held back.
func (m *Writer) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.emit(true)
	return m.err
}

// Close flushes and stops the hold timer.
func (m *Writer) Close() error {
	m.mu.Lock()
	if m.timer != nil {
		m.timer.Stop()
	}
	m.mu.Unlock()
	return m.Flush()
}

// emit writes out the masked pending bytes; unless final, it keeps the
// tail from the first position that is a proper prefix of a pattern.
func (m *Writer) emit(final bool) {
	buf := m.pending
	var out []byte
	start, i := 0, 0
scan:
	for i < len(buf) {
		for _, pat := range m.first[buf[i]] {
			rest := buf[i:]
			if len(rest) >= len(pat) {
				if bytes.Equal(rest[:len(pat)], pat) {
					out = append(out, buf[start:i]...)
					out = append(out, Redacted...)
					i += len(pat)
					start = i
					continue scan
				}
			} else if !final && bytes.Equal(rest, pat[:len(rest)]) {
				break scan // a match may still complete here
			}
		}
		i++
	}
	out = append(out, buf[start:i]...)
	if len(out) > 0 && m.err == nil {
		_, m.err = m.w.Write(out)
	}
	clear(buf[:i])
	m.pending = append(buf[:0], buf[i:]...)
}
