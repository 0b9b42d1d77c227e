package plugin

import (
	"fmt"

	"github.com/flytesecrets/flyte/abi"
)

// maxDescribeSection bounds the flyte.describe section's payload.
const maxDescribeSection = 64 << 10

// findDescribe walks the section headers of a module (the 8-byte header,
// then for each section its id byte and LEB128 size, and for a custom
// section, id 0, its LEB128 name length and name) to find its
// flyte.describe section, without decoding anything else: the runtime
// keeps no custom section (a module of millions of tiny ones costs it
// nothing), and the walk costs one step per section and allocates
// nothing. It returns the section's payload, nil when there is none (a
// slice of wasm, not a copy). A module with more than one, or one over
// maxDescribeSection bytes, is an error; ok is false when the headers are
// malformed, which the compiler refuses in its own words.
func findDescribe(wasm []byte) (payload []byte, ok bool, err error) {
	const header = 8
	if len(wasm) < header || string(wasm[:4]) != "\x00asm" {
		return nil, false, nil
	}
	found := 0
	var size int
	for i := header; i < len(wasm); {
		id := wasm[i]
		n, m, good := uleb32(wasm[i+1:])
		if !good || uint64(n) > uint64(len(wasm)-(i+1+m)) {
			return nil, false, nil
		}
		body := wasm[i+1+m : i+1+m+int(n)]
		i += 1 + m + int(n)
		if id != 0 {
			continue
		}
		l, k, good := uleb32(body)
		if !good || uint64(l) > uint64(len(body)-k) {
			return nil, false, nil
		}
		if string(body[k:k+int(l)]) != abi.DescribeSection {
			continue
		}
		found++
		payload, size = body[k+int(l):], len(body)-k-int(l)
	}
	switch {
	case found > 1:
		return nil, true, fmt.Errorf("has %d %s sections; a plugin may have one", found, abi.DescribeSection)
	case found == 1 && size > maxDescribeSection:
		return nil, true, fmt.Errorf("has a %s section of %d bytes; the limit is %d", abi.DescribeSection, size, maxDescribeSection)
	}
	return payload, true, nil
}

// uleb32 decodes an unsigned LEB128 u32 as WebAssembly encodes one (at
// most 5 bytes, no bits beyond 32): its value and length.
func uleb32(b []byte) (uint32, int, bool) {
	var v uint32
	for i := 0; i < len(b) && i < 5; i++ {
		if i == 4 && b[i]&0xf0 != 0 {
			return 0, 0, false
		}
		v |= uint32(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1, true
		}
	}
	return 0, 0, false
}
