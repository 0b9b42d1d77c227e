package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/host/httpgrant/origin"
)

// [store] for the etcd store: endpoints made canonical in the file's order, paths resolved as every
// path in the file is (against the file's directory, "~/" against HOME), the defaults filled in,
// and no store.path.
func TestEtcdStore(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, "conf", FileName), `
organization = "acme"
[store]
plugin = "etcd"
endpoints = ["https://ETCD-2.example:2379/", "https://10.0.0.1:2379", "http://localhost:23791", "http://[::1]:23792"]
prefix = "/team/flyte/"
user = "flyte"
password_file = "~/.config/flyte/etcd-password"
ca_file = "../ca.pem"
client_cert = "tls/client.pem"
client_key = "/etc/flyte/client.key"
timeout = "30s"
request_timeout = "3s"
`)
	c, err := Load(path, env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	want := StoreConfig{Plugin: "etcd",
		Endpoints: []string{"https://etcd-2.example:2379", "https://10.0.0.1:2379", "http://localhost:23791", "http://[::1]:23792"},
		Prefix:    "/team/flyte/", User: "flyte", PasswordFile: "/home/u/.config/flyte/etcd-password",
		CAFile: filepath.Join(dir, "ca.pem"), ClientCert: filepath.Join(dir, "conf", "tls", "client.pem"), ClientKey: "/etc/flyte/client.key",
		Timeout: 30 * time.Second, RequestTimeout: 3 * time.Second}
	if !reflect.DeepEqual(c.Store, want) {
		t.Errorf("Store =\n%#v\nwant\n%#v", c.Store, want)
	}

	for _, tt := range []struct {
		name, extra string
		want        StoreConfig
	}{
		{"defaults", "", StoreConfig{Plugin: "etcd", Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: DefaultEtcdPrefix,
			Timeout: DefaultEtcdTimeout, RequestTimeout: DefaultRequestTimeout}},
		// The default request timeout leaves half of a short call for another endpoint.
		{"short call", "timeout = \"3s\"\n", StoreConfig{Plugin: "etcd", Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: DefaultEtcdPrefix,
			Timeout: 3 * time.Second, RequestTimeout: 1500 * time.Millisecond}},
		{"root prefix", "prefix = \"/\"\n", StoreConfig{Plugin: "etcd", Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/",
			Timeout: DefaultEtcdTimeout, RequestTimeout: DefaultRequestTimeout}},
	} {
		path := write(t, filepath.Join(dir, tt.name+".toml"), "[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n"+tt.extra)
		c, err := Load(path, env("HOME", "/home/u"))
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(c.Store, tt.want) {
			t.Errorf("%s: Store =\n%#v\nwant\n%#v", tt.name, c.Store, tt.want)
		}
	}

	// Without HOME the etcd store needs no store directory.
	path = write(t, filepath.Join(dir, "nohome.toml"), "[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n[seal]\nidentity = \"id\"\n")
	if c, err := Load(path, env()); err != nil || c.Store.Path != "" {
		t.Errorf("without HOME: %+v, %v", c, err)
	}
}

// Every rule of [store] for etcd is one line that starts with PATH:LINE:COL, names the setting, never
// repeats a value that failed validation, and, where it helps, comes with a hint.
func TestEtcdStoreErrors(t *testing.T) {
	const etcd = "[store]\nplugin = \"etcd\"\n"
	const ep = etcd + "endpoints = [\"http://127.0.0.1:2379\"]\n"
	const tls = etcd + "endpoints = [\"https://etcd.example:2379\"]\n"
	tests := []struct{ name, content, want, hint string }{
		// Only the etcd store takes these.
		{"endpoints for filestore", "[store]\nendpoints = [\"http://127.0.0.1:2379\"]\n",
			`:2:1: setting "store.endpoints" is for the etcd store, and store.plugin is "filestore"`,
			`set plugin = "etcd" in [store] to keep secrets in etcd, or remove store.endpoints`},
		{"timeout for another", "[store]\nplugin = \"vault\"\ntimeout = \"1s\"\n",
			`:3:1: setting "store.timeout" is for the etcd store, and store.plugin is "vault"`,
			`set plugin = "etcd" in [store] to keep secrets in etcd, or remove store.timeout`},
		{"password_file for filestore", "[store]\npassword_file = \"Hunter2Pass\"\n",
			`:2:1: setting "store.password_file" is for the etcd store, and store.plugin is "filestore"`,
			`set plugin = "etcd" in [store] to keep secrets in etcd, or remove store.password_file`},
		{"path with etcd", ep + "path = \"store\"\n",
			`:4:1: setting "store.path" is the filestore's directory; the etcd store keeps secrets at store.endpoints`,
			`remove store.path, or set plugin = "filestore" to keep secrets in a directory`},

		// A password is never inline, whatever else is wrong.
		{"inline password", ep + "user = \"flyte\"\npassword = \"Hunter2Pass\"\n",
			`:5:1: setting "store.password" is not allowed: a password is never written in flyte.toml`,
			"put the password in a file only you can read (chmod 600) and name that file with password_file in [store]"},
		{"inline password first", "[store]\npassword = \"Hunter2Pass\"\npth = 1\n",
			`:2:1: setting "store.password" is not allowed: a password is never written in flyte.toml`,
			"put the password in a file only you can read (chmod 600) and name that file with password_file in [store]"},
		{"inline password dotted", "store.password = \"Hunter2Pass\"\n",
			`:1:7: setting "store.password" is not allowed: a password is never written in flyte.toml`,
			"put the password in a file only you can read (chmod 600) and name that file with password_file in [store]"},
		{"typo", ep + "endpoint = [\"x\"]\n", `:4:1: unknown setting`, "did you mean store.endpoints?"},

		// Endpoints.
		{"endpoints missing", etcd, `:2:1: setting "store.endpoints" is missing: the etcd store needs the client URLs of the etcd cluster`,
			`add endpoints = ["https://HOST:2379"] to [store], one entry for each etcd node`},
		{"endpoints type", etcd + "endpoints = \"http://127.0.0.1:2379\"\n", `:3:13: setting "store.endpoints" must be an array of strings, not a string`, ""},
		{"endpoints empty", etcd + "endpoints = []\n", `:3:13: setting "store.endpoints" must list from 1 to 16 endpoints`, ""},
		{"endpoints too many", etcd + "endpoints = [" + strings.Repeat("\"http://127.0.0.1:1\", ", 17) + "]\n",
			`:3:13: setting "store.endpoints" must list from 1 to 16 endpoints`, ""},
		{"endpoint type", etcd + "endpoints = [\"http://127.0.0.1:2379\", 2379]\n", `:3:39: endpoint #2 of "store.endpoints" must be a string, not an integer`, ""},
		{"endpoint user info", etcd + "endpoints = [\"https://root:Hunter2Pass@etcd:2379\"]\n",
			`:3:14: endpoint #1 of "store.endpoints" holds a user name or password; they do not belong in an origin`, ""},
		{"endpoint path", etcd + "endpoints = [\"https://etcd:2379/v3/kv/Hunter2Pass\"]\n",
			`:3:14: endpoint #1 of "store.endpoints" has a path, query or fragment; an origin is only scheme://host:port`, ""},
		{"endpoint query", etcd + "endpoints = [\"https://etcd:2379?token=Hunter2Pass\"]\n",
			`:3:14: endpoint #1 of "store.endpoints" has a path, query or fragment; an origin is only scheme://host:port`, ""},
		{"endpoint not a URL", etcd + "endpoints = [\"Hunter2Pass\"]\n", `:3:14: endpoint #1 of "store.endpoints" is not scheme://host:port`, ""},
		{"endpoint scheme", etcd + "endpoints = [\"unix://Hunter2Pass:1\"]\n", `:3:14: endpoint #1 of "store.endpoints" must start with https:// or http://`, ""},
		{"endpoint port", etcd + "endpoints = [\"https://etcd:0\"]\n", `:3:14: endpoint #1 of "store.endpoints" has a port that is not from 1 to 65535`, ""},
		{"endpoint host", etcd + "endpoints = [\"https://Hunter2Pässword:2379\"]\n",
			`:3:14: endpoint #1 of "store.endpoints" has a host that is not an ASCII host name (write an international name in its xn-- form)`, ""},
		{"plain http off loopback", etcd + "endpoints = [\"http://127.0.0.1:2379\", \"http://10.1.2.3:2379\"]\n",
			`:3:39: endpoint #2 of "store.endpoints" is plain http to a host that is not loopback`,
			"use https://HOST:PORT (with ca_file in [store] if your etcd's certificate is signed by your own CA)"},
		{"duplicate", etcd + "endpoints = [\"https://etcd.example:2379\", \"https://ETCD.example:2379/\"]\n",
			`:3:43: endpoint #2 of "store.endpoints" is endpoint #1 again`, ""},
		{"duplicate default port", etcd + "endpoints = [\"https://etcd.example\", \"https://etcd.example:443\"]\n",
			`:3:38: endpoint #2 of "store.endpoints" is endpoint #1 again`, ""},

		// Prefix and user.
		{"prefix type", ep + "prefix = 1\n", `:4:10: setting "store.prefix" must be a string, not an integer`, ""},
		{"prefix no slash", ep + "prefix = \"flyte/\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix no end slash", ep + "prefix = \"/flyte\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix double slash", ep + "prefix = \"/a//b/\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix empty", ep + "prefix = \"\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix control", ep + "prefix = \"/a\\u001b[2J/\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix space", ep + "prefix = \"/Hunter2 Pass/\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"prefix long", ep + "prefix = \"/" + strings.Repeat("a", 256) + "/\"\n",
			`:4:10: setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most 256 bytes`, `the default is prefix = "/flyte/"`},
		{"user type", ep + "user = true\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be a string, not a boolean`, ""},
		{"user empty", ep + "user = \"\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user control", ep + "user = \"Hunter2Pass\\n\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user spaces", ep + "user = \" Hunter2Pass\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user inner space", ep + "user = \"team Hunter2Pass\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user not ASCII", ep + "user = \"Hunter2Päss\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user long", ep + "user = \"" + strings.Repeat("u", 129) + "\"\npassword_file = \"pw\"\n", `:4:8: setting "store.user" must be 1 to 128 printable ASCII characters without spaces`, ""},
		{"user without password", ep + "user = \"flyte\"\n", `:4:1: setting "store.user" needs store.password_file, the file that holds the user's password`,
			"put the password in a file only you can read (chmod 600) and name it with password_file in [store]"},
		{"password without user", ep + "password_file = \"pw\"\n", `:4:1: setting "store.password_file" needs store.user, the etcd user whose password it holds`, ""},
		{"password_file type", ep + "user = \"u\"\npassword_file = 12345\n", `:5:17: setting "store.password_file" must be a string, not an integer`, ""},
		{"password_file empty", ep + "user = \"u\"\npassword_file = \"\"\n", `:5:17: setting "store.password_file" is empty`, ""},

		// TLS files.
		{"ca_file type", tls + "ca_file = []\n", `:4:11: setting "store.ca_file" must be a string, not an array`, ""},
		{"ca_file without https", ep + "ca_file = \"ca.pem\"\n", `:4:1: setting "store.ca_file" is for https endpoints, and store.endpoints lists none`,
			"write the endpoints as https://HOST:PORT, or remove store.ca_file"},
		{"client cert without https", ep + "client_cert = \"c.pem\"\nclient_key = \"c.key\"\n",
			`:4:1: setting "store.client_cert" is for https endpoints, and store.endpoints lists none`,
			"write the endpoints as https://HOST:PORT, or remove store.client_cert"},
		{"client cert alone", tls + "client_cert = \"c.pem\"\n", `:4:1: settings "store.client_cert" and "store.client_key" go together: set both or neither`, ""},
		{"client key alone", tls + "client_key = \"c.key\"\n", `:4:1: settings "store.client_cert" and "store.client_key" go together: set both or neither`, ""},

		// Deadlines.
		{"timeout type", ep + "timeout = 10\n", `:4:11: setting "store.timeout" must be a string, not an integer`, ""},
		{"timeout bad", ep + "timeout = \"Hunter2Pass\"\n", `:4:11: setting "store.timeout" is not a duration (write it like "10s" or "500ms")`, ""},
		{"timeout zero", ep + "timeout = \"0s\"\n", `:4:11: setting "store.timeout" must be at least 2ms and at most 5m0s`, ""},
		{"timeout long", ep + "timeout = \"6m\"\n", `:4:11: setting "store.timeout" must be at least 2ms and at most 5m0s`, ""},
		{"request_timeout bad", ep + "request_timeout = \"2\"\n", `:4:19: setting "store.request_timeout" is not a duration (write it like "10s" or "500ms")`, ""},
		{"request_timeout zero", ep + "request_timeout = \"0s\"\n", `:4:19: setting "store.request_timeout" must be at least 1ms and at most half of store.timeout (10s)`,
			"a request that times out leaves time in the call to try the next endpoint"},
		{"request_timeout over half", ep + "timeout = \"4s\"\nrequest_timeout = \"2001ms\"\n",
			`:5:19: setting "store.request_timeout" must be at least 1ms and at most half of store.timeout (4s)`,
			"a request that times out leaves time in the call to try the next endpoint"},

		// A replacement of the built-in etcd store takes its grant, deadline and endpoints from [store].
		{"replacement's http grant", ep + "[plugins.etcd]\npath = \"etcd.wasm\"\n[plugins.etcd.grant.http]\norigins = [\"http://127.0.0.1:2379\"]\n",
			`:6:21: [plugins.etcd.grant.http] is not allowed while etcd is the store: store.endpoints grants it`,
			"remove [plugins.etcd.grant.http]; the etcd store's grant, deadline and endpoints come from [store]"},
		{"replacement's fs grant", ep + "[plugins.etcd]\npath = \"etcd.wasm\"\n[plugins.etcd.grant.fs]\npath = \"dir\"\n",
			`:6:21: [plugins.etcd.grant.fs] is not allowed while etcd is the store: it is granted store.endpoints alone`,
			"remove [plugins.etcd.grant.fs]; the etcd store's grant, deadline and endpoints come from [store]"},
		{"replacement's timeout", ep + "[plugins.etcd]\npath = \"etcd.wasm\"\ntimeout = \"1m\"\n",
			`:6:1: setting "plugins.etcd.timeout" is not allowed while etcd is the store: its deadline is store.timeout`,
			"the etcd store's grant, deadline and endpoints come from [store]"},
		{"replacement's endpoints", ep + "[plugins.etcd]\npath = \"etcd.wasm\"\nconfig = { endpoints = \"http://127.0.0.1:1\" }\n",
			`:6:12: setting "plugins.etcd.config.endpoints" is not allowed while etcd is the store: store.endpoints sets it`,
			"the etcd store's grant, deadline and endpoints come from [store]"},
		{"replacement's prefix", ep + "[plugins.etcd]\npath = \"etcd.wasm\"\n[plugins.etcd.config]\nprefix = \"/x/\"\n",
			`:7:1: setting "plugins.etcd.config.prefix" is not allowed while etcd is the store: store.prefix sets it`,
			"the etcd store's grant, deadline and endpoints come from [store]"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, filepath.Join(dir, FileName), tt.content)
			_, err := Load(path, env("HOME", "/home/u"))
			if want := path + tt.want; err == nil || err.Error() != want {
				t.Fatalf("Load error\n got: %v\nwant: %s", err, want)
			}
			if strings.Contains(err.Error(), "Hunter2") || strings.Contains(err.Error(), "\n") {
				t.Errorf("the message repeats a value or is not one line: %q", err)
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

// While etcd is not the store, [plugins.etcd] is a plugin like any other, and the etcd settings of a
// replacement are its own.
func TestEtcdPluginNotStore(t *testing.T) {
	path := write(t, filepath.Join(t.TempDir(), FileName), `
[plugins.etcd]
path = "etcd.wasm"
timeout = "1m"
config = { endpoints = "http://127.0.0.1:1" }
[plugins.etcd.grant.http]
origins = ["http://127.0.0.1:1"]
`)
	c, err := Load(path, env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Plugins["etcd"]; p.Timeout != time.Minute || p.Grants["http"] == nil || c.Store.Plugin != DefaultStorePlugin || c.Store.Endpoints != nil {
		t.Errorf("Plugins[etcd] = %+v, Store = %+v", p, c.Store)
	}
}

// The store's settings need the user's trust, like every setting of [store]; a password inline is
// refused before trust is asked.
func TestEtcdSettingsNeedTrust(t *testing.T) {
	f, err := parseFile("/p/flyte.toml", []byte("[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\nuser = \"u\"\npassword_file = \"pw\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"store.plugin", "store.endpoints", "store.user", "store.password_file"}; !reflect.DeepEqual(f.Restricted, want) {
		t.Errorf("Restricted = %q, want %q", f.Restricted, want)
	}
	if _, err := parseFile("/p/flyte.toml", []byte("[store]\npassword = \"Hunter2Pass\"\n")); err == nil || strings.Contains(err.Error(), "Hunter2") {
		t.Errorf("inline password: %v", err)
	}
}

// checkEtcdStore holds an accepted etcd store to the rules (FuzzLoad).
func checkEtcdStore(t *testing.T, s StoreConfig) {
	t.Helper()
	if s.Path != "" || len(s.Endpoints) < 1 || len(s.Endpoints) > MaxEndpoints || !validPrefix(s.Prefix) {
		t.Fatalf("accepted store: %#v", s)
	}
	for i, e := range s.Endpoints {
		if o, err := origin.Parse(e); err != nil || o != e || origin.Plain(o) && !origin.Loopback(o) || slices.Index(s.Endpoints, e) != i {
			t.Fatalf("accepted endpoint %q", e)
		}
	}
	if (s.User == "") != (s.PasswordFile == "") || (s.ClientCert == "") != (s.ClientKey == "") {
		t.Fatalf("accepted store: %#v", s)
	}
	for _, p := range []string{s.PasswordFile, s.CAFile, s.ClientCert, s.ClientKey} {
		if p != "" && !filepath.IsAbs(p) {
			t.Fatalf("relative path %q", p)
		}
	}
	if s.Timeout < 2*time.Millisecond || s.Timeout > MaxTimeout || s.RequestTimeout < time.Millisecond || s.RequestTimeout > s.Timeout/2 {
		t.Fatalf("accepted deadlines: %#v", s)
	}
}

// The cluster configuration of the repository (testdata/etcd/flyte.toml), named with --config from
// another directory, and the README's [store] example for etcd both load, their paths resolved
// against their own directory.
func TestEtcdExamples(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	found, err := Find(filepath.Join(repo, "testdata", "etcd", FileName), ".", env())
	if err != nil {
		t.Fatal(err)
	}
	f, err := Read(found)
	if err != nil {
		t.Skipf("the repository's file cannot be read here: %v", err)
	}
	c, err := f.Decode(env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"http://127.0.0.1:23791", "http://127.0.0.1:23792", "http://127.0.0.1:23793"}
	if c.Store.Plugin != EtcdStore || !reflect.DeepEqual(c.Store.Endpoints, want) || c.Dir != filepath.Join(repo, "testdata", "etcd") {
		t.Errorf("testdata/etcd/flyte.toml: %+v (dir %s)", c.Store, c.Dir)
	}

	readme, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, b := range strings.Split(string(readme), "```toml\n")[1:] {
		if b, _, _ = strings.Cut(b, "```"); strings.Contains(b, `plugin = "etcd"`) && strings.Contains(b, "password_file") {
			block = b
		}
	}
	if block == "" {
		t.Fatal("README: no [store] example for etcd")
	}
	dir := t.TempDir()
	c, err = Load(write(t, filepath.Join(dir, FileName), block), env("HOME", "/home/u"))
	if err != nil {
		t.Fatalf("README's example: %v", err)
	}
	if c.Store.User == "" || c.Store.PasswordFile != "/home/u/.config/etcd/flyte-password" || c.Store.ClientCert != filepath.Join(dir, "etcd-client.pem") {
		t.Errorf("README's example: %+v", c.Store)
	}
}
