package plugin_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// loadModule loads a hand-made module as the store "x".
func loadModule(t testing.TB, m *wasmtest.Module) (*plugin.Plugin, error) {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p, err := h.Load(context.Background(), plugin.Spec{Name: "x", Wasm: m.Encode(), Kind: abi.KindStore, Timeout: 300 * time.Millisecond})
	if p != nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

func TestHandmadeGuestLoads(t *testing.T) {
	p, err := loadModule(t, wasmtest.Guest())
	if err != nil {
		t.Fatal(err)
	}
	if p.Info.Name != "handmade" {
		t.Fatalf("describe: %+v", p.Info)
	}
	if _, err := p.Call(context.Background(), abi.OpList, nil); abi.StatusOf(err) != abi.Unimplemented {
		t.Fatalf("call: %v", err)
	}
}

// Every way of breaking the module's shape is a one-line error at load
// that says what is wrong; none panics or hangs the host.
func TestLoadRefusals(t *testing.T) {
	i32, i64 := wasmtest.I32, wasmtest.I64
	for _, c := range []struct {
		name string
		mod  func(m *wasmtest.Module)
		want string
	}{
		{"describe returns nothing", func(m *wasmtest.Module) {
			f := m.Func(abi.DescribeExport)
			f.Results, f.Body = nil, nil
		}, "exports flyte_describe as () -> (); ABI v1 needs () -> i32"},
		{"describe takes a parameter", func(m *wasmtest.Module) {
			m.Func(abi.DescribeExport).Params = []byte{i32}
		}, "exports flyte_describe as (i32) -> i32; ABI v1 needs () -> i32"},
		{"describe returns i64", func(m *wasmtest.Module) {
			f := m.Func(abi.DescribeExport)
			f.Results, f.Body = []byte{i64}, []byte{0x42, 0x00}
		}, "exports flyte_describe as () -> i64; ABI v1 needs () -> i32"},
		{"handle returns nothing", func(m *wasmtest.Module) {
			f := m.Func(abi.HandleExport)
			f.Results, f.Body = nil, nil
		}, "exports flyte_handle as (i32, i32) -> (); ABI v1 needs (i32, i32) -> i32"},
		{"handle takes no parameters", func(m *wasmtest.Module) {
			m.Func(abi.HandleExport).Params = nil
		}, "exports flyte_handle as () -> i32; ABI v1 needs (i32, i32) -> i32"},
		{"handle returns two values", func(m *wasmtest.Module) {
			f := m.Func(abi.HandleExport)
			f.Results, f.Body = []byte{i32, i32}, []byte{0x41, 0x00, 0x41, 0x00}
		}, "exports flyte_handle as (i32, i32) -> (i32, i32); ABI v1 needs (i32, i32) -> i32"},
		{"initialize takes a parameter", func(m *wasmtest.Module) {
			m.Func(abi.InitExport).Params = []byte{i32}
		}, "exports _initialize as (i32) -> (); ABI v1 needs () -> ()"},
		{"initialize returns a value", func(m *wasmtest.Module) {
			f := m.Func(abi.InitExport)
			f.Results, f.Body = []byte{i32}, wasmtest.ReturnOK
		}, "exports _initialize as () -> i32; ABI v1 needs () -> ()"},
		{"marker takes a parameter", func(m *wasmtest.Module) {
			m.Func(abi.MarkerExport).Params = []byte{i64}
		}, "exports flyte_abi_v1 as (i64) -> (); ABI v1 needs () -> ()"},
		{"no marker", func(m *wasmtest.Module) { m.Without(abi.MarkerExport) },
			"is not a flyte ABI v1 plugin (no flyte_abi_v1 export)"},
		{"no handle", func(m *wasmtest.Module) { m.Without(abi.HandleExport) },
			"does not export flyte_handle"},
		{"no memory", func(m *wasmtest.Module) { m.NoMemory = true },
			"does not export its memory (an export named memory)"},
		{"unknown host function", func(m *wasmtest.Module) {
			m.Imports = append(m.Imports, wasmtest.Import{Module: abi.HostModule, Name: "nope"})
		}, "imports flyte_v1.nope, from a newer ABI than this flyte's 1.4"},
		{"unknown module", func(m *wasmtest.Module) {
			m.Imports = append(m.Imports, wasmtest.Import{Module: "env", Name: "abort"})
		}, "imports env.abort, from a module this host does not provide"},
		{"host function with another signature", func(m *wasmtest.Module) {
			m.Imports = append(m.Imports, wasmtest.Import{Module: abi.HostModule, Name: "input_read", Params: []byte{i32}, Results: []byte{i32}})
		}, "imports flyte_v1.input_read as (i32) -> i32; this host provides (i32, i32) -> i32"},
		{"WASI function with another signature", func(m *wasmtest.Module) {
			m.Imports = append(m.Imports, wasmtest.Import{Module: "wasi_snapshot_preview1", Name: "random_get", Params: []byte{i64}})
		}, "imports wasi_snapshot_preview1.random_get as (i64) -> (); this host provides (i32, i32) -> i32"},
		{"escapes in an import name", func(m *wasmtest.Module) {
			m.Imports = append(m.Imports, wasmtest.Import{Module: abi.HostModule, Name: "a\x1b[2Jb\nc"})
		}, "imports flyte_v1.a [2Jb c, from a newer ABI than this flyte's 1.4"},
		{"memory over the limit", func(m *wasmtest.Module) { m.MemoryPages = 1562 },
			"needs 1562 pages of memory, the limit is 1024 (memory_pages in [plugins.x])"},
		{"initialize never returns", func(m *wasmtest.Module) { m.Func(abi.InitExport).Body = wasmtest.Loop },
			"failed to start: its initialisation (_initialize) did not finish in time"},
		{"start section never returns", func(m *wasmtest.Module) {
			m.Func(abi.MarkerExport).Body = wasmtest.Loop
			start := uint32(len(m.Imports) + 1)
			m.Start = &start
		}, "failed to start: its initialisation (_initialize) did not finish in time"},
		{"describe never returns", func(m *wasmtest.Module) { m.Func(abi.DescribeExport).Body = wasmtest.Loop },
			"call timed out after 300ms"},
		{"initialize traps", func(m *wasmtest.Module) { m.Func(abi.InitExport).Body = []byte{0x00} },
			"failed to start: module[] function[_initialize] failed: wasm error: unreachable"},
		{"nothing but memory", func(m *wasmtest.Module) { m.Imports, m.Funcs = nil, nil },
			"is not a flyte ABI v1 plugin (no flyte_abi_v1 export)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := wasmtest.Guest()
			c.mod(m)
			_, err := loadModule(t, m)
			if err == nil || err.Error() != "plugin x: "+c.want {
				t.Fatalf("got  %v\nwant plugin x: %s", err, c.want)
			}
		})
	}
}

func TestCompileErrorKeepsCause(t *testing.T) {
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for in, want := range map[string]string{
		"not wasm":                "plugin x: not a valid WebAssembly module: invalid magic number",
		"\x00asm\x02\x00\x00\x00": "plugin x: not a valid WebAssembly module: invalid version header",
	} {
		_, err := h.Load(context.Background(), plugin.Spec{Name: "x", Wasm: []byte(in)})
		if err == nil || err.Error() != want {
			t.Errorf("%q: got %v, want %s", in, err, want)
		}
	}
}

// FuzzLoad: no module, however malformed, panics the host, and every
// refusal is one line.
func FuzzLoad(f *testing.F) {
	f.Add(wasmtest.Guest().Encode())
	m := wasmtest.Guest()
	m.Func(abi.DescribeExport).Results = nil
	f.Add(m.Encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		p, err := h.Load(context.Background(), plugin.Spec{Name: "x", Wasm: wasm, Timeout: 100 * time.Millisecond, MemoryPages: 16})
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("error is not one clean line: %q", err)
			}
			return
		}
		p.Close(context.Background())
	})
}

func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.wasm")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.wasm")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, plugin.MaxModuleSize+1); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	ok := filepath.Join(dir, "ok.wasm")
	if err := os.WriteFile(ok, []byte("\x00asm"), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		fifo:        fifo + " is a named pipe, not a regular file",
		"/dev/zero": "/dev/zero is a character device, not a regular file",
		dir:         dir + " is a directory, not a regular file",
		big:         big + " is 67108865 bytes; a plugin module may be at most 67108864 bytes (64 MiB)",
	} {
		if _, err := plugin.ReadFile(path); err == nil || err.Error() != want {
			t.Errorf("got %v, want %s", err, want)
		}
	}
	if b, err := plugin.ReadFile(ok); err != nil || string(b) != "\x00asm" {
		t.Fatalf("regular file: %q %v", b, err)
	}
}
