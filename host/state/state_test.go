package state

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestPath(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"HOME": "/home/u"}, "/home/u/.local/state/flyte"},
		{map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "/s"}, "/s/flyte"},
		{map[string]string{"HOME": "/home/u", "XDG_STATE_HOME": "rel"}, "/home/u/.local/state/flyte"},
		{map[string]string{"HOME": "rel"}, ""},
		{nil, ""},
	}
	for _, c := range cases {
		if got := Path(env(c.env)); got != c.want {
			t.Errorf("Path(%v) = %q, want %q", c.env, got, c.want)
		}
	}
}

func TestOpenCreatesPrivateDir(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "flyte")
	d, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("mode %o, want 0700", fi.Mode().Perm())
	}
}

func TestOpenRefusesWritableDirWithoutChmod(t *testing.T) {
	p := t.TempDir()
	if err := os.Chmod(p, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Open(p)
	if err == nil || !strings.Contains(err.Error(), "mode 0777 lets other users write it") {
		t.Fatalf("Open = %v", err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o777 {
		t.Fatalf("Open changed the mode to %o", fi.Mode().Perm())
	}
}

func TestReadWriteUpdate(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "flyte"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := d.Read("x/y"); err != nil || b != nil {
		t.Fatalf("Read missing = %q, %v", b, err)
	}
	if err := d.Write("x/y", []byte("1")); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := d.Update("x/y", func(old []byte) ([]byte, error) {
				return append(old, '1'), nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	b, err := d.Read("x/y")
	if err != nil || len(b) != 21 {
		t.Fatalf("Read = %d bytes, %v; want 21", len(b), err)
	}
	for _, bad := range []string{"", "/abs", "../up", "a/../b"} {
		if _, err := d.Read(bad); err == nil {
			t.Errorf("Read(%q) succeeded", bad)
		}
	}
}

func TestReadRefusesLinksAndFIFOs(t *testing.T) {
	d, err := Open(filepath.Join(t.TempDir(), "flyte"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Write("f", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(d.Path(), "f"), filepath.Join(d.Path(), "g")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read("f"); err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Fatalf("Read of a linked file = %v", err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(d.Path(), "s")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Read("s"); err == nil {
		t.Fatal("Read followed a symlink")
	}
	if err := unix.Mkfifo(filepath.Join(d.Path(), "p"), 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := d.Read("p"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read of a FIFO = %v", err)
	}
}
