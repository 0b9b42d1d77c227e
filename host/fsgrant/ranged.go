package fsgrant

// Ranged reads and writes (ABI 1.4): the calls a store's log is read and
// appended with.

import (
	"io"
	"os"
	"path"
	"syscall"

	"github.com/flytesecrets/flyte/abi"
)

const (
	// MaxFileSize bounds a file written with WriteAt: 1 TiB, far past any
	// store, short of any offset arithmetic overflow.
	MaxFileSize = 1 << 40
)

// maxReadPerCall and maxWritePerCall bound the bytes one plugin call may
// move with ReadAt and WriteAt, across all its calls of them (variables
// for tests).
var (
	maxReadPerCall  int64 = 1 << 30
	maxWritePerCall int64 = 256 << 20
)

// ReadAt returns up to n bytes of the regular file p from offset off:
// fewer only at its end, none at or past it. The file is checked as
// ReadFile checks it (no symlink, one link, regular).
func (d *Dir) ReadAt(p string, off int64, n int) ([]byte, error) {
	return d.ReadAtInto(p, off, n, nil)
}

// ReadAtInto is ReadAt into buf's storage when it has the room (it is
// reused from one read to the next: a listing reads a log of 100,000
// records, 17 MB, a few MB at a time), else into a new slice.
func (d *Dir) ReadAtInto(p string, off int64, n int, buf []byte) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	if off < 0 || off > MaxFileSize || n < 0 || n > abi.MaxMessage {
		return nil, abi.Errorf(abi.InvalidArgument, "read_at ", quote(p), ": offset or length out of range")
	}
	root, err := d.open(false)
	if err != nil {
		return nil, err
	}
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail("read_at", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail("read_at", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, abi.Errorf(abi.InvalidArgument, "read_at ", quote(p), ": not a regular file")
	}
	if err := singleLink(f, fi, p); err != nil {
		return nil, err
	}
	if off >= fi.Size() {
		return nil, nil
	}
	size := int(min(int64(n), fi.Size()-off))
	b := buf[:0]
	if cap(b) < size {
		b = make([]byte, size)
	}
	b = b[:size]
	m, err := f.ReadAt(b, off)
	if err != nil && err != io.EOF {
		return nil, fail("read_at", p, err)
	}
	return b[:m], nil
}

// WriteAt writes data into the regular file p at offset off and cuts the
// file there: afterwards it ends with data. off may not lie past the end
// (no holes); at offset 0 a missing file is created (mode 0600, parents
// 0700). Durable when it returns (fdatasync, and the directory's fsync
// when the file is new). A file with a second hard link is refused: it
// could be the identity, planted by a link.
func (d *Dir) WriteAt(p string, off int64, data []byte) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if off < 0 || len(data) > abi.MaxMessage || off+int64(len(data)) > MaxFileSize {
		return abi.Errorf(abi.InvalidArgument, "write_at ", quote(p), ": offset or length out of range")
	}
	root, err := d.open(true)
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	created := false
	f, err := root.OpenFile(p, flags, 0)
	if err != nil && os.IsNotExist(err) && off == 0 {
		dir := path.Dir(p)
		if dir != "." {
			if err := root.MkdirAll(dir, 0o700); err != nil {
				return fail("write_at", p, err)
			}
			for d := dir; d != "."; d = path.Dir(d) {
				if err := syncDir(root, path.Dir(d), p); err != nil {
					return err
				}
			}
		}
		f, err = root.OpenFile(p, flags|os.O_CREATE|os.O_EXCL, 0o600)
		created = err == nil
	}
	if err != nil {
		return fail("write_at", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail("write_at", p, err)
	}
	if !fi.Mode().IsRegular() {
		return abi.Errorf(abi.InvalidArgument, "write_at ", quote(p), ": not a regular file")
	}
	if err := singleLink(f, fi, p); err != nil {
		return err
	}
	if off > fi.Size() {
		return abi.Errorf(abi.InvalidArgument, "write_at ", quote(p), ": offset past the end of the file")
	}
	if _, err := f.WriteAt(data, off); err != nil {
		return fail("write_at", p, err)
	}
	if err := f.Truncate(off + int64(len(data))); err != nil {
		return fail("write_at", p, err)
	}
	if err := f.Sync(); err != nil {
		return fail("write_at", p, err)
	}
	if created {
		return syncDir(root, path.Dir(p), p)
	}
	return nil
}

// Rename gives the file or directory oldp the name newp, replacing a file
// (or an empty directory) there, as rename(2) does; both names lie in the
// directory and newp's parent must exist. Durable when it returns: both
// parent directories are synced. It is how a store swaps a rewritten file
// in, or moves a tree aside, in one step.
func (d *Dir) Rename(oldp, newp string) error {
	if err := checkPath(oldp); err != nil {
		return err
	}
	if err := checkPath(newp); err != nil {
		return err
	}
	root, err := d.open(false)
	if err != nil {
		return err
	}
	if err := root.Rename(oldp, newp); err != nil {
		return fail("rename", oldp, err)
	}
	if err := syncDir(root, path.Dir(newp), newp); err != nil {
		return err
	}
	if path.Dir(oldp) != path.Dir(newp) {
		return syncDir(root, path.Dir(oldp), oldp)
	}
	return nil
}

// RemoveAll removes p and, when it is a directory, everything in it,
// without following symlinks; an absent p is no error. The parent
// directory is synced once at the end, not once per file.
func (d *Dir) RemoveAll(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	root, err := d.open(false)
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return nil
		}
		return err
	}
	if err := root.RemoveAll(p); err != nil {
		return fail("remove_all", p, err)
	}
	if err := syncDir(root, path.Dir(p), p); err != nil && abi.StatusOf(err) != abi.NotFound {
		return err
	}
	return nil
}
