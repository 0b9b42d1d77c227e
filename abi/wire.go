package abi

import "errors"

// The wire format is the protocol-buffers encoding restricted to two wire
// types: varint (0) and length-delimited (2). A message is a sequence of
// fields, each a uvarint key (field<<3 | wiretype) followed by its value.
// Fields may come in any order; a repeated field appears once per element;
// unknown fields are skipped, which is how minor versions add fields.
// Zero values are not written. The codec is hand-written so that guests
// carry neither reflection nor fmt.

const (
	wireVarint = 0
	wireBytes  = 2
)

// ErrMalformed is returned for any input that is not a well-formed message.
var ErrMalformed = errors.New("malformed message")

// Encoder appends fields to a buffer.
type Encoder struct {
	buf []byte
}

// Bytes returns the encoded message.
func (e *Encoder) Bytes() []byte { return e.buf }

// Reset empties the encoder, keeping its buffer.
func (e *Encoder) Reset() { e.buf = e.buf[:0] }

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func (e *Encoder) key(field, wt int) {
	e.buf = appendUvarint(e.buf, uint64(field)<<3|uint64(wt))
}

// Uint writes a varint field; 0 is omitted.
func (e *Encoder) Uint(field int, v uint64) {
	if v == 0 {
		return
	}
	e.key(field, wireVarint)
	e.buf = appendUvarint(e.buf, v)
}

// Int writes a zigzag-encoded signed field; 0 is omitted.
func (e *Encoder) Int(field int, v int64) {
	e.Uint(field, uint64(v<<1)^uint64(v>>63))
}

// Bool writes true as 1; false is omitted.
func (e *Encoder) Bool(field int, v bool) {
	if v {
		e.Uint(field, 1)
	}
}

// String writes a length-delimited field; "" is omitted.
func (e *Encoder) String(field int, s string) {
	if s == "" {
		return
	}
	e.key(field, wireBytes)
	e.buf = appendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Blob writes a length-delimited field; an empty slice is omitted.
func (e *Encoder) Blob(field int, b []byte) {
	if len(b) == 0 {
		return
	}
	e.key(field, wireBytes)
	e.buf = appendUvarint(e.buf, uint64(len(b)))
	e.buf = append(e.buf, b...)
}

// Message writes m as a nested, length-delimited field. It is always
// written, even when empty, so that repeated messages keep their count.
func (e *Encoder) Message(field int, m interface{ MarshalTo(*Encoder) }) {
	e.key(field, wireBytes)
	// Reserve one length byte, encode in place, then fix the length up:
	// most nested messages are shorter than 128 bytes.
	start := len(e.buf)
	e.buf = append(e.buf, 0)
	m.MarshalTo(e)
	n := len(e.buf) - start - 1
	if n < 0x80 {
		e.buf[start] = byte(n)
		return
	}
	var lb [10]byte
	l := appendUvarint(lb[:0], uint64(n))
	e.buf = append(e.buf, l[1:]...) // grow by the extra length bytes
	copy(e.buf[start+len(l):], e.buf[start+1:start+1+n])
	copy(e.buf[start:], l)
}

// Decoder walks the fields of one message. Call Next until it returns
// false, switch on Field, and read the value with the accessor matching the
// field's type; unread fields are skipped. Err reports the first problem.
type Decoder struct {
	b     []byte
	field int
	wt    int
	val   uint64
	data  []byte
	err   error
	depth int
}

// NewDecoder returns a decoder over b. Slices returned by Blob alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{b: b} }

func readUvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		c := b[i]
		if i == 9 && c > 1 {
			return 0, 0 // overflows 64 bits
		}
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// Next advances to the next field.
func (d *Decoder) Next() bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	k, n := readUvarint(d.b)
	if n == 0 || k>>3 == 0 || k>>3 > 1<<29 {
		d.err = ErrMalformed
		return false
	}
	d.b = d.b[n:]
	d.field, d.wt = int(k>>3), int(k&7)
	switch d.wt {
	case wireVarint:
		v, n := readUvarint(d.b)
		if n == 0 {
			d.err = ErrMalformed
			return false
		}
		d.val, d.data, d.b = v, nil, d.b[n:]
	case wireBytes:
		l, n := readUvarint(d.b)
		if n == 0 || l > uint64(len(d.b)-n) {
			d.err = ErrMalformed
			return false
		}
		d.data, d.val = d.b[n:n+int(l)], 0
		d.b = d.b[n+int(l):]
	default:
		d.err = ErrMalformed
		return false
	}
	return true
}

// Field returns the number of the current field.
func (d *Decoder) Field() int { return d.field }

// Err returns the first decoding error, if any.
func (d *Decoder) Err() error { return d.err }

func (d *Decoder) want(wt int) bool {
	if d.wt != wt {
		if d.err == nil {
			d.err = ErrMalformed
		}
		return false
	}
	return true
}

// Uint reads the current varint field.
func (d *Decoder) Uint() uint64 {
	if !d.want(wireVarint) {
		return 0
	}
	return d.val
}

// Uint32 reads the current varint field, rejecting values over 32 bits.
func (d *Decoder) Uint32() uint32 {
	v := d.Uint()
	if v > 1<<32-1 {
		d.err = ErrMalformed
		return 0
	}
	return uint32(v)
}

// Int reads the current zigzag field.
func (d *Decoder) Int() int64 {
	v := d.Uint()
	return int64(v>>1) ^ -int64(v&1)
}

// Bool reads the current varint field as a boolean.
func (d *Decoder) Bool() bool { return d.Uint() != 0 }

// String reads the current length-delimited field as a string.
func (d *Decoder) String() string {
	if !d.want(wireBytes) {
		return ""
	}
	return string(d.data)
}

// Blob reads the current length-delimited field. The slice aliases the
// decoder's input.
func (d *Decoder) Blob() []byte {
	if !d.want(wireBytes) {
		return nil
	}
	return d.data
}

// Message decodes the current length-delimited field into m.
func (d *Decoder) Message(m interface{ UnmarshalFrom(*Decoder) }) {
	if !d.want(wireBytes) {
		return
	}
	if d.depth >= MaxDepth {
		if d.err == nil {
			d.err = ErrMalformed
		}
		return
	}
	sub := Decoder{b: d.data, depth: d.depth + 1}
	m.UnmarshalFrom(&sub)
	if sub.err != nil && d.err == nil {
		d.err = sub.err
	}
}
