package injectwasm

// A WebAssembly assembler of the few instructions and sections the
// injectors use: each method of code appends one instruction, with its
// immediate, in the binary format of the WebAssembly core specification
// (1.0, "MVP"; no proposal is used).

// Value and block types.
const (
	tI32   = 0x7f
	tI64   = 0x7e
	tEmpty = 0x40
)

// Opcodes.
const (
	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opIf          = 0x04
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opReturn      = 0x0f
	opCall        = 0x10
	opLocalGet    = 0x20
	opLocalSet    = 0x21
	opLocalTee    = 0x22
	opGlobalGet   = 0x23
	opGlobalSet   = 0x24
	opI32Load8U   = 0x2d
	opI32Store8   = 0x3a
	opMemorySize  = 0x3f
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI64Const    = 0x42
	opI32Eqz      = 0x45
	opI32Eq       = 0x46
	opI32Ne       = 0x47
	opI32LtU      = 0x49
	opI32GtU      = 0x4b
	opI32LeU      = 0x4d
	opI32GeU      = 0x4f
	opI64Eqz      = 0x50
	opI64GtU      = 0x56
	opI64GeU      = 0x5a
	opI32Add      = 0x6a
	opI32Sub      = 0x6b
	opI32Mul      = 0x6c
	opI32And      = 0x71
	opI32Or       = 0x72
	opI64Add      = 0x7c
	opI64Mul      = 0x7e
	opI64And      = 0x83
	opI64Or       = 0x84
	opI64Shl      = 0x86
	opI64ShrU     = 0x88
	opI32WrapI64  = 0xa7
	opI64ExtendU  = 0xad
)

// code is a function body being written.
type code struct{ b []byte }

func (c *code) op(ops ...byte) *code { c.b = append(c.b, ops...); return c }

func (c *code) uleb(v uint64) *code { c.b = appendULEB(c.b, v); return c }

func (c *code) i32(v int32) *code { c.b = appendSLEB(append(c.b, opI32Const), int64(v)); return c }
func (c *code) i64(v int64) *code { c.b = appendSLEB(append(c.b, opI64Const), v); return c }

func (c *code) get(l uint32) *code  { return c.op(opLocalGet).uleb(uint64(l)) }
func (c *code) set(l uint32) *code  { return c.op(opLocalSet).uleb(uint64(l)) }
func (c *code) tee(l uint32) *code  { return c.op(opLocalTee).uleb(uint64(l)) }
func (c *code) gget(g uint32) *code { return c.op(opGlobalGet).uleb(uint64(g)) }
func (c *code) gset(g uint32) *code { return c.op(opGlobalSet).uleb(uint64(g)) }
func (c *code) call(f uint32) *code { return c.op(opCall).uleb(uint64(f)) }
func (c *code) br(depth uint32) *code {
	return c.op(opBr).uleb(uint64(depth))
}
func (c *code) brIf(depth uint32) *code { return c.op(opBrIf).uleb(uint64(depth)) }

// load8 and store8 address memory 0 with no offset.
func (c *code) load8() *code  { return c.op(opI32Load8U, 0, 0) }
func (c *code) store8() *code { return c.op(opI32Store8, 0, 0) }

func (c *code) block() *code { return c.op(opBlock, tEmpty) }
func (c *code) loop() *code  { return c.op(opLoop, tEmpty) }
func (c *code) if_() *code   { return c.op(opIf, tEmpty) }
func (c *code) end() *code   { return c.op(opEnd) }

// retIf returns v when the i32 on the stack is not zero.
func (c *code) retIf(v int32) *code { return c.if_().i32(v).op(opReturn).end() }

// retIfZero returns v when the i32 on the stack is zero.
func (c *code) retIfZero(v int32) *code { return c.op(opI32Eqz).retIf(v) }

// putByte stores the byte v at the address in local out and advances it.
func (c *code) putByte(out uint32, v byte) *code {
	return c.get(out).i32(int32(v)).store8().get(out).i32(1).op(opI32Add).set(out)
}

func appendULEB(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte { return append(appendULEB(b, uint64(len(s))), s...) }

// fn is a function of the module: its type, its locals beyond the
// parameters (as runs of one type), its body.
type fn struct {
	typ    uint32
	locals []byte // one value type per local
	body   code
}

// module is what assemble writes.
type module struct {
	types   [][2][]byte // params, results
	imports []struct {
		mod, name string
		typ       uint32
	}
	funcs   []*fn
	globals []byte // value types, each mutable and zero
	exports []struct {
		name string
		kind byte
		idx  uint32
	}
	pages uint32
	data  []struct {
		at  uint32
		val []byte
	}
}

func section(out []byte, id byte, body []byte) []byte {
	return append(appendULEB(append(out, id), uint64(len(body))), body...)
}

// assemble writes the module in the binary format.
func (m *module) assemble() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	var s []byte
	s = appendULEB(s, uint64(len(m.types)))
	for _, t := range m.types {
		s = append(s, 0x60)
		s = append(appendULEB(s, uint64(len(t[0]))), t[0]...)
		s = append(appendULEB(s, uint64(len(t[1]))), t[1]...)
	}
	out = section(out, 1, s)
	s = appendULEB(nil, uint64(len(m.imports)))
	for _, im := range m.imports {
		s = appendName(appendName(s, im.mod), im.name)
		s = appendULEB(append(s, 0x00), uint64(im.typ))
	}
	out = section(out, 2, s)
	s = appendULEB(nil, uint64(len(m.funcs)))
	for _, f := range m.funcs {
		s = appendULEB(s, uint64(f.typ))
	}
	out = section(out, 3, s)
	out = section(out, 5, appendULEB([]byte{1, 0x00}, uint64(m.pages)))
	s = appendULEB(nil, uint64(len(m.globals)))
	for _, t := range m.globals {
		s = append(s, t, 0x01)
		if t == tI64 {
			s = append(s, opI64Const, 0, opEnd)
		} else {
			s = append(s, opI32Const, 0, opEnd)
		}
	}
	out = section(out, 6, s)
	s = appendULEB(nil, uint64(len(m.exports)))
	for _, e := range m.exports {
		s = appendULEB(append(appendName(s, e.name), e.kind), uint64(e.idx))
	}
	out = section(out, 7, s)
	s = appendULEB(nil, uint64(len(m.funcs)))
	for _, f := range m.funcs {
		var b []byte
		b = appendULEB(b, uint64(len(f.locals)))
		for _, t := range f.locals {
			b = append(b, 1, t)
		}
		b = append(append(b, f.body.b...), opEnd)
		s = append(appendULEB(s, uint64(len(b))), b...)
	}
	out = section(out, 10, s)
	s = appendULEB(nil, uint64(len(m.data)))
	for _, d := range m.data {
		s = appendSLEB(append(s, 0x00, opI32Const), int64(d.at))
		s = append(s, opEnd)
		s = append(appendULEB(s, uint64(len(d.val))), d.val...)
	}
	return section(out, 11, s)
}
