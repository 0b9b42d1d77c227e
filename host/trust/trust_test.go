package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/state"
)

// world is a home and a cloned repository whose flyte.toml names a plugin and moves the store.
type world struct {
	root, home, repo, cfg, wasm string
	getenv                      func(string) string
}

const repoConfig = `organization = "acme"

[store]
plugin = "mine"
path = "~/.config/flyte"

[plugins.mine]
path = "mine.wasm"

[[environments]]
name = "e"
secrets = ["k"]
`

func newWorld(t *testing.T, content string) *world {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(root); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, config.FileName)); err == nil {
			t.Skipf("%s would be found by the upward search", filepath.Join(d, config.FileName))
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	w := &world{root: root, home: filepath.Join(root, "home"), repo: filepath.Join(root, "repo")}
	w.cfg = filepath.Join(w.repo, config.FileName)
	w.wasm = filepath.Join(w.repo, "mine.wasm")
	for _, d := range []string{w.home, filepath.Join(w.repo, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.write(t, w.cfg, content)
	w.write(t, w.wasm, "\x00asm plugin v1")
	env := map[string]string{"HOME": w.home}
	w.getenv = func(k string) string { return env[k] }
	return w
}

func (w *world) write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (w *world) load() error {
	_, err := Load("", filepath.Join(w.repo, "sub"), w.getenv)
	return err
}

func wantError(t *testing.T, err error, msg, hint string) {
	t.Helper()
	if err == nil || err.Error() != msg {
		t.Fatalf("error = %v\nwant    %s", err, msg)
	}
	var e *Error
	if !errors.As(err, &e) || e.Hint() != hint {
		t.Fatalf("hint = %v, want %q", e, hint)
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestLoadRefusesUntrusted(t *testing.T) {
	w := newWorld(t, repoConfig)
	wantError(t, w.load(),
		w.cfg+" sets store.plugin, which a flyte.toml found from the working directory may set only after you trust it",
		"review the file, then run: flyte config trust "+w.cfg)
	// A refusal creates no state directory.
	if _, err := os.Stat(state.Path(w.getenv)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state directory: %v", err)
	}
	// Named by the user, the same file is theirs: no trust needed.
	c, err := Load(w.cfg, w.home, w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != filepath.Join(w.home, ".config", "flyte") {
		t.Errorf("store.path = %q", c.Store.Path)
	}
}

func TestLoadAllowsEnvironments(t *testing.T) {
	w := newWorld(t, "organization = \"acme\"\ndomains = [\"dev\"]\n[[environments]]\nname = \"e\"\ndomain = \"dev\"\nsecrets = [{ key = \"k\", mount = \"/etc/flyte/secrets\" }]\n")
	_, err := Load("", filepath.Join(w.repo, "sub"), w.getenv)
	if err != nil {
		t.Fatal(err)
	}
}

func TestTrustCycle(t *testing.T) {
	w := newWorld(t, repoConfig)
	tr, err := Trust("flyte.toml", w.repo, w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := Record{Path: w.cfg, SHA256: sum(repoConfig), Plugins: []Plugin{{Name: "mine", Path: w.wasm, SHA256: sum("\x00asm plugin v1")}}}
	if !reflect.DeepEqual(tr.Record, want) || tr.Shown != w.cfg || strings.Join(tr.Sets, " ") != "store.plugin store.path plugins.mine.path" {
		t.Fatalf("Trust = %+v", tr)
	}
	if err := w.load(); err != nil {
		t.Fatal(err)
	}
	// The trusted plugin is pinned to what was checked.
	c, _ := Load("", w.repo, w.getenv)
	if c.Plugins["mine"].SHA256 != want.Plugins[0].SHA256 || c.Store.Path != filepath.Join(w.home, ".config", "flyte") {
		t.Errorf("config = %+v", c)
	}
	list, err := List(w.getenv)
	if err != nil || len(list) != 1 || list[0].Status != StatusOK {
		t.Fatalf("List = %+v, %v", list, err)
	}

	// A changed plugin needs trust again.
	w.write(t, w.wasm, "\x00asm plugin v2")
	wantError(t, w.load(), "plugin mine ("+w.wasm+") of "+w.cfg+" changed since you trusted it",
		"review the plugin, then run: flyte config trust "+w.cfg)
	if list, _ := List(w.getenv); list[0].Status != StatusPluginChanged {
		t.Errorf("status = %q", list[0].Status)
	}
	os.Remove(w.wasm)
	if list, _ := List(w.getenv); list[0].Status != StatusPluginMissing {
		t.Errorf("status = %q", list[0].Status)
	}
	w.write(t, w.wasm, "\x00asm plugin v2")
	if _, err := Trust(w.cfg, "/", w.getenv); err != nil {
		t.Fatal(err)
	}
	if err := w.load(); err != nil {
		t.Fatal(err)
	}

	// A changed file too.
	w.write(t, w.cfg, repoConfig+"# more\n")
	wantError(t, w.load(), w.cfg+" changed since you trusted it, and it sets store.plugin",
		"review the changes, then run: flyte config trust "+w.cfg)
	if list, _ := List(w.getenv); list[0].Status != StatusChanged {
		t.Errorf("status = %q", list[0].Status)
	}

	// Revoked: refused again, and the record is gone.
	w.write(t, w.cfg, repoConfig)
	if err := w.load(); err != nil {
		t.Fatal(err)
	}
	p, err := Revoke(w.cfg, "/", w.getenv)
	if err != nil || p != w.cfg {
		t.Fatalf("Revoke = %q, %v", p, err)
	}
	if err := w.load(); err == nil {
		t.Fatal("loaded after revoke")
	}
	_, err = Revoke(w.cfg, "/", w.getenv)
	wantError(t, err, w.cfg+" is not trusted", "run 'flyte config trust --list' to see the files you trust")
	if list, err := List(w.getenv); err != nil || len(list) != 0 {
		t.Errorf("List = %+v, %v", list, err)
	}
}

func TestTrustBySymlink(t *testing.T) {
	w := newWorld(t, repoConfig)
	link := filepath.Join(w.root, "link")
	if err := os.Symlink(w.repo, link); err != nil {
		t.Fatal(err)
	}
	tr, err := Trust(filepath.Join(link, config.FileName), "/", w.getenv)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Path != w.cfg {
		t.Errorf("recorded %q, want the real path %q", tr.Path, w.cfg)
	}
	if _, err := Load("", link, w.getenv); err != nil {
		t.Errorf("Load through the link: %v", err)
	}
}

func TestTrustRefuses(t *testing.T) {
	w := newWorld(t, repoConfig)
	if err := os.Chmod(w.cfg, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := Trust(w.cfg, "/", w.getenv); err == nil || !strings.Contains(err.Error(), "has mode 0666, which lets group or others change it") {
		t.Errorf("Trust of a writable file = %v", err)
	}
	os.Chmod(w.cfg, 0o644)
	w.write(t, w.cfg, "[store\n")
	if _, err := Trust(w.cfg, "/", w.getenv); err == nil || !strings.HasPrefix(err.Error(), w.cfg+":1:") {
		t.Errorf("Trust of a malformed file = %v", err)
	}
	w.write(t, w.cfg, repoConfig)
	os.Remove(w.wasm)
	if err := syscall.Mkfifo(w.wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Trust(w.cfg, "/", w.getenv); err == nil || err.Error() != "plugin mine of "+w.cfg+": "+w.wasm+" is a named pipe, not a regular file" {
		t.Errorf("Trust with a FIFO plugin = %v", err)
	}
	// Nothing was recorded.
	if list, err := List(w.getenv); err != nil || len(list) != 0 {
		t.Errorf("List = %+v, %v", list, err)
	}
}

func TestParse(t *testing.T) {
	recs := []Record{
		{Path: "/a/flyte.toml", SHA256: strings.Repeat("a", 64)},
		{Path: "/b/flyte.toml", SHA256: strings.Repeat("b", 64), Plugins: []Plugin{
			{Name: "p1", Path: "/b/p1.wasm", SHA256: strings.Repeat("1", 64)},
			{Name: "p2", Path: "/b/p2.wasm", SHA256: strings.Repeat("2", 64)},
		}},
	}
	got, err := Parse(Marshal(recs))
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip = %+v, %v", got, err)
	}
	if got, err := Parse(nil); err != nil || got != nil {
		t.Errorf("Parse(nil) = %v, %v", got, err)
	}
	bad := map[string]string{
		`{"version":2,"files":[]}`: "trust records have version 2; this flyte reads version 1",
		`{"version":1,"files":[{"path":"rel","sha256":"` + strings.Repeat("a", 64) + `"}]}`:                                                                                     "trust record 1: path must be absolute and clean",
		`{"version":1,"files":[{"path":"/a/../b","sha256":"` + strings.Repeat("a", 64) + `"}]}`:                                                                                 "trust record 1: path must be absolute and clean",
		`{"version":1,"files":[{"path":"/a","sha256":"` + strings.Repeat("A", 64) + `"}]}`:                                                                                      "trust record 1: sha256 must be 64 lower-case hexadecimal digits",
		`{"version":1,"files":[{"path":"/a","sha256":"` + strings.Repeat("a", 64) + `"},{"path":"/a","sha256":"` + strings.Repeat("a", 64) + `"}]}`:                             "trust record 2: its path is trusted twice",
		`{"version":1,"files":[{"path":"/a","sha256":"` + strings.Repeat("a", 64) + `","plugins":[{"name":"\u001b","path":"/p","sha256":"` + strings.Repeat("a", 64) + `"}]}]}`: "trust record 1, plugin 1: invalid name",
		`{"version":1,"files":[],"secret":"x"}`: "trust records are not valid: not the expected fields",
		`{"version":1,"files":[]} {}`:           "trust records are not valid: data after the end",
		`{"version":1,"files":[`:                "trust records are not valid: truncated",
		`{"version":"x"}`:                       "trust records are not valid: wrong type for version at byte 14",
		`{"version":1,}`:                        "trust records are not valid: malformed JSON at byte 14",
	}
	for in, want := range bad {
		if _, err := Parse([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("Parse(%s) = %v\nwant %s", in, err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(""))
	f.Add(Marshal(nil))
	f.Add(Marshal([]Record{{Path: "/a/flyte.toml", SHA256: strings.Repeat("a", 64), Plugins: []Plugin{{Name: "p", Path: "/p.wasm", SHA256: strings.Repeat("b", 64)}}}}))
	f.Add([]byte(`{"version":1,"files":[{"path":"/a","sha256":"x"}]}`))
	f.Add([]byte(`{"version":1,"files":[{"path":"/a\u0000","sha256":"` + strings.Repeat("a", 64) + `"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Parse(data)
		if err != nil {
			if msg := err.Error(); strings.ContainsAny(msg, "\n\x1b") {
				t.Fatalf("error is not one plain line: %q", msg)
			}
			return
		}
		again, err := Parse(Marshal(recs))
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v", err)
		}
		if len(again) != len(recs) || (len(recs) > 0 && !reflect.DeepEqual(again, recs)) {
			t.Fatalf("round trip changed the records: %+v -> %+v", recs, again)
		}
	})
}
