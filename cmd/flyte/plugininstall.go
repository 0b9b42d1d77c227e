package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"
	"github.com/spf13/pflag"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/safefile"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/state"
)

// installLock is the state file whose lock serialises plugin install and
// remove (it is never written).
const installLock = "plugin-install"

var cmdPluginInstall = &command{
	Name:      "plugin install",
	UsageLine: "FILE.wasm [--name NAME] [--grant fs=DIR] [--grant http=ORIGIN]... [--credential NAME=PATH]...",
	Short:     "install a plugin into your own configuration",
	Long: `
Plugin install inspects a plugin module (compiling it into the cache),
copies it into flyte's plugin directory ($XDG_DATA_HOME/flyte/plugins,
default ~/.local/share/flyte/plugins, mode 0700, which no grant may reach:
install refuses while store.path or an fs grant would) and adds a
[plugins.NAME] entry that pins its SHA-256, with the grants given, to your
own configuration: the file --config or $FLYTE_CONFIG names, else
~/.config/flyte/flyte.toml (never a flyte.toml found from the working
directory; a symbolic link stays one, the file it leads to is changed). The
entry is appended between "# BEGIN flyte plugin install NAME" and "# END
flyte plugin install NAME" lines, so the rest of the file, your comments
included, stays as it is; the file is checked before it replaces the old
one.

NAME is --name, else the name the plugin declares, else the file's name
without .wasm. Built-in names and names already configured are refused.
Grants are checked before anything is written:
  --grant fs=DIR                an existing directory, for a plugin that is
                                not the store (the store's directory is
                                [store] path, never a grant)
  --grant http=https://HOST:PORT an origin the plugin may reach (repeatable)
  --credential NAME=PATH        a file (mode 0600) the plugin reads as
                                credential NAME through http

Once installed, a changed file is refused with both hashes. Use the plugin
by name (store.plugin with store.path as its directory, inject.env, an
environment's injector), and take it out again with flyte plugin remove NAME.`,
	Flags: func(c *cli, fs *pflag.FlagSet) {
		fs.StringVar(&c.plug.name, "name", "", "install it as `NAME` (default: the name it declares, or the file's)")
		flagGrants(c, fs, true)
	},
	Run: func(c *cli, args []string) error { return c.pluginInstall(args) },
}

var cmdPluginRemove = &command{
	Name:      "plugin remove",
	UsageLine: "NAME",
	Short:     "remove a plugin that plugin install added",
	Long: `
Plugin remove takes out what flyte plugin install added for NAME: the block
between its "# BEGIN flyte plugin install NAME" and "# END ..." lines in your
own configuration, and the module in flyte's plugin directory. It refuses
while the configuration uses the plugin (store.plugin, inject.env,
inject.file, an environment), and leaves alone a [plugins.NAME] entry that
you wrote by hand, and a block that holds settings other than [plugins.NAME]
and its sub-tables (those are yours): remove those yourself.`,
	Run: func(c *cli, args []string) error { return c.pluginRemove(args) },
}

// markers are the lines around an installed plugin's block.
func markers(name string) (begin, end string) {
	return "# BEGIN flyte plugin install " + name + "\n", "# END flyte plugin install " + name + "\n"
}

// Why cutBlock leaves a file alone.
var (
	// errNoBlock: no intact block (its BEGIN and END lines each once,
	// whole lines, in order).
	errNoBlock = errors.New("no intact block")
	// errForeign: the block holds settings other than the plugin's own.
	errForeign = errors.New("other settings in the block")
)

// cutBlock returns data without the block plugin install wrote for name
// (and the blank line it put before it). It cuts only an intact block
// (errNoBlock) that holds nothing but what install writes there: the
// [plugins.NAME] table and tables under it, comments and blank lines
// (errForeign); whatever else the user added inside it is theirs.
func cutBlock(data []byte, name string) ([]byte, error) {
	begin, end := markers(name)
	bi, ei := bytes.Index(data, []byte(begin)), bytes.Index(data, []byte(end))
	if bi < 0 || ei < bi || bytes.Count(data, []byte(begin)) != 1 || bytes.Count(data, []byte(end)) != 1 ||
		(bi > 0 && data[bi-1] != '\n') || data[ei-1] != '\n' {
		return nil, errNoBlock
	}
	if !onlyPlugin(data[bi+len(begin):ei], name) {
		return nil, errForeign
	}
	start := bi
	if start >= 2 && data[start-1] == '\n' && data[start-2] == '\n' {
		start-- // the blank line install put before the block
	}
	return append(slices.Clone(data[:start]), data[ei+len(end):]...), nil
}

// onlyPlugin reports whether the TOML text block, decoded on its own,
// sets only [plugins.NAME] and what lies under it. Text that does not
// decode alone (a key before the first table header belongs to the table
// above the block in the whole file) is not the plugin's only.
func onlyPlugin(block []byte, name string) bool {
	var v map[string]any
	md, err := toml.Decode(string(block), &v)
	if err != nil {
		return false
	}
	for _, k := range md.Keys() {
		if len(k) < 2 || k[0] != "plugins" || k[1] != name {
			return false
		}
	}
	for k, t := range v {
		if m, ok := t.(map[string]any); k != "plugins" || !ok || len(m) != 1 || m[name] == nil {
			return false
		}
	}
	return true
}

// ownConfigFile is the configuration file that plugin install and remove
// change: the one --config or $FLYTE_CONFIG names (which must exist),
// else the user's own, which may not exist yet.
func (c *cli) ownConfigFile() (string, error) {
	if c.configPath != "" || c.getenv(config.EnvConfig) != "" {
		cwd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		f, err := config.Find(c.configPath, cwd, c.getenv)
		if err != nil {
			return "", err
		}
		return f.Path, nil
	}
	p := config.UserFile(c.getenv)
	if p == "" {
		return "", withHint(errors.New("no configuration file of your own: HOME and XDG_CONFIG_HOME are not set"), "name one with --config PATH")
	}
	return p, nil
}

// loadOwn reads the configuration file path as it is now: its bytes (nil
// when it does not exist) and what it configures.
func (c *cli) loadOwn(path string) ([]byte, *config.Config, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		cfg, err := config.Load("", c.getenv)
		return nil, cfg, err
	}
	cfg, err := config.Load(path, c.getenv)
	if err != nil {
		return nil, nil, plainError(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, safefile.Bare(err))
	}
	return b, cfg, nil
}

// underLock runs fn under the lock of plugin install and remove.
func (c *cli) underLock(fn func() error) error {
	d, err := state.Open(state.Path(c.getenv))
	if err != nil {
		return err
	}
	return d.Update(installLock, func([]byte) ([]byte, error) { return nil, fn() })
}

func (c *cli) pluginInstall(args []string) error {
	if err := c.argCount(args, 1, 1, "FILE.wasm"); err != nil {
		return err
	}
	if !isFileArg(args[0]) {
		return withHint(usagef("plugin install takes a module file, FILE.wasm"), "name it with a / or the .wasm suffix: flyte plugin install ./NAME.wasm")
	}
	name := c.plug.name
	if name != "" {
		if err := scope.ValidateName("plugin name", name); err != nil {
			return scope.At(err, "--name")
		}
	}
	wasm, err := readPluginFile(args[0])
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(args[0])
	if err != nil {
		abs = args[0]
	}
	stem := strings.TrimSuffix(filepath.Base(args[0]), ".wasm")
	target, err := c.ownConfigFile()
	if err != nil {
		return err
	}
	dir := config.PluginDir(c.getenv)
	if dir == "" {
		return errors.New("no directory for installed plugins: HOME and XDG_DATA_HOME are not set")
	}
	// What would be refused anyway is refused before the plugin is
	// compiled and before the lock, which creates the state directory.
	// Only the file install writes is read: a flyte.toml found from the
	// working directory (trusted or not) is not the user's to change.
	_, own, err := c.loadOwn(target)
	if err != nil {
		return err
	}
	if err := checkPluginDir(own, dir); err != nil {
		return err
	}
	in, err := core.InspectPlugin(c.ctx, c.pluginOptions(nil), nil, core.PluginRequest{File: abs, Wasm: wasm, Name: name})
	if err != nil {
		return pluginError(err)
	}
	if name == "" {
		switch {
		case in.Declared && scope.ValidateName("plugin name", in.DeclaredName) == nil:
			name = in.DeclaredName
		case scope.ValidateName("plugin name", stem) == nil:
			name = stem
		default:
			return withHint(usagef("the plugin declares no valid name, and its file name is not one"), "choose one with --name NAME")
		}
	}
	if core.BuiltinName(name) {
		return withHint(usagef("%s is the name of a built-in plugin", name), "choose another with --name NAME")
	}
	if in.Declared && in.Kind == abi.KindInjector && (len(c.plug.grants) > 0 || len(c.plug.credentials) > 0) {
		return usagef("plugin %s is an injector: injectors get no capabilities, so --grant does not apply", name)
	}
	tables, err := c.grantTables(name, true)
	if err != nil {
		return err
	}
	if err := core.CheckGrants(c.pluginOptions(own), name, tables); err != nil {
		return pluginError(err)
	}
	for capName := range tables {
		if !slices.ContainsFunc(in.Capabilities, func(cp core.PluginCapability) bool { return cp.Name == capName }) {
			return withHint(usagef("plugin %s does not use capability %q (it imports nothing of it)", name, capName),
				"run 'flyte plugin inspect "+shownArg(args[0], "FILE.wasm")+"' for what it needs")
		}
	}
	dst := filepath.Join(dir, name+".wasm")
	block := installBlock(name, dst, in.SHA256, tables)
	err = c.underLock(func() error {
		orig, cfg, err := c.loadOwn(target)
		if err != nil {
			return err
		}
		if err := checkPluginDir(cfg, dir); err != nil {
			return err
		}
		if _, ok := cfg.Plugins[name]; ok {
			return withHint(fmt.Errorf("plugin %s is already configured in %s", name, target),
				"remove it first (flyte plugin remove "+name+"), or choose another name with --name")
		}
		if _, err := os.Lstat(dst); err == nil {
			return withHint(fmt.Errorf("a plugin is already installed as %s", dst), "choose another name with --name, or delete that file")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("cannot create %s: %w", dir, safefile.Bare(err))
		}
		if err := state.CheckPrivateDir(dir); err != nil {
			return fmt.Errorf("plugin directory %s: %w", dir, err)
		}
		if err := writeAtomic(dst, wasm, 0o600, -1, -1); err != nil {
			return err
		}
		data := slices.Clone(orig)
		if len(data) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
			data = append(data, '\n')
		}
		if len(data) > 0 {
			data = append(data, '\n')
		}
		data = append(data, block...)
		err = c.writeConfig(target, data, func(cfg *config.Config) error {
			if pc, ok := cfg.Plugins[name]; !ok || pc.Path != dst || pc.SHA256 != in.SHA256 {
				return errors.New("the added block does not configure the plugin as written (does the file set plugins some other way?)")
			}
			return nil
		})
		if err != nil {
			os.Remove(dst)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "installed plugin %s (%s, sha256 %s) as %s\n", name, in.KindPhrase, in.SHA256, dst)
	fmt.Fprintf(c.stdout, "added [plugins.%s] to %s\n", name, target)
	if cwd, err := os.Getwd(); err == nil && c.configPath == "" && c.getenv(config.EnvConfig) == "" {
		if p, _ := config.Search(cwd); p != "" {
			fmt.Fprintf(c.stderr, "flyte: note: in this directory flyte reads %s, which does not see plugins of %s\n", p, target)
		}
	}
	return nil
}

// checkPluginDir refuses to install into dir, flyte's installed plugins,
// when a directory cfg grants reaches it (core.CheckPluginDir).
func checkPluginDir(cfg *config.Config, dir string) error {
	err := core.CheckPluginDir(cfg, dir)
	var pe *core.PluginDirError
	if err == nil || errors.As(err, &pe) {
		return err
	}
	return plainError(err) // the configuration's own error, as loading would give it
}

// installBlock is the marked block plugin install appends.
func installBlock(name, path, sum string, tables map[string]map[string]any) []byte {
	begin, end := markers(name)
	var b strings.Builder
	b.WriteString(begin)
	fmt.Fprintf(&b, "[plugins.%s]\npath = %s\nsha256 = %s\n", name, quoteTOML(path), quoteTOML(sum))
	for _, capName := range slices.Sorted(maps.Keys(tables)) {
		fmt.Fprintf(&b, "\n[plugins.%s.grant.%s]\n", name, capName)
		t := tables[capName]
		for _, k := range slices.Sorted(maps.Keys(t)) {
			switch v := t[k].(type) {
			case string:
				fmt.Fprintf(&b, "%s = %s\n", k, quoteTOML(v))
			case []any:
				fmt.Fprintf(&b, "%s = %s\n", k, quoteList(v))
			case map[string]any:
				var kv []string
				for _, n := range slices.Sorted(maps.Keys(v)) {
					kv = append(kv, quoteTOML(n)+" = "+quoteTOML(v[n].(string)))
				}
				fmt.Fprintf(&b, "%s = { %s }\n", k, strings.Join(kv, ", "))
			}
		}
	}
	b.WriteString(end)
	return []byte(b.String())
}

// writeConfig replaces the configuration file path with data: through a
// temporary file, with the old file's mode and owner, which must load and
// pass verify before it is renamed over the old one. A path that is a
// symbolic link stays one: the file it leads to, which must be a regular
// file that configuration loading accepts (owned by the user or root, in
// directories no one else can change), is the one replaced, through a
// temporary file beside it.
func (c *cli) writeConfig(path string, data []byte, verify func(*config.Config) error) error {
	mode, uid, gid := fs.FileMode(0o600), -1, -1
	real := path
	if _, err := os.Lstat(path); err == nil {
		f, err := config.Read(config.Found{Path: path})
		if err != nil {
			return plainError(err)
		}
		real = f.Real
		fi, err := os.Lstat(real)
		if err != nil {
			return fmt.Errorf("config file %s: %w", path, safefile.Bare(err))
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("config file %s: %s, not a regular file", path, safefile.Kind(fi.Mode()))
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && (int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid()) {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", filepath.Dir(path), safefile.Bare(err))
	}
	return writeAtomicChecked(real, data, mode, uid, gid, func(tmp string) error {
		cfg, err := config.Load(tmp, c.getenv)
		if err != nil {
			msg := strings.ReplaceAll(err.Error(), tmp, path)
			return withHint(fmt.Errorf("cannot change %s: the result would not load: %s", path, msg), "nothing was changed; add the entry by hand")
		}
		if err := verify(cfg); err != nil {
			return withHint(fmt.Errorf("cannot change %s: %w", path, err), "nothing was changed; add the entry by hand")
		}
		return nil
	})
}

// writeAtomic writes data to path through a temporary file, fsync and
// rename; uid >= 0 sets the owner.
func writeAtomic(path string, data []byte, mode fs.FileMode, uid, gid int) error {
	return writeAtomicChecked(path, data, mode, uid, gid, nil)
}

func writeAtomicChecked(path string, data []byte, mode fs.FileMode, uid, gid int, check func(tmp string) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".flyte-tmp-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, safefile.Bare(err))
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(mode)
	if err == nil && uid >= 0 {
		err = tmp.Chown(uid, gid)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, safefile.Bare(err))
	}
	if check != nil {
		if err := check(tmp.Name()); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, safefile.Bare(err))
	}
	return safefile.SyncDir(dir)
}

func (c *cli) pluginRemove(args []string) error {
	if err := c.argCount(args, 1, 1, "NAME"); err != nil {
		return err
	}
	name := args[0]
	if err := scope.ValidateName("plugin name", name); err != nil {
		return scope.At(err, "argument NAME")
	}
	if core.BuiltinName(name) {
		return fmt.Errorf("plugin %s is built in; there is nothing to remove", name)
	}
	target, err := c.ownConfigFile()
	if err != nil {
		return err
	}
	// What would be refused anyway is refused before the lock, which
	// creates the state directory.
	if _, cfg, err := c.loadOwn(target); err != nil {
		return err
	} else if _, ok := cfg.Plugins[name]; !ok {
		return withHint(fmt.Errorf("plugin %s is not configured in %s", name, target), "run 'flyte plugin list' for the plugins flyte knows")
	}
	var removed string
	err = c.underLock(func() error {
		orig, cfg, err := c.loadOwn(target)
		if err != nil {
			return err
		}
		pc, ok := cfg.Plugins[name]
		if !ok {
			return withHint(fmt.Errorf("plugin %s is not configured in %s", name, target), "run 'flyte plugin list' for the plugins flyte knows")
		}
		if uses := pluginsUsing(cfg, name); len(uses) > 0 {
			return withHint(fmt.Errorf("plugin %s is in use in %s (%s)", name, target, strings.Join(uses, ", ")), "change those settings first")
		}
		data, err := cutBlock(orig, name)
		byHand := "remove [plugins." + name + "] (and its grant tables) from " + target + " by hand"
		switch {
		case errors.Is(err, errForeign):
			return withHint(fmt.Errorf("the block that flyte plugin install wrote for %s in %s now holds other settings too, which are yours", name, target), byHand)
		case err != nil:
			return withHint(fmt.Errorf("%s has no intact block that flyte plugin install wrote for %s", target, name), byHand)
		}
		err = c.writeConfig(target, data, func(cfg *config.Config) error {
			if _, ok := cfg.Plugins[name]; ok {
				return fmt.Errorf("[plugins.%s] is also set outside its block", name)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if dir := config.PluginDir(c.getenv); dir != "" && filepath.Dir(pc.Path) == dir {
			if err := os.Remove(pc.Path); err == nil {
				removed = pc.Path
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removed [plugins.%s] from %s, but not its file: %w", name, target, safefile.Bare(err))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "removed [plugins.%s] from %s\n", name, target)
	if removed != "" {
		fmt.Fprintf(c.stdout, "deleted %s\n", removed)
	}
	return nil
}
