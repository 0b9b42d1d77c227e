// Package mask is flyte's leak guard: a streaming writer that replaces
// secret values in a task's output with Redacted before the output reaches
// a terminal, a pipe or a log.
//
// # What is masked
//
// Forms lists the byte strings that reveal a value: the value itself, its
// base64 encodings (standard and URL alphabets, padded and unpadded, and the
// part that shows inside a longer base64 string) and its JSON-escaped form,
// and the same of each line of a multi-line value, so a PEM key is caught
// printed raw, inside a JSON document, or one line at a time. Values shorter
// than MinLen bytes are not masked: they would blank out ordinary words.
//
// WholeForms lists the same forms of a value that joins secrets with
// literal text (a rendered config file, a URL holding a password), but not
// those of its lines or chunks: a line of such a value may be literal text
// alone, which must stay visible, and each line that holds secret bytes is
// masked by the forms of the secrets in it.
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
	"hash/maphash"
	"unicode/utf16"
	"unicode/utf8"
)

// MinLen is the length of the shortest value masked: shorter values would
// mask ordinary text.
const MinLen = 4

// Redacted replaces every match.
const Redacted = "*****"

// LargeValue is the size above which a value is masked in its raw form
// only: cut into chunks of ChunkLen bytes, and line by line. Every encoded
// form costs memory again (about 16 bytes of patterns per value byte for all
// of them), and every pattern about 100 bytes of index, so LargeValue and
// MaxForms bound the masker of the most values a task can get (256
// variables and 256 files) at about 200 MB however large they are. A large
// value printed whole still has all its chunks masked; its base64 and JSON
// forms are not.
const LargeValue = 8 << 10

// MaxForms bounds the forms of one value and its lines. Lines get every
// form while there is room for them, then their raw form only, then none:
// a value of more lines than that has its first lines masked alone (every
// line of a 4096-bit RSA key in PEM is, in every form).
const MaxForms = 640

// maxEncodings is the most forms encodings adds for one string.
const maxEncodings = 16

// ChunkLen is the length of the pieces a large value is masked by. A part
// of a large value printed alone is masked where it covers a whole chunk.
const ChunkLen = 1 << 10

// LineMin is the length of the shortest line of a multi-line value that is
// masked on its own (leading and trailing blanks aside).
const LineMin = 8

// CoreMin is the length of the shortest base64 core masked: the characters
// that encode only the value's bits wherever the value lies in a longer
// base64 run. 8 characters are 48 bits, so ordinary output does not match
// one by accident.
const CoreMin = 8

// Forms returns the byte strings that reveal v, each at least MinLen bytes:
//
//   - v itself;
//   - its base64 encodings: standard and URL alphabets, padded and not; the
//     standard encoding of v and of v with a newline, as `echo "$V" | base64`
//     prints them, wrapped at 76 columns and not;
//   - the base64 cores of v: for each of the three byte offsets v can have
//     inside a longer base64-encoded string (such as an Authorization: Basic
//     header of user:pass), in both alphabets, the characters that depend
//     on v alone (see CoreMin); the character at either edge, which mixes
//     v's first or last bits with its neighbours', is not part of the core
//     and stays visible;
//   - if v is text (valid UTF-8), its JSON-escaped body, as Go (with and
//     without HTML escaping) and Python's json.dumps (ASCII only) write it,
//     where it differs;
//   - and, if v is text of more than one line, the same forms of each line
//     (split at '\n', blanks trimmed) of at least LineMin bytes: a line of a
//     PEM key or of a JSON credential printed alone is masked (see MaxForms).
//
// A value longer than LargeValue is masked by its raw chunks and raw lines
// only. Duplicates are left out; a v shorter than MinLen has no forms.
// Forms never aliases v.
func Forms(v []byte) [][]byte {
	if len(v) < MinLen {
		return nil
	}
	if len(v) > LargeValue {
		// One copy of v, shared by every chunk and line.
		c := bytes.Clone(v)
		var out [][]byte
		// The last chunk takes the remainder, so that no tail too short
		// to be a pattern is left unmasked when v is printed whole.
		for off := 0; off < len(c); off += ChunkLen {
			end := off + ChunkLen
			if len(c)-end < ChunkLen {
				end = len(c)
			}
			out = append(out, c[off:end])
			if end == len(c) {
				break
			}
		}
		forLines(c, func(_ int, l []byte) { out = append(out, l) })
		return out
	}
	out := encodings(nil, v)
	var c []byte // a copy of v for lines masked raw only
	forLines(v, func(off int, l []byte) {
		switch {
		case len(out) >= MaxForms:
		case len(out)+maxEncodings <= MaxForms:
			out = encodings(out, l)
		default:
			if c == nil {
				c = bytes.Clone(v)
			}
			out = append(out, c[off:off+len(l)])
		}
	})
	return out
}

// WholeForms returns the forms of v as a whole: those Forms lists for v
// itself, not for its lines; and a v longer than LargeValue only raw and
// whole (not by chunks). It is for a value that joins secrets with literal
// text, whose lines and chunks may be literal text alone: masking them
// would blank out text that reveals nothing. A v shorter than MinLen has
// no forms; WholeForms never aliases v.
func WholeForms(v []byte) [][]byte {
	switch {
	case len(v) < MinLen:
		return nil
	case len(v) > LargeValue:
		return [][]byte{bytes.Clone(v)}
	}
	return encodings(nil, v)
}

// forLines calls fn with each distinct line of v of at least LineMin bytes,
// blanks trimmed, and its offset in v, when v is text (valid UTF-8) of more
// than one line.
func forLines(v []byte, fn func(off int, line []byte)) {
	if bytes.IndexByte(v, '\n') < 0 || !utf8.Valid(v) {
		return
	}
	seen := make(map[uint64]bool)
	seed := maphash.MakeSeed()
	for off := 0; off < len(v); {
		end := bytes.IndexByte(v[off:], '\n')
		if end < 0 {
			end = len(v) - off
		}
		l := v[off : off+end]
		lead := len(l) - len(bytes.TrimLeft(l, " \t\r"))
		if l = bytes.Trim(l, " \t\r"); len(l) >= LineMin && len(l) < len(v) {
			if h := maphash.Bytes(seed, l); !seen[h] {
				seen[h] = true
				fn(off+lead, l)
			}
		}
		off += end + 1
	}
}

// encodings appends every form of v (see Forms) to out, none of them
// aliasing v, each at least MinLen bytes, and each once. Forms that are
// parts of others share their bytes.
func encodings(out [][]byte, v []byte) [][]byte {
	start := len(out)
	add := func(b []byte) {
		if len(b) < MinLen {
			return
		}
		for _, o := range out[start:] {
			if bytes.Equal(o, b) {
				return
			}
		}
		out = append(out, b)
	}
	add(bytes.Clone(v))
	std := base64.StdEncoding.AppendEncode(nil, v)
	raw := std[:base64.RawStdEncoding.EncodedLen(len(v))]
	add(std)
	add(raw)
	differs := bytes.ContainsAny(std, "+/") // the URL alphabet differs
	if differs {
		url := base64.URLEncoding.AppendEncode(nil, v)
		add(url)
		add(url[:len(raw)])
	}
	if utf8.Valid(v) && needsEscape(v) {
		if j, err := json.Marshal(string(v)); err == nil {
			add(j[1 : len(j)-1])
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if enc.Encode(string(v)) == nil {
			j := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
			body := bytes.Clone(j[1 : len(j)-1])
			// Python's json.dumps escapes every non-ASCII character.
			add(body)
			add(asciiEscaped(body))
		}
	}
	// `echo "$S" | base64` encodes the value and a newline, and wraps
	// lines at 76 columns. The groups before v's last one are std's.
	full := len(v) / 3 * 3
	withNL := make([]byte, full/3*4, base64.StdEncoding.EncodedLen(len(v)+1))
	copy(withNL, std)
	var tail [3]byte
	withNL = base64.StdEncoding.AppendEncode(withNL, append(append(tail[:0], v[full:]...), '\n'))
	add(wrap(std, 76))
	add(withNL)
	add(wrap(withNL, 76))
	// The cores; the one at offset 0 is a prefix of raw.
	if last := 8 * len(v) / 6; last >= CoreMin {
		add(raw[:last])
		if differs {
			add(toURL(raw[:last]))
		}
	}
	for k := 1; k < 3; k++ {
		first, last := (8*k+5)/6, 8*(k+len(v))/6 // see cores
		if last-first < CoreMin {
			continue
		}
		// The encoding of k zero bytes and v: the group v starts in,
		// then the rest of v, aligned.
		var g [3]byte
		copy(g[k:], v)
		enc := base64.StdEncoding.AppendEncode(make([]byte, 0, 4+base64.StdEncoding.EncodedLen(len(v))), g[:])
		enc = base64.StdEncoding.AppendEncode(enc, v[min(3-k, len(v)):])
		c := enc[first:last]
		add(c)
		if bytes.ContainsAny(c, "+/") {
			add(toURL(c))
		}
	}
	return out
}

// toURL is b in base64's URL alphabet.
func toURL(b []byte) []byte {
	u := bytes.Clone(b)
	for i, c := range u {
		switch c {
		case '+':
			u[i] = '-'
		case '/':
			u[i] = '_'
		}
	}
	return u
}

// needsEscape reports whether some JSON encoder escapes a byte of v: a
// quote, a backslash, a control or non-ASCII character, or one of <>&.
func needsEscape(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return true
		}
	}
	return false
}

// cores returns the base64 cores of v (see Forms) of at least CoreMin
// characters: for k = 0, 1, 2 bytes before v, the characters of the
// encoding whose 6 bits all come from v, in the standard and URL alphabets.
// It is the reference for the forms encodings adds.
func cores(v []byte) [][]byte {
	var out [][]byte
	for k := range 3 {
		in := append(make([]byte, k), v...)
		first := (8*k + 5) / 6       // the first character that starts at or after v's first bit
		last := 8 * (k + len(v)) / 6 // the characters before it end at or before v's last bit
		if last-first < CoreMin {
			continue
		}
		for _, e := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			out = append(out, []byte(e.EncodeToString(in)[first:last]))
		}
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
	if len(b) <= n {
		return b
	}
	out := make([]byte, 0, len(b)+len(b)/n)
	for len(b) > n {
		out = append(append(out, b[:n]...), '\n')
		b = b[n:]
	}
	return append(out, b...)
}
