package httpgrant

import (
	"bytes"
	"encoding/base64"
	"net/url"

	"github.com/flytesecrets/flyte/host/mask"
)

// revealer recognises the granted credentials in a message, in the forms a
// message can show one in: as its file holds it and without surrounding
// white space, each in any letter case, and in every encoding the masker
// knows (mask.Forms: base64 in both alphabets, padded or not, the base64
// core of the value inside a longer base64 string, JSON-escaped) and
// URL-escaped (as a query or as a path). Encodings of the credential
// joined with other text, such as an Authorization: Basic header of
// base64("user:"+credential), are found by decoding each base64-looking
// run of the message (and the message with its %XX escapes decoded) and
// looking for the credential in what it decodes to.
//
// It errs on the side of withholding: a message it reports is not shown
// at all.
type revealer struct {
	forms [][]byte // lower case, each at least one byte
}

func newRevealer(creds map[string][]byte) revealer {
	var r revealer
	add := func(f []byte) {
		if len(f) == 0 {
			return
		}
		f = bytes.ToLower(f)
		for _, o := range r.forms {
			if bytes.Equal(o, f) {
				return
			}
		}
		r.forms = append(r.forms, f)
	}
	for _, v := range creds {
		for _, x := range [][]byte{v, bytes.TrimSpace(v)} {
			add(x)
			for _, f := range mask.Forms(x) {
				add(f)
			}
			add([]byte(url.QueryEscape(string(x))))
			add([]byte(url.PathEscape(string(x))))
		}
	}
	return r
}

// reveals reports whether b shows a credential (see revealer).
func (r revealer) reveals(b []byte) bool {
	if len(r.forms) == 0 {
		return false
	}
	texts := [][]byte{b}
	if bytes.IndexByte(b, '%') >= 0 {
		texts = append(texts, percentDecode(b))
	}
	for _, t := range texts {
		if r.holds(t) {
			return true
		}
		found := false
		forBase64Runs(t, func(dec []byte) bool {
			found = r.holds(dec)
			return found
		})
		if found {
			return true
		}
	}
	return false
}

// holds reports whether b holds one of the forms, in any letter case.
func (r revealer) holds(b []byte) bool {
	l := bytes.ToLower(b)
	for _, f := range r.forms {
		if bytes.Contains(l, f) {
			return true
		}
	}
	return false
}

// minRun is the shortest base64 run decoded: 4 characters are 3 bytes.
const minRun = 4

// base64Char reports whether c is a character of either base64 alphabet.
func base64Char(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_'
}

// forBase64Runs calls fn with what each maximal run of base64 characters
// of b (of at least minRun) decodes to, read from each of its first four
// characters (a run may be glued to a word before it), until fn returns
// true. Both alphabets are read as one; padding ends a run. One buffer is
// reused: fn must not keep its argument.
func forBase64Runs(b []byte, fn func(dec []byte) bool) {
	var buf, run []byte
	for i := 0; i < len(b); {
		if !base64Char(b[i]) {
			i++
			continue
		}
		j := i
		for j < len(b) && base64Char(b[j]) {
			j++
		}
		if j-i >= minRun {
			run = append(run[:0], b[i:j]...)
			for k, c := range run {
				switch c {
				case '-':
					run[k] = '+'
				case '_':
					run[k] = '/'
				}
			}
			for off := 0; off < 4 && len(run)-off >= minRun; off++ {
				s := run[off:]
				if len(s)%4 == 1 {
					s = s[:len(s)-1]
				}
				dec, err := base64.RawStdEncoding.AppendDecode(buf[:0], s)
				buf = dec
				if err == nil && fn(dec) {
					return
				}
			}
		}
		i = j
	}
}

// percentDecode is b with each %XX escape decoded and '+' read as a space
// (as a query writes it); a '%' not followed by two hex digits stays.
func percentDecode(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '%' && i+2 < len(b) && unhex(b[i+1]) >= 0 && unhex(b[i+2]) >= 0:
			out = append(out, byte(unhex(b[i+1])<<4|unhex(b[i+2])))
			i += 2
		case c == '+':
			out = append(out, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
