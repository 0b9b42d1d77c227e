// Package fsgrant implements the directory capability that the host grants
// to a store plugin: a handful of file operations confined to one directory
// through os.Root, so that neither "..", absolute paths nor symlinks lead a
// plugin outside it. (wazero's WASI read-write directory mount is not used:
// in wazero 1.12 a guest escapes it by creating a symlink.)
//
// Every write is atomic and durable: a temporary file in the same directory,
// fsync, rename, fsync of the directory. Exclusive creation renames with
// renameat2(RENAME_NOREPLACE) on Linux, renameatx_np(RENAME_EXCL) on macOS,
// which fails if the name exists, so creation is atomic across processes
// without any lock. A process killed mid-write
// leaves at most a temporary file, which readers never see and later
// listings clean up.
//
// A file with more than one hard link is refused on read: a link planted
// in the directory would let the plugin read a file that lives outside it
// (the identity, say), and the file's other name could change it under the
// store. (Writes replace names, so they never reach a linked file.) Where
// the filesystem refuses RENAME_NOREPLACE (EINVAL or ENOTSUP; ENOSYS where
// a sandbox filters the call), exclusive creation falls back to link(2) then
// unlink(2) of the temporary name, and for that brief window the new file
// has two links: a reader that sees a second link looks again a few times,
// a millisecond apart, before it refuses the file, so a concurrent
// creation is not mistaken for a planted link.
//
// Errors are *abi.StatusError values, ready to be passed to a guest.
package fsgrant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"golang.org/x/sys/unix"
)

// tmpPrefix marks temporary files. Guests cannot name dot files, so they
// can neither see nor forge them.
const tmpPrefix = ".flyte-tmp-"

// staleTmp is how old a temporary file must be before a listing removes it:
// far longer than any write takes.
const staleTmp = time.Hour

// Dir is a granted directory. It is opened on first use, and created
// (mode 0700) only by the first write, so that loading a plugin or reading
// from a store that does not exist yet changes nothing on disk.
type Dir struct {
	path string

	mu   sync.Mutex
	root *os.Root
}

// New grants the directory at path.
func New(path string) *Dir { return &Dir{path: path} }

// Close releases the directory.
func (d *Dir) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root == nil {
		return nil
	}
	err := d.root.Close()
	d.root = nil
	return err
}

// open returns the root, creating the directory when create is set. A
// missing directory reads as NotFound.
func (d *Dir) open(create bool) (*os.Root, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.root != nil {
		return d.root, nil
	}
	if create {
		if err := os.MkdirAll(d.path, 0o700); err != nil {
			return nil, abi.Errorf(abi.Unavailable, "cannot create the store directory: ", pathErr(err))
		}
	}
	r, err := os.OpenRoot(d.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, abi.Errorf(abi.NotFound, "no such file or directory")
		}
		return nil, abi.Errorf(abi.Unavailable, "cannot open the store directory: ", pathErr(err))
	}
	d.root = r
	return r, nil
}

func pathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// checkPath reports whether p is a path a guest may use: relative,
// slash-separated, clean, without dot-prefixed components.
func checkPath(p string) error {
	if p == "" || len(p) > abi.MaxPath {
		return abi.Errorf(abi.InvalidArgument, "path is empty or too long")
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c[0] == '.' || strings.ContainsAny(c, "\\\x00") {
			return abi.Errorf(abi.InvalidArgument, "invalid path ", quote(p))
		}
	}
	return nil
}

func quote(p string) string {
	if len(p) > 80 {
		p = p[:80] + "..."
	}
	return `"` + strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, p) + `"`
}

// fail maps an os error to a status error that names the path but not the
// host directory.
func fail(op, p string, err error) error {
	code := abi.Internal
	switch {
	case errors.Is(err, fs.ErrNotExist):
		code = abi.NotFound
	case errors.Is(err, fs.ErrExist):
		code = abi.AlreadyExists
	case errors.Is(err, fs.ErrPermission):
		code = abi.PermissionDenied
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		code = abi.Unavailable
	}
	msg := code.String()
	var pe *fs.PathError
	if errors.As(err, &pe) {
		msg = pe.Err.Error()
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		msg = le.Err.Error()
	}
	return abi.Errorf(code, op, " ", quote(p), ": ", msg)
}

// ReadFile returns the contents of a regular file.
func (d *Dir) ReadFile(p string) ([]byte, error) {
	if err := checkPath(p); err != nil {
		return nil, err
	}
	root, err := d.open(false)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: a FIFO planted in the store must not block the open
	// inside a host function, where the call's deadline cannot reach.
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fail("read", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fail("read", p, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, abi.Errorf(abi.InvalidArgument, "read ", quote(p), ": not a regular file")
	}
	if err := singleLink(f, fi, p); err != nil {
		return nil, err
	}
	if fi.Size() > abi.MaxMessage {
		return nil, abi.Errorf(abi.TooLarge, "read ", quote(p), ": file too large")
	}
	b := make([]byte, fi.Size())
	n, err := f.ReadAt(b, 0)
	if err != nil && n != len(b) {
		return nil, fail("read", p, err)
	}
	return b, nil
}

// WriteFile atomically replaces p with data or, when exclusive, creates it
// and fails with AlreadyExists if it exists. Parent directories are
// created with mode 0700, files with 0600.
func (d *Dir) WriteFile(p string, data []byte, exclusive bool) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if len(data) > abi.MaxMessage {
		return abi.Errorf(abi.TooLarge, "write ", quote(p), ": data too large")
	}
	root, err := d.open(true)
	if err != nil {
		return err
	}
	dir := path.Dir(p)
	if _, err := root.Stat(dir); err != nil && dir != "." {
		if err := root.MkdirAll(dir, 0o700); err != nil {
			return fail("write", p, err)
		}
		// New directories must survive a crash too: sync each parent.
		for d := dir; d != "."; d = path.Dir(d) {
			if err := syncDir(root, path.Dir(d), p); err != nil {
				return err
			}
		}
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, tmpPrefix+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fail("write", p, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		if exclusive {
			werr = createExclusive(root, dir, tmp, p)
		} else {
			werr = root.Rename(tmp, p)
		}
	}
	if werr != nil {
		_ = root.Remove(tmp)
		return fail("write", p, werr)
	}
	return syncDir(root, dir, p)
}

// syncDir makes a rename or removal in dir durable.
func syncDir(root *os.Root, dir, p string) error {
	f, err := root.Open(dir)
	if err != nil {
		return fail("sync", p, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fail("sync", p, err)
	}
	return nil
}

// Remove deletes a file or an empty directory.
func (d *Dir) Remove(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	root, err := d.open(false)
	if err != nil {
		return err
	}
	if err := root.Remove(p); err != nil {
		return fail("remove", p, err)
	}
	return syncDir(root, path.Dir(p), p)
}

// ReadDir lists the directories and regular files in p. Dot files are
// hidden; stale temporary files are removed on the way. Each entry's type
// comes from the listing itself (readDirFile), not from an lstat per name.
func (d *Dir) ReadDir(p string) ([]abi.DirEntry, error) {
	if p != "." {
		if err := checkPath(p); err != nil {
			return nil, err
		}
	}
	root, err := d.open(false)
	if err != nil {
		return nil, err
	}
	f, err := root.Open(p)
	if err != nil {
		return nil, fail("list", p, err)
	}
	defer f.Close()
	ents, err := readDirFile(f)
	if err != nil {
		return nil, fail("list", p, err)
	}
	out := make([]abi.DirEntry, 0, len(ents))
	for _, e := range ents {
		name := e.name
		if strings.HasPrefix(name, ".") {
			if strings.HasPrefix(name, tmpPrefix) {
				if fi, err := root.Lstat(path.Join(p, name)); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTmp {
					_ = root.Remove(path.Join(p, name))
				}
			}
			continue
		}
		if e.kind.listed() {
			out = append(out, abi.DirEntry{Name: name, Dir: e.kind == kindDir})
		}
	}
	// In name order (not promised to guests): a guest that sorts what it
	// lists then sorts input already in order, which Go's pdqsort detects
	// and finishes in one pass.
	slices.SortFunc(out, func(a, b abi.DirEntry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Lock takes an exclusive flock on the file p (created if needed). It
// waits while another process holds it, but gives up a margin before ctx's
// deadline (half the time left, at most a second) so that the plugin
// can still answer: the error then says the store is locked, not that the
// plugin timed out. The lock is held until the returned file is closed, or
// the process exits.
func (d *Dir) Lock(ctx context.Context, p string) (*os.File, error) {
	f, _, err := d.lock(ctx, p)
	return f, err
}

// lock is Lock; on contention it also returns the holder's pid (0 when
// unknown).
func (d *Dir) lock(ctx context.Context, p string) (*os.File, int, error) {
	if err := checkPath(p); err != nil {
		return nil, 0, err
	}
	root, err := d.open(true)
	if err != nil {
		return nil, 0, err
	}
	f, err := root.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, 0, fail("lock", p, err)
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-min(left/2, lockMargin)))
		defer cancel()
	}
	wait := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, 0, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, 0, fail("lock", p, err)
		}
		select {
		case <-ctx.Done():
			pid := lockHolder(f)
			f.Close()
			by := "another flyte process"
			if pid > 0 {
				by += " (pid " + strconv.Itoa(pid) + ")"
			}
			return nil, pid, abi.Errorf(abi.Unavailable, "lock ", quote(p), ": the store is locked by ", by)
		case <-time.After(wait):
		}
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// lockMargin is the most Lock leaves of a call's time for the plugin to
// answer after it gave up waiting.
const lockMargin = time.Second

// Call is the view of a Dir during one plugin call, with the locks of the
// ABI: a lock taken through it is held until End. It implements the guest
// kit's FS interface, so a store linked natively runs on it unchanged.
type Call struct {
	d     *Dir
	ctx   context.Context
	locks map[string]*os.File
	busy  bool // a Lock gave up because another process held the lock
	pid   int  // that process, when known

	read, written int64 // bytes moved by ReadAt and WriteAt in this call
}

// maxLocks bounds the locks one call may hold.
const maxLocks = 16

// Begin starts a call; ctx bounds how long Lock waits.
func (d *Dir) Begin(ctx context.Context) *Call { return &Call{d: d, ctx: ctx} }

// End releases the call's locks.
func (c *Call) End() {
	for _, f := range c.locks {
		_ = f.Close()
	}
	clear(c.locks)
}

// Busy reports whether a Lock of this call gave up because another process
// held the lock, and that process's pid when known.
func (c *Call) Busy() (bool, int) { return c.busy, c.pid }

// ReadFile implements guest.FS.
func (c *Call) ReadFile(p string) ([]byte, error) { return c.d.ReadFile(p) }

// WriteFile implements guest.FS.
func (c *Call) WriteFile(p string, data []byte, exclusive bool) error {
	return c.d.WriteFile(p, data, exclusive)
}

// Remove implements guest.FS.
func (c *Call) Remove(p string) error { return c.d.Remove(p) }

// ReadDir implements guest.FS.
func (c *Call) ReadDir(p string) ([]abi.DirEntry, error) { return c.d.ReadDir(p) }

// Lock implements guest.FS: the lock is held until End. Taking a lock the
// call already holds succeeds at once (flock would wait for itself: each
// open file is a separate lock).
func (c *Call) Lock(p string) error {
	if _, ok := c.locks[p]; ok {
		return nil
	}
	if len(c.locks) >= maxLocks {
		return abi.Errorf(abi.InvalidArgument, "too many locks in one call")
	}
	f, pid, err := c.d.lock(c.ctx, p)
	if err != nil {
		if abi.StatusOf(err) == abi.Unavailable {
			c.busy, c.pid = true, pid
		}
		return err
	}
	if c.locks == nil {
		c.locks = map[string]*os.File{}
	}
	c.locks[p] = f
	return nil
}

// ReadRange returns up to n bytes of p from offset off, as Dir.ReadAt.
// One call reads at most 1 GiB in all.
func (c *Call) ReadRange(p string, off int64, n int) ([]byte, error) {
	return c.ReadRangeInto(p, off, n, nil)
}

// ReadRangeInto is ReadRange into buf's storage when it has the room
// (Dir.ReadAtInto).
func (c *Call) ReadRangeInto(p string, off int64, n int, buf []byte) ([]byte, error) {
	if c.read+int64(n) > maxReadPerCall {
		return nil, abi.Errorf(abi.TooLarge, "read_at: more than 1 GiB read in one call")
	}
	b, err := c.d.ReadAtInto(p, off, n, buf)
	c.read += int64(len(b))
	return b, err
}

// ReadAt implements guest.RangeFS over ReadRange.
func (c *Call) ReadAt(p string, off int64, buf []byte) (int, error) {
	b, err := c.ReadRange(p, off, len(buf))
	return copy(buf, b), err
}

// WriteAt implements guest.RangeFS. One call writes at most 256 MiB in all.
func (c *Call) WriteAt(p string, off int64, data []byte) error {
	if c.written+int64(len(data)) > maxWritePerCall {
		return abi.Errorf(abi.TooLarge, "write_at: more than 256 MiB written in one call")
	}
	c.written += int64(len(data))
	return c.d.WriteAt(p, off, data)
}

// Rename implements guest.RangeFS.
func (c *Call) Rename(oldp, newp string) error { return c.d.Rename(oldp, newp) }

// RemoveAll implements guest.RangeFS.
func (c *Call) RemoveAll(p string) error { return c.d.RemoveAll(p) }
