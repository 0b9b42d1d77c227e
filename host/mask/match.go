package mask

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// anchorLen is the length of the anchor a long pattern is found by: its
// first anchorLen bytes, one 8-byte load.
const anchorLen = 8

// matcher finds patterns by anchor and verify. A pattern of anchorLen bytes
// or more is indexed by its first anchorLen bytes in a hash table (long); a
// shorter one, by its first MinLen bytes in a second table (short). The scan
// loads the 8 (or 4) bytes at each position, looks them up, and compares
// only the patterns that share them. Building costs a few words per
// pattern, whatever its length: the patterns themselves are not copied.
//
// The patterns are sorted, the short ones first, so that those sharing a
// key are a range of pats, and those that begin with a given string too: at
// the tail of the buffered output, where fewer than anchorLen bytes are
// left, a binary search tells whether they could still begin a pattern.
type matcher struct {
	// filter has a bit set for the hash of the first MinLen bytes of each
	// pattern: a clear bit rules a position out with one load.
	filter      []uint64
	fshift      uint8
	long, short table
	pats        [][]byte // sorted: short ones, then long ones, each in byte order
	nShort      int      // pats[:nShort] are the short ones
	maxLen      int
}

// table is an open-addressing hash table from a key to a range of pats.
type table struct {
	slots []slot
	shift uint8
}

type slot struct {
	key    uint64
	lo, hi int32 // pats[lo:hi]; hi == 0 marks an empty slot
}

const hashMul = 0x9e3779b97f4a7c15

func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
func le32(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }

// newMatcher indexes the patterns of at least MinLen bytes (the slice is
// not kept, the patterns are); it returns nil when there are none.
func newMatcher(patterns [][]byte) *matcher {
	n := 0
	for _, p := range patterns {
		if len(p) >= MinLen {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	pats := make([][]byte, 0, n)
	for _, p := range patterns {
		if len(p) >= MinLen {
			pats = append(pats, p)
		}
	}
	slices.SortFunc(pats, func(a, b []byte) int {
		if la, lb := len(a) >= anchorLen, len(b) >= anchorLen; la != lb {
			if la {
				return 1
			}
			return -1
		}
		return bytes.Compare(a, b)
	})
	pats = slices.CompactFunc(pats, bytes.Equal)
	m := &matcher{pats: pats}
	m.nShort, _ = slices.BinarySearchFunc(pats, anchorLen, func(p []byte, n int) int {
		if len(p) >= n {
			return 1
		}
		return -1
	})
	// Keys are ranges of pats: count them, then index them.
	var nLong, nShort int
	for i, p := range pats {
		m.maxLen = max(m.maxLen, len(p))
		if i == 0 || i == m.nShort || keyOf(p) != keyOf(pats[i-1]) {
			if i < m.nShort {
				nShort++
			} else {
				nLong++
			}
		}
	}
	m.long.init(nLong)
	m.short.init(nShort)
	// 16 bits per key: one position in 16 or fewer passes by chance.
	fb := max(12, bits.Len(uint(16*(nLong+nShort)-1)))
	m.filter = make([]uint64, 1<<(fb-6))
	m.fshift = uint8(64 - fb)
	for _, p := range pats {
		h := (le32(p) * hashMul) >> m.fshift
		m.filter[h>>6] |= 1 << (h & 63)
	}
	for lo := 0; lo < len(pats); {
		end, t := m.nShort, &m.short
		if lo >= m.nShort {
			end, t = len(pats), &m.long
		}
		key := keyOf(pats[lo])
		hi := lo + 1
		for hi < end && keyOf(pats[hi]) == key {
			hi++
		}
		t.insert(key, int32(lo), int32(hi))
		lo = hi
	}
	return m
}

// keyOf is the table key of a pattern.
func keyOf(p []byte) uint64 {
	if len(p) >= anchorLen {
		return le64(p)
	}
	return le32(p)
}

// init sizes the table for n keys at a load factor of at most one half.
func (t *table) init(n int) {
	if n == 0 {
		return
	}
	b := bits.Len(uint(2*n - 1))
	t.slots = make([]slot, 1<<b)
	t.shift = uint8(64 - b)
}

func (t *table) insert(key uint64, lo, hi int32) {
	mask := uint64(len(t.slots) - 1)
	for i := (key * hashMul) >> t.shift; ; i = (i + 1) & mask {
		if s := &t.slots[i]; s.hi == 0 {
			*s = slot{key, lo, hi}
			return
		}
	}
}

// find returns the range of patterns with the key; hi is 0 if there is none.
func (t *table) find(key uint64) (lo, hi int32) {
	if len(t.slots) == 0 {
		return 0, 0
	}
	mask := uint64(len(t.slots) - 1)
	for i := (key * hashMul) >> t.shift; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.hi == 0 {
			return 0, 0
		}
		if s.key == key {
			return s.lo, s.hi
		}
	}
}

// skip returns the first position from i on where a pattern could start
// by the filter, or where fewer than anchorLen bytes are left.
func (m *matcher) skip(buf []byte, i int) int {
	f, sh := m.filter, m.fshift
	for ; i+anchorLen <= len(buf); i++ {
		h := (le32(buf[i:]) * hashMul) >> sh
		if f[h>>6]&(1<<(h&63)) != 0 {
			break
		}
	}
	return i
}

// at decides the position where rest begins (rest is all the output
// buffered from there on). Unless final, it returns hold when rest is a
// proper prefix of a pattern: the position cannot be decided yet.
// Otherwise it returns the length of the longest pattern rest begins with,
// 0 if none.
func (m *matcher) at(rest []byte, final bool) (n int, hold bool) {
	r := len(rest)
	if r >= anchorLen {
		if lo, hi := m.long.find(le64(rest)); hi != 0 {
			for _, p := range m.pats[lo:hi] {
				if len(p) <= r {
					if len(p) > n && bytes.Equal(rest[:len(p)], p) {
						n = len(p)
					}
				} else if !final && bytes.Equal(p[:r], rest) {
					return 0, true
				}
			}
		}
	} else if !final && m.begins(rest) {
		return 0, true
	}
	if n > 0 || r < MinLen || len(m.short.slots) == 0 {
		return n, false // a long match is longer than any short pattern
	}
	if lo, hi := m.short.find(le32(rest)); hi != 0 {
		for _, p := range m.pats[lo:hi] {
			if len(p) <= r && len(p) > n && bytes.Equal(rest[:len(p)], p) {
				n = len(p)
			}
		}
	}
	return n, false
}

// begins reports whether rest, shorter than anchorLen, is a proper prefix
// of some pattern: in each sorted section, the first pattern not below rest
// is the only candidate (or the one after it, if it equals rest).
func (m *matcher) begins(rest []byte) bool {
	for _, sec := range [][][]byte{m.pats[:m.nShort], m.pats[m.nShort:]} {
		i, found := slices.BinarySearchFunc(sec, rest, bytes.Compare)
		if found {
			i++
		}
		if i < len(sec) && bytes.HasPrefix(sec[i], rest) {
			return true
		}
	}
	return false
}
