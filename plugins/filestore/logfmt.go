package filestore

// The log format of a store of format 2 (see the package comment): one
// append-only file per organization, log/ORG, whose records the store
// reads in a few large ranged reads (fs.read_at, ABI 1.4) and appends to
// under the writers' lock (fs.write_at, durable when it returns).
//
//	header  "flytelog" | u32 version (1) | u32 0 | 16-byte generation
//	frame   u32 sync | u32 length | u32 crc | payload (length bytes)
//	payload u8 op | abi.Record (wire)
//
// op 1 (put) holds the record; op 2 (delete) a record with only its scope
// and key; op 3 (legacy) a record with only its scope and key whose sealed
// field holds the bytes of the file that held it in the one-file-per-record
// layout, copied verbatim when the store was converted (so that versions,
// times and damage carry over exactly: it is decoded as that file was).
//
// Integers are little-endian. crc is CRC-32C of the generation, the
// length and the payload: a frame copied from another log (another
// generation, as compaction makes) does not check. A frame that does not
// check is skipped by searching for the next sync word whose frame does;
// the log's valid end is the end of its last good frame, and a writer
// overwrites whatever lies after it (a frame torn by a crash) with its own.
// Bytes between two good frames are damage, never a crash's, and name no
// key that can be trusted: every key whose latest good frame lies before
// them, every key the log lacks and every listing of the organization read
// as the damage (logstore.go, loadLog); good frames of an op this flyte
// does not know are no damage.

import (
	"hash/crc32"
	"unsafe"

	"github.com/flytesecrets/flyte/abi"
)

const (
	logMagic   = "flytelog"
	logVersion = 1
	headerSize = 32
	frameHead  = 12
	frameSync  = 0x5f6c7966 // "fyl_" little-endian
	opPut      = 1
	opDelete   = 2
	opLegacy   = 3
	// maxFrame bounds a payload so that a whole frame is one read_at.
	maxFrame = abi.MaxMessage - frameHead
	genSize  = 16
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// u32 and putU32 read and write a little-endian uint32 (encoding/binary
// would link reflect into the guest).
func u32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func putU32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// logHeader returns the header of a new log of generation gen.
func logHeader(gen [genSize]byte) []byte {
	b := make([]byte, headerSize)
	copy(b, logMagic)
	putU32(b[8:], logVersion)
	copy(b[16:], gen[:])
	return b
}

// parseHeader returns the generation of a log that starts with b.
func parseHeader(b []byte) ([genSize]byte, bool) {
	var gen [genSize]byte
	if len(b) < headerSize || string(b[:8]) != logMagic || u32(b[8:]) != logVersion {
		return gen, false
	}
	copy(gen[:], b[16:headerSize])
	return gen, true
}

func frameCRC(gen [genSize]byte, head, payload []byte) uint32 {
	// The generation and the length step through the table here, not
	// through crc32.Update: a slice of gen passed to it would escape, one
	// allocation per frame, which a wasm guest pays for dearly (a third of
	// an index load of 100,000 frames). The same CRC (TestFrameCRC).
	c := ^uint32(0)
	for _, b := range gen {
		c = castagnoli[byte(c)^b] ^ c>>8
	}
	for _, b := range head[4:8] {
		c = castagnoli[byte(c)^b] ^ c>>8
	}
	return crc32.Update(^c, castagnoli, payload)
}

// appendFrame appends the frame of op on r to dst.
func appendFrame(dst []byte, gen [genSize]byte, op byte, r *abi.Record) []byte {
	var e abi.Encoder
	r.MarshalTo(&e)
	return appendPayload(dst, gen, append([]byte{op}, e.Bytes()...))
}

// appendPayload appends a frame of payload to dst.
func appendPayload(dst []byte, gen [genSize]byte, payload []byte) []byte {
	var head [frameHead]byte
	putU32(head[:], frameSync)
	putU32(head[4:], uint32(len(payload)))
	putU32(head[8:], frameCRC(gen, head[:], payload))
	return append(append(dst, head[:]...), payload...)
}

// frame is one good frame of a log: where it lies and what it says.
type frame struct {
	off, end int64 // in the log
	op       byte
	payload  []byte // op and record; aliases the scanned buffer
}

// record decodes the frame's record (its Sealed aliases the payload).
func (f *frame) record() (abi.Record, bool) {
	var r abi.Record
	return r, abi.Unmarshal(f.payload[1:], &r) == nil
}

// key returns entKey of the frame's record, made in arena (see keyArena),
// and its organization (aliasing the payload): a scan decodes nothing else
// of most frames, and allocates nothing per frame.
func (f *frame) key(arena *keyArena) (k string, org []byte, ok bool) {
	project, domain, key, org, ok := f.keyParts()
	if !ok {
		return "", nil, false
	}
	return arena.key(project, domain, key), org, true
}

// appendKey appends entKey of the frame's record to keys.
func (f *frame) appendKey(keys []byte) ([]byte, bool) {
	project, domain, key, _, ok := f.keyParts()
	if !ok {
		return keys, false
	}
	return append(append(append(append(append(keys, project...), 0), domain...), 0), key...), true
}

// keyParts returns the parts of the key of the frame's record and its
// organization, aliasing the payload.
func (f *frame) keyParts() (project, domain, key, org []byte, ok bool) {
	return payloadKeyParts(f.payload, false)
}

// payloadKeyParts is keyParts of a payload; with prefix, of the start of
// one: it stops at a field cut short, or once the scope and key are read,
// and ok reports a key read.
func payloadKeyParts(payload []byte, prefix bool) (project, domain, key, org []byte, ok bool) {
	if len(payload) == 0 {
		return nil, nil, nil, nil, false
	}
	var scope []byte
	var hasScope, hasKey bool
	rest := payload[1:]
	for len(rest) > 0 && !(prefix && hasScope && hasKey) {
		field, v, r, ok := wireField(rest)
		if !ok {
			if prefix {
				break
			}
			return nil, nil, nil, nil, false
		}
		rest = r
		switch field {
		case 1<<3 | 2:
			scope, hasScope = v, true
		case 2<<3 | 2:
			key, hasKey = v, true
		}
	}
	if prefix && !hasKey {
		return nil, nil, nil, nil, false
	}
	for len(scope) > 0 {
		field, v, r, ok := wireField(scope)
		if !ok {
			return nil, nil, nil, nil, false
		}
		scope = r
		switch field {
		case 1<<3 | 2:
			org = v
		case 2<<3 | 2:
			project = v
		case 3<<3 | 2:
			domain = v
		}
	}
	return project, domain, key, org, true
}

// wireField reads one field of a message (abi's wire format): its key
// (field << 3 | wire type), its value when length-delimited, and the rest.
func wireField(b []byte) (key uint64, v, rest []byte, ok bool) {
	key, n := uvarint(b)
	if n <= 0 {
		return 0, nil, nil, false
	}
	b = b[n:]
	switch key & 7 {
	case 0:
		_, n = uvarint(b)
		if n <= 0 {
			return 0, nil, nil, false
		}
		return key, nil, b[n:], true
	case 2:
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return 0, nil, nil, false
		}
		return key, b[n : n+int(l)], b[n+int(l):], true
	}
	return 0, nil, nil, false
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// keyArena makes index keys in large chunks, never moved once written:
// 100,000 keys are a few dozen allocations instead of 100,000, which a
// wasm guest, whose collector runs within the call, pays for dearly.
type keyArena struct{ chunk []byte }

func (a *keyArena) key(project, domain, key []byte) string {
	n := len(project) + len(domain) + len(key) + 2
	if cap(a.chunk)-len(a.chunk) < n {
		a.chunk = make([]byte, 0, max(64<<10, n))
	}
	start := len(a.chunk)
	a.chunk = append(append(append(append(append(a.chunk, project...), 0), domain...), 0), key...)
	return unsafe.String(&a.chunk[start], n)
}

// checkFrame checks that b is exactly one good frame of generation gen.
func checkFrame(b []byte, gen [genSize]byte) (frame, bool) {
	if len(b) < frameHead+1 || u32(b) != frameSync || int(u32(b[4:])) != len(b)-frameHead ||
		u32(b[8:]) != frameCRC(gen, b[:frameHead], b[frameHead:]) {
		return frame{}, false
	}
	return frame{end: int64(len(b)), op: b[frameHead], payload: b[frameHead:]}, true
}

// scanFrames reads the good frames of buf, which holds the log's bytes
// from offset base on, and calls fn for each, whatever its op (f is fn's
// during the call only). It returns the offset after
// the last good frame (the valid end, as far as buf goes), and the offset
// where a frame that buf holds only in part begins (-1 when none does: the
// caller reads on from there). Bytes that are no good frame are skipped.
func scanFrames(buf []byte, base int64, gen [genSize]byte, fn func(f *frame)) (validEnd, partial int64) {
	validEnd, partial = base, -1
	i := 0
	var f frame // one for the whole scan: &f escapes to fn
	for i+frameHead <= len(buf) {
		if u32(buf[i:]) != frameSync {
			i++
			continue
		}
		n := int(u32(buf[i+4:]))
		if n < 1 || n > maxFrame {
			i++
			continue
		}
		if i+frameHead+n > len(buf) {
			if partial < 0 {
				partial = base + int64(i)
			}
			i++
			continue
		}
		payload := buf[i+frameHead : i+frameHead+n]
		if u32(buf[i+8:]) != frameCRC(gen, buf[i:i+frameHead], payload) {
			i++
			continue
		}
		f = frame{off: base + int64(i), end: base + int64(i+frameHead+n), op: payload[0], payload: payload}
		// Every good frame, also of an op this flyte does not know (a
		// later flyte's): it still ends where it ends, and is no damage.
		fn(&f)
		validEnd, partial = f.end, -1
		i += frameHead + n
	}
	if partial < 0 && i < len(buf) && len(buf)-i < frameHead {
		partial = base + int64(i)
	}
	return validEnd, partial
}
