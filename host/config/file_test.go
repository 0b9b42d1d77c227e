package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestFindNotRegular(t *testing.T) {
	root := t.TempDir()
	requireNoStrayConfig(t, root)
	cwd := filepath.Join(root, "repo", "sub")
	if err := os.MkdirAll(cwd, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(root, "repo", FileName)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Found by the upward search: an error that names it, at once (nothing opens the pipe).
	_, err := Find("", cwd, env())
	want := "config file " + fifo + ": a named pipe, not a regular file"
	if err == nil || err.Error() != want {
		t.Errorf("Find = %v; want %q", err, want)
	}
	// Named explicitly or by $FLYTE_CONFIG: the same.
	if _, err := Find(fifo, cwd, env()); err == nil || err.Error() != want {
		t.Errorf("Find(explicit) = %v; want %q", err, want)
	}
	if _, err := Find("", cwd, env("FLYTE_CONFIG", "/dev/null")); err == nil || err.Error() != "config file /dev/null (from FLYTE_CONFIG): a character device, not a regular file" {
		t.Errorf("Find(FLYTE_CONFIG=/dev/null) = %v", err)
	}
	// Read checks the type on the descriptor, so a file swapped for a pipe after Find is not read either.
	if _, err := Read(Found{fifo, SourceSearch}); err == nil || err.Error() != want {
		t.Errorf("Read = %v; want %q", err, want)
	}
	if _, err := Load("/dev/zero", env()); err == nil || err.Error() != "config file /dev/zero: a character device, not a regular file" {
		t.Errorf("Load(/dev/zero) = %v", err)
	}
}

// private returns a directory that passes the ownership rule, whatever the umask.
func private(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d); d = filepath.Dir(d) {
		var st syscall.Stat_t
		if err := syscall.Stat(d, &st); err != nil {
			t.Fatal(err)
		}
		if (st.Uid != 0 && int(st.Uid) != os.Geteuid()) || (st.Mode&0o022 != 0 && st.Mode&syscall.S_ISVTX == 0) {
			t.Skipf("%s does not pass the ownership rule: the tests need a temporary directory that does", d)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// accounts makes /etc/group and /etc/passwd, as the ownership rule reads them, these texts.
func accounts(t *testing.T, group, passwd string) {
	dir := t.TempDir()
	oldGroup, oldPasswd := groupFile, passwdFile
	groupFile, passwdFile = filepath.Join(dir, "group"), filepath.Join(dir, "passwd")
	if err := os.WriteFile(groupFile, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(passwdFile, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	privateCache.Clear()
	t.Cleanup(func() { groupFile, passwdFile = oldGroup, oldPasswd; privateCache.Clear() })
}

func TestReadOwnership(t *testing.T) {
	uid, gid := os.Geteuid(), os.Getegid()
	me := fmt.Sprintf("me:x:%d:%d::/home/me:/bin/sh\n", uid, gid)
	t.Run("group-writable file", func(t *testing.T) {
		// The file's group has another member: it is shared.
		accounts(t, fmt.Sprintf("team:x:%d:someone\n", gid), me)
		dir := private(t)
		p := write(t, filepath.Join(dir, FileName), "organization = \"acme\"\n")
		if err := os.Chmod(p, 0o664); err != nil {
			t.Fatal(err)
		}
		_, err := Read(Found{p, SourceSearch})
		want := "config file " + p + ": has mode 0664, which lets group or others change it"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
		var h interface{ Hint() string }
		if !errors.As(err, &h) || h.Hint() != "if that is not what you meant, fix it with: chmod go-w "+p {
			t.Errorf("hint = %v", h)
		}
		// The same rule for the user's own files.
		if _, err := Load(p, env()); err == nil || err.Error() != want {
			t.Errorf("Load = %v; want %q", err, want)
		}
	})
	t.Run("group-writable in a user private group", func(t *testing.T) {
		// umask 002 on Fedora, Debian and Ubuntu: a clone's files and directories are group-writable,
		// and the group is the user's own.
		accounts(t, fmt.Sprintf("wheel:x:%d:\nme:x:%d:\n", gid+1, gid), me)
		dir := private(t)
		sub := filepath.Join(dir, "clone")
		p := write(t, filepath.Join(sub, FileName), "organization = \"acme\"\n")
		if err := os.Chmod(p, 0o664); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(sub, 0o775); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(Found{p, SourceSearch}); err != nil {
			t.Fatalf("Read = %v", err)
		}
		// Another account with that primary group makes it shared.
		accounts(t, fmt.Sprintf("me:x:%d:\n", gid), me+fmt.Sprintf("other:x:%d:%d::/:/bin/sh\n", uid+1, gid))
		if _, err := Read(Found{p, SourceSearch}); err == nil || !strings.Contains(err.Error(), "which lets group or others change it") {
			t.Fatalf("Read = %v", err)
		}
	})
	t.Run("world-writable directory of the file", func(t *testing.T) {
		dir := private(t)
		sub := filepath.Join(dir, "sub")
		p := write(t, filepath.Join(sub, FileName), "")
		if err := syscall.Chmod(sub, 0o1777); err != nil { // sticky is not enough for the file's own directory
			t.Fatal(err)
		}
		_, err := Read(Found{p, SourceFlag})
		want := "config file " + p + ": directory " + sub + " has mode 1777, which lets group or others change it"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
	})
	t.Run("non-sticky world-writable ancestor", func(t *testing.T) {
		dir := private(t)
		shared := filepath.Join(dir, "shared")
		p := write(t, filepath.Join(shared, "proj", FileName), "")
		if err := os.Chmod(shared, 0o777); err != nil {
			t.Fatal(err)
		}
		_, err := Read(Found{p, SourceSearch})
		want := "config file " + p + ": directory " + shared + " has mode 0777, which lets others replace what is in it (it is not sticky)"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
		// Sticky, as /tmp: accepted.
		if err := syscall.Chmod(shared, 0o1777); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(Found{p, SourceSearch}); err != nil {
			t.Errorf("Read below a sticky directory = %v", err)
		}
	})
	t.Run("symlink into an unsafe directory", func(t *testing.T) {
		dir := private(t)
		unsafe := filepath.Join(dir, "unsafe")
		target := write(t, filepath.Join(unsafe, "real.toml"), "")
		if err := os.Chmod(unsafe, 0o777); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(dir, "safe", FileName)
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		_, err := Read(Found{link, SourceSearch})
		want := "config file " + link + ": directory " + unsafe + " has mode 0777, which lets group or others change it"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
	})
	t.Run("symlink from an unsafe directory", func(t *testing.T) {
		dir := private(t)
		target := write(t, filepath.Join(dir, "safe", "real.toml"), "")
		unsafe := filepath.Join(dir, "unsafe")
		if err := os.Mkdir(unsafe, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(unsafe, 0o777); err != nil {
			t.Fatal(err)
		}
		link := filepath.Join(unsafe, FileName)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		_, err := Read(Found{link, SourceSearch})
		want := "config file " + link + ": directory " + unsafe + " has mode 0777, which lets group or others change it"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
	})
	t.Run("owned by another user", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("only root can give a file away")
		}
		dir := private(t)
		p := write(t, filepath.Join(dir, FileName), "")
		if err := os.Chown(p, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		_, err := Read(Found{p, SourceSearch})
		want := "config file " + p + ": is owned by uid 12345, not by you or root"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
		if err := os.Chown(p, 0, 0); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "sub")
		q := write(t, filepath.Join(sub, FileName), "")
		if err := os.Chown(dir, 12345, 12345); err != nil {
			t.Fatal(err)
		}
		_, err = Read(Found{q, SourceSearch})
		want = "config file " + q + ": directory " + dir + " is owned by uid 12345, not by you or root"
		if err == nil || err.Error() != want {
			t.Fatalf("Read = %v; want %q", err, want)
		}
	})
	t.Run("good", func(t *testing.T) {
		dir := private(t)
		content := "organization = \"acme\"\n"
		p := write(t, filepath.Join(dir, FileName), content)
		f, err := Read(Found{p, SourceSearch})
		if err != nil {
			t.Fatal(err)
		}
		if f.Path != p || f.Real != p || f.Source != SourceSearch || len(f.Restricted) != 0 {
			t.Errorf("Read = %+v", f)
		}
	})
}

func TestRestricted(t *testing.T) {
	tests := []struct {
		text string
		want []string
	}{
		{"", nil},
		{"organization = \"acme\"\ndomains = [\"dev\"]\n[store]\n[seal]\n", nil},
		{`
[[environments]]
name = "e"
project = "p"
domain = "development"
secrets = ["k", { key = "k2", group = "g", as_env_var = "V" }, { key = "k3", mount = "/etc/flyte/secrets" }]
`, nil},
		{"[seal]\nidentity = \"~/.config/flyte/identity.txt\"\n[store]\npath = \"s\"\nplugin = \"x\"\n", []string{"seal.identity", "store.path", "store.plugin"}},
		{"[[environments]]\nname = \"a\"\nsecrets = [{ key = \"k\", injector = \"evil\" }]\n[[environments]]\nname = \"b\"\nsecrets = [{ key = \"k\", injector = \"evil\" }]\n",
			[]string{"environments.secrets.injector"}},
		{"[plugins.mine]\npath = \"m.wasm\"\nconfig = { \"a\" = \"b\" }\n[inject]\nenv = \"mine\"\n", []string{"plugins.mine.path", "plugins.mine.config.a", "inject.env"}},
		{"[plugins.\"\\u001b[31mred\"]\npath = \"m.wasm\"\n", []string{"plugins.*.path"}},
	}
	for _, tt := range tests {
		f, err := parseFile("/x/flyte.toml", []byte(tt.text))
		if err != nil {
			t.Errorf("%q: %v", tt.text, err)
			continue
		}
		if !reflect.DeepEqual(f.Restricted, tt.want) {
			t.Errorf("%q: Restricted = %q, want %q", tt.text, f.Restricted, tt.want)
		}
	}
}

func TestTildeExpansion(t *testing.T) {
	dir := t.TempDir()
	p := write(t, filepath.Join(dir, FileName), `
[store]
path = "~/store"
[seal]
identity = "~"
[plugins.mine]
path = "~user/plugin.wasm"
`)
	c, err := Load(p, env("HOME", "/home/u"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != "/home/u/store" || c.Seal.Identity != "/home/u" || c.Plugins["mine"].Path != filepath.Join(dir, "~user", "plugin.wasm") {
		t.Errorf("paths = %q, %q, %q", c.Store.Path, c.Seal.Identity, c.Plugins["mine"].Path)
	}
	_, err = Load(p, env("XDG_DATA_HOME", "/data", "XDG_CONFIG_HOME", "/cfg"))
	want := p + `:3:8: setting "store.path" starts with ~, but HOME is not set to an absolute path`
	if err == nil || err.Error() != want {
		t.Errorf("Load without HOME = %v; want %q", err, want)
	}
	// Reading expands nothing: only Decode does, after the caller's decision.
	f, err := Read(Found{p, SourceSearch})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Restricted, " ") != "store.path seal.identity plugins.mine.path" {
		t.Errorf("Restricted = %q", f.Restricted)
	}
}

func TestIsPrivateGroup(t *testing.T) {
	for _, c := range []struct {
		group, passwd string
		want          bool
	}{
		{"alice:x:1000:\n", "alice:x:1000:1000::/home/alice:/bin/sh\n", true},
		{"alice:x:1000:bob\n", "alice:x:1000:1000::/home/alice:/bin/sh\n", false},                // a member
		{"alice:x:1000:\n", "alice:x:1000:100::/home/alice:/bin/sh\n", false},                    // not her primary group
		{"", "alice:x:1000:1000::/home/alice:/bin/sh\n", false},                                  // no such group
		{"alice:x:1000:\nalias:x:1000:\n", "alice:x:1000:1000::/:/bin/sh\n", false},              // listed twice
		{"alice:x:1000\n", "alice:x:1000:1000::/:/bin/sh\n", false},                              // malformed
		{"alice:x:1000:\n", "alice:x:1000:1000::/:/bin/sh\nbob:x:1001:1000::/:/bin/sh\n", false}, // shared primary
		{"+::::\nalice:x:1000:\n", "alice:x:1000:1000::/:/bin/sh\n", true},                       // NIS line skipped
	} {
		if got := isPrivateGroup([]byte(c.group), []byte(c.passwd), 1000, 1000); got != c.want {
			t.Errorf("isPrivateGroup(%q, %q) = %v; want %v", c.group, c.passwd, got, c.want)
		}
	}
}

func FuzzPrivateGroup(f *testing.F) {
	f.Add([]byte("alice:x:1000:\n"), []byte("alice:x:1000:1000::/home/alice:/bin/sh\n"), uint32(1000), uint32(1000))
	f.Add([]byte("root:x:0:\n:::\n"), []byte("root:x:0:0:root:/root:/bin/bash\n"), uint32(0), uint32(0))
	f.Fuzz(func(t *testing.T, group, passwd []byte, gid, uid uint32) {
		isPrivateGroup(group, passwd, gid, uid) // never panics
	})
}
