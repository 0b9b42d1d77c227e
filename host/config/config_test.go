package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/flytesecrets/flyte/host/scope"
)

// env returns a getenv over a fixed map, so tests never see the real environment.
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// requireNoStrayConfig skips tests that walk up to / when some ancestor of the temp dir (such as /tmp)
// holds a flyte.toml that would be found first.
func requireNoStrayConfig(t *testing.T, dir string) {
	t.Helper()
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, FileName)); err == nil {
			t.Skipf("%s exists and would be found by the upward search", filepath.Join(d, FileName))
		}
		if d == filepath.Dir(d) {
			return
		}
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	requireNoStrayConfig(t, root)
	cwd := filepath.Join(root, "repo", "sub", "dir")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	explicit := write(t, filepath.Join(root, "explicit.toml"), "")
	fromEnv := write(t, filepath.Join(root, "env.toml"), "")
	inCwd := filepath.Join(cwd, FileName)
	inParent := filepath.Join(root, "repo", FileName)
	xdg := filepath.Join(root, "xdg")
	inXDG := filepath.Join(xdg, "flyte", FileName)
	home := filepath.Join(root, "home")
	inHome := filepath.Join(home, ".config", "flyte", FileName)

	tests := []struct {
		name     string
		files    []string // created before the call, removed after
		explicit string
		getenv   func(string) string
		want     Found
	}{
		{"explicit wins", []string{inCwd, inParent, inXDG}, explicit, env("FLYTE_CONFIG", fromEnv, "XDG_CONFIG_HOME", xdg), Found{explicit, SourceFlag}},
		{"explicit relative to cwd", []string{inCwd}, "../../../explicit.toml", env(), Found{explicit, SourceFlag}},
		{"FLYTE_CONFIG next", []string{inCwd, inParent, inXDG}, "", env("FLYTE_CONFIG", fromEnv, "XDG_CONFIG_HOME", xdg), Found{fromEnv, SourceEnv}},
		{"FLYTE_CONFIG relative to cwd", nil, "", env("FLYTE_CONFIG", "../../../env.toml"), Found{fromEnv, SourceEnv}},
		{"cwd next", []string{inCwd, inParent, inXDG}, "", env("XDG_CONFIG_HOME", xdg), Found{inCwd, SourceSearch}},
		{"then a parent", []string{inParent, inXDG}, "", env("XDG_CONFIG_HOME", xdg), Found{inParent, SourceSearch}},
		{"then XDG_CONFIG_HOME", []string{inXDG, inHome}, "", env("XDG_CONFIG_HOME", xdg, "HOME", home), Found{inXDG, SourceUser}},
		{"then ~/.config", []string{inHome}, "", env("HOME", home), Found{inHome, SourceUser}},
		{"relative XDG_CONFIG_HOME ignored", []string{inHome}, "", env("XDG_CONFIG_HOME", "xdg", "HOME", home), Found{inHome, SourceUser}},
		{"none", nil, "", env("XDG_CONFIG_HOME", xdg, "HOME", home), Found{}},
		{"none, empty environment", nil, "", nil, Found{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, f := range tt.files {
				write(t, f, "")
				defer os.Remove(f)
			}
			got, err := Find(tt.explicit, cwd, tt.getenv)
			if err != nil || got != tt.want {
				t.Errorf("Find = %v, %v; want %v", got, err, tt.want)
			}
		})
	}

	t.Run("directory named flyte.toml is skipped", func(t *testing.T) {
		if err := os.Mkdir(inCwd, 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(inCwd)
		write(t, inParent, "")
		defer os.Remove(inParent)
		if got, err := Find("", cwd, env()); err != nil || got != (Found{inParent, SourceSearch}) {
			t.Errorf("Find = %v, %v; want %q", got, err, inParent)
		}
	})
}

func TestFindErrors(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, FileName), "") // would be found if the errors fell through
	missing := filepath.Join(root, "missing.toml")
	tests := []struct {
		name     string
		explicit string
		getenv   func(string) string
		want     string
	}{
		{"explicit missing", missing, env(), "config file given by --config: no such file"},
		{"explicit relative missing", "missing.toml", env(), "config file given by --config: no such file"},
		{"explicit is a directory", root, env(), "config file " + root + ": is a directory"},
		{"explicit missing beats a good FLYTE_CONFIG", missing, env("FLYTE_CONFIG", filepath.Join(root, FileName)), "config file given by --config: no such file"},
		{"FLYTE_CONFIG missing", "", env("FLYTE_CONFIG", missing), "config file given by FLYTE_CONFIG: no such file"},
		{"FLYTE_CONFIG is a directory", "", env("FLYTE_CONFIG", root), "config file " + root + " (from FLYTE_CONFIG): is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(tt.explicit, root, tt.getenv)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Find = %v, %v; want error %q", got, err, tt.want)
			}
		})
	}
}

func TestFindUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can search any directory")
	}
	root := t.TempDir()
	locked := filepath.Join(root, "locked")
	if err := os.Mkdir(locked, 0o000); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)
	// cwd below a directory that cannot be searched: stat of locked/flyte.toml fails with EACCES.
	_, err := Find("", filepath.Join(locked, "x"), env())
	want := "config file " + filepath.Join(locked, "x", FileName) + ": permission denied"
	if err == nil || err.Error() != want {
		t.Errorf("Find = %v; want %q", err, want)
	}
}

func TestLoadDefaults(t *testing.T) {
	tests := []struct {
		name           string
		getenv         func(string) string
		store, ident   string
		wantErrContain string
	}{
		{"HOME", env("HOME", "/home/u"), "/home/u/.local/share/flyte/store", "/home/u/.config/flyte/identity.txt", ""},
		{"XDG", env("HOME", "/home/u", "XDG_DATA_HOME", "/data", "XDG_CONFIG_HOME", "/cfg/"), "/data/flyte/store", "/cfg/flyte/identity.txt", ""},
		{"relative XDG ignored", env("HOME", "/home/u", "XDG_DATA_HOME", "data", "XDG_CONFIG_HOME", "cfg"), "/home/u/.local/share/flyte/store", "/home/u/.config/flyte/identity.txt", ""},
		{"XDG without HOME", env("XDG_DATA_HOME", "/data", "XDG_CONFIG_HOME", "/cfg"), "/data/flyte/store", "/cfg/flyte/identity.txt", ""},
		{"no HOME", env(), "", "", "cannot choose where the store lives: set store.path in flyte.toml, or XDG_DATA_HOME or HOME"},
		{"nil getenv", nil, "", "", "cannot choose where the store lives"},
		{"relative HOME", env("HOME", "home", "XDG_DATA_HOME", "/data"), "", "", "cannot choose where the identity lives: set seal.identity in flyte.toml, or XDG_CONFIG_HOME or HOME"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.getenv)
			if tt.wantErrContain != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrContain) {
					t.Fatalf("Load = %v, want error containing %q", err, tt.wantErrContain)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := &Config{
				Organization: "default",
				Domains:      []string{"development", "staging", "production"},
				Store:        StoreConfig{Plugin: "filestore", Path: tt.store},
				Inject:       InjectConfig{Env: DefaultEnvInjector, File: DefaultFileInjector},
				Seal:         SealConfig{Identity: tt.ident},
				Plugins:      map[string]PluginConfig{},
			}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("Load(\"\") =\n%#v\nwant\n%#v", c, want)
			}
		})
	}
}

func TestLoadFull(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, FileName), `
# A complete file.
organization = "acme"
domains = ["dev", "prod"]

[store]
plugin = "vault"
path = ".flyte/store"

[seal]
identity = "/etc/flyte/identity.txt"

[plugins.vault]
path = "plugins/vault.wasm"
sha256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"
memory_pages = 2048
timeout = "1m30s"
config = { addr = "https://vault:8200", "with space" = "" }

[plugins.filestore]   # overrides the built-in
path = "/opt/flyte/filestore.wasm"
`)
	c, err := Load(path, env()) // no HOME: the file sets both paths
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:         path,
		Dir:          dir,
		Organization: "acme",
		Domains:      []string{"dev", "prod"},
		Store:        StoreConfig{Plugin: "vault", Path: filepath.Join(dir, ".flyte", "store")},
		Inject:       InjectConfig{Env: DefaultEnvInjector, File: DefaultFileInjector},
		Seal:         SealConfig{Identity: "/etc/flyte/identity.txt"},
		Plugins: map[string]PluginConfig{
			"vault": {
				Path:        filepath.Join(dir, "plugins", "vault.wasm"),
				SHA256:      "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
				MemoryPages: 2048,
				Timeout:     90 * time.Second,
				Config:      map[string]string{"addr": "https://vault:8200", "with space": ""},
			},
			"filestore": {
				Path:        "/opt/flyte/filestore.wasm",
				MemoryPages: DefaultMemoryPages,
				Timeout:     DefaultTimeout,
			},
		},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%#v\nwant\n%#v", c, want)
	}
}

func TestLoadPartial(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, FileName), "organization = \"acme\"\n")
	c, err := Load(path, env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{
		Path:         path,
		Dir:          dir,
		Organization: "acme",
		Domains:      []string{"development", "staging", "production"},
		Store:        StoreConfig{Plugin: "filestore", Path: "/home/u/.local/share/flyte/store"},
		Inject:       InjectConfig{Env: DefaultEnvInjector, File: DefaultFileInjector},
		Seal:         SealConfig{Identity: "/home/u/.config/flyte/identity.txt"},
		Plugins:      map[string]PluginConfig{},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load =\n%#v\nwant\n%#v", c, want)
	}

	// An empty file and a file that is only a byte order mark are the defaults too.
	for _, content := range []string{"", "\xef\xbb\xbf", "# nothing\n"} {
		write(t, path, content)
		c, err := Load(path, env("HOME", "/home/u"))
		if err != nil {
			t.Fatalf("%q: %v", content, err)
		}
		want.Organization = "default"
		if !reflect.DeepEqual(c, want) {
			t.Errorf("%q: Load =\n%#v\nwant\n%#v", content, c, want)
		}
	}
}

func TestLoadResolvesAgainstFileDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "project", "conf")
	path := write(t, filepath.Join(dir, FileName), `
[store]
path = "../store"
[seal]
identity = "id.txt"
[plugins.x]
path = "./p/../x.wasm"
`)
	// Load from somewhere else, through a relative path: results depend on the file's dir only.
	t.Chdir(root)
	c, err := Load(filepath.Join("project", "conf", FileName), env())
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"Path":          {c.Path, path},
		"Dir":           {c.Dir, dir},
		"Store.Path":    {c.Store.Path, filepath.Join(root, "project", "store")},
		"Seal.Identity": {c.Seal.Identity, filepath.Join(dir, "id.txt")},
		"plugin path":   {c.Plugins["x"].Path, filepath.Join(dir, "x.wasm")},
	}
	for name, gw := range checks {
		if gw[0] != gw[1] {
			t.Errorf("%s = %q, want %q", name, gw[0], gw[1])
		}
	}
}

func TestLoadMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(missing, env("HOME", "/h"))
	if want := "config file " + missing + ": no such file"; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %q", err, want)
	}
}

func TestLoadTooLarge(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), FileName), "# "+strings.Repeat("x", maxFileSize)+"\n")
	_, err := Load(path, env("HOME", "/h"))
	if want := "config file " + path + ": larger than 1048576 bytes"; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %q", err, want)
	}
}

func TestLoadErrors(t *testing.T) {
	const nameRule = `must match ^[a-z0-9][-a-z0-9_]{0,62}$`
	const plugin = "[plugins.foo]\npath = \"foo.wasm\"\n"
	tests := []struct {
		name, content, want string
	}{
		// Malformed TOML: PATH:LINE:COL, columns in characters.
		{"missing value", "organization = \"acme\"\ndomains =\n", `:2:10: expected a value`},
		{"unclosed table", "[store\n", `:1:7: expected '.' or ']' to end the table name`},
		{"duplicate key", "organization = \"a\"\norganization = \"b\"\n", `:2:1: a key is defined twice, or used both as a value and as a table`},
		{"unicode column", "# é\nx = 'ééé' 1\n", `:2:10: expected a newline, a comment or the end of the file after the value`},
		// toml points at the last character, not past it.
		{"unterminated array at EOF", "domains = [\"a\"", `:1:14: expected ',' or ']' in an array`},
		{"control character", "organization = \"a\x01\"\n", `:1:17: control characters are not allowed here`},
		{"NUL bytes", "\x00\x00", `:1:1: files cannot contain NULL bytes; probably using UTF-16; TOML files must be UTF-8`},
		{"bad escape", "organization = \"\\q\"\n", `:1:17: invalid escape sequence`},
		{"bom keeps columns", "\xef\xbb\xbfa = 1 2\n", `:1:6: expected a newline, a comment or the end of the file after the value`},

		// Unknown settings: the first in sorted order.
		{"typo", "[store]\npth = \"x\"\n", `:2:1: unknown setting`},
		{"sorted first", "zz = 1\n[store]\npth = 1\n[seal]\nident = 1\n", `:5:1: unknown setting`},
		{"case matters", "Organization = \"acme\"\n", `:1:1: unknown setting`},
		{"plugin typo", plugin + "memory = 1\n", `:3:1: unknown setting`},
		{"quoted key", "[store]\n\"a b\" = 1\n", `:2:1: unknown setting`},

		// Wrong types name the setting.
		{"org type", "organization = 3\n", `:1:16: setting "organization" must be a string, not an integer`},
		{"domains type", "domains = \"dev\"\n", `:1:11: setting "domains" must be an array of strings, not a string`},
		{"domain item type", "domains = [\"dev\", 2]\n", `:1:19: item 2 of setting "domains" must be a string, not an integer`},
		{"store type", "store = \"x\"\n", `:1:9: setting "store" must be a table, not a string`},
		{"store array of tables", "[[store]]\n", `:1:3: setting "store" must be a table, not an array`},
		{"store.path type", "[store]\npath = 1.5\n", `:2:8: setting "store.path" must be a string, not a float`},
		{"store.plugin type", "[store]\nplugin = true\n", `:2:10: setting "store.plugin" must be a string, not a boolean`},
		{"seal.identity type", "[seal]\nidentity = 1979-05-27\n", `:2:12: setting "seal.identity" must be a string, not a date-time`},
		{"plugins type", "plugins = []\n", `:1:11: setting "plugins" must be a table, not an array`},
		{"plugin type", "plugins = { foo = 1 }\n", `:1:19: setting "plugins.foo" must be a table, not an integer`},
		{"plugin path type", "[plugins.foo]\npath = []\n", `:2:8: setting "plugins.foo.path" must be a string, not an array`},
		{"sha256 type", plugin + "sha256 = 1\n", `:3:10: setting "plugins.foo.sha256" must be a string, not an integer`},
		{"memory type", plugin + "memory_pages = \"1024\"\n", `:3:16: setting "plugins.foo.memory_pages" must be an integer, not a string`},
		{"timeout type", plugin + "timeout = 5\n", `:3:11: setting "plugins.foo.timeout" must be a string, not an integer`},
		{"config type", plugin + "config = \"a=b\"\n", `:3:10: setting "plugins.foo.config" must be a table, not a string`},
		{"config value type", plugin + "config = { a = \"x\", b = 2 }\n", `:3:25: setting "plugins.foo.config.b" must be a string, not an integer`},

		// Values.
		{"org invalid", "organization = \"Acme\"\n", `:1:16: invalid organization name: ` + nameRule},
		{"org empty", "organization = \"\"\n", `:1:16: organization name is empty`},
		{"domains empty", "domains = []\n", `:1:11: setting "domains" must list at least one domain`},
		{"domain duplicate", "domains = [\"dev\", \"prod\", \"dev\"]\n", `:1:27: setting "domains" lists "dev" twice`},
		{"domain invalid", "domains = [\"Dev\"]\n", `:1:12: invalid domain name: ` + nameRule},
		{"domain empty", "domains = [\"\"]\n", `:1:12: domain name is empty`},
		{"store.plugin invalid", "[store]\nplugin = \"My Store\"\n", `:2:10: setting "store.plugin": invalid plugin name: ` + nameRule},
		{"store.path empty", "[store]\npath = \"\"\n", `:2:8: setting "store.path" is empty`},
		{"seal.identity empty", "[seal]\nidentity = \"\"\n", `:2:12: setting "seal.identity" is empty`},
		{"plugin name invalid", "[plugins.Foo]\npath = \"x.wasm\"\n", `:1:10: invalid plugin name: ` + nameRule},
		{"plugin name dotted", "[plugins.\"a.b\"]\npath = \"x.wasm\"\n", `:1:10: invalid plugin name: ` + nameRule},
		{"plugin path missing", "[plugins.foo]\ntimeout = \"1s\"\n", `:1:10: setting "plugins.foo.path" is missing`},
		{"plugin path empty", "[plugins.foo]\npath = \"\"\n", `:2:8: setting "plugins.foo.path" is empty`},
		{"memory zero", plugin + "memory_pages = 0\n", `:3:16: setting "plugins.foo.memory_pages" is 0, must be from 1 to 16384 (64 KiB pages)`},
		{"memory too big", plugin + "memory_pages = 16385\n", `:3:16: setting "plugins.foo.memory_pages" is 16385, must be from 1 to 16384 (64 KiB pages)`},
		{"memory negative", plugin + "memory_pages = -1\n", `:3:16: setting "plugins.foo.memory_pages" is -1, must be from 1 to 16384 (64 KiB pages)`},
		{"memory huge", plugin + "memory_pages = 4294967296\n", `:3:16: setting "plugins.foo.memory_pages" is 4294967296, must be from 1 to 16384 (64 KiB pages)`},
		{"timeout bad", plugin + "timeout = \"5 sec\"\n", `:3:11: setting "plugins.foo.timeout" is not a duration (write it like "5s" or "1m30s")`},
		{"timeout no unit", plugin + "timeout = \"5\"\n", `:3:11: setting "plugins.foo.timeout" is not a duration (write it like "5s" or "1m30s")`},
		{"timeout zero", plugin + "timeout = \"0s\"\n", `:3:11: setting "plugins.foo.timeout" must be more than 0 and at most 5m0s`},
		{"timeout negative", plugin + "timeout = \"-1s\"\n", `:3:11: setting "plugins.foo.timeout" must be more than 0 and at most 5m0s`},
		{"timeout too long", plugin + "timeout = \"5m1s\"\n", `:3:11: setting "plugins.foo.timeout" must be more than 0 and at most 5m0s`},
		{"timeout escaped", plugin + "timeout = \"\\u001b[2J\"\n", `:3:11: setting "plugins.foo.timeout" is not a duration (write it like "5s" or "1m30s")`},
		{"sha256 short", plugin + "sha256 = \"abcd\"\n", `:3:10: setting "plugins.foo.sha256" must be 64 hexadecimal digits`},
		{"sha256 not hex", plugin + "sha256 = \"" + strings.Repeat("g", 64) + "\"\n", `:3:10: setting "plugins.foo.sha256" must be 64 hexadecimal digits`},
		{"sha256 too long", plugin + "sha256 = \"" + strings.Repeat("a", 66) + "\"\n", `:3:10: setting "plugins.foo.sha256" must be 64 hexadecimal digits`},
		// Plugins are checked in name order, so the message does not depend on map order.
		{"first plugin by name", "[plugins.zz]\n[plugins.aa]\n", `:2:10: setting "plugins.aa.path" is missing`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, filepath.Join(dir, FileName), tt.content)
			_, err := Load(path, env("HOME", "/home/u"))
			if want := path + tt.want; err == nil || err.Error() != want {
				t.Errorf("Load error\n got: %v\nwant: %s", err, want)
			}
		})
	}
}

func TestLoadInvalidNamesWrapScopeError(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), FileName), "organization = \"A\"\n")
	_, err := Load(path, env("HOME", "/h"))
	var ie *scope.InvalidError
	if !errors.As(err, &ie) || ie.What != "organization name" {
		t.Errorf("Load = %#v, want a wrapped *scope.InvalidError", err)
	}
}

func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		"organization = \"acme\"\ndomains = [\"a\", \"b\"]\n[store]\nplugin = \"x\"\npath = \"s\"\n[seal]\nidentity = \"i\"\n",
		"[plugins.foo]\npath = \"f.wasm\"\nsha256 = \"" + strings.Repeat("a", 64) + "\"\nmemory_pages = 10\ntimeout = \"1s\"\nconfig = { a = \"b\" }\n",
		"[store\n",
		"a = 1\na = 2\n",
		"x = 'é' é\n",
		"\xef\xbb\xbfdomains = []",
		"[[plugins.x]]\n",
		"organization = \"\\u0000\"",
		"PASS=Hunter2Pass\n",
		"[store]\nHunter2Pass = 1\n",
		"[[environments]]\nname = \"e\"\nsecrets = [\"k\", { key = \"f\", mount = \"/etc/flyte/secrets\" }, { key = \"p\", as_env_var = \"PATH\" }]\n",
		"environments = [{ name = \"e\", secrets = [{ key = \"k\", as_env_vr = \"Hunter2Pass\" }] }]\n",
		"[[environments]]\nname = \"e\"\nsecrets = \"ld_x\"\n[[environments]]\nname = \"e\"\n",
		"[[environments]]\nname = \"e\"\nsecrets = [\"a\", { key = \"b\", deliver = false }]\n[[environments.render]]\nfile = \"Hunter2Pass/x\"\ninjector = \"t\"\nsecrets = [\"a\", \"b\"]\nmode = \"0440\"\n",
		"[[environments]]\nname = \"e\"\nsecrets = [\"a\"]\nrender = [{ env = \"Hunter2Pass\", injector = \"t\", secrets = [\"a\"] }]\n",
		"[plugins.p]\npath = \"p.wasm\"\n[plugins.p.grant.http]\norigins = [\"https://a:1\"]\ncredentials = { pw = \"~/Hunter2Pass\" }\n[plugins.p.grant.htp]\n",
		"[store]\nplugin = \"etcd\"\nendpoints = [\"https://A:2379/\", \"http://127.0.0.1:1\"]\nprefix = \"/f/\"\nuser = \"u\"\npassword_file = \"pw\"\nca_file = \"ca\"\nclient_cert = \"c\"\nclient_key = \"k\"\ntimeout = \"3s\"\nrequest_timeout = \"1s\"\n",
		"[store]\nplugin = \"etcd\"\nendpoints = [\"https://Hunter2Pass@a:1\"]\npassword = \"Hunter2Pass\"\n",
		"[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:1\"]\n[plugins.etcd]\npath = \"e.wasm\"\n[plugins.etcd.grant.http]\norigins = [\"https://Hunter2Pass:1\"]\n",
	} {
		f.Add([]byte(s))
	}
	const path = "/cfg/flyte.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		if file, err := parseFile(path, data); err == nil {
			for _, name := range file.Restricted {
				if strings.Trim(name, "-_.*abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") != "" {
					t.Fatalf("restricted setting name is not plain: %q", name)
				}
			}
		}
		c, err := parse(path, data, env("HOME", "/home/u"))
		if err != nil {
			msg := err.Error()
			if bytes.Contains(data, []byte("Hunter2Pass")) && strings.Contains(msg, "Hunter2Pass") {
				t.Fatalf("error quotes the file: %q", msg)
			}
			if !strings.HasPrefix(msg, path+":") {
				t.Fatalf("error does not start with the path: %q", msg)
			}
			if !utf8.ValidString(msg) || strings.IndexFunc(msg, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
				t.Fatalf("error is not one printable line: %q", msg)
			}
			// The one exception is the Flyte SDK's own sentence for a mount path, kept word for word.
			if strings.HasSuffix(msg, ".") && !strings.HasSuffix(msg, "supported as secret mount path today.") {
				t.Fatalf("error ends with a period: %q", msg)
			}
			return
		}
		if c.Path != path || c.Dir != "/cfg" {
			t.Fatalf("Path, Dir = %q, %q", c.Path, c.Dir)
		}
		if err := scope.ValidateOrg(c.Organization); err != nil {
			t.Fatalf("accepted organization: %v", err)
		}
		if len(c.Domains) == 0 {
			t.Fatal("accepted no domains")
		}
		for _, d := range c.Domains {
			if err := scope.ValidateName("domain name", d); err != nil {
				t.Fatalf("accepted domain: %v", err)
			}
		}
		if c.Store.Plugin == EtcdStore {
			checkEtcdStore(t, c.Store)
		} else if !filepath.IsAbs(c.Store.Path) || c.Store.Endpoints != nil || c.Store.Timeout != 0 {
			t.Fatalf("store: %#v", c.Store)
		}
		if !filepath.IsAbs(c.Seal.Identity) {
			t.Fatalf("relative path: %q", c.Seal.Identity)
		}
		if c.Plugins == nil {
			t.Fatal("nil Plugins")
		}
		for name, p := range c.Plugins {
			if err := scope.ValidateName("plugin name", name); err != nil {
				t.Fatalf("accepted plugin: %v", err)
			}
			if !filepath.IsAbs(p.Path) || p.MemoryPages < 1 || p.MemoryPages > MaxMemoryPages || p.Timeout <= 0 || p.Timeout > MaxTimeout {
				t.Fatalf("accepted plugin %q: %#v", name, p)
			}
			if p.SHA256 != "" && (len(p.SHA256) != 64 || strings.ToLower(p.SHA256) != p.SHA256) {
				t.Fatalf("accepted sha256 %q", p.SHA256)
			}
		}
	})
}

// TestErrorsQuoteNothing: no message about a malformed file or an unknown setting repeats text of the
// file, which may hold secrets (a .env given by mistake); a typo still gets a position and a hint.
func TestErrorsQuoteNothing(t *testing.T) {
	const path = "/cfg/flyte.toml"
	tests := []struct{ name, in, want, hint string }{
		{"dotenv", "PASS=Hunter2Pass\n", ":1:6: expected a value", ""},
		{"bare value", "a = Hunter2Pass\n", ":1:5: expected a value", ""},
		{"after value", "a = 1 Hunter2Pass\n", ":1:6: expected a newline, a comment or the end of the file after the value", ""},
		{"escape", "a = \"\\qHunter2Pass\"\n", ":1:6: invalid escape sequence", ""},
		{"number", "a = 0xHunter2Pass\n", ":1:5: invalid number", ""},
		{"twice", "Hunter2Pass = 1\nHunter2Pass = 2\n", ":2:1: a key is defined twice, or used both as a value and as a table", ""},
		{"key", "[store]\nHunter2Pass = 1\n", ":2:1: unknown setting", ""},
		{"typo", "[store]\n  pth = 1\n", ":2:3: unknown setting", "did you mean store.path?"},
		{"dotted typo", "store.plugn = \"x\"\n", ":1:7: unknown setting", "did you mean store.plugin?"},
		{"plugin typo", "[plugins.Hunter2Pass]\npath = \"x\"\ntimeot = \"1s\"\n", ":3:1: unknown setting", "did you mean plugins.NAME.timeout?"},
		{"quoted key", "[store]\n\"Hunter2 Pass\" = 1\n", ":2:1: unknown setting", ""},
		{"same name twice", "[store]\npth = 1\n[plugins.x]\npth = 1\n", ":4:1: unknown setting", "did you mean plugins.NAME.path?"},
		{"table", "[stor]\npath = \"x\"\n", ":1:2: unknown setting", "did you mean store?"},
		{"table, dotted", "[store]\n[sael]\nidentity = \"x\"\n", ":2:2: unknown setting", "did you mean seal?"},
		{"subtable", "[store.pth]\nx = 1\n", ":1:8: unknown setting", "did you mean store.path?"},
		{"quoted dotted", "store.\"plugn\" = \"x\"\n", ":1:7: unknown setting", "did you mean store.plugin?"},
		{"spaced dotted", "store . plugn = \"x\"\n", ":1:9: unknown setting", "did you mean store.plugin?"},
		{"inline table", "store = { path = \"é\", plugn = \"x\" }\n", ":1:23: unknown setting", "did you mean store.plugin?"},
		{"non-ASCII before", "# café\norganization = \"ééé\" # ü\n[seal]\n\"identty\" = \"x\"\n", ":4:1: unknown setting", "did you mean seal.identity?"},
		{"same name in two tables", "[store]\npath = \"x\"\n[seal]\npath = \"y\"\n", ":4:1: unknown setting", ""},
		{"spelled twice", "[store]\npath = \"a\"\npath = \"Hunter2Pass\"\n", ":3:1: a key is defined twice, or used both as a value and as a table", ""},
		{"table twice", "[store]\n[store]\n", ":2:2: a key is defined twice, or used both as a value and as a table", ""},
		{"plugin name", "[plugins.Hunter2Pass]\npath = \"x\"\n", ":1:10: invalid plugin name: must match ^[a-z0-9][-a-z0-9_]{0,62}$", ""},
		{"secret", "[[environments]]\nname = \"e\"\nsecrets = [{ key = \"k\", Hunter2Pass = 1 }]\n", ":3:25: environment e: unknown secret setting", ""},
		{"inject typo", "[inject]\nenvv = \"x\"\n", ":2:1: unknown setting", "did you mean inject.env?"},
		{"inline key twice", "[[environments]]\nname = \"e\"\nsecrets = [{ key = \"k\", key = \"Hunter2Pass\" }]\n", ":3:25: a key is defined twice, or used both as a value and as a table", ""},
		{"timeout", "[plugins.x]\npath = \"x\"\ntimeout = \"Hunter2Pass\"\n", `:3:11: setting "plugins.x.timeout" is not a duration (write it like "5s" or "1m30s")`, ""},
		{"environment", "[[environments]]\nname = \"e\"\nHunter2Pass = 1\n", ":3:1: unknown setting in environments[1]", ""},
		{"environment typo", "[[environments]]\nname = \"e\"\nprojct = \"p\"\n", ":3:1: unknown setting in environments[1]", "did you mean project?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(path, []byte(tt.in), nil)
			if err == nil || err.Error() != path+tt.want {
				t.Fatalf("error = %v, want %s%s", err, path, tt.want)
			}
			var h interface{ Hint() string }
			hint := ""
			if errors.As(err, &h) {
				hint = h.Hint()
			}
			if hint != tt.hint {
				t.Errorf("hint = %q, want %q", hint, tt.hint)
			}
		})
	}
}
