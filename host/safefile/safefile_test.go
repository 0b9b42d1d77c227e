package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestKind(t *testing.T) {
	cases := map[fs.FileMode]string{
		fs.ModeDir:                        "a directory",
		fs.ModeSymlink:                    "a symbolic link",
		fs.ModeNamedPipe:                  "a named pipe",
		fs.ModeSocket:                     "a socket",
		fs.ModeDevice | fs.ModeCharDevice: "a character device",
		fs.ModeDevice:                     "a block device",
		0o644:                             "a regular file",
		fs.ModeIrregular:                  "a special file",
	}
	for m, want := range cases {
		if got := Kind(m); got != want {
			t.Errorf("Kind(%v) = %q, want %q", m, got, want)
		}
	}
}

func TestSyncDirAndBare(t *testing.T) {
	dir := t.TempDir()
	if err := SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	err := SyncDir(filepath.Join(dir, "missing"))
	if !errors.Is(Bare(err), syscall.ENOENT) || Bare(err).Error() != "no such file or directory" {
		t.Fatalf("Bare(%v) = %v", err, Bare(err))
	}
	if e := errors.New("x"); Bare(e) != e {
		t.Fatal("Bare changed an error without a path")
	}
	_ = os.Remove(dir)
}
