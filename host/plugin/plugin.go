// Package plugin loads and runs flyte's WebAssembly plugins (ABI v1, see
// abi/SPEC.md) on wazero, and treats every one of them as hostile:
//
//   - a plugin gets only the capabilities its Spec grants; one that imports a
//     capability module it was not granted is refused at load time;
//   - guests read randomness from crypto/rand (wazero's default source is
//     deterministic) and see fake clocks, no environment, no arguments, no
//     files and no standard streams;
//   - memory is capped per plugin, and every call runs under a deadline;
//   - an instance is thrown away after a trap, a timeout, a host-side error
//     or an Internal status, and recycled after many calls, since wasm
//     memory never shrinks;
//   - every message a plugin sends is bounded in size, and the text of its
//     errors is stripped of control characters before anyone prints it.
//
// Compiled code is cached in a directory (mode 0700) keyed by the module's
// content, so only the first run of a new plugin pays the compile.
package plugin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Defaults for a Spec's limits.
const (
	DefaultMemoryPages = 1024 // 64 MiB
	DefaultTimeout     = 5 * time.Second
	// recycleAfter bounds how many calls one instance serves.
	recycleAfter = 10000
)

// Spec says what to load and what it may do.
type Spec struct {
	// Name is how flyte.toml and messages refer to the plugin.
	Name string
	// Source says where the module came from ("built-in" or a path).
	Source string
	// Wasm is the module's bytes.
	Wasm []byte
	// SHA256, when set, pins the module's content (hex).
	SHA256 string
	// Kind is the kind the plugin must describe itself as (0: any).
	Kind abi.PluginKind
	// Dir grants the fs capability over this directory ("" grants none).
	Dir string
	// Config is handed to the guest through config_read.
	Config []byte
	// MemoryPages caps the guest's memory in 64 KiB pages.
	MemoryPages uint32
	// Timeout bounds every call.
	Timeout time.Duration
	// DescribeOnly loads the plugin only to describe it (flyte plugin
	// list): a capability module it imports but is not granted is bound to
	// refusals (CAPABILITY_DENIED) instead of refusing the load, and Call
	// is refused.
	DescribeOnly bool
}

// Options configure a Host.
type Options struct {
	// CacheDir holds compiled code; "" disables the cache.
	CacheDir string
	// Progress, when set, receives a line before a cold compile.
	Progress io.Writer
	// Log, when set, receives the guests' log messages.
	Log io.Writer
}

// Host loads plugins. It is safe for concurrent use.
type Host struct {
	opts  Options
	cache wazero.CompilationCache
}

// NewHost returns a Host.
func NewHost(opts Options) (*Host, error) {
	h := &Host{opts: opts}
	if opts.CacheDir != "" {
		c, err := openCache(opts.CacheDir)
		if err != nil {
			return nil, err
		}
		h.cache = c
	}
	return h, nil
}

// Close releases the compilation cache.
func (h *Host) Close() error {
	if h.cache != nil {
		return h.cache.Close(context.Background())
	}
	return nil
}

// Plugin is a loaded plugin. Its Call method is safe for concurrent use;
// each call gets an instance of its own.
type Plugin struct {
	Spec   Spec
	Info   abi.Describe
	SHA256 string
	Size   int

	host     *Host
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	dir      *fsgrant.Dir

	mu   sync.Mutex
	idle []*instance
}

type instance struct {
	mod      api.Module
	handle   api.Function
	describe api.Function
	calls    int
}

// Error is a plugin failure that is not a status the plugin chose: a trap,
// a timeout, a malformed answer, a refused load.
type Error struct {
	Plugin string
	Msg    string
	Err    error
}

func (e *Error) Error() string { return "plugin " + e.Plugin + ": " + e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Load compiles (or loads from cache), checks and instantiates a plugin.
// Whatever the module holds, Load returns: its start function and its
// description run under the call deadline, and a panic of the runtime on a
// module it should have refused becomes an error.
func (h *Host) Load(ctx context.Context, s Spec) (p *Plugin, err error) {
	sum := sha256.Sum256(s.Wasm)
	p = &Plugin{Spec: s, SHA256: hex.EncodeToString(sum[:]), Size: len(s.Wasm), host: h}
	fail := func(msg string, err error) (*Plugin, error) {
		p.Close(ctx)
		return nil, &Error{Plugin: s.Name, Msg: msg, Err: err}
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = fail("failed to load: the WebAssembly runtime failed on it ("+cause(fmt.Sprint(r))+")", nil)
		}
	}()
	if s.SHA256 != "" && !strings.EqualFold(s.SHA256, p.SHA256) {
		return fail("content does not match its pinned sha256 (got "+p.SHA256+")", nil)
	}
	if p.Spec.MemoryPages == 0 {
		p.Spec.MemoryPages = DefaultMemoryPages
	}
	if p.Spec.Timeout == 0 {
		p.Spec.Timeout = DefaultTimeout
	}
	cfg := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(p.Spec.MemoryPages)
	if h.cache != nil {
		cfg = cfg.WithCompilationCache(h.cache)
	}
	p.rt = wazero.NewRuntimeWithConfig(ctx, cfg)

	cold := h.markCompiled(p.SHA256, false)
	if cold && h.opts.Progress != nil {
		fmt.Fprintf(h.opts.Progress, "flyte: compiling plugin %s (%s, first use only)...\n", s.Name, sizeString(p.Size))
	}
	cctx := experimental.WithCompilationWorkers(ctx, runtime.NumCPU())
	compiled, err := p.rt.CompileModule(cctx, s.Wasm)
	if err != nil {
		return fail(compileError(s.Name, err), err)
	}
	p.compiled = compiled
	if cold {
		h.markCompiled(p.SHA256, true)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fail("cannot set up WASI", err)
	}
	if err := instantiateHostModules(ctx, p.rt); err != nil {
		return fail("cannot set up host functions", err)
	}
	if err := p.checkImportsExports(); err != nil {
		return fail(err.Error(), nil)
	}
	if s.Dir != "" {
		p.dir = fsgrant.New(s.Dir)
	}
	p.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.InitExport).
		WithRandSource(rand.Reader).
		WithStdout(io.Discard).
		WithStderr(io.Discard)

	inst, err := p.newInstance(ctx)
	if err != nil {
		return fail(startError(err), err)
	}
	out, err := p.call(ctx, inst, inst.describe, nil)
	if err != nil {
		p.Close(ctx)
		return nil, err
	}
	if err := abi.Unmarshal(out, &p.Info); err != nil {
		return fail("sent a malformed description", err)
	}
	p.Info.Name = Sanitize(p.Info.Name)
	p.Info.Version = Sanitize(p.Info.Version)
	p.Info.Summary = Sanitize(p.Info.Summary)
	if s.Kind != 0 && p.Info.Kind != s.Kind {
		return fail("is "+KindPhrase(p.Info.Kind)+", not "+KindPhrase(s.Kind), nil)
	}
	return p, nil
}

// markCompiled reports whether the module was not known to be in the
// cache; with set, it records that it now is.
func (h *Host) markCompiled(sum string, set bool) bool {
	if h.opts.CacheDir == "" {
		return true
	}
	m := filepath.Join(h.opts.CacheDir, "compiled-"+sum)
	if set {
		_ = os.WriteFile(m, nil, 0o600)
		return false
	}
	_, err := os.Stat(m)
	return err != nil
}

func sizeString(n int) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// checkImportsExports refuses a module that is not an ABI v1 guest, that
// exports an ABI function with another signature than abi/SPEC.md gives,
// or whose imports this host does not provide (or did not grant it). The
// host modules must be instantiated first: they are what imports are
// checked against.
func (p *Plugin) checkImportsExports() error {
	exp := p.compiled.ExportedFunctions()
	if _, ok := exp[abi.MarkerExport]; !ok {
		return errors.New("is not a flyte ABI v1 plugin (no " + abi.MarkerExport + " export)")
	}
	for _, e := range exports {
		def, ok := exp[e.name]
		if !ok {
			return errors.New("does not export " + e.name)
		}
		if got := signature(def.ParamTypes(), def.ResultTypes()); got != e.sig {
			return errors.New("exports " + e.name + " as " + got + "; ABI v1 needs " + e.sig)
		}
	}
	if _, ok := p.compiled.ExportedMemories()["memory"]; !ok {
		return errors.New("does not export its memory (an export named memory)")
	}
	if len(p.compiled.ImportedMemories()) > 0 {
		mod, name, _ := p.compiled.ImportedMemories()[0].Import()
		return errors.New("imports a memory (" + Sanitize(mod) + "." + Sanitize(name) + "), which this host does not provide")
	}
	for _, f := range p.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		full := Sanitize(mod) + "." + Sanitize(name)
		switch mod {
		case abi.HostModule, wasi_snapshot_preview1.ModuleName:
		case abi.FSModule:
			if p.Spec.Dir == "" && !p.Spec.DescribeOnly {
				return errors.New(`needs capability "fs" (it imports ` + full + "), which is not granted to it")
			}
		default:
			return errors.New("imports " + full + ", from a module this host does not provide")
		}
		host := p.rt.Module(mod)
		if host == nil {
			return errors.New("imports " + full + ", from a module this host does not provide")
		}
		def, ok := host.ExportedFunctionDefinitions()[name]
		if !ok {
			return errors.New("imports " + full + ", which this host does not provide")
		}
		want := signature(def.ParamTypes(), def.ResultTypes())
		if got := signature(f.ParamTypes(), f.ResultTypes()); got != want {
			return errors.New("imports " + full + " as " + got + "; this host provides " + want)
		}
	}
	return nil
}

// exports are the functions every ABI v1 guest exports, with their
// signatures (abi/SPEC.md, section 1).
var exports = []struct{ name, sig string }{
	{abi.MarkerExport, "() -> ()"},
	{abi.InitExport, "() -> ()"},
	{abi.DescribeExport, "() -> i32"},
	{abi.HandleExport, "(i32, i32) -> i32"},
}

// signature writes a function type as SPEC.md does: "(i32, i32) -> i32".
func signature(params, results []api.ValueType) string {
	list := func(ts []api.ValueType) string {
		names := make([]string, len(ts))
		for i, t := range ts {
			names[i] = api.ValueTypeName(t)
		}
		return strings.Join(names, ", ")
	}
	s := "(" + list(params) + ") -> "
	if len(results) == 1 {
		return s + list(results)
	}
	return s + "(" + list(results) + ")"
}

// memoryLimit matches wazero's refusal of a memory over the limit.
var memoryLimit = regexp.MustCompile(`\b(min|max|capacity) (\d+) pages \([^)]*\) over limit of (\d+) pages`)

// compileError says why a module did not compile, in one line.
func compileError(name string, err error) string {
	if m := memoryLimit.FindStringSubmatch(err.Error()); m != nil {
		what := "needs " + m[2] + " pages of memory"
		if m[1] != "min" {
			what = "declares a maximum of " + m[2] + " pages of memory"
		}
		return what + ", the limit is " + m[3] + " (memory_pages in [plugins." + name + "])"
	}
	return "not a valid WebAssembly module: " + cause(err.Error())
}

// startError says why an instance did not start, in one line.
func startError(err error) string {
	var exit *sys.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
		return "failed to start: its initialisation (" + abi.InitExport + ") did not finish in time"
	}
	return "failed to start: " + cause(err.Error())
}

// cause cuts an error of the runtime to its first line, sanitised: wazero
// appends stack traces, and names from the module are the module's.
func cause(s string) string {
	return Sanitize(strings.TrimSpace(firstLine(s)))
}

func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	// Start-up runs the guest's initialisers: bound it like any call.
	ctx, cancel := context.WithTimeout(ctx, p.Spec.Timeout)
	defer cancel()
	ctx = context.WithValue(ctx, stateKey{}, &callState{plugin: p})
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.modCfg)
	if err != nil {
		return nil, err
	}
	return &instance{
		mod:      mod,
		handle:   mod.ExportedFunction(abi.HandleExport),
		describe: mod.ExportedFunction(abi.DescribeExport),
	}, nil
}

func (p *Plugin) get(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		inst := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return inst, nil
	}
	p.mu.Unlock()
	inst, err := p.newInstance(ctx)
	if err != nil {
		return nil, &Error{Plugin: p.Spec.Name, Msg: startError(err), Err: err}
	}
	return inst, nil
}

func (p *Plugin) put(ctx context.Context, inst *instance) {
	if inst.calls >= recycleAfter {
		_ = inst.mod.Close(ctx)
		return
	}
	p.mu.Lock()
	p.idle = append(p.idle, inst)
	p.mu.Unlock()
}

// Call runs one operation and returns its output. A status the plugin
// chose comes back as an *abi.StatusError; anything else as an *Error.
func (p *Plugin) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if p.Spec.DescribeOnly {
		return nil, &Error{Plugin: p.Spec.Name, Msg: "was loaded only to be described"}
	}
	if len(in) > abi.MaxMessage {
		return nil, &Error{Plugin: p.Spec.Name, Msg: "request too large"}
	}
	inst, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.call(ctx, inst, inst.handle, in, uint64(op), uint64(len(in)))
}

// call runs fn on inst with in as the call's input.
func (p *Plugin) call(ctx context.Context, inst *instance, fn api.Function, in []byte, params ...uint64) ([]byte, error) {
	st := &callState{plugin: p, in: in}
	cctx, cancel := context.WithTimeout(ctx, p.Spec.Timeout)
	defer cancel()
	if p.dir != nil {
		st.fs = p.dir.Begin(cctx)
	}
	cctx = context.WithValue(cctx, stateKey{}, st)
	res, err := safeCall(cctx, fn, params)
	st.release()
	inst.calls++
	if err == nil && len(res) != 1 {
		// Load checked the signatures; this is the last line of defence.
		err = errors.New("returned " + strconv.Itoa(len(res)) + " values instead of a status")
	}
	if err != nil {
		_ = inst.mod.Close(ctx)
		if ctx.Err() != nil {
			// The caller's own deadline (a whole listing's) or cancellation.
			return nil, ctx.Err()
		}
		var exit *sys.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
			return nil, &Error{Plugin: p.Spec.Name, Msg: "call timed out after " + p.Spec.Timeout.String(), Err: context.DeadlineExceeded}
		}
		return nil, &Error{Plugin: p.Spec.Name, Msg: "crashed: " + cause(err.Error()), Err: err}
	}
	if st.overflow {
		_ = inst.mod.Close(ctx)
		return nil, &Error{Plugin: p.Spec.Name, Msg: "answer larger than the limit"}
	}
	status := abi.Status(uint32(res[0]))
	if status == abi.OK {
		// The caller decodes the answer; an instance that answered OK is
		// sound as far as the host can tell, and goes back to the pool.
		p.put(ctx, inst)
		return st.out, nil
	}
	if status == abi.Internal {
		_ = inst.mod.Close(ctx)
	} else {
		p.put(ctx, inst)
	}
	if st.fs != nil {
		// The plugin failed after the host gave up waiting for a lock that
		// another process holds: say so, whatever the plugin made of it.
		if busy, pid := st.fs.Busy(); busy {
			return nil, &BusyError{Plugin: p.Spec.Name, PID: pid}
		}
	}
	var m abi.ErrorMessage
	_ = abi.Unmarshal(st.out, &m)
	return nil, &abi.StatusError{Code: status, Message: Sanitize(m.Message)}
}

// safeCall calls fn, turning a panic of the runtime into an error.
func safeCall(ctx context.Context, fn api.Function, params []uint64) (res []uint64, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, errors.New("the WebAssembly runtime failed: "+fmt.Sprint(r))
		}
	}()
	return fn.Call(ctx, params...)
}

// BusyError says a call failed because another process holds a lock the
// plugin needed: the store is in use, not broken.
type BusyError struct {
	Plugin string
	PID    int // the holder as the kernel reports it; 0 when unknown
}

func (e *BusyError) Error() string {
	by := "another flyte process"
	if e.PID > 0 {
		by += " (pid " + strconv.Itoa(e.PID) + ")"
	}
	return "store is busy: locked by " + by + "; try again"
}

// CallTimeout is the deadline of each call; callers that make many calls
// size their own budget by it.
func (p *Plugin) CallTimeout() time.Duration { return p.Spec.Timeout }

// KindPhrase names a plugin kind with its article: "a store plugin".
func KindPhrase(k abi.PluginKind) string {
	if k == abi.KindInjector {
		return "an injector plugin"
	}
	return "a " + k.String() + " plugin"
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Sanitize makes text from a plugin safe to print: no control characters
// (terminal escapes), no zero-width or bidirectional controls, at most 300
// bytes.
func Sanitize(s string) string {
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return ' ' // C0 and C1 controls: terminal escapes
		case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
			return -1 // zero-width and bidirectional controls: text that reads differently than it is
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// Close releases the plugin's instances, runtime and directory.
func (p *Plugin) Close(ctx context.Context) {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, inst := range idle {
		_ = inst.mod.Close(ctx)
	}
	if p.rt != nil {
		_ = p.rt.Close(ctx)
	}
	if p.dir != nil {
		_ = p.dir.Close()
	}
}
