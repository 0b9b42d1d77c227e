// Package wasmtest writes small WebAssembly modules byte by byte, for tests
// of the host's defences against plugins that break the ABI in ways no
// toolchain would: exports with the wrong signature, start functions that
// never return, memories larger than the host allows.
//
// Module builds a minimal ABI v1 guest that loads as a store and answers
// nothing but its description; tests change one thing about it (an
// import, the marker, a custom section). AppendCustom is also what
// internal/describesection writes a flyte.describe section with.
package wasmtest

import (
	"github.com/flytesecrets/flyte/abi"
)

// Value types.
const (
	I32 byte = 0x7f
	I64 byte = 0x7e
	F32 byte = 0x7d
)

// Instructions used by the bodies below.
var (
	// Loop never returns: loop br 0 end unreachable (valid whatever the
	// function's results).
	Loop = []byte{0x03, 0x40, 0x0c, 0x00, 0x0b, 0x00}
	// ReturnOK returns status 0: i32.const 0.
	ReturnOK = []byte{0x41, 0x00}
)

// Func is a function the module defines.
type Func struct {
	Export  string // "" for none
	Params  []byte
	Results []byte
	Body    []byte // instructions, without the final end
}

// Import is a function the module imports.
type Import struct {
	Module, Name    string
	Params, Results []byte
}

// Module is a module to encode.
type Module struct {
	Imports []Import
	Funcs   []Func
	// MemoryPages is the memory's initial size; the memory is exported as
	// "memory" unless NoMemory is set.
	MemoryPages uint32
	NoMemory    bool
	// Data is placed at offset 0 of the memory.
	Data []byte
	// Start, when set, is the index (imports first) of a function run by
	// the module's start section.
	Start *uint32
	// Customs are custom sections, written after all the others.
	Customs []Custom
}

// Custom is a custom section (id 0).
type Custom struct {
	Name string
	Data []byte
}

// Describe returns the ABI description the default module sends.
func Describe() []byte {
	return abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "handmade", Version: "0.0.1"})
}

// Guest returns a minimal ABI v1 store: its description is written from a
// data segment with output_write (import 0), every handle call answers
// UNIMPLEMENTED.
func Guest() *Module { return GuestDescribing(Describe()) }

// GuestDescribing is Guest describing itself with d (an encoded
// abi.Describe).
func GuestDescribing(d []byte) *Module {
	describe := append(append(append(i32const(0), i32const(int32(len(d)))...), 0x10, 0x00, 0x1a), ReturnOK...) // output_write(0, len); drop; 0
	return &Module{
		Imports: []Import{{Module: abi.HostModule, Name: "output_write", Params: []byte{I32, I32}, Results: []byte{I32}}},
		Funcs: []Func{
			{Export: abi.InitExport},
			{Export: abi.MarkerExport},
			{Export: abi.DescribeExport, Results: []byte{I32}, Body: describe},
			{Export: abi.HandleExport, Params: []byte{I32, I32}, Results: []byte{I32}, Body: i32const(int32(abi.Unimplemented))},
		},
		MemoryPages: 1,
		Data:        d,
	}
}

// Import adds an imported function. Imports are added after the existing
// ones, so the indices the bodies of Guest call do not move; the new
// import's index is len(m.Imports)-1.
func (m *Module) Import(module, name string, params, results []byte) *Module {
	m.Imports = append(m.Imports, Import{Module: module, Name: name, Params: params, Results: results})
	return m
}

// Marker renames the ABI marker export (to flyte_abi_v2, say).
func (m *Module) Marker(name string) *Module {
	m.Func(abi.MarkerExport).Export = name
	return m
}

// Custom adds a custom section.
func (m *Module) Custom(name string, data []byte) *Module {
	m.Customs = append(m.Customs, Custom{Name: name, Data: data})
	return m
}

// AppendCustom appends a custom section to an encoded module: id 0, its
// size, its name, its data.
func AppendCustom(wasm []byte, name string, data []byte) []byte {
	return section(wasm, 0, append(nameBytes(name), data...))
}

// Call is the instruction that calls function index i (imports first).
func Call(i uint32) []byte { return append([]byte{0x10}, uleb(i)...) }

// I32Const is the instruction that pushes v.
func I32Const(v int32) []byte { return i32const(v) }

// Func returns the function exported as name, or nil.
func (m *Module) Func(name string) *Func {
	for i := range m.Funcs {
		if m.Funcs[i].Export == name {
			return &m.Funcs[i]
		}
	}
	return nil
}

// Without drops the function exported as name.
func (m *Module) Without(name string) *Module {
	for i := range m.Funcs {
		if m.Funcs[i].Export == name {
			m.Funcs[i].Export = ""
		}
	}
	return m
}

// Encode returns the module's binary form.
func (m *Module) Encode() []byte {
	out := []byte("\x00asm\x01\x00\x00\x00")
	// Types: one per import and function, in that order.
	var types [][]byte
	for _, im := range m.Imports {
		types = append(types, funcType(im.Params, im.Results))
	}
	for _, f := range m.Funcs {
		types = append(types, funcType(f.Params, f.Results))
	}
	out = section(out, 1, vec(types))
	var imports [][]byte
	for i, im := range m.Imports {
		b := append(nameBytes(im.Module), nameBytes(im.Name)...)
		imports = append(imports, append(append(b, 0x00), uleb(uint32(i))...))
	}
	out = section(out, 2, vec(imports))
	var funcs [][]byte
	for i := range m.Funcs {
		funcs = append(funcs, uleb(uint32(len(m.Imports)+i)))
	}
	out = section(out, 3, vec(funcs))
	if !m.NoMemory {
		out = section(out, 5, vec([][]byte{append([]byte{0x00}, uleb(m.MemoryPages)...)}))
	}
	var exports [][]byte
	for i, f := range m.Funcs {
		if f.Export != "" {
			exports = append(exports, append(append(nameBytes(f.Export), 0x00), uleb(uint32(len(m.Imports)+i))...))
		}
	}
	if !m.NoMemory {
		exports = append(exports, append(nameBytes("memory"), 0x02, 0x00))
	}
	out = section(out, 7, vec(exports))
	if m.Start != nil {
		out = section(out, 8, uleb(*m.Start))
	}
	var bodies [][]byte
	for _, f := range m.Funcs {
		body := append([]byte{0x00}, f.Body...) // no locals
		body = append(body, 0x0b)
		bodies = append(bodies, append(uleb(uint32(len(body))), body...))
	}
	out = section(out, 10, vec(bodies))
	if len(m.Data) > 0 && !m.NoMemory {
		seg := append([]byte{0x00}, i32const(0)...)
		seg = append(seg, 0x0b)
		seg = append(seg, uleb(uint32(len(m.Data)))...)
		seg = append(seg, m.Data...)
		out = section(out, 11, vec([][]byte{seg}))
	}
	for _, c := range m.Customs {
		out = AppendCustom(out, c.Name, c.Data)
	}
	return out
}

func funcType(params, results []byte) []byte {
	b := append([]byte{0x60}, uleb(uint32(len(params)))...)
	b = append(b, params...)
	b = append(b, uleb(uint32(len(results)))...)
	return append(b, results...)
}

func section(out []byte, id byte, content []byte) []byte {
	out = append(out, id)
	out = append(out, uleb(uint32(len(content)))...)
	return append(out, content...)
}

func vec(items [][]byte) []byte {
	b := uleb(uint32(len(items)))
	for _, it := range items {
		b = append(b, it...)
	}
	return b
}

func nameBytes(s string) []byte { return append(uleb(uint32(len(s))), s...) }

func i32const(v int32) []byte { return append([]byte{0x41}, sleb(int64(v))...) }

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			c |= 0x80
		}
		b = append(b, c)
		if v == 0 {
			return b
		}
	}
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v == 0 && c&0x40 == 0 || v == -1 && c&0x40 != 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
