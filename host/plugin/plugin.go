// Package plugin loads and runs flyte's WebAssembly plugins (ABI v1, see
// abi/SPEC.md) on wazero, and treats every one of them as hostile:
//
//   - a plugin gets only the capabilities its Spec grants (host/capability
//     defines them); one that imports a capability module it was not
//     granted, or that this host does not have, is refused at load time,
//     before any of it runs;
//   - guests read randomness from crypto/rand (wazero's default source is
//     deterministic) and see fake clocks, no environment, no arguments, no
//     files and no standard streams;
//   - memory is capped per plugin, and every call runs under a deadline;
//   - an instance is thrown away after a trap, a timeout, a host-side error
//     or an Internal status, and recycled after many calls, since wasm
//     memory never shrinks;
//   - every message a plugin sends is bounded in size, and the text of its
//     errors is stripped of control characters before anyone prints it, or
//     withheld whole when it quotes a granted credential.
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
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/progress"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
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
	// Grants are the capabilities granted to it, by name ("fs", "http").
	Grants map[string]capability.Grant
	// Config is handed to the guest through config_read.
	Config []byte
	// MemoryPages caps the guest's memory in 64 KiB pages.
	MemoryPages uint32
	// Timeout bounds every call.
	Timeout time.Duration
	// Builtin says the module is one of flyte's own (host/builtin),
	// compiled from this repository and embedded in the binary: where the
	// watchdog can bound it, it runs without wazero's per-loop deadline
	// checks (watchdog.go). Never set it for a module read from a file.
	Builtin bool
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
	// Progress, when set, shows cold compiles: on a terminal, a line per
	// plugin redrawn in place with its progress (host/progress); anywhere
	// else, a line when each starts.
	Progress io.Writer
	// Log, when set, receives the guests' log messages.
	Log io.Writer
	// Stuck, when set, is called when a built-in plugin's call runs past
	// its deadline without calling the host (watchdog.go); it must end the
	// process. By default a line on standard error, then exit status 1.
	Stuck func(error)
	// Without names capabilities this host does not have, as if flyte had
	// been built without them: a plugin that needs one is refused, naming
	// the minor version that brought it.
	Without []string
	// WholeMemory allocates each instance's memory whole when it starts,
	// up to DefaultMemoryPages, for a process that runs a command and
	// exits: wazero otherwise copies the whole memory at every
	// memory.grow, and a fresh instance grows a few times (a get over
	// 1,000 secrets in-process: 239 -> 136 ms, peak RSS 55 -> 36 MB). A
	// resident host (the agent) leaves it off: its instances grow once
	// and live on, and whole memories made its requests slower (measured,
	// docs/PERFORMANCE.md).
	WholeMemory bool
}

// Host loads plugins. It is safe for concurrent use.
type Host struct {
	opts  Options
	cache wazero.CompilationCache
	// entryDir is where wazero keeps its entries in the cache (compile.go).
	entryDir string
	progress *progress.Display
	// compiling counts the cold compiles running.
	compiling atomic.Int32
	// inflight are the cold compiles into the cache running, by module
	// SHA-256: closed when each ends (compile.go).
	mu       sync.Mutex
	inflight map[string]chan struct{}
	// unchecked: this host compiles modules without wazero's deadline
	// checks; it is the builtins host of another, which loads built-in
	// modules through it (watchdog.go).
	unchecked bool
	builtins  *Host
}

// NewHost returns a Host.
func NewHost(opts Options) (*Host, error) {
	h := &Host{opts: opts, progress: progress.New(opts.Progress, nil)}
	if opts.CacheDir != "" {
		c, err := openCache(opts.CacheDir)
		if err != nil {
			return nil, err
		}
		h.cache, h.entryDir = c, entryDir(opts.CacheDir)
	}
	return h, nil
}

// Close releases the compilation cache. On a terminal, the line of a
// compile still running (a load the caller gave up on) is ended.
func (h *Host) Close() error {
	h.mu.Lock()
	b := h.builtins
	h.mu.Unlock()
	if b != nil && b.cache != nil {
		_ = b.cache.Close(context.Background())
	}
	h.progress.Close()
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
	// cache is the compilation cache of a cold compile's own (compile.go),
	// closed after rt.
	cache wazero.CompilationCache
	// stub: compiled is the module's stub over its cached code (compile.go).
	stub   bool
	modCfg wazero.ModuleConfig
	// grants are the granted capabilities the module imports, opened.
	grants map[string]capability.Instance
	// section is the module's flyte.describe section, if it has one.
	section *abi.Describe
	// capless: the plugin is expected to be an injector, so no grant is
	// opened for it and its capability imports are bound to refusals
	// (Load refuses it if it is one and imports or is granted any).
	capless bool

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
func (h *Host) Load(ctx context.Context, s Spec) (*Plugin, error) {
	if s.Builtin && uncheckedBuiltins && !h.unchecked {
		b, err := h.builtinHost()
		if err != nil {
			return nil, err
		}
		return b.Load(ctx, s)
	}
	p, err := h.load(ctx, s, true)
	if p == nil && err == nil {
		// Its stub did not start: wazero compiled the stub itself instead
		// of taking the module's cached code (compile.go). Once more, with
		// the module.
		h.dropMarker(hex.EncodeToString(func() []byte { b := sha256.Sum256(s.Wasm); return b[:] }()))
		p, err = h.load(ctx, s, false)
	}
	return p, err
}

// builtinHost returns the host that loads built-in modules without the
// deadline checks: the same options and progress display, with a cache
// directory of its own. wazero keys its cache on a module's bytes alone,
// so code compiled without the checks must never sit where a plugin that
// needs them (a file that happens to hold a built-in's bytes) could be
// given it.
func (h *Host) builtinHost() (*Host, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.builtins != nil {
		return h.builtins, nil
	}
	b := &Host{opts: h.opts, progress: h.progress, unchecked: true}
	if h.opts.CacheDir != "" {
		b.opts.CacheDir = filepath.Join(h.opts.CacheDir, builtinCacheDir)
		c, err := openCache(b.opts.CacheDir)
		if err != nil {
			return nil, err
		}
		b.cache, b.entryDir = c, entryDir(b.opts.CacheDir)
	}
	h.builtins = b
	return b, nil
}

// builtinCacheDir is the cache directory of the built-in modules' code,
// inside the cache directory.
const builtinCacheDir = "builtin"

// stubTrapped reports whether a start failed as a stub that wazero
// compiled for what it is fails: a trap at its first instruction,
// `unreachable`. Any other failure (a start that ran out of time on a busy
// machine) is the module's own, and its marker stays: dropping it would
// make the next process compile the module again (TestEtcdLeaderKilled
// saw concurrent creates print the compile line).
func stubTrapped(err error) bool {
	return strings.Contains(err.Error(), "wasm error: unreachable")
}

// load is Load; with stub, the module may be compiled as its stub, and
// when that stub does not start load returns nil and no error.
func (h *Host) load(ctx context.Context, s Spec, stub bool) (p *Plugin, err error) {
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
	// The pin is checked before the module is compiled: a changed file is
	// not worth a compile, and may be built to hurt the compiler.
	if s.SHA256 != "" && !strings.EqualFold(s.SHA256, p.SHA256) {
		if b, err := hex.DecodeString(s.SHA256); err != nil || len(b) != sha256.Size {
			// Not repeated: a value that is not a digest may be anything.
			return fail("its pinned sha256 is not 64 hexadecimal digits", nil)
		}
		return fail("content does not match its pinned sha256 (pinned "+strings.ToLower(s.SHA256)+", file is "+p.SHA256+")", nil)
	}
	if p.Spec.MemoryPages == 0 {
		p.Spec.MemoryPages = DefaultMemoryPages
	}
	if p.Spec.Timeout == 0 {
		p.Spec.Timeout = DefaultTimeout
	}
	var walked bool
	if p.section, walked, err = describeSection(s.Wasm); err != nil {
		return fail(err.Error(), nil)
	}
	c, err := h.compile(ctx, s.Name, s.Wasm, p.SHA256, p.Spec.MemoryPages, stub)
	p.rt, p.cache, p.stub = c.rt, c.cache, c.stub
	if err != nil {
		return fail(compileError(s.Name, err), err)
	}
	compiled := c.mod
	p.compiled = compiled
	if !walked {
		return fail(sectionsMalformed, nil)
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fail("cannot set up WASI", err)
	}
	if err := h.instantiateHostModules(ctx, p.rt); err != nil {
		return fail("cannot set up host functions", err)
	}
	if err := checkExports(compiled); err != nil {
		return fail(err.Error(), nil)
	}
	// Injectors get no capabilities. One whose section says it is one is
	// refused any before it runs; a plugin expected to be one runs with no
	// grant opened (its capability imports bound to refusals) until its
	// description says what it is.
	if p.section != nil && p.section.Kind == abi.KindInjector {
		if err := p.injectorCapabilities(); err != nil {
			return fail(err.Error(), err)
		}
	}
	p.capless = s.Kind == abi.KindInjector
	if err := p.checkImports(); err != nil {
		return fail(err.Error(), err)
	}
	if !p.capless {
		if err := p.openGrants(); err != nil {
			return fail(err.Error(), err)
		}
	}
	p.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(abi.InitExport).
		WithRandSource(rand.Reader).
		WithStdout(io.Discard).
		WithStderr(io.Discard).
		// A Go guest's collector aims to keep its memory under half the
		// cap (other guests ignore the variable), well below the size at
		// which put replaces an instance: an instance that keeps an index
		// between calls (the filestore's logs, 23 MiB at 100,000 records)
		// otherwise grew past it with the garbage of a page or two and was
		// replaced, index and all.
		WithEnv("GOMEMLIMIT", strconv.FormatUint(uint64(p.Spec.MemoryPages)*65536/2, 10))

	inst, err := p.newInstance(ctx)
	if err != nil && p.stub && stubTrapped(err) {
		p.Close(ctx)
		return nil, nil
	}
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
	p.Info.Name = p.guestText(p.Info.Name)
	p.Info.Version = p.guestText(p.Info.Version)
	p.Info.Summary = p.guestText(p.Info.Summary)
	if p.section != nil {
		if diff := describeDiff(p.section, &p.Info); diff != "" {
			return fail("its "+abi.DescribeSection+" section does not match what it describes when loaded ("+diff+")", nil)
		}
	}
	if s.Kind != 0 && p.Info.Kind != s.Kind {
		return fail("is "+KindPhrase(p.Info.Kind)+", not "+KindPhrase(s.Kind), nil)
	}
	if p.Info.Kind == abi.KindInjector {
		if err := p.injectorCapabilities(); err != nil {
			return fail(err.Error(), err)
		}
	}
	return p, nil
}

// InjectorError refuses an injector that imports a capability module or is
// granted a capability: injectors get none (abi/SPEC.md), they only plan,
// and the host does the work.
type InjectorError struct {
	Plugin string
	// Import is its first import of a capability module
	// ("flyte_http_v1.request"), or "" when it is only granted one.
	Import string
	// Granted is the capability it is granted, when it imports none.
	Granted string
}

func (e *InjectorError) Error() string {
	if e.Import != "" {
		return "is an injector; injectors get no capabilities (it imports " + e.Import + ")"
	}
	return "is an injector; injectors get no capabilities (it is granted " + e.Granted + ")"
}

// Hint says what to change.
func (e *InjectorError) Hint() string {
	if e.Import != "" {
		return "an injector that needs a capability cannot be used; build it without " + e.Import
	}
	return "remove [plugins." + e.Plugin + ".grant." + e.Granted + "] from your flyte.toml (or the --grant that gives it)"
}

// injectorCapabilities refuses capabilities to an injector: any import of
// a capability module (this host's or one it does not have), then any
// grant.
func (p *Plugin) injectorCapabilities() error {
	if imp := capabilityImport(p.compiled); imp != "" {
		return &InjectorError{Plugin: p.Spec.Name, Import: imp}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Spec.Grants)) {
		if p.Spec.Grants[name] != nil {
			return &InjectorError{Plugin: p.Spec.Name, Granted: Sanitize(name)}
		}
	}
	return nil
}

// capabilityImport is the module's first import of a capability module
// ("module.name", sanitised), or "".
func capabilityImport(compiled wazero.CompiledModule) string {
	for _, f := range compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		if _, ok := capability.ByModule(mod); ok || slices.ContainsFunc(abi.Capabilities, func(c abi.CapabilityInfo) bool { return c.Module == mod }) {
			return Sanitize(mod) + "." + Sanitize(name)
		}
	}
	return ""
}

// capabilities are the registered capabilities this host has.
func (h *Host) capabilities() []*capability.Capability {
	all := capability.All()
	out := all[:0:0]
	for _, c := range all {
		if !slices.Contains(h.opts.Without, c.Name) {
			out = append(out, c)
		}
	}
	return out
}

// capability returns the capability whose module is m, if this host has it.
func (h *Host) capability(m string) (*capability.Capability, bool) {
	c, ok := capability.ByModule(m)
	if !ok || slices.Contains(h.opts.Without, c.Name) {
		return nil, false
	}
	return c, true
}

// openGrants opens the granted capabilities the module imports. A grant of
// a capability this host does not have is refused.
func (p *Plugin) openGrants() error {
	imported := map[string]bool{}
	for _, f := range p.compiled.ImportedFunctions() {
		mod, _, _ := f.Import()
		imported[mod] = true
	}
	names := slices.Sorted(maps.Keys(p.Spec.Grants))
	for _, name := range names {
		g := p.Spec.Grants[name]
		if g == nil {
			continue
		}
		c, ok := capability.ByName(name)
		if ok {
			c, ok = p.host.capability(c.Module)
		}
		if !ok {
			return errors.New("is granted capability " + strconv.Quote(name) + ", which this flyte does not have")
		}
		if !imported[c.Module] {
			continue
		}
		inst, err := g.Open()
		if err != nil {
			return fmt.Errorf("cannot open its %s grant: %w", name, err)
		}
		if p.grants == nil {
			p.grants = map[string]capability.Instance{}
		}
		p.grants[name] = inst
	}
	return nil
}

// guestText makes text from the guest safe to print: sanitised, and
// withheld whole when it holds a value of a grant (a credential).
func (p *Plugin) guestText(s string) string {
	for _, inst := range p.grants {
		if r, ok := inst.(capability.Revealer); ok && r.Reveals([]byte(s)) {
			return "(message withheld: it held a credential)"
		}
	}
	return Sanitize(s)
}

// majorExport matches the marker export of any ABI major.
var majorExport = regexp.MustCompile(`^flyte_abi_v(\d+)$`)

// checkExports refuses a module that is not an ABI v1 guest, or that
// exports an ABI function with another signature than abi/SPEC.md gives.
func checkExports(compiled wazero.CompiledModule) error {
	exp := compiled.ExportedFunctions()
	if _, ok := exp[abi.MarkerExport]; !ok {
		majors := []int{}
		for name := range exp {
			if m := majorExport.FindStringSubmatch(name); m != nil {
				if v, err := strconv.Atoi(m[1]); err == nil && len(m[1]) < 6 {
					majors = append(majors, v)
				}
			}
		}
		if len(majors) > 0 {
			slices.Sort(majors)
			return fmt.Errorf("speaks flyte ABI v%d; this flyte speaks v%d (%d.%d)", majors[len(majors)-1], abi.Version, abi.Version, abi.Minor)
		}
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
	if _, ok := compiled.ExportedMemories()["memory"]; !ok {
		return errors.New("does not export its memory (an export named memory)")
	}
	if len(compiled.ImportedMemories()) > 0 {
		mod, name, _ := compiled.ImportedMemories()[0].Import()
		return errors.New("imports a memory (" + Sanitize(mod) + "." + Sanitize(name) + "), which this host does not provide")
	}
	return nil
}

// newerModule matches the import modules of the ABI: flyte_v1 and
// flyte_<capability>_vN.
var newerModule = regexp.MustCompile(`^flyte_([a-z0-9_]+_)?v\d+$`)

// checkImports refuses a module whose imports this host does not provide,
// or whose capabilities it does not have or did not grant. The host
// modules must be instantiated first: they are what imports are checked
// against.
func (p *Plugin) checkImports() error {
	newer := fmt.Sprintf("from a newer ABI than this flyte's %d.%d", abi.Version, abi.Minor)
	for _, f := range p.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		full := Sanitize(mod) + "." + Sanitize(name)
		switch mod {
		case abi.HostModule, wasi_snapshot_preview1.ModuleName:
		default:
			c, ok := p.host.capability(mod)
			if !ok {
				for _, i := range abi.Capabilities {
					if i.Module == mod {
						return fmt.Errorf("needs capability %q (ABI %d.%d), which this flyte does not have", i.Name, abi.Version, i.Minor)
					}
				}
				if newerModule.MatchString(mod) {
					return errors.New("imports " + full + ", " + newer)
				}
				return errors.New("imports " + full + ", from a module this host does not provide")
			}
			if p.Spec.Grants[c.Name] == nil && !p.Spec.DescribeOnly && !p.capless {
				return &CapabilityError{Plugin: p.Spec.Name, Capability: c, Import: full}
			}
		}
		host := p.rt.Module(mod)
		if host == nil {
			return errors.New("imports " + full + ", from a module this host does not provide")
		}
		def, ok := host.ExportedFunctionDefinitions()[name]
		if !ok {
			if mod == wasi_snapshot_preview1.ModuleName {
				return errors.New("imports " + full + ", which this host does not provide")
			}
			return errors.New("imports " + full + ", " + newer)
		}
		want := signature(def.ParamTypes(), def.ResultTypes())
		if got := signature(f.ParamTypes(), f.ResultTypes()); got != want {
			return errors.New("imports " + full + " as " + got + "; this host provides " + want)
		}
	}
	return nil
}

// CapabilityError refuses a plugin that needs a capability it was not
// granted. Its hints are the flyte.toml lines that would grant it.
type CapabilityError struct {
	Plugin     string
	Capability *capability.Capability
	Import     string // the first import of it, "flyte_http_v1.request"
}

func (e *CapabilityError) Error() string {
	return "needs capability " + strconv.Quote(e.Capability.Name) + " (it imports " + e.Import + "), which is not granted to it"
}

// Hints are the lines that say how to grant it.
func (e *CapabilityError) Hints() []string {
	h := []string{"grant it in your own flyte.toml:"}
	for _, l := range e.Capability.Example(e.Plugin) {
		h = append(h, "  "+l)
	}
	return h
}

// Hint is Hints for a printer of one hint (cmd/flyte prints each line
// after "flyte: hint: ").
func (e *CapabilityError) Hint() string { return strings.Join(e.Hints(), "\nflyte: hint: ") }

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
	st := &callState{plugin: p}
	ctx = context.WithValue(ctx, stateKey{}, st)
	done := p.watch(ctx)
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.modCfg)
	done()
	if err != nil {
		if st.pastDeadline {
			return nil, context.DeadlineExceeded
		}
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

// put returns inst to the pool, or closes it when it served recycleAfter
// calls or its memory grew past three quarters of the plugin's cap (a Go
// guest's collector aims at half, GOMEMLIMIT): wasm memory never
// shrinks, and a Go guest's collector runs only when the guest yields, so
// an instance that grew across a long listing (84 MiB over 100,000
// records, past the 64 MiB cap) is replaced before it can reach the cap.
// A fresh instance costs one instantiation (its _initialize).
func (p *Plugin) put(ctx context.Context, inst *instance) {
	grown := false
	if m := inst.mod.Memory(); m != nil {
		grown = uint64(m.Size()) > uint64(p.Spec.MemoryPages)*65536/4*3
	}
	if inst.calls >= recycleAfter || grown {
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
	st.begin(cctx)
	cctx = context.WithValue(cctx, stateKey{}, st)
	done := p.watch(cctx)
	res, err := safeCall(cctx, fn, params)
	done()
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
		if st.pastDeadline || errors.As(err, &exit) && exit.ExitCode() == sys.ExitCodeDeadlineExceeded {
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
	if err := p.failure(st, status); err != nil {
		return nil, err
	}
	var m abi.ErrorMessage
	_ = abi.Unmarshal(st.out, &m)
	return nil, &abi.StatusError{Code: status, Message: p.guestText(m.Message)}
}

// failure is the host's own reason for a failed call, if a capability has
// one (a lock another process holds, an origin not granted): shown
// whatever the plugin made of it.
func (p *Plugin) failure(st *callState, guest abi.Status) error {
	for _, name := range slices.Sorted(maps.Keys(st.sessions)) {
		s := st.sessions[name]
		msg, ok := s.Failure(guest)
		if !ok {
			continue
		}
		if c, ok := s.(capability.Causer); ok {
			if err := c.Cause(); err != nil {
				var busy *BusyError
				if errors.As(err, &busy) {
					busy.Plugin = p.Spec.Name
				}
				return err
			}
		}
		return &Error{Plugin: p.Spec.Name, Msg: Sanitize(msg)}
	}
	return nil
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
type BusyError = capability.BusyError

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

// Sanitize makes text from a plugin safe to print (sanitize.Text, which
// packages that run no plugin call directly).
func Sanitize(s string) string { return sanitize.Text(s) }

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
	if p.cache != nil {
		_ = p.cache.Close(ctx)
	}
	for _, g := range p.grants {
		_ = g.Close()
	}
}
