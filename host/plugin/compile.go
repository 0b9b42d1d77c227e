package plugin

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// How a module is compiled, and why a warm load does not validate it again.
//
// wazero's CompileModule decodes and validates the whole module (it walks
// every instruction of every function) before it looks in the compilation
// cache: for a 2 MB Go guest that is about two thirds of a warm load. A
// cache hit uses from the cache only the native code of the functions;
// everything else (types, imports, exports, memory, globals, tables, data)
// comes from the module passed in. So a warm load passes the module's stub
// (stubModule: the same sections, every function body `unreachable`, no
// custom section), which validates in no time, under a cache entry that
// holds the real module's code.
//
// That entry is made once, by the first compile, in a directory of its own
// inside the cache (compiling-*): wazero compiles (and validates) the real
// module there, then the stub, and the stub's entry is replaced by a hard
// link to the real one; both entries are renamed into the cache, and only
// then is the marker compiled2-<sha256>-<wazero's directory> written,
// naming the stub's entry.
// A warm load uses the stub only when the marker names an entry that
// exists, and checks after the compile that wazero did not replace it: a
// stub compiled for what it is (every call traps) is never run; the load
// compiles the real module instead and the marker is dropped.
//
// The marker also records how fast this machine compiled (bytes per
// second), from which the next cold compile's progress line estimates its
// percentage.

// compileDirPrefix names the directories of cold compiles in the cache.
const compileDirPrefix = "compiling-"

// markerPrefix names the markers of compiled modules in the cache.
// ("compiled2-" since stubs name their module: a "compiled-" marker, of
// a flyte whose stubs did not, is not read, so each module is compiled
// once more and gets a stub of its own).
const markerPrefix = "compiled2-"

// maxMarker bounds a marker file.
const maxMarker = 4 << 10

// defaultRate is the compile speed assumed before this machine's is known:
// bytes of module per second with the whole machine's cores, measured on
// 2 cores.
const defaultRate = 4e6

// progressFrom is the size from which a cold compile shows progress: a
// smaller module (the built-in injectors, 1.7 KB) compiles in milliseconds,
// and a line for it would only be noise; a 64 KB module takes about 0.2 s
// at the slowest compile speed seen on a loaded 2-core machine.
const progressFrom = 64 << 10

// compiled is what compile returns.
type compiled struct {
	rt  wazero.Runtime
	mod wazero.CompiledModule
	// cache is a compilation cache of the compile's own, closed with the
	// plugin (after its runtime); nil when it uses the Host's.
	cache wazero.CompilationCache
	// stub: mod is the module's stub over the real module's cached code.
	stub bool
}

// close releases what compile returned.
func (c *compiled) close(ctx context.Context) {
	if c.rt != nil {
		_ = c.rt.Close(ctx)
	}
	if c.cache != nil {
		_ = c.cache.Close(ctx)
	}
}

// runtimeWith returns a new runtime over cache (nil: none) for a module
// whose memory is capped at pages (0: no cap), whose calls end at their
// deadline unless h is the built-ins' host (watchdog.go).
func (h *Host) runtimeWith(ctx context.Context, cache wazero.CompilationCache, pages uint32) wazero.Runtime {
	// Custom sections are not kept (findDescribe reads flyte.describe from
	// the bytes): neither asked for nor kept for DWARF debug information,
	// which would keep every one of them, and flyte's messages take the
	// first line of a trap only.
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(!h.unchecked).
		WithDebugInfoEnabled(false)
	if pages != 0 {
		// A larger cap, which only a configuration grants, keeps growing on
		// demand: it would be allocated whole for every instance. The pages
		// are not touched until the guest uses them.
		cfg = cfg.WithMemoryLimitPages(pages).WithMemoryCapacityFromMax(h.opts.WholeMemory && pages <= DefaultMemoryPages)
	}
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	return wazero.NewRuntimeWithConfig(ctx, cfg)
}

// compile compiles a module (or loads it from the cache) in a runtime of
// its own; the caller closes what it returns, even with an error. A cold
// compile shows progress.
//
// With stub, a module compiled before is compiled as its stub if it has
// one; the caller that finds it does not start (it traps: wazero compiled
// the stub for what it is) drops the marker and compiles again without.
func (h *Host) compile(ctx context.Context, name string, wasm []byte, sum string, pages uint32, stub bool) (c *compiled, err error) {
	cctx := experimental.WithCompilationWorkers(ctx, runtime.NumCPU())
	if h.cache == nil {
		return h.compileCold(cctx, name, wasm, sum, pages, false)
	}
	m, cold := h.claim(sum)
	if cold != nil {
		// Never compiled here, or by another version of wazero.
		defer h.release(sum, cold)
		return h.compileCold(cctx, name, wasm, sum, pages, true)
	}
	if stub && m.stub != "" && m.dir != "" {
		c, ok, stale := h.compileStub(cctx, wasm, m.stub, pages)
		if ok {
			return c, nil
		}
		if stale {
			h.dropMarker(sum)
		}
	}
	c = &compiled{rt: h.runtimeWith(ctx, h.cache, pages)}
	c.mod, err = c.rt.CompileModule(cctx, wasm)
	return c, err
}

// claim reads the marker of the module whose SHA-256 is sum, after any
// cold compile of it that this Host runs ended (one module loaded under
// two names compiles once). When there
// is none, or it is another wazero version's, the module is the caller's to
// compile: cold is then closed by release once the marker is written.
func (h *Host) claim(sum string) (m marker, cold chan struct{}) {
	for {
		h.mu.Lock()
		wait := h.inflight[sum]
		if wait == nil {
			m, ok := h.readMarker(sum)
			if ok && (m.dir == "" || m.dir == filepath.Base(h.entryDir)) {
				h.mu.Unlock()
				return m, nil
			}
			if h.inflight == nil {
				h.inflight = map[string]chan struct{}{}
			}
			cold = make(chan struct{})
			h.inflight[sum] = cold
			h.mu.Unlock()
			return marker{}, cold
		}
		h.mu.Unlock()
		<-wait
	}
}

// release ends the cold compile claim returned.
func (h *Host) release(sum string, cold chan struct{}) {
	h.mu.Lock()
	delete(h.inflight, sum)
	h.mu.Unlock()
	close(cold)
}

// compileStub compiles the module's stub, whose cache entry is the file
// entry of wazero's directory. ok is false, and nothing is returned, when
// the stub cannot be used: stale says the marker is wrong (the entry is
// missing, or wazero compiled the stub instead of taking the entry);
// otherwise the module itself is compiled to say what is wrong with it (a
// memory over this load's cap).
func (h *Host) compileStub(ctx context.Context, wasm []byte, entry string, pages uint32) (c *compiled, ok, stale bool) {
	path := filepath.Join(h.entryDir, entry)
	before, err := os.Lstat(path)
	if err != nil || !before.Mode().IsRegular() {
		return nil, false, true
	}
	stub, ok := stubModule(wasm)
	if !ok {
		return nil, false, true
	}
	c = &compiled{rt: h.runtimeWith(ctx, h.cache, pages)}
	mod, err := c.rt.CompileModule(ctx, stub)
	// wazero writes an entry only when it compiled: an entry that is not
	// the same file as before means the stub was compiled for what it is.
	after, aerr := os.Lstat(path)
	if aerr != nil || !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		c.close(ctx)
		return nil, false, true
	}
	if err != nil {
		c.close(ctx)
		return nil, false, false
	}
	c.mod, c.stub = mod, true
	return c, true, false
}

// compileCold compiles a module the cache does not hold, with a progress
// line; with cached, in a directory of the cache's own from which its entry
// and its stub's move into the cache, and the marker is written.
func (h *Host) compileCold(ctx context.Context, name string, wasm []byte, sum string, pages uint32, cached bool) (c *compiled, err error) {
	running := h.compiling.Add(1)
	defer h.compiling.Add(-1)
	var expect time.Duration
	var rate float64
	if cached {
		rate = h.rate()
		expect = time.Duration(float64(len(wasm)) * float64(running) / rate * float64(time.Second))
	}
	display := h.progress
	if len(wasm) < progressFrom {
		display = nil // no line: it compiles in the blink of an eye
	}
	task := display.Start("compiling plugin "+name+" ("+sizeString(len(wasm))+", first use only)", expect)
	start := time.Now()
	defer func() { task.Done(err == nil) }()
	if !cached {
		c = &compiled{rt: h.runtimeWith(ctx, nil, pages)}
		c.mod, err = c.rt.CompileModule(ctx, wasm)
		return c, err
	}
	h.sweep()
	tmp, err := os.MkdirTemp(h.opts.CacheDir, compileDirPrefix)
	if err != nil {
		// No room of its own: compiled through the cache, without a stub.
		c = &compiled{rt: h.runtimeWith(ctx, h.cache, pages)}
		if c.mod, err = c.rt.CompileModule(ctx, wasm); err == nil {
			h.writeMarker(sum, marker{rate: rateOf(len(wasm), running, time.Since(start))})
		}
		return c, err
	}
	defer os.RemoveAll(tmp)
	cache, err := wazero.NewCompilationCacheWithDir(tmp)
	if err != nil {
		return &compiled{}, fmt.Errorf("cannot open the plugin cache %s: %w", tmp, err)
	}
	c = &compiled{rt: h.runtimeWith(ctx, cache, pages), cache: cache}
	if c.mod, err = c.rt.CompileModule(ctx, wasm); err != nil {
		return c, err
	}
	dir, stub := h.installStub(ctx, tmp, wasm, pages)
	h.writeMarker(sum, marker{dir: dir, stub: stub, rate: rateOf(len(wasm), running, time.Since(start))})
	return c, nil
}

// installStub moves the entry wazero wrote in the cache directory tmp into
// the cache, with the stub's entry linked to it. It returns the name of
// wazero's directory (its version's) and the stub's entry name; "" when
// there is no stub (the entry alone moved, if it could).
func (h *Host) installStub(ctx context.Context, tmp string, wasm []byte, pages uint32) (dir, stub string) {
	// wazero made one directory in tmp, named for its version: the
	// directory of the same name in the cache is where its entry goes.
	ents, err := os.ReadDir(tmp)
	if err != nil || len(ents) != 1 || !ents[0].IsDir() {
		return "", ""
	}
	dir = ents[0].Name()
	src, dst := filepath.Join(tmp, dir), filepath.Join(h.opts.CacheDir, cacheSubdir, dir)
	entries := func() []string {
		ents, _ := os.ReadDir(src)
		var names []string
		for _, e := range ents {
			if e.Type().IsRegular() && isEntryName(e.Name()) {
				names = append(names, e.Name())
			}
		}
		return names
	}
	real := entries()
	if len(real) != 1 || os.MkdirAll(dst, 0o700) != nil {
		return "", ""
	}
	move := func(name string) bool { return os.Rename(filepath.Join(src, name), filepath.Join(dst, name)) == nil }
	if dst != h.entryDir {
		// Not where this flyte expects this wazero's entries: no stub.
		move(real[0])
		return dir, ""
	}
	if s, ok := stubModule(wasm); ok {
		cache, err := wazero.NewCompilationCacheWithDir(tmp)
		if err == nil {
			rt := h.runtimeWith(ctx, cache, pages)
			_, err = rt.CompileModule(ctx, s)
			_ = rt.Close(ctx)
			_ = cache.Close(ctx)
		}
		for _, n := range entries() {
			if n != real[0] && err == nil {
				stub = n
			}
		}
	}
	// The stub's entry becomes the real one: a hard link, so that the code
	// is on disk once.
	if stub != "" && (os.Remove(filepath.Join(src, stub)) != nil || os.Link(filepath.Join(src, real[0]), filepath.Join(src, stub)) != nil) {
		stub = ""
	}
	if !move(real[0]) || (stub != "" && !move(stub)) {
		return dir, ""
	}
	return dir, stub
}

// sizeString is a module's size for the progress line: "2.1 MB", "19 KB"
// (under a megabyte), "512 bytes" (under a kilobyte).
func sizeString(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%d KB", n/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// isEntryName reports whether name is wazero's name for a cache entry: the
// hex of a SHA-256.
func isEntryName(name string) bool {
	if len(name) != 64 {
		return false
	}
	_, err := hex.DecodeString(name)
	return err == nil && strings.ToLower(name) == name
}

// sweep removes the directories of cold compiles that ended without
// cleaning up (a killed process), once they are an hour old.
func (h *Host) sweep() {
	ents, err := os.ReadDir(h.opts.CacheDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), compileDirPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
			_ = os.RemoveAll(filepath.Join(h.opts.CacheDir, e.Name()))
		}
	}
}

// marker is what the cache records of a compiled module.
type marker struct {
	// dir is the name of wazero's directory of entries in which the
	// module's entries are (wazero-VERSION-ARCH-OS).
	dir string
	// stub is the name of the stub's entry in wazero's directory, "" when
	// there is none (a marker of an older flyte is empty).
	stub string
	// rate is how fast the module compiled: bytes per second, with the
	// compiles that ran beside it counted (0: not recorded).
	rate float64
}

// rateOf is the compile speed of size bytes compiled in d, with running
// compiles sharing the machine.
func rateOf(size int, running int32, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(size) * float64(running) / d.Seconds()
}

// parseMarker reads a marker: lines "dir NAME", "stub HEX" and "rate
// BYTES_PER_SECOND";
// other lines are ignored, and a value that is not well formed is left
// out. An empty marker (an older flyte's) says only that the module is
// compiled.
func parseMarker(b []byte) marker {
	var m marker
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "dir":
			if validDir(v) {
				m.dir = v
			}
		case "stub":
			if isEntryName(v) {
				m.stub = v
			}
		case "rate":
			if r, err := strconv.ParseFloat(v, 64); err == nil && r >= 1e3 && r <= 1e12 && !math.IsInf(r, 0) {
				m.rate = r
			}
		}
	}
	return m
}

// format writes a marker as parseMarker reads it.
func (m marker) format() []byte {
	var b bytes.Buffer
	if m.dir != "" {
		b.WriteString("dir " + m.dir + "\n")
	}
	if m.stub != "" {
		b.WriteString("stub " + m.stub + "\n")
	}
	if m.rate > 0 {
		b.WriteString("rate " + strconv.FormatFloat(m.rate, 'f', 0, 64) + "\n")
	}
	return b.Bytes()
}

// markerPath is the marker of the module whose SHA-256 is sum, for this
// wazero's directory of entries: compiled2-SUM-wazero-VERSION-ARCH-OS. Two
// flyte builds of different wazero versions (or one that finds no version
// in its build information: "dev") sharing a cache keep their entries in
// two directories, and so their markers apart too: with one marker per
// module, each would find the other's, compile again and write its own,
// and the next run of the other would do the same (TestEtcdLeaderKilled
// printed the compile line in CI, where test binaries of both kinds share
// one cache).
func (h *Host) markerPath(sum string) string {
	return filepath.Join(h.opts.CacheDir, markerPrefix+sum+"-"+filepath.Base(h.entryDir))
}

// readMarker reads the marker of a module: ok is false when it has none
// (the module was never compiled into this cache).
func (h *Host) readMarker(sum string) (marker, bool) {
	b, err := readSmall(h.markerPath(sum))
	if err != nil {
		return marker{}, false
	}
	return parseMarker(b), true
}

// readSmall reads a regular file of at most maxMarker bytes, without
// following a symlink or waiting on a FIFO.
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	return io.ReadAll(io.LimitReader(f, maxMarker))
}

// writeMarker records that a module is compiled, atomically: a marker is
// whole or absent.
func (h *Host) writeMarker(sum string, m marker) {
	f, err := os.CreateTemp(h.opts.CacheDir, ".marker-*")
	if err != nil {
		return
	}
	_, err = f.Write(m.format())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), h.markerPath(sum))
	}
	if err != nil {
		_ = os.Remove(f.Name())
	}
}

// dropMarker forgets the stub of a module whose stub could not be used:
// the marker says only that the module is compiled.
func (h *Host) dropMarker(sum string) {
	h.writeMarker(sum, marker{})
}

// rate is this machine's compile speed as the most recent marker records
// it, else defaultRate.
func (h *Host) rate() float64 {
	ents, err := os.ReadDir(h.opts.CacheDir)
	if err != nil {
		return defaultRate
	}
	var newest time.Time
	rate := float64(defaultRate)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), markerPrefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil || !fi.ModTime().After(newest) {
			continue
		}
		b, err := readSmall(filepath.Join(h.opts.CacheDir, e.Name()))
		if err != nil {
			continue
		}
		if m := parseMarker(b); m.rate > 0 {
			newest, rate = fi.ModTime(), m.rate
		}
	}
	return rate
}

// validDir reports whether name can be wazero's directory of entries:
// "wazero-" and then letters, digits, dots, dashes, underscores and
// pluses only (one path element).
func validDir(name string) bool {
	if !strings.HasPrefix(name, "wazero-") || len(name) > 200 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_+", r)) {
			return false
		}
	}
	return true
}

// entryDir is the directory in which this wazero keeps its entries in a
// cache directory: cacheSubdir/wazero-VERSION-GOARCH-GOOS, VERSION as
// wazero finds it (internal/version: the version of the dependency in the
// build information, else "dev").
func entryDir(cacheDir string) string {
	v := ""
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if strings.Contains(dep.Path, "github.com/tetratelabs/wazero") {
				v = dep.Version
			}
		}
		if v == "" || v == "(devel)" {
			v = info.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "dev"
	}
	return filepath.Join(cacheDir, cacheSubdir, "wazero-"+v+"-"+runtime.GOARCH+"-"+runtime.GOOS)
}
