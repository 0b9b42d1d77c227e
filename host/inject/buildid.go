package inject

import (
	"encoding/binary"
	"io"
)

// The identity of the built-in injectors is that of the flyte executable
// they are built into: its Go build ID, which changes with any input of
// the build (the embedded modules among them). Hashing the modules instead
// would read 4 MB of them on every task, and keep them resident: the
// embedded bytes are mapped from the executable and count toward flyte's
// memory once touched. Where the build ID cannot be read (another platform,
// a build with -buildid=), the modules are hashed.

// maxNotes bounds the note segments read from the executable.
const maxNotes = 64 << 10

// parseGoBuildID returns the Go build ID of the 64-bit little-endian ELF
// executable r (the "Go" note of type 4 in a PT_NOTE segment), or false.
func parseGoBuildID(r io.ReaderAt) (string, bool) {
	var hdr [64]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return "", false
	}
	// ELF magic, 64-bit, little-endian.
	if string(hdr[:4]) != "\x7fELF" || hdr[4] != 2 || hdr[5] != 1 {
		return "", false
	}
	le := binary.LittleEndian
	phoff, phentsize, phnum := le.Uint64(hdr[0x20:]), uint64(le.Uint16(hdr[0x36:])), uint64(le.Uint16(hdr[0x38:]))
	if phentsize < 56 || phnum == 0 || phnum > 64 || phoff > 1<<30 {
		return "", false
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := r.ReadAt(ph, int64(phoff)); err != nil {
		return "", false
	}
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phentsize:]
		if le.Uint32(p) != 4 { // PT_NOTE
			continue
		}
		off, size := le.Uint64(p[0x08:]), le.Uint64(p[0x20:])
		if size > maxNotes || off > 1<<40 {
			continue
		}
		notes := make([]byte, size)
		if _, err := r.ReadAt(notes, int64(off)); err != nil {
			continue
		}
		if id, ok := goNote(notes); ok {
			return id, true
		}
	}
	return "", false
}

// goNote finds the Go build ID note in a note segment: namesz, descsz and
// type (4 bytes each), then the name and the descriptor, each padded to 4.
func goNote(b []byte) (string, bool) {
	le := binary.LittleEndian
	for len(b) >= 12 {
		namesz, descsz, typ := uint64(le.Uint32(b)), uint64(le.Uint32(b[4:])), le.Uint32(b[8:])
		b = b[12:]
		nameEnd := (namesz + 3) &^ 3
		descEnd := nameEnd + (descsz+3)&^3
		if descEnd > uint64(len(b)) {
			return "", false
		}
		if typ == 4 && namesz == 4 && string(b[:4]) == "Go\x00\x00" && descsz > 0 {
			return string(b[nameEnd : nameEnd+descsz]), true
		}
		b = b[descEnd:]
	}
	return "", false
}
