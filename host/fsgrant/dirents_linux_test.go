package fsgrant

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"golang.org/x/sys/unix"
)

// ReadDir lists directories and regular files by the type getdents gives,
// hides dot files, skips symlinks (also one to a directory), FIFOs and
// sockets, and still removes stale temporary files.
func TestReadDirTypes(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	d := New(dir)
	defer d.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "sub"), 0o700))
	must(os.WriteFile(filepath.Join(dir, "file"), []byte("x"), 0o600))
	must(os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o600))
	must(os.Symlink(outside, filepath.Join(dir, "linkdir")))
	must(os.Symlink(filepath.Join(dir, "file"), filepath.Join(dir, "linkfile")))
	must(unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600))
	stale := filepath.Join(dir, tmpPrefix+"0011223344556677")
	fresh := filepath.Join(dir, tmpPrefix+"8899aabbccddeeff")
	must(os.WriteFile(stale, nil, 0o600))
	must(os.WriteFile(fresh, nil, 0o600))
	old := time.Now().Add(-2 * staleTmp)
	must(os.Chtimes(stale, old, old))
	for i := range 3000 { // more than one getdents buffer
		must(os.WriteFile(filepath.Join(dir, "sub", fmt.Sprintf("k%05d", i)), nil, 0o600))
	}

	ents, err := d.ReadDir(".")
	must(err)
	slices.SortFunc(ents, func(a, b abi.DirEntry) int { return cmpString(a.Name, b.Name) })
	want := []abi.DirEntry{{Name: "file"}, {Name: "sub", Dir: true}}
	if !slices.Equal(ents, want) {
		t.Fatalf("ReadDir(.) = %+v, want %+v", ents, want)
	}
	if _, err := os.Lstat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Lstat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
	sub, err := d.ReadDir("sub")
	must(err)
	if len(sub) != 3000 {
		t.Fatalf("ReadDir(sub): %d entries, want 3000", len(sub))
	}
	seen := map[string]bool{}
	for _, e := range sub {
		if e.Dir || seen[e.Name] {
			t.Fatalf("ReadDir(sub): %+v (listed twice: %v)", e, seen[e.Name])
		}
		seen[e.Name] = true
	}
	if _, err := d.ReadDir("file"); abi.StatusOf(err) == abi.OK {
		t.Error("ReadDir of a regular file succeeded")
	}
	if _, err := d.ReadDir("linkdir"); abi.StatusOf(err) == abi.OK {
		t.Error("ReadDir followed a symlink out of the directory")
	}
	if _, err := d.ReadDir("missing"); abi.StatusOf(err) != abi.NotFound {
		t.Errorf("ReadDir(missing): %v, want NOT_FOUND", err)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// dirent encodes one dirent64 record as the kernel does (8-byte aligned).
func dirent(name string, typ uint8) []byte {
	n := (19 + len(name) + 1 + 7) &^ 7
	b := make([]byte, n)
	binary.NativeEndian.PutUint16(b[16:18], uint16(n))
	b[18] = typ
	copy(b[19:], name)
	return b
}

func TestParseDirents(t *testing.T) {
	var buf []byte
	buf = append(buf, dirent(".", unix.DT_DIR)...)
	buf = append(buf, dirent("a", unix.DT_REG)...)
	buf = append(buf, dirent("dir", unix.DT_DIR)...)
	var got []string
	if err := parseDirents(buf, func(name string, typ uint8) { got = append(got, fmt.Sprint(name, typ)) }); err != nil {
		t.Fatal(err)
	}
	if want := []string{".4", "a8", "dir4"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for _, bad := range [][]byte{buf[:10], buf[:len(buf)-1], make([]byte, 24)} {
		if err := parseDirents(bad, func(string, uint8) {}); err == nil {
			t.Errorf("%x: no error", bad)
		}
	}
}

// FuzzParseDirents: no input makes the parser panic, loop or report a
// name holding a NUL or lying outside the buffer.
func FuzzParseDirents(f *testing.F) {
	f.Add(append(dirent("a", unix.DT_REG), dirent("sub", unix.DT_DIR)...))
	f.Add(dirent("", unix.DT_REG))
	f.Add([]byte{})
	f.Add(make([]byte, 19))
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		_ = parseDirents(b, func(name string, _ uint8) {
			if name == "" || slices.Contains([]byte(name), 0) {
				t.Fatalf("name %q", name)
			}
			total += len(name)
			if total > len(b) {
				t.Fatal("names longer than the buffer")
			}
		})
	})
}
