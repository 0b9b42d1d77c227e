package fsgrant

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"golang.org/x/sys/unix"
)

// linkLooks is how many times, a millisecond apart, a reader looks again
// at a file with a second link before refusing it: enough to outlast the
// link-then-unlink of a concurrent exclusive creation on a filesystem
// without RENAME_NOREPLACE, far too short to matter otherwise.
const linkLooks = 5

// singleLink refuses a file that has more than one hard link. f is the
// open file and fi its Stat.
func singleLink(f *os.File, fi fs.FileInfo, p string) error {
	n := nlink(fi)
	for i := 0; n > 1 && i < linkLooks; i++ {
		time.Sleep(time.Millisecond)
		fi, err := f.Stat()
		if err != nil {
			return fail("read", p, err)
		}
		n = nlink(fi)
	}
	if n > 1 {
		return abi.Errorf(abi.PermissionDenied, "read ", quote(p), ": refused: the file has ", strconv.FormatUint(n, 10), " hard links")
	}
	return nil
}

func nlink(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// renameNoReplace renames old to new in the directory dirfd unless new
// exists (renameExclusive: renameat2 with RENAME_NOREPLACE on Linux,
// renameatx_np with RENAME_EXCL on macOS). It is a variable so that a test
// can play a filesystem without it.
var renameNoReplace = renameExclusive

// createExclusive gives the temporary file tmp the name p, both in dir,
// unless p exists (then the error is fs.ErrExist). os.Root does not
// expose its descriptor: the directory is opened through it, which keeps
// it confined, and the rename works on that descriptor with plain names.
func createExclusive(root *os.Root, dir, tmp, p string) error {
	d, err := root.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		rerr = renameNoReplace(int(fd), path.Base(tmp), path.Base(p))
	}); err != nil {
		return err
	}
	if errors.Is(rerr, unix.EINVAL) || errors.Is(rerr, unix.ENOSYS) || errors.Is(rerr, unix.ENOTSUP) {
		// No RENAME_NOREPLACE here: link(2) fails if the name exists.
		// Until the temporary name is removed the file has two links,
		// which readers tolerate for a moment (singleLink).
		rerr = root.Link(tmp, p)
		_ = root.Remove(tmp)
		return rerr
	}
	if rerr != nil {
		return &os.LinkError{Op: "rename", Old: tmp, New: p, Err: rerr}
	}
	return nil
}
