package grant

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// write creates a file of the test's home with content and mode.
func (e *env) write(t *testing.T, p, content string, mode os.FileMode) string {
	t.Helper()
	full := e.path(p)
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(full, mode); err != nil {
		t.Fatal(err)
	}
	return full
}

func TestReadFile(t *testing.T) {
	e := newEnv(t)
	own := e.own(t)
	const setting = "plugins.etcd.grant.http.credentials.password"
	pw := e.write(t, "etcd/pw", "hunter2\n", 0o600)
	got, err := ReadFile(setting, "plugin etcd", pw, own, true)
	if err != nil || string(got) != "hunter2\n" {
		t.Fatalf("ReadFile of a 0600 credential = %q, %v", got, err)
	}
	// Through a symlink to it: the target is what is checked and read.
	symlink(t, pw, e.path("links/pw"))
	if got, err := ReadFile(setting, "plugin etcd", e.path("links/pw"), own, true); err != nil || string(got) != "hunter2\n" {
		t.Errorf("ReadFile through a symlink = %q, %v", got, err)
	}
	ca := e.write(t, "etcd/ca.pem", "pem", 0o644)
	if err := CheckFile("plugins.etcd.grant.http.ca_file", "plugin etcd", ca, own, false); err != nil {
		t.Errorf("a 0644 CA file was refused: %v", err)
	}

	identity := e.write(t, ".config/flyte/identity.txt", "AGE-SECRET-KEY-1\n", 0o600)
	e.write(t, ".local/state/flyte/x", "s", 0o600)
	e.write(t, "big", strings.Repeat("x", MaxSecretFile+1), 0o600)
	e.write(t, "wide", "x", 0o640)
	e.write(t, "groupw", "x", 0o664)
	e.write(t, "linked", "x", 0o600)
	if err := os.Link(e.path("linked"), e.path("linked2")); err != nil {
		t.Fatal(err)
	}
	symlink(t, identity, e.path("links/identity"))
	if err := os.MkdirAll(e.path(".local/share/flyte/plugins"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.write(t, ".local/share/flyte/plugins/p.wasm", "\x00asm", 0o600)
	if err := syscall.Mkfifo(e.path("fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A hard link to the identity, outside every protected directory, is
	// the identity by its inode (and has two links).
	if err := os.Link(identity, e.path("hardid")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		path   string
		secret bool
		want   string
	}{
		{"links/identity", true, "$S $HOME/links/identity would give plugin etcd the identity file ($HOME/.config/flyte/identity.txt); choose a file outside it"},
		{".config/flyte/identity.txt", true, "$S $HOME/.config/flyte/identity.txt would give plugin etcd the identity file ($HOME/.config/flyte/identity.txt); choose a file outside it"},
		{".local/state/flyte/x", true, "$S $HOME/.local/state/flyte/x would give plugin etcd flyte's state directory ($HOME/.local/state/flyte); choose a file outside it"},
		{".local/share/flyte/plugins/p.wasm", false, "$S $HOME/.local/share/flyte/plugins/p.wasm would give plugin etcd flyte's installed plugins ($HOME/.local/share/flyte/plugins); choose a file outside it"},
		{"hardid", true, "$S $HOME/hardid would give plugin etcd the identity file ($HOME/.config/flyte/identity.txt); choose a file outside it"},
		{"linked", true, "$S $HOME/linked: has 2 hard links; a granted file must have one (copy it)"},
		{"wide", true, "$S $HOME/wide: others may read it (mode 0640)"},
		{"groupw", false, "$S $HOME/groupw: others may change it (mode 0664)"},
		{"big", true, "$S $HOME/big: larger than 64 KiB"},
		{"fifo", true, "$S $HOME/fifo: a named pipe, not a regular file"},
		{"etcd", false, "$S $HOME/etcd: a directory, not a regular file"},
		{"missing", true, "$S $HOME/missing: no such file"},
	} {
		_, err := ReadFile(setting, "plugin etcd", e.path(tt.path), own, tt.secret)
		got := "<nil>"
		if err != nil {
			got = strings.ReplaceAll(strings.ReplaceAll(err.Error(), e.home, "$HOME"), setting, "$S")
		}
		if got != tt.want {
			t.Errorf("ReadFile(%s):\n got %q\nwant %q", tt.path, got, tt.want)
		}
	}
	// /proc/self/environ is a regular file of the user's, mode 0400, one
	// link: it may hold FLYTE_IDENTITY.
	_, err = ReadFile(setting, "plugin etcd", "/proc/self/environ", own, true)
	if err == nil || !strings.HasSuffix(err.Error(), ": a file of procfs, not one someone stored") {
		t.Errorf("/proc/self/environ: %v", err)
	}
	var h interface{ Hint() string }
	if _, err := ReadFile(setting, "plugin etcd", e.path("wide"), own, true); !errors.As(err, &h) || h.Hint() != "chmod 600 "+e.path("wide") {
		t.Errorf("a file others may read: no chmod hint: %v", err)
	}
	if _, err := ReadFile(setting, "plugin etcd", "rel/pw", own, true); err == nil {
		t.Error("a relative path was read")
	}
}

// A file owned by someone else is refused when secret, and allowed when
// root owns it and it is not (a system CA bundle).
func TestReadFileOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	e := newEnv(t)
	pw := e.write(t, "pw", "x", 0o600)
	if err := os.Chown(pw, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	err := CheckFile("S", "plugin p", pw, nil, true)
	if err == nil || err.Error() != "S "+pw+": owned by uid 65534, not by you (uid 0)" {
		t.Errorf("a credential of another user: %v", err)
	}
}
