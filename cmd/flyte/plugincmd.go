package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
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

// pluginArg reads a FILE.wasm|NAME argument into the request that names
// the plugin, with the configuration for a plugin named by name (nil for a
// file: a plugin named as a file needs no configuration, so a project's
// flyte.toml, perhaps not trusted, is not read).
func (c *cli) pluginArg(arg string) (core.PluginRequest, *config.Config, error) {
	if isFileArg(arg) {
		wasm, err := readPluginFile(arg)
		if err != nil {
			return core.PluginRequest{}, nil, err
		}
		abs, err := filepath.Abs(arg)
		if err != nil {
			abs = arg
		}
		return core.PluginRequest{File: abs, Wasm: wasm}, nil, nil
	}
	if err := scope.ValidateName("plugin name", arg); err != nil {
		return core.PluginRequest{}, nil, withHint(scope.At(err, "argument FILE.wasm|NAME"), "name a .wasm file (with a / or the .wasm suffix) or a plugin that 'flyte plugin list' shows")
	}
	cfg, err := c.config()
	if err != nil {
		return core.PluginRequest{}, nil, err
	}
	return core.PluginRequest{Name: arg}, cfg, nil
}

// isFileArg reports whether an argument names a file rather than a plugin.
func isFileArg(arg string) bool {
	return strings.ContainsRune(arg, '/') || strings.HasSuffix(arg, ".wasm")
}

// readPluginFile reads a module named on the command line. A path that
// names nothing may be a value typed in the wrong place, and one that
// cannot be read failed a check: neither is repeated.
func readPluginFile(path string) ([]byte, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, errors.New("plugin file given as FILE.wasm: no such file")
	}
	b, err := core.ReadModule(path)
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

// pluginOptions are the core's options for the plugin commands: flyte's
// cache, progress lines, and what flyte protects under cfg (nil: under no
// configuration).
func (c *cli) pluginOptions(cfg *config.Config) core.Options {
	return core.Options{CacheDir: config.CacheDir(c.getenv), Progress: c.stderr, Protected: core.Protected(cfg, c.getenv)}
}

// pluginError adds the command line's side to what the core refuses.
func pluginError(err error) error {
	var unknown *core.UnknownPluginError
	var ge *core.GrantError
	switch {
	case errors.As(err, &unknown):
		return withHint(err, "run 'flyte plugin list' for the plugins flyte knows, or name a .wasm file")
	case errors.As(err, &ge):
		return plainUsage(ge.Err)
	case errors.Is(err, core.ErrGrantDir):
		return withHint(usagef("--grant fs names no existing directory"), "create the directory first, or name one that exists")
	}
	return err
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
	req, cfg, err := c.pluginArg(args[0])
	if err != nil {
		return err
	}
	in, err := core.InspectPlugin(c.ctx, c.pluginOptions(cfg), cfg, req)
	if err != nil {
		return pluginError(err)
	}
	j := inspectJSON{Name: in.Name, Source: in.Source, Kind: "not declared (no " + abi.DescribeSection + " section)",
		ABI: fmt.Sprintf("v%d (minor not declared)", in.Major), Ops: in.Ops, Capabilities: []capabilityJSON{},
		Imports: in.Imports, Exports: in.Exports, Size: in.Size, SHA256: in.SHA256}
	if in.Declared {
		j.Kind, j.ABI, j.Version, j.Summary = in.Kind.String(), fmt.Sprintf("v%d.%d", in.Major, in.Minor), in.Version, in.Summary
	}
	for _, cp := range in.Capabilities {
		j.Capabilities = append(j.Capabilities, capabilityJSON{Name: cp.Name, Granted: cp.Granted})
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
	if in.Declared {
		line("ops", orNone(strings.Join(j.Ops, ", ")))
	}
	var caps []string
	for _, cp := range j.Capabilities {
		switch {
		case cp.Granted:
			caps = append(caps, cp.Name+" (granted)")
		case in.File:
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

// grantTables reads --grant and --credential for plugin name into the
// [plugins.NAME.grant.<capability>] tables they stand for. The core checks
// them (core.CheckGrants). Nothing is written.
func (c *cli) grantTables(name string, fsAllowed bool) (map[string]map[string]any, error) {
	tables := map[string]map[string]any{}
	usage := func(format string, args ...any) error {
		return withHint(usagef(format, args...), "usage: "+c.cmd.usage())
	}
	for _, g := range c.plug.grants {
		capName, value, ok := strings.Cut(g, "=")
		if !ok || value == "" {
			return nil, usage("--grant needs CAPABILITY=VALUE, such as http=https://HOST:PORT")
		}
		if names := core.Capabilities(); !slices.Contains(names, capName) {
			return nil, usage("--grant names an unknown capability (this flyte has: %s)", strings.Join(names, ", "))
		}
		switch capName {
		case "fs":
			if !fsAllowed {
				return nil, withHint(usagef("plugin test grants a store a fresh temporary directory of its own; --grant fs is for plugin install"),
					"run 'flyte plugin test "+name+"' without --grant fs")
			}
			if tables["fs"] != nil {
				return nil, usage("--grant fs given twice: a plugin gets one directory")
			}
			abs, err := filepath.Abs(value)
			if err != nil {
				return nil, err
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
			return nil, usage("--grant %s takes no value on the command line: write its table in flyte.toml", capName)
		}
	}
	for _, cr := range c.plug.credentials {
		cname, path, ok := strings.Cut(cr, "=")
		if !ok || cname == "" || path == "" {
			return nil, usage("--credential needs NAME=PATH, the file holding the credential")
		}
		t := tables["http"]
		if t == nil {
			return nil, usage("--credential goes with --grant http=ORIGIN: credentials are read through the http capability")
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(abs); errors.Is(err, fs.ErrNotExist) {
			// A value typed in the wrong place, perhaps: not repeated.
			return nil, withHint(usagef("--credential names no file that exists"), "give NAME=PATH, the path of the file that holds the credential")
		}
		creds, _ := t["credentials"].(map[string]any)
		if creds == nil {
			creds = map[string]any{}
			t["credentials"] = creds
		}
		if _, dup := creds[cname]; dup {
			return nil, usage("--credential gives one name twice")
		}
		creds[cname] = abs
	}
	return tables, nil
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
	req, cfg, err := c.pluginArg(args[0])
	if err != nil {
		return err
	}
	// A plugin that does not exist is reported before the flags are read.
	if err := core.FindPlugin(cfg, req); err != nil {
		return pluginError(err)
	}
	tables, err := c.grantTables(req.Shown(), false)
	if err != nil {
		return err
	}
	res, err := core.PluginConformance(c.ctx, c.pluginOptions(cfg), cfg, core.PluginTestRequest{Plugin: req, Grants: tables})
	var ce *core.CapabilityError
	if errors.As(err, &ce) && ce.Capability.Name == "http" {
		// Not the flyte.toml lines: the test takes its grant as a flag.
		return withHint(err, "grant it for the test with --grant http=ORIGIN (repeatable), and --credential NAME=PATH for a credential it reads")
	}
	if err != nil {
		return pluginError(err)
	}
	for _, l := range res.Lines {
		fmt.Fprintln(c.stdout, l)
	}
	what := fmt.Sprintf("plugin %s (%s): %s", res.Name, res.KindPhrase, res.Summary)
	if res.Failed > 0 {
		return errors.New(what)
	}
	fmt.Fprintln(c.stdout, what)
	return nil
}

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
