package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/internal/wasmtest"
	"github.com/tetratelabs/wazero"
)

// The stub of a module has its imports, exports and memory, validates,
// and runs nothing: every function traps.
func TestStubModule(t *testing.T) {
	wasm := wasmtest.Guest().Custom("other", []byte("x")).Encode()
	stub, ok := stubModule(wasm)
	if !ok {
		t.Fatal("no stub")
	}
	sections, _ := stubSections(wasm)
	sum := sha256.Sum256(wasm)
	if len(sections) >= len(wasm) || bytes.Contains(stub, []byte(abi.DescribeSection)) || !bytes.Equal(stub[:len(sections)], sections) ||
		!bytes.HasSuffix(stub, append([]byte("flyte.stub-of"), sum[:]...)) {
		t.Fatalf("stub of %d bytes, module %d, custom sections kept: %v, ends with %q", len(stub), len(wasm), bytes.Contains(stub, []byte(abi.DescribeSection)), stub[len(sections):])
	}
	ctx := context.Background()
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	a, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.CompileModule(ctx, stub)
	if err != nil {
		t.Fatal("the stub does not validate:", err)
	}
	if sig(a) != sig(b) {
		t.Fatalf("module %s\nstub   %s", sig(a), sig(b))
	}
	if err := (&Host{}).instantiateHostModules(ctx, rt); err != nil {
		t.Fatal(err)
	}
	m, err := rt.InstantiateModule(ctx, b, wazero.NewModuleConfig().WithStartFunctions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.ExportedFunction(abi.DescribeExport).Call(ctx); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("the stub's describe: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("\x00asm"), wasm[:len(wasm)-1], append(append([]byte{}, wasm[:8]...), 10, 5, 2, 3, 0, 0, 0x0b)} {
		if _, ok := stubModule(bad); ok {
			t.Errorf("a stub of %q", bad)
		}
	}
}

// sig lists a compiled module's imports and exports with their types.
func sig(c wazero.CompiledModule) string {
	var s []string
	for _, f := range c.ImportedFunctions() {
		m, n, _ := f.Import()
		s = append(s, "import "+m+"."+n+signature(f.ParamTypes(), f.ResultTypes()))
	}
	for n, f := range c.ExportedFunctions() {
		s = append(s, "export "+n+signature(f.ParamTypes(), f.ResultTypes()))
	}
	for n := range c.ExportedMemories() {
		s = append(s, "memory "+n)
	}
	return strings.Join(sortedCopy(s), "; ")
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// loadBuiltin loads the built-in filestore on a new host over cache, with
// progress to w.
func loadBuiltin(t *testing.T, cache string, w *bytes.Buffer) *Plugin {
	t.Helper()
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Skip("built-in filestore missing (build with make):", err)
	}
	h, err := NewHost(Options{CacheDir: cache, Progress: w})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p, err := h.Load(context.Background(), Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore,
		Grants: map[string]capability.Grant{"fs": capability.FSGrant(t.TempDir())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	// It runs: a GET of a key that is not there is NOT_FOUND.
	_, err = p.Call(context.Background(), abi.OpGet, abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "acme"}, Key: "K"}))
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.NotFound {
		t.Fatalf("get: %v", err)
	}
	return p
}

// The first load compiles, with the one progress line (not a terminal),
// and leaves the module's entry, its stub's and the marker in the cache,
// and no directory of its own; the next loads take the stub.
func TestColdThenStub(t *testing.T) {
	cache := t.TempDir()
	var w bytes.Buffer
	p := loadBuiltin(t, cache, &w)
	if p.stub {
		t.Fatal("a cold load used a stub")
	}
	if !strings.HasPrefix(w.String(), "flyte: compiling plugin filestore (") || !strings.HasSuffix(w.String(), " MB, first use only)...\n") || strings.Count(w.String(), "\n") != 1 {
		t.Fatalf("progress: %q", w.String())
	}
	m := marker1(t, cache)
	if m.stub == "" || m.dir == "" || m.rate == 0 {
		t.Fatalf("marker: %+v", m)
	}
	dir := filepath.Join(cache, cacheSubdir, m.dir)
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != 2 {
		t.Fatalf("entries: %v %v", ents, err)
	}
	a, _ := os.Stat(filepath.Join(dir, ents[0].Name()))
	b, _ := os.Stat(filepath.Join(dir, ents[1].Name()))
	if !os.SameFile(a, b) {
		t.Fatal("the stub's entry is not the module's")
	}
	top, _ := os.ReadDir(cache)
	for _, e := range top {
		if strings.HasPrefix(e.Name(), compileDirPrefix) || strings.HasPrefix(e.Name(), ".marker-") {
			t.Errorf("left in the cache: %s", e.Name())
		}
	}
	for range 2 {
		w.Reset()
		if p := loadBuiltin(t, cache, &w); !p.stub {
			t.Fatal("a warm load did not use the stub")
		}
		if w.Len() != 0 {
			t.Fatalf("warm progress: %q", w.String())
		}
	}
}

// marker1 is the one marker in cache.
func marker1(t *testing.T, cache string) marker {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(cache, markerPrefix+"*"))
	if len(ms) != 1 {
		t.Fatalf("markers: %v", ms)
	}
	b, err := os.ReadFile(ms[0])
	if err != nil {
		t.Fatal(err)
	}
	return parseMarker(b)
}

// A stub whose entry is gone, or that wazero would compile for what it is
// (the marker names another entry), is never run: the load compiles the
// module and the marker keeps no stub.
func TestStubFallback(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(dir string, m marker) marker
	}{
		{"entry removed", func(dir string, m marker) marker {
			if err := os.Remove(filepath.Join(dir, m.stub)); err != nil {
				t.Fatal(err)
			}
			return m
		}},
		{"marker names the module's entry", func(dir string, m marker) marker {
			if err := os.Remove(filepath.Join(dir, m.stub)); err != nil {
				t.Fatal(err)
			}
			ents, _ := os.ReadDir(dir)
			m.stub = ents[0].Name()
			return m
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := t.TempDir()
			var w bytes.Buffer
			p := loadBuiltin(t, cache, &w)
			m := marker1(t, cache)
			m = c.tamper(filepath.Join(cache, cacheSubdir, m.dir), m)
			h := &Host{opts: Options{CacheDir: cache}, entryDir: entryDir(cache)}
			h.writeMarker(p.SHA256, m)
			w.Reset()
			if p := loadBuiltin(t, cache, &w); p.stub {
				t.Fatal("a stub was used")
			}
			if w.Len() != 0 {
				t.Fatalf("progress: %q", w.String())
			}
			if m := marker1(t, cache); m.stub != "" {
				t.Fatalf("marker kept its stub: %+v", m)
			}
		})
	}
}

// Without a cache every load compiles, with its line each time; a module
// under progressFrom compiles without one.
func TestNoCache(t *testing.T) {
	var w bytes.Buffer
	h, err := NewHost(Options{Progress: &w})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	small := wasmtest.Guest().Encode()
	wasm := padded(small, progressFrom)
	for _, m := range [][]byte{wasm, small, wasm} {
		p, err := h.Load(context.Background(), Spec{Name: "x", Wasm: m, Kind: abi.KindStore})
		if err != nil {
			t.Fatal(err)
		}
		p.Close(context.Background())
	}
	line := "flyte: compiling plugin x (" + sizeString(len(wasm)) + ", first use only)...\n"
	if w.String() != line+line {
		t.Fatalf("progress: %q", w.String())
	}
}

// padded is wasm with a custom section that makes it at least n bytes:
// as big as a module whose compile shows progress, as quick to compile.
func padded(wasm []byte, n int) []byte {
	name := "padding"
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, make([]byte, n)...)
	out := append(append([]byte(nil), wasm...), 0)
	for v := uint64(len(body)); ; v >>= 7 {
		if v < 0x80 {
			out = append(out, byte(v))
			break
		}
		out = append(out, byte(v)|0x80)
	}
	return append(out, body...)
}

func TestParseMarker(t *testing.T) {
	e := strings.Repeat("ab", 32)
	for _, c := range []struct {
		in   string
		want marker
	}{
		{"", marker{}},
		{"dir wazero-v1.12.0-amd64-linux\nstub " + e + "\nrate 4000000\n", marker{dir: "wazero-v1.12.0-amd64-linux", stub: e, rate: 4e6}},
		{"dir ../x\nstub " + strings.ToUpper(e) + "\nrate NaN\n", marker{}},
		{"dir wazero-a/b\nstub " + e[:62] + "\nrate 1e300\nrate -5\n", marker{}},
		{"other line\nrate 2000\n", marker{rate: 2000}},
	} {
		if got := parseMarker([]byte(c.in)); got != c.want {
			t.Errorf("%q: %+v, want %+v", c.in, got, c.want)
		}
	}
	m := marker{dir: "wazero-dev-arm64-darwin", stub: e, rate: 123456}
	if got := parseMarker(m.format()); got != m {
		t.Errorf("round trip: %+v", got)
	}
}

// FuzzMarker: any marker file parses to a marker that formats and parses
// back to itself, with a directory name of one path element.
func FuzzMarker(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("dir wazero-v1.12.0-amd64-linux\nstub " + strings.Repeat("0f", 32) + "\nrate 4000000\n"))
	f.Add([]byte("dir ..\nrate 1e999\nstub x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseMarker(b)
		if strings.ContainsAny(m.dir, "/\\\x00") || m.dir == ".." {
			t.Fatalf("dir %q", m.dir)
		}
		if m.stub != "" && !isEntryName(m.stub) {
			t.Fatalf("stub %q", m.stub)
		}
		if got := parseMarker(m.format()); got != m {
			t.Fatalf("%+v formats to %q, which parses to %+v", m, m.format(), got)
		}
	})
}

// FuzzStub: the stub of any bytes is refused or is a module whose sections
// walk, and a stub is never larger than its module plus its code section's
// bodies.
func FuzzStub(f *testing.F) {
	f.Add(wasmtest.Guest().Encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, ok := stubModule(b)
		if !ok {
			return
		}
		if _, walked := findDescribeOK(s); !walked {
			t.Fatalf("the stub of %q does not walk: %q", b, s)
		}
	})
}

// findDescribeOK is findDescribe's walk verdict.
func findDescribeOK(b []byte) ([]byte, bool) {
	p, ok, _ := findDescribe(b)
	return p, ok
}

// One module loaded under two names at once, on a cold cache, compiles
// once: the second load waits for the first's compile and takes its stub.
func TestConcurrentColdLoadsCompileOnce(t *testing.T) {
	small, err := builtin.Module("envinject")
	if err != nil {
		t.Skip("built-in envinject missing (build with make):", err)
	}
	wasm := padded(small, progressFrom) // its compile shows its line
	var w bytes.Buffer
	h, err := NewHost(Options{CacheDir: t.TempDir(), Progress: &syncWriter{w: &w}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	loaded := make(chan *Plugin, 2)
	for _, name := range []string{"a", "b"} {
		go func() {
			p, err := h.Load(ctx, Spec{Name: name, Wasm: wasm, Kind: abi.KindInjector})
			if err != nil {
				t.Error(err)
			}
			loaded <- p
		}()
	}
	stubs := 0
	for range 2 {
		if p := <-loaded; p != nil {
			if p.stub {
				stubs++
			}
			p.Close(ctx)
		}
	}
	if n := strings.Count(w.String(), "\n"); n != 1 || stubs != 1 {
		t.Fatalf("%d progress lines (%q), %d stubs; want 1 and 1", n, w.String(), stubs)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// Two modules that differ only in their code get stubs of their own, and
// so cache entries of their own: a warm load of one never runs the other's
// code, whichever compiled last (a module built from a built-in's sections
// with code of its own must not take the built-in over).
func TestStubsOfModulesWithTheSameSections(t *testing.T) {
	cache := t.TempDir()
	a := wasmtest.Guest()
	b := wasmtest.Guest()
	b.Func(abi.HandleExport).Body = wasmtest.I32Const(int32(abi.NotFound))
	wa, wb := a.Encode(), b.Encode()
	sa, _ := stubModule(wa)
	sb, _ := stubModule(wb)
	if bytes.Equal(sa, sb) {
		t.Fatal("two modules with the same sections have the same stub")
	}
	ctx := context.Background()
	call := func(w []byte, name string) (bool, error) {
		h, err := NewHost(Options{CacheDir: cache})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		p, err := h.Load(ctx, Spec{Name: name, Wasm: w, Kind: abi.KindStore})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close(ctx)
		_, err = p.Call(ctx, abi.OpGet, abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "acme"}, Key: "K"}))
		return p.stub, err
	}
	want := func(what string, stub, gotStub bool, err error, code abi.Status) {
		t.Helper()
		if gotStub != stub || abi.StatusOf(err) != code {
			t.Errorf("%s: stub %v, answered %v; want stub %v and status %v", what, gotStub, err, stub, code)
		}
	}
	aCode := func() abi.Status { _, err := call(wa, "a"); return abi.StatusOf(err) }()
	if aCode == abi.NotFound {
		t.Fatal("module A answers as B does: the test cannot tell them apart")
	}
	s, err := call(wb, "b")
	want("B cold", false, s, err, abi.NotFound)
	s, err = call(wa, "a")
	want("A warm after B", true, s, err, aCode)
	s, err = call(wb, "b")
	want("B warm", true, s, err, abi.NotFound)
}

// Two flyte builds of different wazero versions sharing a cache keep
// their markers apart: the other's compile does not make this one's next
// load cold (each would otherwise compile after every run of the other).
func TestMarkerPerWazeroVersion(t *testing.T) {
	cache := t.TempDir()
	var w bytes.Buffer
	p := loadBuiltin(t, cache, &w)
	if w.Len() == 0 {
		t.Fatal("the first load showed no compile")
	}
	// What a build of another wazero writes after its own compile.
	other := &Host{opts: Options{CacheDir: cache}, entryDir: filepath.Join(cache, cacheSubdir, "wazero-v0.0.1-amd64-linux")}
	other.writeMarker(p.SHA256, marker{dir: "wazero-v0.0.1-amd64-linux", stub: strings.Repeat("a", 64)})
	w.Reset()
	if p := loadBuiltin(t, cache, &w); !p.stub {
		t.Error("the warm load after another version's compile used no stub")
	}
	if w.Len() != 0 {
		t.Fatalf("the warm load after another version's compile showed: %q", w.String())
	}
}
