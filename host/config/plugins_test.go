package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPluginDir(t *testing.T) {
	for _, tt := range []struct {
		env  func(string) string
		want string
	}{
		{env("XDG_DATA_HOME", "/data", "HOME", "/home/u"), "/data/flyte/plugins"},
		{env("XDG_DATA_HOME", "rel", "HOME", "/home/u"), "/home/u/.local/share/flyte/plugins"},
		{env("HOME", "/home/u/"), "/home/u/.local/share/flyte/plugins"},
		{env(), ""},
		{nil, ""},
	} {
		if got := PluginDir(tt.env); got != tt.want {
			t.Errorf("PluginDir = %q, want %q", got, tt.want)
		}
	}
}

func TestPluginGrants(t *testing.T) {
	dir := t.TempDir()
	path := write(t, filepath.Join(dir, FileName), `
[plugins.etcd]
path = "etcd.wasm"
sha256 = "ABCDEF0123456789abcdef0123456789ABCDEF0123456789abcdef0123456789"

[plugins.etcd.grant.http]
origins = ["https://etcd:2379"]
redirects = false
max_response = 1024
ca_file = "ca.pem"
client_key = "~/keys/etcd.key"
credentials = { password = "~/.config/etcd/pw", token = "/abs/tok" }

[plugins.dirs]
path = "/opt/dirs.wasm"
grant.fs = { path = "data" }
`)
	c, err := Load(path, env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{"http": {
		"origins":      []any{"https://etcd:2379"},
		"redirects":    false,
		"max_response": int64(1024),
		"ca_file":      filepath.Join(dir, "ca.pem"),
		"client_key":   "/home/u/keys/etcd.key",
		"credentials":  map[string]any{"password": "/home/u/.config/etcd/pw", "token": "/abs/tok"},
	}}
	if got := c.Plugins["etcd"]; !reflect.DeepEqual(got.Grants, want) || got.SHA256 != "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789" {
		t.Errorf("etcd = %#v\nwant grants %#v", got, want)
	}
	if got := c.Plugins["dirs"].Grants; !reflect.DeepEqual(got, map[string]map[string]any{"fs": {"path": filepath.Join(dir, "data")}}) {
		t.Errorf("dirs grants = %#v", got)
	}
}

func TestPluginGrantErrors(t *testing.T) {
	const plugin = "[plugins.foo]\npath = \"foo.wasm\"\n"
	for _, tt := range []struct{ name, text, want, hint string }{
		{"unknown capability", plugin + "[plugins.foo.grant.htpp]\norigins = []\n", `:3:20: unknown setting`, "did you mean plugins.NAME.grant.http?"},
		{"unknown capability far", plugin + "[plugins.foo.grant.network]\n", `:3:20: unknown setting`, ""},
		{"grant type", plugin + "grant = \"http\"\n", `:3:9: setting "plugins.foo.grant" must be a table, not a string`, ""},
		{"capability type", plugin + "grant = { http = [\"https://a:1\"] }\n", `:3:18: setting "plugins.foo.grant.http" must be a table, not an array`, ""},
		{"path empty", plugin + "[plugins.foo.grant.fs]\npath = \"\"\n", `:4:8: setting "plugins.foo.grant.fs.path" is empty`, ""},
		{"credentials type", plugin + "[plugins.foo.grant.http]\ncredentials = \"x\"\n", `:4:15: setting "plugins.foo.grant.http.credentials" must be a table, not a string`, ""},
		{"store plugin fs", "[store]\nplugin = \"foo\"\npath = \"s\"\n" + plugin + "[plugins.foo.grant.fs]\npath = \"d\"\n", `:6:20: plugin foo is the store plugin: its directory is store.path, not a grant`,
			"move the directory to store.path and remove [plugins.foo.grant.fs]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, filepath.Join(t.TempDir(), FileName), tt.text)
			_, err := Load(path, env("HOME", "/home/u"))
			if err == nil || err.Error() != path+tt.want {
				t.Fatalf("Load error\n got: %v\nwant: %s", err, path+tt.want)
			}
			if got := hintOf(err); got != tt.hint {
				t.Errorf("hint = %q, want %q", got, tt.hint)
			}
		})
	}
}

// TestGrantsNeedTrust: a discovered project file cannot grant anything, pin a hash or render.
func TestGrantsNeedTrust(t *testing.T) {
	f, err := parseFile("/x/flyte.toml", []byte("[plugins.p.grant.http]\norigins = [\"https://a:1\"]\n[plugins.q]\nsha256 = \"x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"plugins.p.grant.http.origins", "plugins.q.sha256"}; !reflect.DeepEqual(f.Restricted, want) {
		t.Errorf("Restricted = %q, want %q", f.Restricted, want)
	}
}

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}
