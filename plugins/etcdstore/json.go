package etcdstore

import (
	"strconv"
	"unicode/utf8"
)

// A small, strict JSON codec for etcd's gateway: built-in guests link no
// encoding/json (nor fmt or reflect, which it needs), which would add
// hundreds of kilobytes to the module. The decoder accepts exactly RFC 8259
// JSON (UTF-8, no duplicate object keys, no trailing data), nested at most
// maxDepth deep, objects of at most maxKeys members; strings that need no
// unescaping point into the input instead of being copied, since a page of
// base64 values can be megabytes.

const (
	maxDepth = 32
	maxKeys  = 64
)

// JSON value kinds.
const (
	jNull uint8 = iota
	jBool
	jNum
	jStr
	jArr
	jObj
)

// jvalue is a decoded JSON value.
type jvalue struct {
	kind  uint8
	b     bool     // jBool
	s     []byte   // jStr: the unescaped content; jNum: the literal
	keys  [][]byte // jObj: member names
	elems []jvalue // jArr: elements; jObj: member values, as keys
}

type jsonError string

func (e jsonError) Error() string { return string(e) }

// parseJSON decodes one JSON document.
func parseJSON(b []byte) (*jvalue, error) {
	p := jparser{b: b}
	p.ws()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.i != len(p.b) {
		return nil, p.fail("data after the JSON value")
	}
	return &v, nil
}

type jparser struct {
	b []byte
	i int
}

func (p *jparser) fail(what string) error {
	return jsonError("malformed JSON at byte " + strconv.Itoa(p.i) + ": " + what)
}

func (p *jparser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jparser) lit(word string) bool {
	if len(p.b)-p.i >= len(word) && string(p.b[p.i:p.i+len(word)]) == word {
		p.i += len(word)
		return true
	}
	return false
}

func (p *jparser) value(depth int) (jvalue, error) {
	if depth >= maxDepth {
		return jvalue{}, p.fail("nested too deep")
	}
	if p.i >= len(p.b) {
		return jvalue{}, p.fail("unexpected end")
	}
	switch c := p.b[p.i]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.str()
		return jvalue{kind: jStr, s: s}, err
	case c == 't' && p.lit("true"):
		return jvalue{kind: jBool, b: true}, nil
	case c == 'f' && p.lit("false"):
		return jvalue{kind: jBool}, nil
	case c == 'n' && p.lit("null"):
		return jvalue{kind: jNull}, nil
	case c == '-' || '0' <= c && c <= '9':
		return p.number()
	}
	return jvalue{}, p.fail("unexpected character")
}

func (p *jparser) object(depth int) (jvalue, error) {
	v := jvalue{kind: jObj}
	p.i++ // '{'
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != '"' {
			return v, p.fail("expected a member name")
		}
		k, err := p.str()
		if err != nil {
			return v, err
		}
		for _, o := range v.keys {
			if string(o) == string(k) {
				return v, p.fail("duplicate member name")
			}
		}
		if len(v.keys) == maxKeys {
			return v, p.fail("too many members")
		}
		p.ws()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return v, p.fail("expected ':'")
		}
		p.i++
		p.ws()
		e, err := p.value(depth + 1)
		if err != nil {
			return v, err
		}
		v.keys = append(v.keys, k)
		v.elems = append(v.elems, e)
		p.ws()
		if p.i >= len(p.b) {
			return v, p.fail("unexpected end")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, nil
		default:
			return v, p.fail("expected ',' or '}'")
		}
	}
}

func (p *jparser) array(depth int) (jvalue, error) {
	v := jvalue{kind: jArr}
	p.i++ // '['
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.ws()
		e, err := p.value(depth + 1)
		if err != nil {
			return v, err
		}
		v.elems = append(v.elems, e)
		p.ws()
		if p.i >= len(p.b) {
			return v, p.fail("unexpected end")
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return v, p.fail("expected ',' or ']'")
		}
	}
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

func (p *jparser) number() (jvalue, error) {
	start := p.i
	i := p.i
	if p.b[i] == '-' {
		i++
	}
	switch {
	case i < len(p.b) && p.b[i] == '0':
		i++
	case i < len(p.b) && '1' <= p.b[i] && p.b[i] <= '9':
		i = digits(p.b, i)
	default:
		p.i = i
		return jvalue{}, p.fail("malformed number")
	}
	if i < len(p.b) && p.b[i] == '.' {
		j := digits(p.b, i+1)
		if j == i+1 {
			p.i = j
			return jvalue{}, p.fail("malformed number")
		}
		i = j
	}
	if i < len(p.b) && (p.b[i] == 'e' || p.b[i] == 'E') {
		i++
		if i < len(p.b) && (p.b[i] == '+' || p.b[i] == '-') {
			i++
		}
		j := digits(p.b, i)
		if j == i {
			p.i = j
			return jvalue{}, p.fail("malformed number")
		}
		i = j
	}
	p.i = i
	return jvalue{kind: jNum, s: p.b[start:i]}, nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// str decodes a string at p.i (a '"'). Without escapes the result points
// into the input.
func (p *jparser) str() ([]byte, error) {
	p.i++ // '"'
	start := p.i
	for i := start; i < len(p.b); {
		c := p.b[i]
		switch {
		case c == '"':
			p.i = i + 1
			return p.b[start:i], nil
		case c == '\\':
			p.i = i
			return p.escaped(start)
		case c < 0x20:
			p.i = i
			return nil, p.fail("control character in a string")
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(p.b[i:])
			if r == utf8.RuneError && n <= 1 {
				p.i = i
				return nil, p.fail("invalid UTF-8 in a string")
			}
			i += n
		}
	}
	p.i = len(p.b)
	return nil, p.fail("unterminated string")
}

// escaped decodes the rest of a string that holds an escape at p.i, its
// content starting at start.
func (p *jparser) escaped(start int) ([]byte, error) {
	out := append([]byte(nil), p.b[start:p.i]...)
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, nil
		case c == '\\':
			if p.i+1 >= len(p.b) {
				return nil, p.fail("unterminated string")
			}
			e := p.b[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(p.b[p.i:])
				if !ok {
					return nil, p.fail("malformed \\u escape")
				}
				p.i += 4
				if 0xD800 <= r && r < 0xDC00 {
					lo, ok := rune(0), len(p.b)-p.i >= 6 && p.b[p.i] == '\\' && p.b[p.i+1] == 'u'
					if ok {
						lo, ok = hex4(p.b[p.i+2:])
					}
					if !ok || lo < 0xDC00 || lo > 0xDFFF {
						return nil, p.fail("unpaired surrogate")
					}
					p.i += 6
					r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				} else if 0xDC00 <= r && r <= 0xDFFF {
					return nil, p.fail("unpaired surrogate")
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, p.fail("unknown escape")
			}
		case c < 0x20:
			return nil, p.fail("control character in a string")
		case c < utf8.RuneSelf:
			out = append(out, c)
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, p.fail("invalid UTF-8 in a string")
			}
			out = append(out, p.b[p.i:p.i+n]...)
			p.i += n
		}
	}
	return nil, p.fail("unterminated string")
}

// get returns the member name of an object, or nil (also when v is nil or
// not an object).
func (v *jvalue) get(name string) *jvalue {
	if v == nil || v.kind != jObj {
		return nil
	}
	for i, k := range v.keys {
		if string(k) == name {
			return &v.elems[i]
		}
	}
	return nil
}

// The accessors below read the gateway's fields by its rules: a field at
// its zero value is left out, int64s are strings (numbers are accepted
// too), bytes are base64. Each says whether v had the right type; an absent
// field (nil) is the zero value.

func (v *jvalue) text() (string, bool) {
	if v == nil {
		return "", true
	}
	return string(v.s), v.kind == jStr
}

func (v *jvalue) boolean() (bool, bool) {
	if v == nil {
		return false, true
	}
	return v.b, v.kind == jBool
}

func (v *jvalue) int64() (int64, bool) {
	if v == nil {
		return 0, true
	}
	if v.kind != jStr && v.kind != jNum {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v.s), 10, 64)
	return n, err == nil
}

func (v *jvalue) bytes() ([]byte, bool) {
	if v == nil {
		return nil, true
	}
	if v.kind != jStr {
		return nil, false
	}
	return decodeBase64(v.s)
}

func (v *jvalue) array() ([]jvalue, bool) {
	if v == nil {
		return nil, true
	}
	return v.elems, v.kind == jArr
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

var b64index = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := 0; i < len(b64chars); i++ {
		t[b64chars[i]] = byte(i)
	}
	return t
}()

// appendBase64 appends b in standard, padded base64.
func appendBase64(dst, b []byte) []byte {
	for len(b) >= 3 {
		n := uint(b[0])<<16 | uint(b[1])<<8 | uint(b[2])
		dst = append(dst, b64chars[n>>18&63], b64chars[n>>12&63], b64chars[n>>6&63], b64chars[n&63])
		b = b[3:]
	}
	switch len(b) {
	case 1:
		n := uint(b[0]) << 16
		dst = append(dst, b64chars[n>>18&63], b64chars[n>>12&63], '=', '=')
	case 2:
		n := uint(b[0])<<16 | uint(b[1])<<8
		dst = append(dst, b64chars[n>>18&63], b64chars[n>>12&63], b64chars[n>>6&63], '=')
	}
	return dst
}

// decodeBase64 decodes standard, padded base64, strictly: the padding and
// the unused bits must be what an encoder writes.
func decodeBase64(s []byte) ([]byte, bool) {
	if len(s)%4 != 0 {
		return nil, false
	}
	out := make([]byte, 0, len(s)/4*3)
	for i := 0; i < len(s); i += 4 {
		a, b, c, d := b64index[s[i]], b64index[s[i+1]], b64index[s[i+2]], b64index[s[i+3]]
		last := i+4 == len(s)
		switch {
		case a|b|c|d < 64:
			n := uint(a)<<18 | uint(b)<<12 | uint(c)<<6 | uint(d)
			out = append(out, byte(n>>16), byte(n>>8), byte(n))
		case last && a < 64 && b < 64 && s[i+2] == '=' && s[i+3] == '=' && b&15 == 0:
			out = append(out, a<<2|b>>4)
		case last && a < 64 && b < 64 && c < 64 && s[i+3] == '=' && c&3 == 0:
			n := uint(a)<<18 | uint(b)<<12 | uint(c)<<6
			out = append(out, byte(n>>16), byte(n>>8))
		default:
			return nil, false
		}
	}
	return out, true
}

const hexdigits = "0123456789abcdef"

// appendString appends s as a JSON string: '"', '\\' and every byte below
// 0x20 or at 0x7f escaped, the rest (UTF-8 checked by the caller) as is.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, '\\', 'u', '0', '0', hexdigits[c>>4], hexdigits[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// appendBytes appends b as a JSON string of its base64.
func appendBytes(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendBase64(dst, b)
	return append(dst, '"')
}

// appendInt appends n as the gateway writes an int64: a JSON string.
func appendInt(dst []byte, n int64) []byte {
	dst = append(dst, '"')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '"')
}
