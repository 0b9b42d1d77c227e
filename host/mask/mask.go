// Package mask is flyte's leak guard: a streaming writer that replaces
// secret values in a task's output with Redacted before the output reaches
// a terminal, a pipe or a log.
//
// # What is masked
//
// Forms lists the byte strings that reveal a value: the value itself, its
// base64 encodings (standard and URL alphabets, padded and unpadded) and its
// JSON-escaped form, so a multi-line PEM key printed inside a JSON document
// is caught as well as one printed raw. Values shorter than MinLen bytes are
// not masked: they would blank out ordinary words.
//
// Writer replaces every occurrence of every pattern, also when an
// occurrence is split across any number of writes. Where patterns overlap,
// the leftmost occurrence wins, and among those starting at one position
// the longest; scanning resumes after the replaced bytes. This is exactly
// what a one-shot scan of the whole stream would produce.
//
// # Latency
//
// Output is held back only while its tail could still grow into a match:
// a write is passed on at once, byte for byte (ANSI colour codes and all),
// up to the first position whose remaining bytes are a proper prefix of
// some pattern, and only that tail, never longer than the longest pattern
// less one byte, is kept. A later write decides it; so does Flush or Close
// at the end of the stream, and so does the hold timer given to NewWriter.
//
// The hold timer is a trade-off between latency and safety. A program that
// prints a prompt ending in what happens to be the start of a secret should
// not hang, so when no write arrives within the hold time the held bytes are
// passed on unmasked (they were not, so far, a whole match). The cost is
// that a value whose first part is written, and the rest more than the hold
// time later, leaks its first part. flyte uses 250 ms, far longer than the
// gap between two writes of one line by any program that is not trying to
// leak its own secrets (which no output filter can stop).
//
// The package never logs or formats pattern bytes, and its errors carry no
// data.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"slices"
	"unicode/utf16"
	"unicode/utf8"
)

// MinLen is the length of the shortest value masked: shorter values would
// mask ordinary text.
const MinLen = 4

// Redacted replaces every match.
const Redacted = "*****"

// LargeValue is the size above which a value is masked in its raw form
// only, cut into chunks of chunkLen bytes: the matcher costs about 20 bytes
// of memory and half a microsecond to build per pattern byte, and every
// encoded form multiplies the pattern bytes again. A large value printed
// whole still has all its chunks masked; its base64 and JSON forms are not.
const LargeValue = 64 << 10

const chunkLen = 4 << 10

// Forms returns the byte strings that reveal v: v itself, its standard and
// URL-safe base64 encodings, padded and unpadded, and its JSON-escaped form
// (the body of json.Marshal(string(v)) without the quotes, and the same with
// HTML escaping off) where it differs. Duplicates and forms shorter than
// MinLen are left out; a v shorter than MinLen has no forms.
func Forms(v []byte) [][]byte {
	if len(v) < MinLen {
		return nil
	}
	if len(v) > LargeValue {
		var out [][]byte
		for c := range slices.Chunk(v, chunkLen) {
			if len(c) >= MinLen {
				out = append(out, bytes.Clone(c))
			}
		}
		return out
	}
	cands := [][]byte{
		bytes.Clone(v),
		[]byte(base64.StdEncoding.EncodeToString(v)),
		[]byte(base64.RawStdEncoding.EncodeToString(v)),
		[]byte(base64.URLEncoding.EncodeToString(v)),
		[]byte(base64.RawURLEncoding.EncodeToString(v)),
	}
	if j, err := json.Marshal(string(v)); err == nil {
		cands = append(cands, j[1:len(j)-1])
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(string(v)) == nil {
		j := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		body := bytes.Clone(j[1 : len(j)-1])
		// Python's json.dumps escapes every non-ASCII character.
		cands = append(cands, body, asciiEscaped(body))
	}
	// `echo "$S" | base64` encodes the value and a newline, and wraps
	// lines at 76 columns.
	withNL := append(bytes.Clone(v), '\n')
	for _, e := range [][]byte{cands[1], []byte(base64.StdEncoding.EncodeToString(withNL))} {
		cands = append(cands, e, wrap(e, 76))
	}
	var out [][]byte
next:
	for _, c := range cands {
		if len(c) < MinLen {
			continue
		}
		for _, o := range out {
			if bytes.Equal(o, c) {
				continue next
			}
		}
		out = append(out, c)
	}
	return out
}

// asciiEscaped replaces each non-ASCII character of a JSON string body by
// its \uXXXX escape (UTF-16, lower-case hex), as Python's json.dumps does.
func asciiEscaped(body []byte) []byte {
	const hex = "0123456789abcdef"
	var out []byte
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		body = body[n:]
		if r < utf8.RuneSelf {
			out = append(out, byte(r))
			continue
		}
		units := []uint16{uint16(r)}
		if r > 0xffff {
			a, b := utf16.EncodeRune(r)
			units = []uint16{uint16(a), uint16(b)}
		}
		for _, u := range units {
			out = append(out, '\\', 'u', hex[u>>12], hex[u>>8&15], hex[u>>4&15], hex[u&15])
		}
	}
	return out
}

// wrap inserts a newline every n bytes, as base64(1) does.
func wrap(b []byte, n int) []byte {
	var out []byte
	for len(b) > n {
		out = append(append(out, b[:n]...), '\n')
		b = b[n:]
	}
	return append(out, b...)
}
