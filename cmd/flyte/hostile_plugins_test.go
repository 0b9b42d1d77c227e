package main

import (
	"os"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/internal/wasmtest"
	"github.com/rogpeppe/go-internal/testscript"
	"golang.org/x/sys/unix"
)

// handmade are the modules wasmgen writes: a minimal ABI v1 store
// (wasmtest.Guest) with one thing broken.
var handmade = map[string]func(m *wasmtest.Module){
	"good": func(m *wasmtest.Module) {},
	"describe-returns-nothing": func(m *wasmtest.Module) {
		f := m.Func(abi.DescribeExport)
		f.Results, f.Body = nil, nil
	},
	"handle-returns-nothing": func(m *wasmtest.Module) {
		f := m.Func(abi.HandleExport)
		f.Results, f.Body = nil, nil
	},
	"handle-takes-nothing":  func(m *wasmtest.Module) { m.Func(abi.HandleExport).Params = nil },
	"initialize-never-ends": func(m *wasmtest.Module) { m.Func(abi.InitExport).Body = wasmtest.Loop },
	"describe-never-ends":   func(m *wasmtest.Module) { m.Func(abi.DescribeExport).Body = wasmtest.Loop },
	"big-memory":            func(m *wasmtest.Module) { m.MemoryPages = 1562 },
	"unknown-import": func(m *wasmtest.Module) {
		m.Imports = append(m.Imports, wasmtest.Import{Module: abi.HostModule, Name: "nope"})
	},
	// ABI v2's marker instead of v1's: a plugin for an unknown major.
	"abi-v2": func(m *wasmtest.Module) { m.Marker("flyte_abi_v2") },
	// Needs capabilities: http (ABI 1.2), and one from a newer ABI.
	"needs-http": func(m *wasmtest.Module) {
		m.Import(abi.HTTPModule, "request", []byte{wasmtest.I32, wasmtest.I32}, []byte{wasmtest.I32})
	},
	"needs-vault": func(m *wasmtest.Module) {
		m.Import("flyte_vault_v1", "open", []byte{wasmtest.I32, wasmtest.I32}, []byte{wasmtest.I32})
	},
}

// cmdWasmgen writes a hand-made WebAssembly module (see handmade):
//
//	wasmgen KIND FILE
func cmdWasmgen(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || handmade[args[0]] == nil {
		ts.Fatalf("usage: wasmgen KIND FILE")
	}
	m := wasmtest.Guest()
	handmade[args[0]](m)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), m.Encode(), 0o644))
}

// cmdHoldlock takes the exclusive flock a store plugin's fs lock takes on
// FILE (created if needed, as the host does), and holds it until the
// script ends:
//
//	holdlock FILE
func cmdHoldlock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock FILE")
	}
	f, err := os.OpenFile(ts.MkAbs(args[0]), os.O_RDWR|os.O_CREATE, 0o600)
	ts.Check(err)
	ts.Check(unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB))
	ts.Defer(func() { f.Close() })
}
