package core

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
)

// The files the plugins' grants name are protected from every other
// plugin: a directory granted to another plugin that holds the etcd
// password file, or the real directory of a password file named through a
// symlink, or a directory holding a plugin's http credential, is refused
// with the usual one-line error; the owner of each file is still granted it.
func TestProtectedGrantFiles(t *testing.T) {
	cfg, dir := loadConfig(t, etcdStore+`
[plugins.api]
path = "p.wasm"
[plugins.api.grant.http]
origins = ["https://api.example:443"]
credentials = { token = "`+"~/tokens/token"+`" }
`)
	for _, d := range []string{"real", "links", "tokens"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// The password file links/pw is a symlink to real/pw.
	for _, f := range []string{"real/pw", "ca.pem", "tokens/token"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(dir, "real", "pw"), filepath.Join(dir, "links", "pw")); err != nil {
		t.Fatal(err)
	}
	cfg.Store.PasswordFile = filepath.Join(dir, "links", "pw")
	c := &Core{cfg: cfg, opts: Options{Protected: Protected(cfg, nil)}}
	fs := func(name, path string) error {
		s := plugin.Spec{Name: name}
		return c.grants(&s, map[string]map[string]any{"fs": {"path": path}})
	}
	for _, tc := range []struct{ dir, what, path string }{
		{filepath.Join(dir, "links"), "the file store.password_file names", cfg.Store.PasswordFile},
		{filepath.Join(dir, "real"), "the file store.password_file names", cfg.Store.PasswordFile},
		{filepath.Join(dir, "tokens"), "the file plugins.api.grant.http.credentials.token names", filepath.Join(dir, "tokens", "token")},
	} {
		err := fs("other", tc.dir)
		want := "plugins.other.grant.fs.path " + tc.dir + " would give plugin other " + tc.what + " (" + tc.path + "); choose a directory outside it"
		if err == nil || err.Error() != want {
			t.Errorf("grant of %s = %v\nwant %s", tc.dir, err, want)
		}
	}
	// The CA file is no secret: another plugin's http grant may read it,
	// but no directory granted to a plugin may reach it.
	s := plugin.Spec{Name: "other"}
	err := c.grants(&s, map[string]map[string]any{"http": {"origins": []any{"https://x.example:443"}, "ca_file": filepath.Join(dir, "ca.pem")}})
	if err != nil {
		t.Errorf("another plugin's ca_file: %v", err)
	}
	// (A flyte built without http grants no http table at all, so there
	// is nothing to refuse.)
	_, withHTTP := capability.ByName("http")
	if err := c.grants(&s, map[string]map[string]any{"http": {"origins": []any{"https://x.example:443"}, "credentials": map[string]any{"p": filepath.Join(dir, "real", "pw")}}}); withHTTP && err == nil {
		t.Error("another plugin's grant of the etcd password file was allowed")
	}
	// Each owner keeps its own files: the etcd store its password file,
	// plugin api its token.
	if _, err := c.spec("etcd", abi.KindStore); err != nil {
		t.Errorf("the etcd store: %v", err)
	}
	api := plugin.Spec{Name: "api"}
	if err := c.grants(&api, cfg.Plugins["api"].Grants); err != nil {
		t.Errorf("plugin api: %v", err)
	}
}

// Granted names what the core grants: the store's capability by the store
// plugin (fs for a directory store, http for the etcd store) and the
// tables of [plugins.NAME.grant].
func TestGranted(t *testing.T) {
	cfg, _ := loadConfig(t, etcdStore)
	for name, want := range map[string][]string{"etcd": {"http"}, "filestore": nil} {
		if got := Granted(cfg, name); !reflect.DeepEqual(got, want) {
			t.Errorf("etcd store: Granted(%s) = %v, want %v", name, got, want)
		}
	}
	cfg, _ = loadConfig(t, "[plugins.api]\npath = \"p.wasm\"\n[plugins.api.grant.http]\norigins = [\"https://a.example:443\"]\n")
	for name, want := range map[string][]string{"etcd": nil, "filestore": {"fs"}, "api": {"http"}} {
		if got := Granted(cfg, name); !reflect.DeepEqual(got, want) {
			t.Errorf("filestore: Granted(%s) = %v, want %v", name, got, want)
		}
	}
}
