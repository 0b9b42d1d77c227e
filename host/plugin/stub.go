package plugin

import "crypto/sha256"

// stubModule returns a copy of a module whose every function body is
// replaced by `unreachable` and whose custom sections are dropped; every
// other section (types, imports, functions, tables, memory, globals,
// exports, start, elements, data count, data) is copied as it is. A custom
// section "flyte.stub-of" holding the module's SHA-256 ends it: wazero
// names a cache entry after every byte of what it compiles, so two modules
// that differ only in their code (or custom sections) get two stubs, and
// two cache entries; without it, one module's stub entry could hold
// another's code. ok is false when the section headers or the code
// section cannot be walked.
func stubModule(wasm []byte) (stub []byte, ok bool) {
	stub, ok = stubSections(wasm)
	if !ok {
		return nil, false
	}
	const name = "flyte.stub-of"
	sum := sha256.Sum256(wasm)
	body := appendUleb32(nil, uint32(len(name)))
	body = append(body, name...)
	body = append(body, sum[:]...)
	stub = append(stub, 0)
	stub = appendUleb32(stub, uint32(len(body)))
	return append(stub, body...), true
}

// stubSections is stubModule without the section that names the module.
func stubSections(wasm []byte) (stub []byte, ok bool) {
	const header = 8
	if len(wasm) < header || string(wasm[:4]) != "\x00asm" {
		return nil, false
	}
	out := make([]byte, 0, len(wasm)/2)
	out = append(out, wasm[:header]...)
	for i := header; i < len(wasm); {
		id := wasm[i]
		n, m, good := uleb32(wasm[i+1:])
		if !good || uint64(n) > uint64(len(wasm)-(i+1+m)) {
			return nil, false
		}
		body := wasm[i+1+m : i+1+m+int(n)]
		i += 1 + m + int(n)
		switch id {
		case 0:
			continue
		case 10:
			count, k, good := uleb32(body)
			if !good {
				return nil, false
			}
			// Each body: size 3, no locals, unreachable, end.
			code := appendUleb32(nil, count)
			for range count {
				code = append(code, 3, 0, 0x00, 0x0b)
			}
			// The bodies of the original are walked, so that a code
			// section that does not hold count of them is refused.
			rest := body[k:]
			for range count {
				s, l, good := uleb32(rest)
				if !good || uint64(s) > uint64(len(rest)-l) {
					return nil, false
				}
				rest = rest[l+int(s):]
			}
			if len(rest) != 0 {
				return nil, false
			}
			body = code
		}
		out = append(out, id)
		out = appendUleb32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, true
}

// appendUleb32 appends v as an unsigned LEB128.
func appendUleb32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
