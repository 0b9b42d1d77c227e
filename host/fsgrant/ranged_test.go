package fsgrant

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

func TestWriteAtReadAt(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	d := New(dir)
	defer d.Close()
	if err := d.WriteAt("log/acme", 3, []byte("x")); abi.StatusOf(err) != abi.NotFound {
		t.Fatalf("write_at past the end of a missing file: %v", err)
	}
	if err := d.WriteAt("log/acme", 0, []byte("hello world")); err != nil {
		t.Fatal(err)
	}
	// Writing at 5 cuts the file after the data: a torn tail is gone.
	if err := d.WriteAt("log/acme", 5, []byte("!")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "log", "acme")); string(b) != "hello!" {
		t.Fatalf("file holds %q", b)
	}
	if err := d.WriteAt("log/acme", 7, []byte("x")); abi.StatusOf(err) != abi.InvalidArgument {
		t.Fatalf("write_at past the end: %v", err)
	}
	for _, c := range []struct {
		off  int64
		n    int
		want string
	}{{0, 100, "hello!"}, {1, 3, "ell"}, {6, 10, ""}, {60, 10, ""}} {
		b, err := d.ReadAt("log/acme", c.off, c.n)
		if err != nil || string(b) != c.want {
			t.Errorf("ReadAt(%d, %d) = %q, %v; want %q", c.off, c.n, b, err, c.want)
		}
	}
	if _, err := d.ReadAt("log/acme", -1, 1); abi.StatusOf(err) != abi.InvalidArgument {
		t.Errorf("negative offset: %v", err)
	}
	// A planted hard link to a file outside is neither read nor written.
	secret := filepath.Join(outside, "identity")
	if err := os.WriteFile(secret, []byte("AGE-SECRET-KEY"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(secret, filepath.Join(dir, "log", "planted")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAt("log/planted", 0, []byte("x")); abi.StatusOf(err) != abi.PermissionDenied {
		t.Errorf("write_at through a hard link: %v", err)
	}
	if _, err := d.ReadAt("log/planted", 0, 10); abi.StatusOf(err) != abi.PermissionDenied {
		t.Errorf("read_at through a hard link: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "AGE-SECRET-KEY" {
		t.Fatal("the linked file changed")
	}
	// A symlink is not followed.
	if err := os.Symlink(secret, filepath.Join(dir, "log", "link")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteAt("log/link", 0, []byte("x")); abi.StatusOf(err) == abi.OK {
		t.Error("write_at followed a symlink")
	}
	if _, err := d.ReadAt("log/link", 0, 10); abi.StatusOf(err) == abi.OK {
		t.Error("read_at followed a symlink")
	}
}

func TestRenameRemoveAll(t *testing.T) {
	dir := t.TempDir()
	d := New(dir)
	defer d.Close()
	for _, p := range []string{"secrets/acme/@/@/A", "secrets/acme/@/@/B", "log/acme.compact"} {
		if err := d.WriteFile(p, []byte(p), false); err != nil {
			t.Fatal(err)
		}
	}
	// A directory moves aside in one step; a file replaces another.
	if err := d.Rename("secrets", "legacy-x"); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("legacy-x/acme/@/@/A"); err != nil || string(b) != "secrets/acme/@/@/A" {
		t.Fatalf("after rename: %q %v", b, err)
	}
	if err := d.WriteFile("log/acme", []byte("old"), false); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename("log/acme.compact", "log/acme"); err != nil {
		t.Fatal(err)
	}
	if b, _ := d.ReadFile("log/acme"); string(b) != "log/acme.compact" {
		t.Fatalf("renamed over: %q", b)
	}
	for _, c := range [][2]string{{"../x", "y"}, {"log/acme", "../y"}, {"log/acme", "/etc/passwd"}, {".hidden", "x"}} {
		if err := d.Rename(c[0], c[1]); abi.StatusOf(err) != abi.InvalidArgument {
			t.Errorf("rename %q %q: %v", c[0], c[1], err)
		}
	}
	if err := d.Rename("missing", "x"); abi.StatusOf(err) != abi.NotFound {
		t.Errorf("rename of a missing file: %v", err)
	}
	// RemoveAll removes a tree and does not follow a symlink out of it.
	outside := t.TempDir()
	keep := filepath.Join(outside, "keep")
	if err := os.WriteFile(keep, []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "legacy-x", "acme", "link")); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveAll("legacy-x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "legacy-x")); !os.IsNotExist(err) {
		t.Fatalf("tree left: %v", err)
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("a file outside was removed: %v", err)
	}
	if err := d.RemoveAll("legacy-x"); err != nil {
		t.Fatalf("remove_all of an absent path: %v", err)
	}
	if err := d.RemoveAll("../" + filepath.Base(outside)); abi.StatusOf(err) != abi.InvalidArgument {
		t.Fatalf("remove_all outside: %v", err)
	}
}

// One call reads and writes at most so many bytes with the ranged calls,
// over all of them.
func TestRangedCallTotals(t *testing.T) {
	defer func(r, w int64) { maxReadPerCall, maxWritePerCall = r, w }(maxReadPerCall, maxWritePerCall)
	maxReadPerCall, maxWritePerCall = 100, 50
	c := New(t.TempDir()).Begin(context.Background())
	defer c.End()
	for i := range 5 {
		if err := c.WriteAt("f", int64(i*10), make([]byte, 10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WriteAt("f", 50, make([]byte, 1)); abi.StatusOf(err) != abi.TooLarge {
		t.Fatalf("write past the total: %v", err)
	}
	buf := make([]byte, 40)
	for range 2 {
		if n, err := c.ReadAt("f", 0, buf); err != nil || n != 40 {
			t.Fatalf("read: %d %v", n, err)
		}
	}
	if _, err := c.ReadAt("f", 0, buf); abi.StatusOf(err) != abi.TooLarge {
		t.Fatalf("read past the total: %v", err)
	}
	// The next call starts afresh.
	c2 := c.d.Begin(context.Background())
	defer c2.End()
	if _, err := c2.ReadAt("f", 0, buf); err != nil {
		t.Fatal(err)
	}
}
