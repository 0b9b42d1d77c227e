// Package injectwasm writes the built-in injectors (plugins/envinject and
// plugins/fileinject) as WebAssembly modules of a few kilobytes, assembled
// instruction by instruction, instead of compiling their Go code for
// wasip1: a Go module carries Go's runtime (1.8 MB for an empty program),
// which wazero's optimizing compiler takes about a second of CPU to compile
// on the first use of each injector, and whose start-up each instance
// pays. The modules do exactly what the Go code of the two packages does,
// through the same ABI (abi/SPEC.md): they decode the whole PlanRequest as
// package abi's decoder does (any malformed input is "bad request:
// malformed message"), then plan each secret in order or fail on the first
// one not requested their way, byte for byte as the Go code would answer
// (host/builtin's FuzzInjectors compares them on any input). They import
// input_read and output_write only, and nothing of WASI.
package injectwasm

import "github.com/flytesecrets/flyte/abi"

// Role is which of the two built-in injectors a module is.
type Role int

const (
	// Env plans each secret as the environment variable it was requested
	// as (SecretRequest.AsEnvVar): plugins/envinject.
	Env Role = iota
	// File plans each secret as the file MOUNT/KEY, mode FileMode
	// (SecretRequest.Mount): plugins/fileinject.
	File
)

// Messages, as the Go code words them.
const (
	errPrefix   = "secret "
	envSuffix   = " was not requested as an environment variable"
	fileSuffix  = " was not requested as a file"
	badRequest  = "bad request: malformed message"
	unknownOp   = "unknown operation"
	maxField    = 1 << 29 // abi's decoder refuses field numbers past it
	inputOffset = 1024    // where the input goes; constants are below it
)

// Function indexes: the two imports, then the module's own.
const (
	fInputRead = iota
	fOutputWrite
	fNothing
	fDescribe
	fHandle
	fUvarint
	fNext
	fValidStrings
	fValidSecret
	fValidRequest
	fPutUvarint
	fUvarintLen
	fCopy
	fPlan
)

// Globals: what fNext and fUvarint leave for their caller.
const (
	gVal    = iota // i64: the varint read, or the length of a length-delimited field
	gField         // i32: the field number
	gWire          // i32: the wire type (0 or 2)
	gData          // i32: where a length-delimited field's bytes start
	gLen           // i32: their length
	gStatus        // i32: the status fPlan ended with
)

// Build returns the module of the injector of role r, which describes
// itself as d (the Go injector's description, from guest.InjectorHandler)
// and plans files with mode fileMode.
func Build(r Role, d *abi.Describe, fileMode uint32) []byte {
	m := &module{pages: 1}
	i32, i64 := byte(tI32), byte(tI64)
	m.types = [][2][]byte{
		{{i32, i32}, {i32}},      // 0: (i32, i32) -> i32
		{nil, nil},               // 1: () -> ()
		{nil, {i32}},             // 2: () -> i32
		{{i32, i32, i32}, {i32}}, // 3: (i32, i32, i32) -> i32
		{{i32, i64}, {i32}},      // 4: (i32, i64) -> i32
		{{i64}, {i32}},           // 5: (i64) -> i32
	}
	m.imports = append(m.imports,
		struct {
			mod, name string
			typ       uint32
		}{abi.HostModule, "input_read", 0},
		struct {
			mod, name string
			typ       uint32
		}{abi.HostModule, "output_write", 0})
	m.globals = []byte{i64, i32, i32, i32, i32, i32}

	// Constants, in memory below inputOffset.
	at := uint32(16)
	constant := func(s []byte) (addr, n int32) {
		m.data = append(m.data, struct {
			at  uint32
			val []byte
		}{at, s})
		addr, n = int32(at), int32(len(s))
		at += uint32(len(s))
		return addr, n
	}
	desc, descLen := constant(abi.Marshal(d))
	bad, badLen := constant(abi.Marshal(&abi.ErrorMessage{Message: badRequest}))
	unk, unkLen := constant(abi.Marshal(&abi.ErrorMessage{Message: unknownOp}))
	pre, preLen := constant([]byte(errPrefix))
	suffix := envSuffix
	if r == File {
		suffix = fileSuffix
	}
	suf, sufLen := constant([]byte(suffix))
	if at > inputOffset {
		panic("injectwasm: constants overlap the input")
	}

	m.funcs = []*fn{
		{typ: 1}, // fNothing: flyte_abi_v1 and _initialize
		{typ: 2, body: describe(desc, descLen)},
		{typ: 0, locals: []byte{i64, i32, i32}, body: handle(bad, badLen, unk, unkLen)},
		{typ: 0, locals: []byte{i32, i64, i32}, body: uvarint()},
		{typ: 0, locals: []byte{i32, i64}, body: next()},
		{typ: 3, body: validStrings()},
		{typ: 0, locals: []byte{i32}, body: validSecret()},
		{typ: 0, locals: []byte{i32}, body: validRequest()},
		{typ: 4, body: putUvarint()},
		{typ: 5, locals: []byte{i32}, body: uvarintLen()},
		{typ: 3, body: copyBytes()},
		{typ: 3, locals: []byte{i32, i32, i64, i32, i32, i32, i32, i32, i32, i32}, body: plan(r, fileMode, pre, preLen, suf, sufLen)},
	}
	for _, e := range []struct {
		name string
		idx  uint32
	}{{abi.MarkerExport, fNothing}, {abi.InitExport, fNothing}, {abi.DescribeExport, fDescribe}, {abi.HandleExport, fHandle}} {
		m.exports = append(m.exports, struct {
			name string
			kind byte
			idx  uint32
		}{e.name, 0x00, e.idx})
	}
	m.exports = append(m.exports, struct {
		name string
		kind byte
		idx  uint32
	}{"memory", 0x02, 0})
	return m.assemble()
}

// key is the first byte of a field of the wire format (abi/wire.go): its
// number and wire type (0: varint, 2: length-delimited).
func key(field, wire byte) byte { return field<<3 | wire }

// describe: flyte_describe writes the description.
func describe(desc, n int32) code {
	var c code
	c.i32(desc).i32(n).call(fOutputWrite)
	return c
}

// handle: flyte_handle(op, len). Memory grows to hold the input and what
// the plan or an error may take (at most four times the input, see plan);
// the input is read whole, as the Go kit reads it, then the op is checked.
func handle(bad, badLen, unk, unkLen int32) code {
	const (
		op, n        = 0, 1
		pages, st, o = 2, 3, 4 // pages: i64
	)
	var c code
	// pages = (inputOffset + 4n + 4096 + 65535) >> 16, in 64 bits: more
	// than 65536 cannot be had, and the call ends Internal, as a Go
	// guest's failed allocation would end it.
	c.get(n).op(opI64ExtendU).i64(4).op(opI64Mul).i64(inputOffset + 4096 + 65535).op(opI64Add).i64(16).op(opI64ShrU).set(pages)
	c.get(pages).i64(65536).op(opI64GtU).retIf(int32(abi.Internal))
	c.get(pages).op(opI32WrapI64).op(opMemorySize, 0).op(opI32GtU).if_()
	c.get(pages).op(opI32WrapI64).op(opMemorySize, 0).op(opI32Sub).op(opMemoryGrow, 0).i32(-1).op(opI32Eq).retIf(int32(abi.Internal))
	c.end()
	c.i32(inputOffset).get(n).call(fInputRead).get(n).op(opI32Ne).retIf(int32(abi.Internal))
	c.get(op).i32(int32(abi.OpPlan)).op(opI32Ne).if_()
	c.i32(unk).i32(unkLen).call(fOutputWrite).tee(st).if_().get(st).op(opReturn).end()
	c.i32(int32(abi.Unimplemented)).op(opReturn)
	c.end()
	c.i32(inputOffset).i32(inputOffset).get(n).op(opI32Add).call(fValidRequest).op(opI32Eqz).if_()
	c.i32(bad).i32(badLen).call(fOutputWrite).tee(st).if_().get(st).op(opReturn).end()
	c.i32(int32(abi.InvalidArgument)).op(opReturn)
	c.end()
	// o = where the output starts, right after the input; the plan ends at
	// the address fPlan returns.
	c.i32(int32(abi.OK)).gset(gStatus)
	c.i32(inputOffset).get(n).op(opI32Add).set(o)
	c.i32(inputOffset).get(o).get(o).call(fPlan).get(o).op(opI32Sub).set(n)
	c.get(n).if_()
	c.get(o).get(n).call(fOutputWrite).tee(st).if_().get(st).op(opReturn).end()
	c.end()
	c.gget(gStatus)
	return c
}

// uvarint(p, end) reads a varint at p as abi's decoder does (at most ten
// bytes, the tenth at most 1) into gVal; it returns the address after it,
// or 0 when there is none.
func uvarint() code {
	const p, end, i, v, b = 0, 1, 2, 3, 4
	var c code
	c.loop()
	c.get(p).get(i).op(opI32Add).get(end).op(opI32GeU).retIf(0)
	c.get(p).get(i).op(opI32Add).load8().set(b)
	c.get(i).i32(9).op(opI32Eq).get(b).i32(1).op(opI32GtU).op(opI32And).retIf(0)
	c.get(v).get(b).i32(0x7f).op(opI32And).op(opI64ExtendU).get(i).i32(7).op(opI32Mul).op(opI64ExtendU).op(opI64Shl).op(opI64Or).set(v)
	c.get(b).i32(0x80).op(opI32LtU).if_()
	c.get(v).gset(gVal).get(p).get(i).op(opI32Add).i32(1).op(opI32Add).op(opReturn)
	c.end()
	c.get(i).i32(1).op(opI32Add).set(i)
	c.br(0)
	c.end()
	c.op(opUnreachable)
	return c
}

// next(p, end) reads the field at p into gField, gWire and gVal (a
// varint) or gData and gLen (a length-delimited field); it returns the
// address after it, or 0 when it is malformed as abi's decoder says.
func next() code {
	const p, end, q, k = 0, 1, 2, 3
	var c code
	c.get(p).get(end).call(fUvarint).tee(q).retIfZero(0)
	c.gget(gVal).set(k)
	c.get(k).i64(3).op(opI64ShrU).op(opI64Eqz)
	c.get(k).i64(3).op(opI64ShrU).i64(maxField).op(opI64GtU).op(opI32Or).retIf(0)
	c.get(k).i64(3).op(opI64ShrU).op(opI32WrapI64).gset(gField)
	c.get(k).i64(7).op(opI64And).op(opI32WrapI64).gset(gWire)
	c.gget(gWire).op(opI32Eqz).if_()
	c.get(q).get(end).call(fUvarint).op(opReturn)
	c.end()
	c.gget(gWire).i32(2).op(opI32Ne).retIf(0)
	c.get(q).get(end).call(fUvarint).tee(q).retIfZero(0)
	c.gget(gVal).get(end).get(q).op(opI32Sub).op(opI64ExtendU).op(opI64GtU).retIf(0)
	c.get(q).gset(gData)
	c.gget(gVal).op(opI32WrapI64).gset(gLen)
	c.get(q).gget(gLen).op(opI32Add)
	return c
}

// validStrings(p, end, max) checks a message whose fields 1 to max are
// strings (a Task: 4, a Scope: 3): 1 if abi's decoder takes it, else 0.
func validStrings() code {
	const p, end, max = 0, 1, 2
	var c code
	c.block().loop()
	c.get(p).get(end).op(opI32GeU).brIf(1)
	c.get(p).get(end).call(fNext).tee(p).retIfZero(0)
	c.gget(gField).get(max).op(opI32LeU).gget(gWire).i32(2).op(opI32Ne).op(opI32And).retIf(0)
	c.br(0)
	c.end().end()
	c.i32(1)
	return c
}

// validSecret(p, end) checks a SecretRequest: 1 or 0.
func validSecret() code {
	const p, end, f = 0, 1, 2
	var c code
	c.block().loop()
	c.get(p).get(end).op(opI32GeU).brIf(1)
	c.get(p).get(end).call(fNext).tee(p).retIfZero(0)
	c.gget(gField).set(f)
	// ref, kind, size: 32-bit varints.
	c.get(f).i32(1).op(opI32Eq).get(f).i32(4).op(opI32Eq).op(opI32Or).get(f).i32(8).op(opI32Eq).op(opI32Or).if_()
	c.gget(gWire).i32(0).op(opI32Ne).gget(gVal).i64(1<<32 - 1).op(opI64GtU).op(opI32Or).retIf(0)
	c.end()
	// key, group, as_env_var, mount, scope: length-delimited.
	c.get(f).i32(2).op(opI32GeU).get(f).i32(7).op(opI32LeU).op(opI32And).get(f).i32(4).op(opI32Ne).op(opI32And).if_()
	c.gget(gWire).i32(2).op(opI32Ne).retIf(0)
	c.end()
	c.get(f).i32(7).op(opI32Eq).if_()
	c.gget(gData).gget(gData).gget(gLen).op(opI32Add).i32(3).call(fValidStrings).retIfZero(0)
	c.end()
	c.br(0)
	c.end().end()
	c.i32(1)
	return c
}

// validRequest(p, end) checks a PlanRequest: 1 or 0.
func validRequest() code {
	const p, end, f = 0, 1, 2
	var c code
	c.block().loop()
	c.get(p).get(end).op(opI32GeU).brIf(1)
	c.get(p).get(end).call(fNext).tee(p).retIfZero(0)
	// The field's number is kept: checking a Task overwrites gField.
	c.gget(gField).set(f)
	c.get(f).i32(1).op(opI32Eq).if_()
	c.gget(gWire).i32(2).op(opI32Ne).retIf(0)
	c.gget(gData).gget(gData).gget(gLen).op(opI32Add).i32(4).call(fValidStrings).retIfZero(0)
	c.end()
	c.get(f).i32(2).op(opI32Eq).if_()
	c.gget(gWire).i32(2).op(opI32Ne).retIf(0)
	c.gget(gData).gget(gData).gget(gLen).op(opI32Add).call(fValidSecret).retIfZero(0)
	c.end()
	c.br(0)
	c.end().end()
	c.i32(1)
	return c
}

// putUvarint(out, v) writes v as a varint at out and returns the address
// after it.
func putUvarint() code {
	const out, v = 0, 1
	var c code
	c.loop()
	c.get(v).i64(0x80).op(opI64GeU).if_()
	c.get(out).get(v).op(opI32WrapI64).i32(0x80).op(opI32Or).store8()
	c.get(out).i32(1).op(opI32Add).set(out)
	c.get(v).i64(7).op(opI64ShrU).set(v)
	c.br(1)
	c.end()
	c.end()
	c.get(out).get(v).op(opI32WrapI64).store8()
	c.get(out).i32(1).op(opI32Add)
	return c
}

// uvarintLen(v) is the length of v as a varint.
func uvarintLen() code {
	const v, n = 0, 1
	var c code
	c.i32(1).set(n)
	c.loop()
	c.get(v).i64(0x80).op(opI64GeU).if_()
	c.get(v).i64(7).op(opI64ShrU).set(v)
	c.get(n).i32(1).op(opI32Add).set(n)
	c.br(1)
	c.end()
	c.end()
	c.get(n)
	return c
}

// copy(out, src, n) copies n bytes from src to out and returns out+n.
func copyBytes() code {
	const out, src, n = 0, 1, 2
	var c code
	c.block().loop()
	c.get(n).op(opI32Eqz).brIf(1)
	c.get(out).get(src).load8().store8()
	c.get(out).i32(1).op(opI32Add).set(out)
	c.get(src).i32(1).op(opI32Add).set(src)
	c.get(n).i32(1).op(opI32Sub).set(n)
	c.br(0)
	c.end().end()
	c.get(out)
	return c
}

// plan(p, end, out) writes the plan of the valid PlanRequest between p and
// end at out, and returns where it ends, with gStatus OK; or, for the first
// secret not requested this injector's way, the ErrorMessage naming its
// key, written at out instead, with gStatus InvalidArgument.
//
// Each entry is at most five bytes longer than its secret in the request
// (the "/" and the mode of a file entry, a longer length varint) and a
// secret takes at least five bytes there, so a plan is at most twice the
// request; an error, the request and a sentence. handle grows the memory
// for four times the request.
func plan(r Role, fileMode uint32, pre, preLen, suf, sufLen int32) code {
	const (
		p, end, out = 0, 1, 2
		q, qe, ref  = 3, 4, 5 // the secret being planned: its fields and Ref
		kp, kl      = 6, 7    // its Key
		tp, tl      = 8, 9    // its AsEnvVar or Mount: the target
		bl, base    = 10, 11  // an entry's length; where the output starts
		pl          = 12      // a file entry's path length
	)
	target := int32(5) // SecretRequest.AsEnvVar
	if r == File {
		target = 6 // SecretRequest.Mount
	}
	var c code
	c.get(out).set(base)
	c.block().loop()
	c.get(p).get(end).op(opI32GeU).brIf(1)
	c.get(p).get(end).call(fNext).set(p)
	c.gget(gField).i32(2).op(opI32Eq).if_()
	c.gget(gData).set(q).gget(gData).gget(gLen).op(opI32Add).set(qe)
	c.i64(0).set(ref).i32(0).set(kp).i32(0).set(kl).i32(0).set(tp).i32(0).set(tl)
	// The secret's fields; the last of each counts, as in Go.
	c.block().loop()
	c.get(q).get(qe).op(opI32GeU).brIf(1)
	c.get(q).get(qe).call(fNext).set(q)
	c.gget(gField).i32(1).op(opI32Eq).if_().gget(gVal).set(ref).end()
	c.gget(gField).i32(2).op(opI32Eq).if_().gget(gData).set(kp).gget(gLen).set(kl).end()
	c.gget(gField).i32(target).op(opI32Eq).if_().gget(gData).set(tp).gget(gLen).set(tl).end()
	c.br(0)
	c.end().end()
	// Not requested this way: ErrorMessage{"secret KEY" + suffix}.
	c.get(tl).op(opI32Eqz).if_()
	c.get(base).set(out)
	c.putByte(out, key(1, 2))
	c.get(out).i32(preLen + sufLen).get(kl).op(opI32Add).op(opI64ExtendU).call(fPutUvarint).set(out)
	c.get(out).i32(pre).i32(preLen).call(fCopy).get(kp).get(kl).call(fCopy).i32(suf).i32(sufLen).call(fCopy)
	c.i32(int32(abi.InvalidArgument)).gset(gStatus)
	c.op(opReturn)
	c.end()
	if r == Env {
		// EnvEntry{Name: AsEnvVar, Ref}: field 1 of the plan.
		// bl = 1 + len(uvarint(tl)) + tl [+ 1 + len(uvarint(ref))]
		c.i32(1).get(tl).op(opI64ExtendU).call(fUvarintLen).op(opI32Add).get(tl).op(opI32Add).set(bl)
		c.get(ref).op(opI64Eqz).op(opI32Eqz).if_()
		c.get(bl).i32(1).op(opI32Add).get(ref).call(fUvarintLen).op(opI32Add).set(bl)
		c.end()
		c.putByte(out, key(1, 2))
		c.get(out).get(bl).op(opI64ExtendU).call(fPutUvarint).set(out)
		c.putByte(out, key(1, 2))
		c.get(out).get(tl).op(opI64ExtendU).call(fPutUvarint).get(tp).get(tl).call(fCopy).set(out)
		c.get(ref).op(opI64Eqz).op(opI32Eqz).if_()
		c.putByte(out, key(2, 0))
		c.get(out).get(ref).call(fPutUvarint).set(out)
		c.end()
	} else {
		// FileEntry{Path: Mount + "/" + Key, Mode, Ref}: field 2 of the
		// plan.
		mode := appendULEB(nil, uint64(fileMode))
		c.get(tl).i32(1).op(opI32Add).get(kl).op(opI32Add).set(pl)
		// bl = 1 + len(uvarint(pl)) + pl + 1 + len(mode) [+ 1 + len(uvarint(ref))]
		c.i32(int32(2 + len(mode))).get(pl).op(opI64ExtendU).call(fUvarintLen).op(opI32Add).get(pl).op(opI32Add).set(bl)
		c.get(ref).op(opI64Eqz).op(opI32Eqz).if_()
		c.get(bl).i32(1).op(opI32Add).get(ref).call(fUvarintLen).op(opI32Add).set(bl)
		c.end()
		c.putByte(out, key(2, 2))
		c.get(out).get(bl).op(opI64ExtendU).call(fPutUvarint).set(out)
		c.putByte(out, key(1, 2))
		c.get(out).get(pl).op(opI64ExtendU).call(fPutUvarint).get(tp).get(tl).call(fCopy).set(out)
		c.putByte(out, '/')
		c.get(out).get(kp).get(kl).call(fCopy).set(out)
		c.putByte(out, key(2, 0))
		for _, b := range mode {
			c.putByte(out, b)
		}
		c.get(ref).op(opI64Eqz).op(opI32Eqz).if_()
		c.putByte(out, key(3, 0))
		c.get(out).get(ref).call(fPutUvarint).set(out)
		c.end()
	}
	c.end()
	c.br(0)
	c.end().end()
	c.get(out)
	return c
}
