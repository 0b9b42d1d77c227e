package fsgrant

import (
	"encoding/binary"
	"fmt"
	"maps"
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

// An entry whose type the filesystem does not report (DT_UNKNOWN) is
// fstatat'ed relative to the directory's descriptor, never the working
// directory, and without following a link: symlinks (to a file, to a
// directory, out of the directory, dangling), FIFOs and sockets are never
// listed; files and directories are; a name removed since is not listed.
func TestDirentsUnknownType(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	in := func(name string) string { return filepath.Join(dir, name) }
	must(os.WriteFile(in("file"), []byte("x"), 0o600))
	must(os.Mkdir(in("sub"), 0o700))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600))
	must(os.Symlink("file", in("linkfile")))
	must(os.Symlink("sub", in("linkdir")))
	must(os.Symlink(outside, in("linkout")))
	must(os.Symlink(filepath.Join(outside, "secret"), in("linkoutfile")))
	must(os.Symlink("missing", in("dangling")))
	must(unix.Mkfifo(in("fifo"), 0o600))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	defer unix.Close(sock)
	must(unix.Bind(sock, &unix.SockaddrUnix{Name: in("sock")}))
	// The working directory holds the same names with other types (file
	// and sub swapped, the links as plain files), so that a stat relative
	// to it, or one that followed a link, gives another answer.
	cwd := t.TempDir()
	must(os.Mkdir(filepath.Join(cwd, "file"), 0o700))
	must(os.WriteFile(filepath.Join(cwd, "sub"), nil, 0o600))
	for _, n := range []string{"linkfile", "linkdir", "linkout", "linkoutfile", "dangling", "fifo", "sock", "gone"} {
		must(os.WriteFile(filepath.Join(cwd, n), nil, 0o600))
	}
	t.Chdir(cwd)

	want := map[string]entryKind{
		"file": kindFile, "sub": kindDir,
		"linkfile": kindOther, "linkdir": kindOther, "linkout": kindOther, "linkoutfile": kindOther, "dangling": kindOther,
		"fifo": kindOther, "sock": kindOther,
		"gone": kindUnknown, // listed by the kernel, removed before the stat
	}
	buf := append(dirent(".", unix.DT_UNKNOWN), dirent("..", unix.DT_UNKNOWN)...)
	for name := range want {
		buf = append(buf, dirent(name, unix.DT_UNKNOWN)...)
	}
	f, err := os.Open(dir)
	must(err)
	defer f.Close()
	ents, err := appendDirents(nil, int(f.Fd()), buf)
	must(err)
	got := map[string]entryKind{}
	var listed []string
	for _, e := range ents {
		got[e.name] = e.kind
		if e.kind.listed() {
			listed = append(listed, e.name)
		}
	}
	if !maps.Equal(got, want) {
		t.Fatalf("kinds %v, want %v", got, want)
	}
	slices.Sort(listed)
	if want := []string{"file", "sub"}; !slices.Equal(listed, want) {
		t.Fatalf("listed %q, want %q", listed, want)
	}
	// A known type is taken as given, without a stat: "file" says
	// directory here, and "gone" is a regular file.
	ents, err = appendDirents(nil, int(f.Fd()), append(dirent("file", unix.DT_DIR), dirent("gone", unix.DT_REG)...))
	must(err)
	if want := []rawEntry{{"file", kindDir}, {"gone", kindFile}}; !slices.Equal(ents, want) {
		t.Fatalf("known types: %+v, want %+v", ents, want)
	}
}

// kindOf and kindOfMode list directories and regular files only.
func TestKinds(t *testing.T) {
	for typ, want := range map[uint8]entryKind{
		unix.DT_DIR: kindDir, unix.DT_REG: kindFile, unix.DT_UNKNOWN: kindUnknown,
		unix.DT_LNK: kindOther, unix.DT_FIFO: kindOther, unix.DT_SOCK: kindOther,
		unix.DT_CHR: kindOther, unix.DT_BLK: kindOther, unix.DT_WHT: kindOther, 255: kindOther,
	} {
		if got := kindOf(typ); got != want {
			t.Errorf("kindOf(%d) = %d, want %d", typ, got, want)
		}
	}
	for mode, want := range map[uint32]entryKind{
		unix.S_IFDIR | 0o755: kindDir, unix.S_IFREG | 0o600: kindFile, unix.S_IFREG | unix.S_ISUID | 0o4755: kindFile,
		unix.S_IFLNK | 0o777: kindOther, unix.S_IFIFO | 0o600: kindOther, unix.S_IFSOCK | 0o755: kindOther,
		unix.S_IFCHR | 0o600: kindOther, unix.S_IFBLK | 0o600: kindOther, 0: kindOther,
	} {
		if got := kindOfMode(mode); got != want {
			t.Errorf("kindOfMode(%o) = %d, want %d", mode, got, want)
		}
	}
}
