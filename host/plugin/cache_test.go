package plugin

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (fs.ModePerm | fs.ModeSticky)
}

func TestCacheCreatedPrivate(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "a", "b", "cache")
	h, err := NewHost(Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, p := range []string{filepath.Join(base, "a"), filepath.Join(base, "a", "b"), dir, filepath.Join(dir, cacheSubdir)} {
		if m := mode(t, p); m != 0o700 {
			t.Errorf("%s has mode %v, want 0700", p, m)
		}
	}
}

// An existing directory is used as it is, never chmod'ed: a private one
// is accepted, one that others can write is refused and left alone.
func TestCacheExistingNeverChmoded(t *testing.T) {
	base := t.TempDir()
	for _, tt := range []struct {
		mode fs.FileMode
		want string // "" accepted, else a part of the error
	}{
		{0o755, ""},
		{0o700, ""},
		{0o1777 | fs.ModeSticky, "mode 1777 lets other users write it"},
		{0o770, "mode 0770 lets other users write it"},
		{0o702, "mode 0702 lets other users write it"},
	} {
		dir := filepath.Join(base, strings.ReplaceAll(tt.mode.String(), "-", "_"))
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, tt.mode); err != nil {
			t.Fatal(err)
		}
		before := mode(t, dir)
		h, err := NewHost(Options{CacheDir: dir})
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("mode %v: %v", tt.mode, err)
		case tt.want != "" && err == nil:
			t.Errorf("mode %v: accepted", tt.mode)
		case tt.want != "":
			want := "plugin cache " + dir + ": " + tt.want + "; flyte runs the native code kept there, so the cache must be a directory only you can write (set FLYTE_CACHE_DIR or XDG_CACHE_HOME)"
			if err.Error() != want {
				t.Errorf("mode %v:\n got %s\nwant %s", tt.mode, err, want)
			}
		}
		if h != nil {
			h.Close()
		}
		if after := mode(t, dir); after != before {
			t.Errorf("mode %v: changed to %v", before, after)
		}
		if tt.want != "" {
			if _, err := os.Stat(filepath.Join(dir, cacheSubdir)); err == nil {
				t.Errorf("mode %v: a refused cache was written", tt.mode)
			}
		}
	}
}

// The directories wazero keeps inside the cache are checked too.
func TestCacheSubdirWritableByOthers(t *testing.T) {
	dir := t.TempDir()
	h, err := NewHost(Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	ents, err := os.ReadDir(filepath.Join(dir, cacheSubdir))
	if err != nil || len(ents) != 1 {
		t.Fatalf("wazero's version directory: %v, %v", ents, err)
	}
	sub := filepath.Join(dir, cacheSubdir, ents[0].Name())
	if err := os.Chmod(sub, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := NewHost(Options{CacheDir: dir}); err == nil || !strings.HasPrefix(err.Error(), "plugin cache "+sub+": mode 0777 lets other users write it;") {
		t.Errorf("a writable version directory: %v", err)
	}
}

func TestCacheOwnedByAnother(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory away")
	}
	dir := filepath.Join(t.TempDir(), "cache")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := NewHost(Options{CacheDir: dir})
	if err == nil || !strings.HasPrefix(err.Error(), "plugin cache "+dir+": owned by uid 65534, not by you (uid 0);") {
		t.Errorf("a cache owned by another user: %v", err)
	}
}

func TestCacheNotADirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := NewHost(Options{CacheDir: p})
	if err == nil || !strings.HasPrefix(err.Error(), "cannot create the plugin cache "+p+": not a directory") {
		t.Errorf("a file as the cache: %v", err)
	}
}
