// Package config reads flyte's configuration file, flyte.toml, and fills in the defaults.
//
// The result is plain data with every path made absolute, so nothing downstream depends on the working
// directory or the environment. The environment is only read through an injected getenv, which keeps
// tests hermetic and keeps one process's settings from leaking into another's in a long-lived host.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/safefile"
)

// FileName is the name Find looks for in the working directory, its parents and the user config dir.
const FileName = "flyte.toml"

// EnvConfig names the environment variable that points at a configuration file.
const EnvConfig = "FLYTE_CONFIG"

// Defaults and limits of the settings.
const (
	// DefaultOrganization is the organization when the file names none.
	DefaultOrganization = "default"
	// DefaultStorePlugin is the built-in embedded store.
	DefaultStorePlugin = "filestore"
	// DefaultMemoryPages is a plugin's memory cap in 64 KiB pages (64 MiB), room for a Go guest.
	DefaultMemoryPages = 1024
	// MaxMemoryPages caps what a configuration may grant a plugin (1 GiB).
	MaxMemoryPages = 16384
	// DefaultTimeout is the deadline of one plugin call.
	DefaultTimeout = 5 * time.Second
	// MaxTimeout caps a plugin call's deadline, so a hung backend cannot hold a command forever.
	MaxTimeout = 5 * time.Minute

	// EtcdStore is the built-in store plugin kept in etcd; [store] names its endpoints.
	EtcdStore = "etcd"
	// DefaultEtcdPrefix is store.prefix when the file sets none: where flyte's keys live in etcd.
	DefaultEtcdPrefix = "/flyte/"
	// DefaultEtcdTimeout is the etcd store's call deadline (store.timeout) when the file sets none:
	// room to try every endpoint of a cluster that lost its quorum and still answer.
	DefaultEtcdTimeout = 10 * time.Second
	// DefaultRequestTimeout bounds one request to an endpoint (store.request_timeout) when the file
	// sets none; never more than half the call's deadline, so that another endpoint can be tried.
	DefaultRequestTimeout = 2 * time.Second
	// MaxEndpoints caps store.endpoints.
	MaxEndpoints = 16
)

// maxFileSize bounds what Load reads, so that pointing --config at a huge file fails fast.
const maxFileSize = 1 << 20

// DefaultDomains returns the domains used when the file lists none: development, staging, production.
// It returns a new slice each time, so callers may modify it.
func DefaultDomains() []string {
	return []string{"development", "staging", "production"}
}

// Config is flyte's configuration after defaults and path resolution.
type Config struct {
	// Path is the file the configuration was read from; "" when none was found and defaults apply.
	Path string
	// Dir is the directory relative paths in the file were resolved against: the file's directory, or ""
	// for defaults (which hold no relative paths).
	Dir string
	// Organization owns every secret this configuration reaches.
	Organization string
	// Domains are the valid domains, in the order the file lists them.
	Domains []string
	// Project and Domain are where a task of a Python file runs (flyte run FILE.py TASK) unless -p/-d
	// say otherwise: the top-level project and domain settings; "" is the organization level.
	Project string
	Domain  string
	// Store selects and places the secret store.
	Store StoreConfig
	// Seal locates the key material that encrypts the store.
	Seal SealConfig
	// Plugins are third-party plugins and overrides of built-in ones, by name. Never nil after Load.
	Plugins map[string]PluginConfig
	// Inject names the default injector for each kind of secret request.
	Inject InjectConfig
	// Environments are the task environments, in file order.
	Environments []Environment
}

// StoreConfig is the [store] table.
type StoreConfig struct {
	// Plugin names the store plugin: a built-in one or a key of Config.Plugins.
	Plugin string
	// Path is the embedded store's directory, absolute; "" for the etcd store.
	Path string

	// The settings below are the etcd store's (Plugin == EtcdStore), zero for any other.

	// Endpoints are the etcd cluster's client URLs as canonical origins (scheme://host:port), in
	// the file's order: the order the plugin tries them, and what it is granted.
	Endpoints []string
	// Prefix is where flyte's keys live in etcd: starts and ends with "/" (DefaultEtcdPrefix).
	Prefix string
	// User is the etcd user, "" for none; PasswordFile then holds its password (absolute).
	User, PasswordFile string
	// CAFile, ClientCert and ClientKey are TLS files for https endpoints (absolute), or "".
	CAFile, ClientCert, ClientKey string
	// Timeout is the deadline of one call into the store plugin; RequestTimeout of one request
	// to an endpoint.
	Timeout, RequestTimeout time.Duration
}

// SealConfig is the [seal] table.
type SealConfig struct {
	// Identity is the age identity file, absolute. It may not exist yet: it is created at first use.
	Identity string
}

// PluginConfig is one [plugins.NAME] table.
type PluginConfig struct {
	// Path is the plugin's .wasm file, absolute.
	Path string
	// SHA256 pins the file's content, lower-case hex; "" means not pinned.
	SHA256 string
	// MemoryPages caps the plugin's memory in 64 KiB pages.
	MemoryPages uint32
	// Timeout is the deadline of one call into the plugin.
	Timeout time.Duration
	// Config is handed to the plugin as is; nil when the file sets none.
	Config map[string]string
	// Grants are the [plugins.NAME.grant.CAPABILITY] tables, by capability name (one of abi.Capabilities),
	// as TOML decoded them, with the paths they name resolved as every path in the file is (the
	// capability's parser owns the rest of its table); nil when the file sets none. The store
	// plugin's fs grant is store.path, never a table here.
	Grants map[string]map[string]any
}

// Message is Config as the plugin receives it: an abi.PluginConfig with
// its entries sorted by key, or nil when the file sets none.
func (p *PluginConfig) Message() []byte {
	if len(p.Config) == 0 {
		return nil
	}
	var m abi.PluginConfig
	for _, k := range slices.Sorted(maps.Keys(p.Config)) {
		m.Entries = append(m.Entries, abi.KeyValue{Key: k, Value: p.Config[k]})
	}
	return abi.Marshal(&m)
}

// Source says how a configuration file was found, which decides what it may set.
type Source int

// The ways a file is found, in Find's order.
const (
	// SourceNone: no file; the defaults apply.
	SourceNone Source = iota
	// SourceFlag: named with --config.
	SourceFlag
	// SourceEnv: named by $FLYTE_CONFIG.
	SourceEnv
	// SourceSearch: found by walking up from the working directory. Someone else may have written it (a
	// cloned repository, another user of a shared directory), so it is foreign until the user trusts it.
	SourceSearch
	// SourceUser: the user's own $XDG_CONFIG_HOME/flyte/flyte.toml (or ~/.config/flyte/flyte.toml).
	SourceUser
)

// Own reports whether the user chose the file: named it, or keeps it in their config dir. Only a file
// found by the upward search is not the user's own.
func (s Source) Own() bool { return s != SourceSearch }

// Found is the file Find picked and how.
type Found struct {
	Path   string // absolute; "" for SourceNone
	Source Source
}

// Find picks the configuration file, first match wins:
//
//  1. explicit (the --config flag), when non-empty; it must exist;
//  2. the file named by $FLYTE_CONFIG, when set; it must exist;
//  3. flyte.toml in cwd, then in each parent directory up to the root (see Search);
//  4. flyte.toml in the user config dir ($XDG_CONFIG_HOME/flyte or ~/.config/flyte);
//  5. none: it returns SourceNone, and Load("") gives the defaults.
//
// Relative paths are taken relative to cwd, and the result is absolute. getenv reads HOME,
// XDG_CONFIG_HOME and FLYTE_CONFIG; nil means an empty environment.
//
// # Errors
//
// A file named explicitly or by $FLYTE_CONFIG that does not exist is an error rather than a silent fall
// back to another file, which would put secrets in a store the user did not mean. So is a flyte.toml
// that exists but cannot be examined (permissions), or that is not a regular file (a named pipe, a
// device): flyte never opens one, so a FIFO planted in a parent directory cannot hang it.
func Find(explicit, cwd string, getenv func(string) string) (Found, error) {
	getenv = orEmpty(getenv)
	cwd, err := filepath.Abs(cwd)
	if err != nil {
		return Found{}, fmt.Errorf("cannot resolve working directory: %w", err)
	}
	if explicit != "" {
		p, err := named(abs(cwd, explicit), "")
		return Found{p, SourceFlag}, err
	}
	if env := getenv(EnvConfig); env != "" {
		p, err := named(abs(cwd, env), " (from "+EnvConfig+")")
		return Found{p, SourceEnv}, err
	}
	if p, err := Search(cwd); err != nil || p != "" {
		return Found{p, SourceSearch}, err
	}
	return FindUser(getenv)
}

// FindUser returns the user's own file (UserFile) when it exists, Found{} (SourceNone) when it does not,
// with Find's checks.
func FindUser(getenv func(string) string) (Found, error) {
	if p := UserFile(orEmpty(getenv)); p != "" {
		if ok, err := isFile(p); err != nil {
			return Found{}, err
		} else if ok {
			return Found{p, SourceUser}, nil
		}
	}
	return Found{}, nil
}

// Search returns the flyte.toml in dir or its nearest parent that has one, "" when there is none. A
// directory of that name is passed over; anything else that is not a regular file is an error.
func Search(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("cannot resolve working directory: %w", err)
	}
	for {
		p := filepath.Join(dir, FileName)
		if ok, err := isFile(p); err != nil {
			return "", err
		} else if ok {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

// UserFile is the user's own configuration file, $XDG_CONFIG_HOME/flyte/flyte.toml or
// ~/.config/flyte/flyte.toml; "" when neither variable is usable.
func UserFile(getenv func(string) string) string {
	if home := configHome(orEmpty(getenv)); home != "" {
		return filepath.Join(home, "flyte", FileName)
	}
	return ""
}

// named checks a file the user pointed at; from says where the name came from, for the message.
func named(p, from string) (string, error) {
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		// A path that names nothing may be a value typed after -c: it is not repeated.
		by := "--config"
		if from != "" {
			by = EnvConfig
		}
		return "", fmt.Errorf("config file given by %s: no such file", by)
	}
	if err != nil {
		return "", fileError(p+from, err)
	}
	if fi.IsDir() {
		return "", fmt.Errorf("config file %s%s: is a directory", p, from)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("config file %s%s: %s, not a regular file", p, from, safefile.Kind(fi.Mode()))
	}
	return p, nil
}

// isFile reports whether p is a file to read. A missing file or a directory of that name is not; any other
// failure, or a file that is not regular, is an error, since skipping it could pick a different
// configuration.
func isFile(p string) (bool, error) {
	fi, err := os.Stat(p)
	switch {
	case err == nil && fi.IsDir():
		return false, nil
	case err == nil && !fi.Mode().IsRegular():
		return false, fmt.Errorf("config file %s: %s, not a regular file", p, safefile.Kind(fi.Mode()))
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return false, nil
	default:
		return false, fileError(p, err)
	}
}

// Load reads the configuration file at path as the user's own (everything in it has effect) and applies
// defaults; path "" gives the defaults alone. It is Read of Found{path, SourceFlag} then Decode.
// getenv reads HOME, XDG_CONFIG_HOME and XDG_DATA_HOME for the default paths and for "~"; nil means an
// empty environment.
//
// # Errors
//
// Each error is one line: `config file PATH: no such file` when the file cannot be read, `config file
// PATH: ...` when its type or ownership makes it unsafe to read (see Read), `PATH:LINE:COL: reason` for
// malformed TOML, `PATH:LINE:COL: unknown setting` for a setting flyte does not know (a typo must not
// be ignored; a Hint method may suggest the intended setting), and `PATH: ...` naming the setting for a
// wrong type or value. No message repeats text of the file, which may hold secrets. Invalid names wrap a
// *scope.InvalidError. Without HOME or XDG variables, a default path that cannot be chosen is an error
// that says which setting to add.
func Load(path string, getenv func(string) string) (*Config, error) {
	getenv = orEmpty(getenv)
	if path == "" {
		c := defaults(getenv)
		if err := c.checkPaths(); err != nil {
			return nil, err
		}
		return c, nil
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	f, err := Read(Found{Path: path, Source: SourceFlag})
	if err != nil {
		return nil, err
	}
	return f.Decode(getenv)
}

// defaults returns the configuration without a file. Paths the environment cannot supply are left ""
// for checkPaths, so that a file setting them works without HOME.
func defaults(getenv func(string) string) *Config {
	c := &Config{
		Organization: DefaultOrganization,
		Domains:      DefaultDomains(),
		Store:        StoreConfig{Plugin: DefaultStorePlugin},
		Plugins:      map[string]PluginConfig{},
		Inject:       InjectConfig{Env: DefaultEnvInjector, File: DefaultFileInjector},
	}
	if d := dataHome(getenv); d != "" {
		c.Store.Path = filepath.Join(d, "flyte", "store")
	}
	if d := configHome(getenv); d != "" {
		c.Seal.Identity = filepath.Join(d, "flyte", "identity.txt")
	}
	return c
}

// checkPaths reports a default path that could not be chosen.
func (c *Config) checkPaths() error {
	if c.Store.Path == "" && c.Store.Plugin != EtcdStore {
		return errors.New("cannot choose where the store lives: set store.path in " + FileName + ", or XDG_DATA_HOME or HOME")
	}
	if c.Seal.Identity == "" {
		return errors.New("cannot choose where the identity lives: set seal.identity in " + FileName + ", or XDG_CONFIG_HOME or HOME")
	}
	return nil
}

// dataHome returns $XDG_DATA_HOME, or ~/.local/share; "" when neither is known.
func dataHome(getenv func(string) string) string {
	return xdg(getenv, "XDG_DATA_HOME", ".local/share")
}

// PluginDir is where `flyte plugin install` keeps installed plugins: flyte/plugins under $XDG_DATA_HOME or
// ~/.local/share, next to the default store; "" when neither is known. flyte protects it as it protects the
// identity (grant.Own): no directory or file granted to a plugin may lie inside it or contain it, so a
// plugin cannot change its own code or another's.
func PluginDir(getenv func(string) string) string {
	if d := dataHome(orEmpty(getenv)); d != "" {
		return filepath.Join(d, "flyte", "plugins")
	}
	return ""
}

// CacheDir is where compiled plugins are kept: $FLYTE_CACHE_DIR, else
// flyte/ under $XDG_CACHE_HOME or ~/.cache; "" when none is known (then
// every run compiles).
func CacheDir(getenv func(string) string) string {
	getenv = orEmpty(getenv)
	if d := getenv("FLYTE_CACHE_DIR"); d != "" {
		return d
	}
	if d := xdg(getenv, "XDG_CACHE_HOME", ".cache"); d != "" {
		return filepath.Join(d, "flyte")
	}
	return ""
}

// configHome returns $XDG_CONFIG_HOME, or ~/.config; "" when neither is known. It is computed here rather
// than with os.UserConfigDir so that it goes through getenv.
func configHome(getenv func(string) string) string {
	return xdg(getenv, "XDG_CONFIG_HOME", ".config")
}

// xdg follows the XDG base directory rule: a relative value is invalid and ignored.
func xdg(getenv func(string) string, name, underHome string) string {
	if d := getenv(name); filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, underHome)
	}
	return ""
}

// abs resolves p against dir unless it is already absolute.
func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

// fileError turns a failure to reach a configuration file into one plain line, such as
// `config file /x/flyte.toml: no such file`.
func fileError(p string, err error) error {
	var reason string
	switch {
	case errors.Is(err, fs.ErrNotExist):
		reason = "no such file"
	case errors.Is(err, fs.ErrPermission):
		reason = "permission denied"
	default:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		reason = err.Error()
	}
	return fmt.Errorf("config file %s: %s", p, reason)
}

// orEmpty makes a nil getenv an empty environment.
func orEmpty(getenv func(string) string) func(string) string {
	if getenv == nil {
		return func(string) string { return "" }
	}
	return getenv
}
