package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/conformance"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/scope"
)

// The plugin commands' requests: describe a plugin without running it, run
// the conformance suite on it, and the checks `flyte plugin install` makes
// before it writes anything. Each is a function of the Options (the plugin
// cache, the progress writer, what flyte protects) and of the
// configuration, which may be nil: a plugin named by its file needs none,
// so a project's flyte.toml, perhaps not trusted, is not read for it. The
// client reads the file it names (ReadModule) and sends its bytes.

// PluginRequest names a plugin: a module file, or a plugin by name (built
// in, or configured under [plugins.NAME]).
type PluginRequest struct {
	// File is the absolute path of a module file; "" names the plugin Name.
	File string `json:",omitempty"`
	// Wasm is the content of File, as the client read it.
	Wasm []byte `json:",omitempty"`
	// Name names the plugin; with File, it is only how messages call the
	// module (default: the file's name without .wasm).
	Name string `json:",omitempty"`
}

// Shown is how messages call the plugin req names: its name, or for a file
// the file's name without .wasm, or "(file)" when that is not a valid
// plugin name.
func (req PluginRequest) Shown() string {
	if req.File == "" || req.Name != "" {
		return req.Name
	}
	name := strings.TrimSuffix(filepath.Base(req.File), ".wasm")
	if scope.ValidateName("plugin name", name) != nil {
		return "(file)"
	}
	return name
}

// ReadModule reads a plugin module file (plugin.ReadFile: a regular file
// of at most plugin.MaxModuleSize bytes, read without blocking).
func ReadModule(path string) ([]byte, error) { return plugin.ReadFile(path) }

// UnknownPluginError names a plugin that is neither built in nor configured.
type UnknownPluginError struct{ Name string }

func (e *UnknownPluginError) Error() string {
	return fmt.Sprintf("unknown plugin %q: it is neither built in nor configured in [plugins.%s]", e.Name, e.Name)
}

// CapabilityError is a plugin that needs a capability it is not granted
// (or that this flyte does not have).
type CapabilityError = plugin.CapabilityError

// BuiltinName reports whether name is the name of a built-in plugin.
func BuiltinName(name string) bool { return slices.Contains(builtin.Names(), name) }

// Capabilities names the capabilities this flyte has, in its order.
func Capabilities() []string {
	var names []string
	for _, cp := range capability.All() {
		names = append(names, cp.Name)
	}
	return names
}

// pluginTarget is the plugin a PluginRequest names, resolved.
type pluginTarget struct {
	name    string // how messages call it
	source  string // its path, or "built-in"
	file    bool   // named as a file
	spec    plugin.Spec
	granted map[string]bool // capabilities the configuration grants it

	// tables are its [plugins.NAME.grant.<capability>] tables, from the
	// configuration at cfgPath.
	tables  map[string]map[string]any
	cfgPath string
}

// FindPlugin checks that the plugin req names exists, as the other plugin
// requests would find it (an *UnknownPluginError when it does not), so that
// a client reports that before it reads the rest of its command line.
func FindPlugin(cfg *config.Config, req PluginRequest) error {
	_, err := resolvePlugin(cfg, req)
	return err
}

// resolvePlugin finds the plugin req names: the file's bytes, or the
// configured or built-in module of that name with its configuration.
func resolvePlugin(cfg *config.Config, req PluginRequest) (*pluginTarget, error) {
	name := req.Shown()
	if err := scope.ValidateName("plugin name", name); err != nil && (req.File == "" || req.Name != "") {
		return nil, err
	}
	if req.File != "" {
		return &pluginTarget{name: name, source: req.File, file: true, spec: plugin.Spec{Name: name, Source: req.File, Wasm: req.Wasm}}, nil
	}
	if cfg == nil {
		return nil, errors.New("plugin " + name + ": no configuration to find it in")
	}
	t := &pluginTarget{name: name, source: "built-in", spec: plugin.Spec{Name: name, Source: "built-in"}, granted: map[string]bool{}}
	if pc, ok := cfg.Plugins[name]; ok {
		b, err := plugin.ReadFile(pc.Path)
		if err != nil {
			return nil, fmt.Errorf("cannot read plugin %s: %w", name, err)
		}
		t.source = pc.Path
		t.spec = plugin.Spec{Name: name, Source: pc.Path, Wasm: b, SHA256: pc.SHA256, MemoryPages: pc.MemoryPages, Timeout: pc.Timeout}
		t.spec.Config = pc.Message()
		t.tables, t.cfgPath = pc.Grants, cfg.Path
	} else {
		b, err := builtin.Module(name)
		if errors.Is(err, builtin.ErrMissing) {
			return nil, &UnknownPluginError{Name: name}
		}
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", name, err)
		}
		t.spec.Wasm, t.spec.Builtin = b, true
	}
	// What the core grants it: its tables, and store.path (fs) or, for
	// the etcd store, store.endpoints (http) when it is the store.
	for _, c := range Granted(cfg, name) {
		t.granted[c] = true
	}
	return t, nil
}

// pluginHost is a plugin host with the cache and progress lines of opts.
func pluginHost(opts Options) (*plugin.Host, error) {
	return plugin.NewHost(plugin.Options{CacheDir: opts.CacheDir, Progress: opts.Progress, WholeMemory: opts.OneShot})
}

// PluginInspection is what `flyte plugin inspect` shows of a plugin: what
// can be read of its module without running any of it.
type PluginInspection struct {
	// Name is the plugin's name; for a file, the name its flyte.describe
	// section declares, if any.
	Name string `json:"name"`
	// Source is the module's path, or "built-in".
	Source string `json:"source"`
	// File says the plugin was named as a file.
	File bool `json:"file"`
	// Declared says the module carries a flyte.describe section: Kind,
	// Minor, Version, Summary and Ops are what it declares.
	Declared bool           `json:"declared"`
	Kind     abi.PluginKind `json:"kind"`
	// DeclaredName is the name the section declares ("" for none).
	DeclaredName string `json:"declared_name,omitempty"`
	// KindPhrase is the kind as a sentence says it: "a store plugin", "an
	// injector plugin", "a plugin of undeclared kind".
	KindPhrase string `json:"kind_phrase"`
	// Major is the ABI major version the module's marker export names;
	// Minor the minor version it declares.
	Major   int      `json:"major"`
	Minor   uint32   `json:"minor"`
	Version string   `json:"version,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Ops     []string `json:"ops"` // "NUMBER NAME"
	// Capabilities are those it imports, sorted, each with whether the
	// configuration grants it.
	Capabilities []PluginCapability `json:"capabilities"`
	// Imports ("module.name") and Exports, sorted and sanitised.
	Imports []string `json:"imports"`
	Exports []string `json:"exports"`
	Size    int      `json:"size"`
	SHA256  string   `json:"sha256"`
}

// PluginCapability is a capability a plugin imports.
type PluginCapability struct {
	Name    string `json:"name"`
	Granted bool   `json:"granted"`
}

// InspectPlugin describes the plugin req names without running any of it:
// its module is compiled (through the cache of opts, with the progress
// line of a cold compile) and read. A configured plugin whose file does not
// match its pinned sha256 is refused, as loading it would be.
func InspectPlugin(ctx context.Context, opts Options, cfg *config.Config, req PluginRequest) (*PluginInspection, error) {
	t, err := resolvePlugin(cfg, req)
	if err != nil {
		return nil, err
	}
	h, err := pluginHost(opts)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	in, err := inspect(ctx, h, t)
	if err != nil {
		return nil, err
	}
	if pin := strings.ToLower(t.spec.SHA256); pin != "" && pin != in.SHA256 {
		// As Load refuses it: what is shown must be what is configured.
		return nil, &plugin.Error{Plugin: t.name, Msg: "content does not match its pinned sha256 (pinned " + sanitize.Text(pin) + ", file is " + in.SHA256 + ")"}
	}
	out := &PluginInspection{Name: t.name, Source: t.source, File: t.file, KindPhrase: "a plugin of undeclared kind",
		Major: in.Major, Ops: []string{}, Capabilities: []PluginCapability{}, Imports: in.Imports, Exports: in.Exports,
		Size: in.Size, SHA256: in.SHA256}
	if d := in.Describe; d != nil {
		if d.Name != "" && t.file {
			out.Name = d.Name
		}
		out.Declared, out.DeclaredName, out.Kind, out.KindPhrase = true, d.Name, d.Kind, plugin.KindPhrase(d.Kind)
		out.Minor, out.Version, out.Summary = d.Minor, d.Version, d.Summary
		for _, op := range d.Ops {
			out.Ops = append(out.Ops, fmt.Sprintf("%d %s", op, conformance.OpName(op)))
		}
	}
	for _, name := range in.Capabilities {
		out.Capabilities = append(out.Capabilities, PluginCapability{Name: name, Granted: t.granted[name]})
	}
	if out.Imports == nil {
		out.Imports = []string{}
	}
	return out, nil
}

// GrantError is a grant table given with a request that its capability
// refuses: the caller's mistake.
type GrantError struct{ Err error }

func (e *GrantError) Error() string { return e.Err.Error() }
func (e *GrantError) Unwrap() error { return e.Err }

// ErrGrantDir is a directory granted as fs that does not exist (loading
// would take it for an empty store).
var ErrGrantDir = errors.New("the fs grant names no existing directory")

// CheckGrants checks [plugins.NAME.grant.<capability>] tables given for the
// named plugin, as loading would: each parsed by its capability (a
// *GrantError when it refuses it), an fs directory that exists
// (ErrGrantDir), and against what opts protects (grant.For). Nothing is
// written.
func CheckGrants(opts Options, name string, tables map[string]map[string]any) error {
	_, err := checkGrants(opts.Protected, name, tables)
	return err
}

func checkGrants(protected []grant.Protected, name string, tables map[string]map[string]any) (map[string]capability.Grant, error) {
	protected = grant.For(protected, name)
	grants := map[string]capability.Grant{}
	for _, capName := range slices.Sorted(maps.Keys(tables)) {
		cp, ok := capability.ByName(capName)
		if !ok {
			return nil, &GrantError{Err: fmt.Errorf("unknown capability %q", capName)}
		}
		g, err := cp.Parse(name, tables[capName])
		if err != nil {
			return nil, &GrantError{Err: err}
		}
		if capName == "fs" {
			// Loading would take a missing directory for an empty store.
			p, _ := tables["fs"]["path"].(string)
			if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
				return nil, ErrGrantDir
			}
		}
		if err := g.Check(protected); err != nil {
			return nil, err
		}
		grants[capName] = g
	}
	return grants, nil
}

// PluginDirError is a directory the configuration grants (store.path, or a
// plugin's fs grant) that reaches flyte's installed plugins.
type PluginDirError struct{ Err error }

func (e *PluginDirError) Error() string { return e.Err.Error() }
func (e *PluginDirError) Unwrap() error { return e.Err }

// Hint says what to do.
func (e *PluginDirError) Hint() string {
	return "set XDG_DATA_HOME to move flyte's installed plugins (XDG_DATA_HOME/flyte/plugins), or change that setting"
}

// CheckPluginDir refuses dir as the directory of installed plugins when a
// directory cfg grants reaches it (*PluginDirError): the store's
// (store.path) or a plugin's [plugins.NAME.grant.fs], checked as loading
// checks them (host/grant), since from then on every command would refuse
// that grant. An fs table that does not parse is the configuration's own
// error, as loading would give it.
func CheckPluginDir(cfg *config.Config, dir string) error {
	protected := []grant.Protected{{What: "flyte's installed plugins", Path: dir}}
	if cfg.Store.Path != "" {
		if err := capability.FSGrant(cfg.Store.Path).Check(protected); err != nil {
			return &PluginDirError{Err: err}
		}
	}
	fsCap, _ := capability.ByName("fs")
	for _, n := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		t, ok := cfg.Plugins[n].Grants["fs"]
		if !ok {
			continue
		}
		g, err := fsCap.Parse(n, t)
		if err != nil {
			return err
		}
		if err := g.Check(protected); err != nil {
			return &PluginDirError{Err: err}
		}
	}
	return nil
}

// PluginTestRequest runs flyte's conformance suite on a plugin.
type PluginTestRequest struct {
	Plugin PluginRequest
	// Grants are [plugins.NAME.grant.<capability>] tables given with the
	// request, each in place of the configuration's table of its
	// capability. Never fs: a store gets a fresh temporary directory.
	Grants map[string]map[string]any `json:",omitempty"`
}

// PluginTestResult is the suite's report.
type PluginTestResult struct {
	// Name is how the report calls the plugin; KindPhrase its kind ("a
	// store plugin").
	Name       string
	KindPhrase string
	// Lines are the checks' lines: "ok   NAME", "FAIL NAME: why", "skip ...".
	Lines []string
	// Summary counts them; Failed is the number that failed.
	Summary string
	Failed  int
}

// conformancePrefix is where, inside store.prefix, the suite runs against
// the configured etcd store.
const conformancePrefix = "conformance/"

// PluginConformance loads the plugin req names and runs flyte's
// conformance suite on it (package conformance). A store that uses the fs
// capability gets a fresh temporary directory, removed after: its
// configured store is never touched. Its other grants are those of its
// [plugins.NAME.grant.<capability>] tables, or the request's in their
// place; the configured etcd store gets the endpoints of [store], under a
// prefix of its own. opts.Protected must be what flyte protects for cfg
// (Protected; for a file, of no configuration).
func PluginConformance(ctx context.Context, opts Options, cfg *config.Config, req PluginTestRequest) (*PluginTestResult, error) {
	t, err := resolvePlugin(cfg, req.Plugin)
	if err != nil {
		return nil, err
	}
	// A plugin named as a file is tested under no configuration.
	own := cfg
	if t.file {
		own = nil
	}
	if _, ok := req.Grants["fs"]; ok {
		return nil, &GrantError{Err: errors.New("a store under test gets a fresh temporary directory of its own, never an fs grant")}
	}
	given, err := checkGrants(opts.Protected, t.name, req.Grants)
	if err != nil {
		return nil, err
	}
	grants, err := configuredGrants(t, given, own, opts.Protected)
	if err != nil {
		return nil, err
	}
	h, err := pluginHost(opts)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	in, err := inspect(ctx, h, t)
	if err != nil {
		return nil, err
	}
	copts := conformance.Options{}
	if slices.Contains(in.Capabilities, "fs") {
		dir, err := os.MkdirTemp("", "flyte-plugin-test-")
		if err != nil {
			return nil, fmt.Errorf("cannot make the store's temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
		copts.Dir = dir
		fsCap, _ := capability.ByName("fs")
		g, err := fsCap.Parse(t.name, map[string]any{"path": dir})
		if err == nil {
			err = g.Check(grant.For(opts.Protected, t.name))
		}
		if err != nil {
			return nil, err
		}
		grants["fs"] = g
	}
	t.spec.Grants = grants
	p, err := h.Load(ctx, t.spec)
	if err != nil {
		return nil, err
	}
	defer p.Close(context.Background())
	rs := conformance.Run(ctx, p, copts)
	res := &PluginTestResult{Name: t.name, KindPhrase: plugin.KindPhrase(p.Info.Kind), Summary: conformance.Summary(rs), Failed: conformance.Failed(rs)}
	for _, r := range rs {
		res.Lines = append(res.Lines, r.String())
	}
	return res, nil
}

// configuredGrants are the grants the suite gives the plugin of t: what its
// [plugins.NAME.grant.<capability>] tables grant it, each checked as
// loading it would, with a capability given in the request (given) in
// place of its table. Never its fs grant: the suite fills, damages and
// removes its directory, so a store gets a fresh one (PluginConformance).
func configuredGrants(t *pluginTarget, given map[string]capability.Grant, own *config.Config, protected []grant.Protected) (map[string]capability.Grant, error) {
	grants := maps.Clone(given)
	for _, name := range slices.Sorted(maps.Keys(t.tables)) {
		cp, ok := capability.ByName(name)
		if name == "fs" || grants[name] != nil || !ok {
			continue
		}
		g, err := cp.Parse(t.name, t.tables[name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.cfgPath, err)
		}
		if err := g.Check(grant.For(protected, t.name)); err != nil {
			return nil, err
		}
		grants[name] = g
	}
	if own != nil && !t.file && grants["http"] == nil && StoreCapability(own, t.name) == "http" {
		// The configured etcd store, tested as the core loads it: the
		// endpoints, credentials, deadlines of [store], under a prefix of
		// its own inside store.prefix, which flyte's records and meta
		// values (PREFIX s/, PREFIX m/) never use: the suite's listing of
		// every organization sees only what it wrote, and its meta values
		// sit apart from the store's data key.
		tc := *own
		tc.Store.Prefix += conformancePrefix
		if err := EtcdSpec(&tc, grant.For(protected, ""), &t.spec); err != nil {
			return nil, err
		}
		if g := t.spec.Grants["http"]; g != nil {
			grants["http"] = g
		}
	}
	return grants, nil
}

// inspect inspects t's module, as Load will compile it.
func inspect(ctx context.Context, h *plugin.Host, t *pluginTarget) (*plugin.Inspection, error) {
	if t.spec.Builtin {
		return h.InspectBuiltin(ctx, t.name, t.spec.Wasm)
	}
	return h.Inspect(ctx, t.name, t.spec.Wasm)
}
