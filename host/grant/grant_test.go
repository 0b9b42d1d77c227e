package grant

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/config"
)

// env is a home with flyte's default layout, as Own sees it.
type env struct {
	home string
	vars map[string]string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	home := t.TempDir()
	for _, d := range []string{".config/flyte", ".local/state/flyte", ".cache/flyte"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	return &env{home: home, vars: map[string]string{"HOME": home}}
}

func (e *env) getenv(k string) string { return e.vars[k] }

func (e *env) own(t *testing.T) []Protected {
	t.Helper()
	cfg, err := config.Load("", e.getenv)
	if err != nil {
		t.Fatal(err)
	}
	return Own(cfg, e.getenv)
}

func (e *env) path(p string) string { return filepath.Join(e.home, filepath.FromSlash(p)) }

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	e := newEnv(t)
	// A symlink to the config dir, one whose target is to be created inside
	// the cache, and a loop.
	symlink(t, e.path(".config/flyte"), e.path("links/config"))
	symlink(t, e.path(".cache/flyte/later/store"), e.path("links/dangling"))
	symlink(t, e.path(".config"), e.path("links/dotconfig"))
	symlink(t, "loop", e.path("links/loop"))
	for _, d := range []string{"a/cache", "a/cache2"} {
		if err := os.MkdirAll(e.path(d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	protected := append(e.own(t), Protected{What: "the cache", Path: e.path("a/cache")})
	tests := []struct {
		dir  string // relative to home, or absolute
		want string // "" allowed, else the error
	}{
		{".local/share/flyte/store", ""},
		{"elsewhere/store", ""},
		{"a/cache2", ""},
		{"a/cache2/store", ""},
		{"a/cachex", ""},
		{".config/flyte-other", ""},
		{"", "store.path $HOME would give the store plugin the identity file ($HOME/.config/flyte/identity.txt); choose a directory outside it"},
		{"/", "store.path / would give the store plugin the identity file ($HOME/.config/flyte/identity.txt); choose a directory outside it"},
		{".config", "store.path $HOME/.config would give the store plugin the identity file ($HOME/.config/flyte/identity.txt); choose a directory outside it"},
		{".config/flyte/store", "store.path $HOME/.config/flyte/store would give the store plugin flyte's configuration directory ($HOME/.config/flyte); choose a directory outside it"},
		{"links/config/store", "store.path $HOME/links/config/store would give the store plugin flyte's configuration directory ($HOME/.config/flyte); choose a directory outside it"},
		{"links/dotconfig", "store.path $HOME/links/dotconfig would give the store plugin the identity file ($HOME/.config/flyte/identity.txt); choose a directory outside it"},
		{"links/dangling", "store.path $HOME/links/dangling would give the store plugin flyte's plugin cache ($HOME/.cache/flyte); choose a directory outside it"},
		{"links/dangling/not/yet", "store.path $HOME/links/dangling/not/yet would give the store plugin flyte's plugin cache ($HOME/.cache/flyte); choose a directory outside it"},
		{".cache/flyte/store", "store.path $HOME/.cache/flyte/store would give the store plugin flyte's plugin cache ($HOME/.cache/flyte); choose a directory outside it"},
		{".cache", "store.path $HOME/.cache would give the store plugin flyte's plugin cache ($HOME/.cache/flyte); choose a directory outside it"},
		{".local", "store.path $HOME/.local would give the store plugin flyte's state directory ($HOME/.local/state/flyte); choose a directory outside it"},
		{".local/state/flyte/x", "store.path $HOME/.local/state/flyte/x would give the store plugin flyte's state directory ($HOME/.local/state/flyte); choose a directory outside it"},
		{"a", "store.path $HOME/a would give the store plugin the cache ($HOME/a/cache); choose a directory outside it"},
		{"a/cache", "store.path $HOME/a/cache would give the store plugin the cache ($HOME/a/cache); choose a directory outside it"},
		{"a/cache/sub/dir", "store.path $HOME/a/cache/sub/dir would give the store plugin the cache ($HOME/a/cache); choose a directory outside it"},
		{"links/loop/store", "store.path $HOME/links/loop/store: cannot tell where it leads: too many levels of symbolic links"},
	}
	for _, tt := range tests {
		dir := tt.dir
		if !filepath.IsAbs(dir) {
			dir = e.path(dir)
		}
		err := Check("store.path", "the store plugin", dir, protected)
		got := ""
		if err != nil {
			got = strings.ReplaceAll(err.Error(), e.home, "$HOME")
		}
		if got != tt.want {
			t.Errorf("Check(%s):\n got %q\nwant %q", tt.dir, got, tt.want)
		}
	}
}

// A directory of procfs or sysfs holds the kernel's files, not a store's:
// /proc/self would give a plugin the environment of flyte.
func TestCheckPseudo(t *testing.T) {
	for _, dir := range []string{"/proc/self", "/proc/self/new/store", "/sys/kernel"} {
		if _, err := os.Stat(filepath.Dir(dir)); err != nil {
			continue
		}
		err := Check("store.path", "the store plugin", dir, nil)
		if err == nil || !strings.Contains(err.Error(), "store.path "+dir+": a directory of ") {
			t.Errorf("Check(%s): %v", dir, err)
		}
	}
}

// A protected path reached through a symlink is compared where it leads,
// and so is a relative grant.
func TestCheckProtectedThroughSymlink(t *testing.T) {
	e := newEnv(t)
	real := e.path("real/cache")
	if err := os.MkdirAll(real, 0o700); err != nil {
		t.Fatal(err)
	}
	symlink(t, real, e.path("cachelink"))
	protected := []Protected{{What: "flyte's plugin cache", Path: e.path("cachelink")}}
	if err := Check("store.path", "the store plugin", e.path("real"), protected); err == nil {
		t.Error("a grant of the real parent of a symlinked cache was allowed")
	}
	if err := Check("store.path", "the store plugin", e.path("real/cache2"), protected); err != nil {
		t.Errorf("a sibling was refused: %v", err)
	}
	t.Chdir(e.path("real"))
	if err := Check("store.path", "the store plugin", "cache/x", protected); err == nil {
		t.Error("a relative grant inside the cache was allowed")
	}
}

// resolve agrees with filepath.EvalSymlinks wherever the path exists, and
// appends a missing tail to the deepest existing directory.
func TestResolve(t *testing.T) {
	e := newEnv(t)
	symlink(t, "../.config", e.path("l/rel"))
	symlink(t, e.path("l/rel"), e.path("l2/chain"))
	for _, p := range []string{"l/rel", "l2/chain", "l2/chain/flyte", "l2", ".cache/flyte"} {
		want, err := filepath.EvalSymlinks(e.path(p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := resolve(e.path(p))
		if err != nil || got != want {
			t.Errorf("resolve(%s) = %q, %v; want %q", p, got, err, want)
		}
	}
	realHome, err := filepath.EvalSymlinks(e.home)
	if err != nil {
		t.Fatal(err)
	}
	got, err := resolve(e.path("l2/chain/flyte/new/dir"))
	if want := filepath.Join(realHome, ".config/flyte/new/dir"); err != nil || got != want {
		t.Errorf("resolve of a missing tail = %q, %v; want %q", got, err, want)
	}
}

func TestOwn(t *testing.T) {
	e := newEnv(t)
	e.vars["FLYTE_CACHE_DIR"] = "/c"
	e.vars["XDG_STATE_HOME"] = "/s"
	e.vars["XDG_CONFIG_HOME"] = "/x"
	e.vars["XDG_DATA_HOME"] = "/d"
	cfg := &config.Config{Path: "/etc/f.toml", Seal: config.SealConfig{Identity: "/i"},
		Plugins: map[string]config.PluginConfig{"b": {Path: "/b.wasm"}, "a": {Path: "/a.wasm"}}}
	var got []string
	for _, p := range Own(cfg, e.getenv) {
		got = append(got, p.What+"="+p.Path)
	}
	want := []string{"the identity file=/i", "the configuration file=/etc/f.toml", "flyte's configuration directory=/x/flyte",
		"flyte's state directory=/s/flyte", "flyte's plugin cache=/c", "flyte's installed plugins=/d/flyte/plugins", "the file of plugin a=/a.wasm", "the file of plugin b=/b.wasm"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Own:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// FuzzResolve plants a symlink with an arbitrary target (readlink's bytes
// are someone else's) and checks that resolve ends, and returns an
// absolute clean path or an error.
func FuzzResolve(f *testing.F) {
	for _, s := range []string{"", ".", "..", "/", "../..", "a/../../b", "//x//y/", "loop", "./loop/x", "/proc/self/cwd", "\x00"} {
		f.Add(s, "rest/of/path")
	}
	f.Fuzz(func(t *testing.T, target, rest string) {
		if target == "" || strings.ContainsRune(target, 0) || strings.ContainsRune(rest, 0) {
			return
		}
		dir := t.TempDir()
		link := filepath.Join(dir, "loop")
		if err := os.Symlink(target, link); err != nil {
			return
		}
		got, err := resolve(filepath.Join(link, rest))
		if err == nil && (!filepath.IsAbs(got) || filepath.Clean(got) != got) {
			t.Errorf("resolve through %q = %q", target, got)
		}
	})
}
