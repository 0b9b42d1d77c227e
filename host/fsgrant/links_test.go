package fsgrant

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"golang.org/x/sys/unix"
)

func links(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Nlink)
}

// onlyFiles lists a host directory, dot files included.
func onlyFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestReadRefusesHardLinks(t *testing.T) {
	store, outside := t.TempDir(), t.TempDir()
	d := New(store)
	defer d.Close()
	if err := d.WriteFile("a/rec", []byte("record"), false); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("a/rec"); err != nil || string(b) != "record" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	// A second name inside the store, then one outside it.
	if err := os.Link(filepath.Join(store, "a/rec"), filepath.Join(store, "a/twin")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"a/rec", "a/twin"} {
		_, err := d.ReadFile(p)
		if abi.StatusOf(err) != abi.PermissionDenied || err.Error() != `read "`+p+`": refused: the file has 2 hard links` {
			t.Errorf("ReadFile(%s) = %v (%v)", p, err, abi.StatusOf(err))
		}
	}
	if err := os.Link(filepath.Join(store, "a/rec"), filepath.Join(outside, "secret")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReadFile("a/rec"); err == nil || err.Error() != `read "a/rec": refused: the file has 3 hard links` {
		t.Errorf("ReadFile with a link outside = %v", err)
	}
	// Once the other names are gone, the file reads again.
	for _, p := range []string{filepath.Join(store, "a/twin"), filepath.Join(outside, "secret")} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := d.ReadFile("a/rec"); err != nil || string(b) != "record" {
		t.Errorf("ReadFile after unlinking = %q, %v", b, err)
	}
	// An atomic replace of a linked name gives the store a file of its own
	// and leaves the other name's content alone.
	if err := os.Link(filepath.Join(store, "a/rec"), filepath.Join(outside, "keep")); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile("a/rec", []byte("new"), false); err != nil {
		t.Fatal(err)
	}
	if b, err := d.ReadFile("a/rec"); err != nil || string(b) != "new" {
		t.Errorf("ReadFile after replace = %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(outside, "keep")); err != nil || string(b) != "record" {
		t.Errorf("the outside name now holds %q, %v", b, err)
	}
}

// checkExclusive creates a file exclusively, twice, in the top directory
// and a subdirectory: the first creates it with one link and leaves no
// temporary file, the second fails with AlreadyExists and changes nothing.
func checkExclusive(t *testing.T) {
	t.Helper()
	store := t.TempDir()
	d := New(store)
	defer d.Close()
	for _, p := range []string{"top", "sub/dir/file"} {
		if err := d.WriteFile(p, []byte("first"), true); err != nil {
			t.Fatalf("create %s: %v", p, err)
		}
		err := d.WriteFile(p, []byte("second"), true)
		if abi.StatusOf(err) != abi.AlreadyExists || err.Error() != `write "`+p+`": file exists` {
			t.Errorf("second create of %s = %v (%v)", p, err, abi.StatusOf(err))
		}
		if b, err := d.ReadFile(p); err != nil || string(b) != "first" {
			t.Errorf("%s holds %q, %v", p, b, err)
		}
		if n := links(t, filepath.Join(store, p)); n != 1 {
			t.Errorf("%s has %d links", p, n)
		}
	}
	if got := onlyFiles(t, store); len(got) != 2 {
		t.Errorf("store holds %q, want top and sub", got)
	}
	if got := onlyFiles(t, filepath.Join(store, "sub/dir")); len(got) != 1 {
		t.Errorf("sub/dir holds %q, want file", got)
	}
}

func TestExclusiveCreate(t *testing.T) { checkExclusive(t) }

// Where the filesystem has no RENAME_NOREPLACE (EINVAL), or a sandbox
// filters renameat2 (ENOSYS), creation falls back to link and unlink.
func TestExclusiveCreateFallback(t *testing.T) {
	for _, errno := range []error{unix.EINVAL, unix.ENOSYS, unix.ENOTSUP} {
		t.Run(errno.Error(), func(t *testing.T) {
			calls := 0
			orig := renameNoReplace
			renameNoReplace = func(int, string, string) error { calls++; return errno }
			defer func() { renameNoReplace = orig }()
			checkExclusive(t)
			if calls != 4 {
				t.Errorf("renameat2 was tried %d times, want 4", calls)
			}
		})
	}
}

// Concurrent exclusive creations of one name: exactly one wins.
func TestExclusiveCreateRace(t *testing.T) {
	store := t.TempDir()
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := New(store) // one Dir per "process"
			defer d.Close()
			errs[i] = d.WriteFile("meta/datakey", []byte{byte('a' + i)}, true)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch abi.StatusOf(err) {
		case abi.OK:
			won++
		case abi.AlreadyExists:
		default:
			t.Errorf("create: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d creations succeeded, want 1", won)
	}
	if got := onlyFiles(t, filepath.Join(store, "meta")); len(got) != 1 {
		t.Errorf("meta holds %q", got)
	}
}
