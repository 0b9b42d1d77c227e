package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/conformance"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/safefile"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/scope"
)

// pluginFlags are the flags of plugin install and plugin test.
type pluginFlags struct {
	name        string   // install --name
	grants      []string // --grant CAPABILITY=VALUE, repeatable
	credentials []string // --credential NAME=FILE, repeatable
}

func flagGrants(c *cli, fs *pflag.FlagSet, fsToo bool) {
	what := "grant the http capability: `CAPABILITY=VALUE`, http=https://HOST:PORT (repeatable)"
	if fsToo {
		what = "grant a capability: `CAPABILITY=VALUE`, fs=DIR or http=https://HOST:PORT (repeatable)"
	}
	fs.StringArrayVar(&c.plug.grants, "grant", nil, what)
	fs.StringArrayVar(&c.plug.credentials, "credential", nil, "let the plugin read the file at PATH as credential NAME through http: `NAME=PATH` (repeatable)")
}

var cmdPluginInspect = &command{
	Name:      "plugin inspect",
	UsageLine: "FILE.wasm|NAME [-of json]",
	Short:     "show what a plugin is and needs, without running it",
	Long: `
Plugin inspect reads a plugin module, a .wasm file or a plugin by name (built
in, or configured under [plugins.NAME]), and shows what it is without
running any of its code: its name, kind, the ABI version and ops it declares
(from its flyte.describe section, which flyte plugins carry), the
capabilities it imports and whether they are granted to it, all its imports
and exports, its size and its SHA-256 (what [plugins.NAME] sha256 pins).

A module without a flyte.describe section shows "kind: not declared"; its
imports still say which capabilities it needs. A module that is not a flyte
plugin, or speaks another major version of the ABI, is refused.`,
	Run: func(c *cli, args []string) error { return c.pluginInspect(args) },
}

var cmdPluginTest = &command{
	Name:      "plugin test",
	UsageLine: "FILE.wasm|NAME [--grant http=ORIGIN]... [--credential NAME=PATH]...",
	Short:     "check that a plugin keeps the plugin contract",
	Long: `
Plugin test loads a plugin and runs flyte's conformance suite on it, as the
host would call it. For a store: create, get, update and delete with their
compare-and-set rules, every record kind, opaque and large values, listing
order and paging, filters, scope isolation, store-wide values, unknown ops,
and records it cannot read. For an injector: plans for several sets of
requests that the host's validator accepts, the same plan for the same
request, and clean errors for requests it does not handle.

A store that uses the fs capability gets a fresh temporary directory, which
the suite fills, damages and removes: the plugin's configured store is never
touched. A network store gets the origins and credentials that its
[plugins.NAME.grant.http] table grants it, or only those given with --grant
http and --credential, which take the table's place.

It prints one line per check (ok, FAIL with the reason, or skip), then a
summary; the exit status is 1 when a check failed.`,
	Flags: func(c *cli, fs *pflag.FlagSet) { flagGrants(c, fs, false) },
	Run:   func(c *cli, args []string) error { return c.pluginTest(args) },
}

// pluginTarget is the plugin a FILE.wasm|NAME argument names.
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

// isFileArg reports whether an argument names a file rather than a plugin.
func isFileArg(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".wasm")
}

// pluginArg resolves a FILE.wasm|NAME argument.
func (c *cli) pluginArg(arg string) (*pluginTarget, error) {
	if isFileArg(arg) {
		wasm, err := readPluginFile(arg)
		if err != nil {
			return nil, err
		}
		abs, _ := filepath.Abs(arg)
		name := strings.TrimSuffix(filepath.Base(arg), ".wasm")
		if scope.ValidateName("plugin name", name) != nil {
			name = "(file)"
		}
		return &pluginTarget{name: name, source: abs, file: true, spec: plugin.Spec{Name: name, Source: abs, Wasm: wasm}}, nil
	}
	if err := scope.ValidateName("plugin name", arg); err != nil {
		return nil, withHint(scope.At(err, "argument FILE.wasm|NAME"), "name a .wasm file (with a / or the .wasm suffix) or a plugin that 'flyte plugin list' shows")
	}
	cfg, err := c.config()
	if err != nil {
		return nil, err
	}
	t := &pluginTarget{name: arg, source: "built-in", spec: plugin.Spec{Name: arg, Source: "built-in"}, granted: map[string]bool{}}
	if pc, ok := cfg.Plugins[arg]; ok {
		b, err := plugin.ReadFile(pc.Path)
		if err != nil {
			return nil, fmt.Errorf("cannot read plugin %s: %w", arg, err)
		}
		t.source = pc.Path
		t.spec = plugin.Spec{Name: arg, Source: pc.Path, Wasm: b, SHA256: pc.SHA256, MemoryPages: pc.MemoryPages, Timeout: pc.Timeout}
		t.spec.Config = pc.Message()
		t.tables, t.cfgPath = pc.Grants, cfg.Path
	} else {
		b, err := builtin.Module(arg)
		if errors.Is(err, builtin.ErrMissing) {
			return nil, withHint(fmt.Errorf("unknown plugin %q: it is neither built in nor configured in [plugins.%s]", arg, arg),
				"run 'flyte plugin list' for the plugins flyte knows, or name a .wasm file")
		}
		if err != nil {
			return nil, fmt.Errorf("plugin %s: %w", arg, err)
		}
		t.spec.Wasm = b
	}
	// What the core grants it: its tables, and store.path (fs) or, for
	// the etcd store, store.endpoints (http) when it is the store.
	for _, name := range core.Granted(cfg, arg) {
		t.granted[name] = true
	}
	return t, nil
}

// readPluginFile reads a module named on the command line. A path that
// names nothing may be a value typed in the wrong place, and one that
// cannot be read failed a check: neither is repeated.
func readPluginFile(path string) ([]byte, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("plugin file given as FILE.wasm: no such file")
	}
	b, err := plugin.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read plugin file: %s", strings.ReplaceAll(safefile.Bare(err).Error(), path, "it"))
	}
	return b, nil
}

// shownArg is a command-line argument as a message may repeat it: as
// given when it is plain printable text, else what names it.
func shownArg(arg, what string) string {
	if arg == "" || sanitize.Text(arg) != arg || strings.ContainsAny(arg, " \t'\"\\") {
		return what
	}
	return arg
}

// pluginHost is a plugin host with flyte's cache and progress lines.
func (c *cli) pluginHost() (*plugin.Host, error) {
	return plugin.NewHost(plugin.Options{CacheDir: config.CacheDir(c.getenv), Progress: c.stderr})
}

// inspectJSON is plugin inspect -of json.
type inspectJSON struct {
	Name         string           `json:"name"`
	Source       string           `json:"source"`
	Kind         string           `json:"kind"`
	ABI          string           `json:"abi"`
	Version      string           `json:"version,omitempty"`
	Summary      string           `json:"summary,omitempty"`
	Ops          []string         `json:"ops"`
	Capabilities []capabilityJSON `json:"capabilities"`
	Imports      []string         `json:"imports"`
	Exports      []string         `json:"exports"`
	Size         int              `json:"size"`
	SHA256       string           `json:"sha256"`
}

type capabilityJSON struct {
	Name    string `json:"name"`
	Granted bool   `json:"granted"`
}

func (c *cli) pluginInspect(args []string) error {
	if err := c.argCount(args, 1, 1, "FILE.wasm or NAME"); err != nil {
		return err
	}
	t, err := c.pluginArg(args[0])
	if err != nil {
		return err
	}
	h, err := c.pluginHost()
	if err != nil {
		return err
	}
	defer h.Close()
	in, err := h.Inspect(c.ctx, t.name, t.spec.Wasm)
	if err != nil {
		return err
	}
	if pin := strings.ToLower(t.spec.SHA256); pin != "" && pin != in.SHA256 {
		// As Load refuses it: what is shown must be what is configured.
		return &plugin.Error{Plugin: t.name, Msg: "content does not match its pinned sha256 (pinned " + sanitize.Text(pin) + ", file is " + in.SHA256 + ")"}
	}
	j := inspectJSON{Name: t.name, Source: t.source, Kind: "not declared (no " + abi.DescribeSection + " section)",
		ABI: fmt.Sprintf("v%d (minor not declared)", in.Major), Ops: []string{}, Capabilities: []capabilityJSON{},
		Imports: in.Imports, Exports: in.Exports, Size: in.Size, SHA256: in.SHA256}
	if d := in.Describe; d != nil {
		if d.Name != "" && t.file {
			j.Name = d.Name
		}
		j.Kind, j.ABI, j.Version, j.Summary = d.Kind.String(), fmt.Sprintf("v%d.%d", in.Major, d.Minor), d.Version, d.Summary
		for _, op := range d.Ops {
			j.Ops = append(j.Ops, fmt.Sprintf("%d %s", op, conformance.OpName(op)))
		}
	}
	for _, name := range in.Capabilities {
		j.Capabilities = append(j.Capabilities, capabilityJSON{Name: name, Granted: t.granted[name]})
	}
	if j.Imports == nil {
		j.Imports = []string{}
	}
	switch c.outputFormat {
	case "json", "json-raw":
		e := json.NewEncoder(c.stdout)
		if c.outputFormat == "json" {
			e.SetIndent("", "  ")
		}
		return e.Encode(j)
	}
	w := c.stdout
	line := func(k, v string) { fmt.Fprintf(w, "%-13s %s\n", k+":", v) }
	line("name", j.Name)
	line("source", sanitize.Text(j.Source))
	line("kind", j.Kind)
	line("abi", j.ABI)
	if j.Version != "" {
		line("version", j.Version)
	}
	if j.Summary != "" {
		line("summary", j.Summary)
	}
	if in.Describe != nil {
		line("ops", orNone(strings.Join(j.Ops, ", ")))
	}
	var caps []string
	for _, cp := range j.Capabilities {
		switch {
		case cp.Granted:
			caps = append(caps, cp.Name+" (granted)")
		case t.file:
			caps = append(caps, cp.Name+" (not granted: grant it with flyte plugin install --grant)")
		default:
			caps = append(caps, cp.Name+" (not granted)")
		}
	}
	line("capabilities", orNone(strings.Join(caps, ", ")))
	line("imports", orNone(strings.Join(j.Imports, " ")))
	line("exports", orNone(strings.Join(j.Exports, " ")))
	line("size", fmt.Sprintf("%d bytes", j.Size))
	line("sha256", j.SHA256)
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// parseGrants reads --grant and --credential for plugin name into the
// [plugins.NAME.grant.<capability>] tables they stand for, and checks each
// through its capability (parse, then what flyte protects, with own the
// configuration whose files count as flyte's: nil for none). Nothing is
// written.
func (c *cli) parseGrants(name string, fsAllowed bool, own *config.Config) (map[string]map[string]any, map[string]capability.Grant, error) {
	tables := map[string]map[string]any{}
	usage := func(format string, args ...any) error {
		return withHint(usagef(format, args...), "usage: "+c.cmd.usage())
	}
	for _, g := range c.plug.grants {
		capName, value, ok := strings.Cut(g, "=")
		if !ok || value == "" {
			return nil, nil, usage("--grant needs CAPABILITY=VALUE, such as http=https://HOST:PORT")
		}
		if _, known := capability.ByName(capName); !known {
			var names []string
			for _, cp := range capability.All() {
				names = append(names, cp.Name)
			}
			return nil, nil, usage("--grant names an unknown capability (this flyte has: %s)", strings.Join(names, ", "))
		}
		switch capName {
		case "fs":
			if !fsAllowed {
				return nil, nil, withHint(usagef("plugin test grants a store a fresh temporary directory of its own; --grant fs is for plugin install"),
					"run 'flyte plugin test "+name+"' without --grant fs")
			}
			if tables["fs"] != nil {
				return nil, nil, usage("--grant fs given twice: a plugin gets one directory")
			}
			abs, err := filepath.Abs(value)
			if err != nil {
				return nil, nil, err
			}
			tables["fs"] = map[string]any{"path": abs}
		case "http":
			t := tables["http"]
			if t == nil {
				t = map[string]any{"origins": []any{}}
				tables["http"] = t
			}
			t["origins"] = append(t["origins"].([]any), value)
		default:
			return nil, nil, usage("--grant %s takes no value on the command line: write its table in flyte.toml", capName)
		}
	}
	for _, cr := range c.plug.credentials {
		cname, path, ok := strings.Cut(cr, "=")
		if !ok || cname == "" || path == "" {
			return nil, nil, usage("--credential needs NAME=PATH, the file holding the credential")
		}
		t := tables["http"]
		if t == nil {
			return nil, nil, usage("--credential goes with --grant http=ORIGIN: credentials are read through the http capability")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			// A value typed in the wrong place, perhaps: not repeated.
			return nil, nil, withHint(usagef("--credential names no file that exists"), "give NAME=PATH, the path of the file that holds the credential")
		}
		creds, _ := t["credentials"].(map[string]any)
		if creds == nil {
			creds = map[string]any{}
			t["credentials"] = creds
		}
		if _, dup := creds[cname]; dup {
			return nil, nil, usage("--credential gives one name twice")
		}
		creds[cname] = abs
	}
	protected := c.protected(own, name)
	grants := map[string]capability.Grant{}
	for _, capName := range slices.Sorted(maps.Keys(tables)) {
		cp, _ := capability.ByName(capName)
		g, err := cp.Parse(name, tables[capName])
		if err != nil {
			return nil, nil, plainUsage(err)
		}
		if capName == "fs" {
			// Loading would take a missing directory for an empty store.
			if fi, err := os.Stat(tables["fs"]["path"].(string)); err != nil || !fi.IsDir() {
				return nil, nil, withHint(usagef("--grant fs names no existing directory"), "create the directory first, or name one that exists")
			}
		}
		if err := g.Check(protected); err != nil {
			return nil, nil, err
		}
		grants[capName] = g
	}
	return tables, grants, nil
}

// protected is what no grant to the named plugin may reach: flyte's own
// files, those cfg names (when not nil), flyte's own directories and the
// files the other plugins' grants name (core.Protected).
func (c *cli) protected(cfg *config.Config, plugin string) []grant.Protected {
	return grant.For(core.Protected(cfg, c.getenv), plugin)
}

// plainUsage keeps an error's line and hint as a misuse of the command
// line (exit 2).
func plainUsage(err error) error {
	u := &usageError{err.Error()}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return withHint(u, h.Hint())
	}
	return u
}

func (c *cli) pluginTest(args []string) error {
	if err := c.argCount(args, 1, 1, "FILE.wasm or NAME"); err != nil {
		return err
	}
	t, err := c.pluginArg(args[0])
	if err != nil {
		return err
	}
	// A plugin named as a file needs no configuration, so a project's
	// flyte.toml (perhaps not trusted) is not read: flyte's own
	// directories are still protected. A configured one was resolved
	// through the configuration, whose files are protected too.
	var own *config.Config
	if !t.file {
		if own, err = c.config(); err != nil {
			return err
		}
	}
	_, given, err := c.parseGrants(t.name, false, own)
	if err != nil {
		return err
	}
	grants, err := c.configuredGrants(t, given, own)
	if err != nil {
		return err
	}
	h, err := c.pluginHost()
	if err != nil {
		return err
	}
	defer h.Close()
	in, err := h.Inspect(c.ctx, t.name, t.spec.Wasm)
	if err != nil {
		return err
	}
	opts := conformance.Options{}
	if slices.Contains(in.Capabilities, "fs") {
		dir, err := os.MkdirTemp("", "flyte-plugin-test-")
		if err != nil {
			return fmt.Errorf("cannot make the store's temporary directory: %w", err)
		}
		defer os.RemoveAll(dir)
		opts.Dir = dir
		fsCap, _ := capability.ByName("fs")
		g, err := fsCap.Parse(t.name, map[string]any{"path": dir})
		if err == nil {
			err = g.Check(c.protected(own, t.name))
		}
		if err != nil {
			return err
		}
		grants["fs"] = g
	}
	t.spec.Grants = grants
	p, err := h.Load(c.ctx, t.spec)
	var ce *plugin.CapabilityError
	if errors.As(err, &ce) && ce.Capability.Name == "http" {
		// Not the flyte.toml lines: the test takes its grant as a flag.
		return withHint(err, "grant it for the test with --grant http=ORIGIN (repeatable), and --credential NAME=PATH for a credential it reads")
	}
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	rs := conformance.Run(c.ctx, p, opts)
	for _, r := range rs {
		fmt.Fprintln(c.stdout, r)
	}
	what := fmt.Sprintf("plugin %s (%s): %s", t.name, plugin.KindPhrase(p.Info.Kind), conformance.Summary(rs))
	if conformance.Failed(rs) > 0 {
		return errors.New(what)
	}
	fmt.Fprintln(c.stdout, what)
	return nil
}

// configuredGrants are the grants plugin test gives the plugin of t: what
// its [plugins.NAME.grant.<capability>] tables grant it, each checked as
// loading it would, with a capability given on the command line (given)
// in place of its table. Never its fs grant: the suite fills, damages and
// removes its directory, so a store gets a fresh one (pluginTest).
func (c *cli) configuredGrants(t *pluginTarget, given map[string]capability.Grant, own *config.Config) (map[string]capability.Grant, error) {
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
		if err := g.Check(c.protected(own, t.name)); err != nil {
			return nil, err
		}
		grants[name] = g
	}
	if own != nil && !t.file && grants["http"] == nil && core.StoreCapability(own, t.name) == "http" {
		// The configured etcd store, tested as the core loads it: the
		// endpoints, credentials, deadlines of [store], under a prefix of
		// its own inside store.prefix, which flyte's records and meta
		// values (PREFIX s/, PREFIX m/) never use: the suite's listing of
		// every organization sees only what it wrote, and its meta values
		// sit apart from the store's data key.
		tc := *own
		tc.Store.Prefix += conformancePrefix
		if err := core.EtcdSpec(&tc, c.protected(own, ""), &t.spec); err != nil {
			return nil, err
		}
		if g := t.spec.Grants["http"]; g != nil {
			grants["http"] = g
		}
	}
	return grants, nil
}

// conformancePrefix is where, inside store.prefix, `flyte plugin test`
// runs the suite against the configured etcd store.
const conformancePrefix = "conformance/"

// quoteTOML writes s as a TOML basic string.
func quoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// pluginsUsing lists what in cfg uses plugin name: the store, default
// injectors, environments' secrets.
func pluginsUsing(cfg *config.Config, name string) []string {
	var uses []string
	if cfg.Store.Plugin == name {
		uses = append(uses, "store.plugin")
	}
	if cfg.Inject.Env == name {
		uses = append(uses, "inject.env")
	}
	if cfg.Inject.File == name {
		uses = append(uses, "inject.file")
	}
	for _, e := range cfg.Environments {
		for _, s := range e.Secrets {
			if s.Injector == name {
				uses = append(uses, "environment "+e.Name)
				break
			}
		}
		for _, r := range e.Render {
			if r.Injector == name {
				uses = append(uses, "environment "+e.Name)
				break
			}
		}
	}
	return slices.Compact(uses)
}

// quoteList writes strings as a TOML array.
func quoteList(items []any) string {
	q := make([]string, len(items))
	for i, it := range items {
		q[i] = quoteTOML(it.(string))
	}
	return "[" + strings.Join(q, ", ") + "]"
}
