package core

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/httpgrant"
)

const etcdStore = `
[store]
plugin = "etcd"
endpoints = ["http://127.0.0.1:23792", "https://etcd-b.example:2379", "http://localhost:23791"]
user = "flyte"
password_file = "pw"
ca_file = "ca.pem"
timeout = "20s"
request_timeout = "3s"
`

// entries decodes a plugin's abi.PluginConfig.
func entries(t *testing.T, b []byte) map[string]string {
	t.Helper()
	var m abi.PluginConfig
	if err := abi.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, e := range m.Entries {
		if i > 0 && m.Entries[i-1].Key >= e.Key {
			t.Errorf("entries not sorted: %v", m.Entries)
		}
		out[e.Key] = e.Value
	}
	return out
}

// The etcd store is granted its endpoints over http, exactly as [store]
// says, and nothing else: no directory. It gets store.timeout as its call
// deadline and the configuration entries endpoints (the file's order),
// prefix and user.
func TestEtcdSpec(t *testing.T) {
	cfg, dir := loadConfig(t, etcdStore+"[plugins.etcd]\npath = \"p.wasm\"\nconfig = { extra = \"1\" }\n")
	for _, f := range []string{"pw", "ca.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c := &Core{cfg: cfg, opts: Options{Protected: grant.Own(cfg, nil)}}
	s, err := c.spec("etcd", abi.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := capability.ByName("http"); ok && (len(s.Grants) != 1 || s.Grants["http"] == nil) || !ok && len(s.Grants) != 0 {
		t.Errorf("grants: %v", s.Grants)
	}
	if s.Timeout != 20*time.Second {
		t.Errorf("timeout %s", s.Timeout)
	}
	want := map[string]string{"endpoints": "http://127.0.0.1:23792,https://etcd-b.example:2379,http://localhost:23791", "prefix": "/flyte/", "user": "flyte", "extra": "1"}
	if got := entries(t, s.Config); !reflect.DeepEqual(got, want) {
		t.Errorf("config %v, want %v", got, want)
	}

	g, err := c.etcdGrant("etcd")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g.Origins, cfg.Store.Endpoints) || g.CAFile != filepath.Join(dir, "ca.pem") || g.ClientCert != "" || g.ClientKey != "" ||
		!reflect.DeepEqual(g.Credentials, map[string]string{"password": filepath.Join(dir, "pw")}) ||
		g.MaxResponse != httpgrant.MaxMaxResponse || g.RequestTimeout != 3*time.Second || g.Redirects || g.InsecureHTTP || g.Proxy != "" {
		t.Errorf("grant %#v", g)
	}

	// No user: no user entry, no credential; the prefix as configured.
	cfg, _ = loadConfig(t, "[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\nprefix = \"/team/\"\n[plugins.etcd]\npath = \"p.wasm\"\n")
	c = &Core{cfg: cfg}
	if s, err = c.spec("etcd", abi.KindStore); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, s.Config); !reflect.DeepEqual(got, map[string]string{"endpoints": "http://127.0.0.1:2379", "prefix": "/team/"}) || s.Timeout != config.DefaultEtcdTimeout {
		t.Errorf("config %v, timeout %s", got, s.Timeout)
	}
	if g, _ := c.etcdGrant("etcd"); g.Credentials != nil || g.RequestTimeout != config.DefaultRequestTimeout {
		t.Errorf("grant %#v", g)
	}

	// The built-in filestore is not the store: no directory for it.
	if s, err := c.spec("filestore", abi.KindStore); err != nil || len(s.Grants) != 0 {
		t.Errorf("filestore: %v, %v", s.Grants, err)
	}
}

// The built-in etcd store, once embedded, gets the same grant; while it is
// not the store it gets none.
func TestEtcdSpecBuiltin(t *testing.T) {
	if _, err := builtin.Module("etcd"); err != nil {
		t.Skipf("the etcd store is not built in yet: %v", err)
	}
	cfg, _ := loadConfig(t, "[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\n")
	c := &Core{cfg: cfg}
	s, err := c.spec("etcd", abi.KindStore)
	if _, ok := capability.ByName("http"); !ok {
		t.Skip("this flyte is built without http")
	}
	if err != nil || s.Source != "built-in" || len(s.Grants) != 1 || s.Grants["http"] == nil || s.Timeout != config.DefaultEtcdTimeout {
		t.Errorf("spec: %+v, %v", s, err)
	}
	cfg, _ = loadConfig(t, "")
	c = &Core{cfg: cfg}
	if s, err := c.spec("etcd", 0); err != nil || len(s.Grants) != 0 || s.Config != nil {
		t.Errorf("etcd, not the store: %+v, %v", s.Grants, err)
	}
}

// The grant's files are checked against what flyte protects, symlinks
// resolved, before anything loads; the message names the setting of
// [store].
func TestEtcdSpecProtected(t *testing.T) {
	cfg, dir := loadConfig(t, "[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2379\"]\nuser = \"u\"\npassword_file = \"link\"\n[plugins.etcd]\npath = \"p.wasm\"\n")
	id := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(id, []byte("AGE-SECRET-KEY-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(id, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	c := &Core{cfg: cfg, opts: Options{Protected: []grant.Protected{{What: "the identity file", Path: id}}}}
	_, err := c.spec("etcd", abi.KindStore)
	want := "store.password_file " + filepath.Join(dir, "link") + " would give plugin etcd the identity file (" + id + "); choose a file outside it"
	if err == nil || err.Error() != want {
		t.Errorf("spec = %v, want %s", err, want)
	}
	// A missing password file is named by its setting.
	cfg.Store.PasswordFile = filepath.Join(dir, "missing")
	if _, err := c.spec("etcd", abi.KindStore); err == nil || !strings.HasPrefix(err.Error(), "store.password_file "+cfg.Store.PasswordFile+": no such file") {
		t.Errorf("missing: %v", err)
	}
}

// The etcd store's location is its endpoints, in any order, and its
// prefix; a directory plays no part.
func TestEtcdLocation(t *testing.T) {
	loc := func(text string) string {
		cfg, _ := loadConfig(t, text)
		return (&Core{cfg: cfg}).location()
	}
	a := loc("[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:2\", \"http://127.0.0.1:1\"]\n")
	if want := "etcd\x00http://127.0.0.1:1,http://127.0.0.1:2\x00/flyte/"; a != want {
		t.Errorf("location %q, want %q", a, want)
	}
	if b := loc("[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:1/\", \"HTTP://127.0.0.1:2\"]\n"); b != a {
		t.Errorf("another order: %q", b)
	}
	if b := loc("[store]\nplugin = \"etcd\"\nendpoints = [\"http://127.0.0.1:1\", \"http://127.0.0.1:2\"]\nprefix = \"/other/\"\n"); b == a {
		t.Error("another prefix, the same location")
	}
}
