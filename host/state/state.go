// Package state is flyte's own state directory: what a machine remembers
// between runs that is neither configuration nor a secret. Trust decisions
// about configuration files, the data-key epochs and vouchers a machine has
// accepted, and the highest version seen of each secret live here.
//
// The directory is $XDG_STATE_HOME/flyte, else ~/.local/state/flyte. It is
// created with mode 0700 and refused when another user owns it or can write
// it, since whoever can write it can make flyte trust what it should not.
// Files in it are written atomically (temporary file, fsync, rename, fsync
// of the directory) and read with a type and size check; read-modify-write
// cycles run under an flock so that concurrent flyte processes never lose
// an update.
//
// Writing this directory is the only change a read-only command (get, run)
// may make.
package state

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/flytesecrets/flyte/host/safefile"
	"golang.org/x/sys/unix"
)

// EnvStateHome is the XDG variable that moves the state directory.
const EnvStateHome = "XDG_STATE_HOME"

// MaxFile bounds what Read accepts from one state file.
const MaxFile = 16 << 20

// Path returns where the state directory is for this environment:
// $XDG_STATE_HOME/flyte, else $HOME/.local/state/flyte; "" when neither is
// known (then flyte remembers nothing between runs, and says so where it
// matters). A relative XDG_STATE_HOME is ignored, as the XDG rule says.
func Path(getenv func(string) string) string {
	if getenv == nil {
		return ""
	}
	if d := getenv(EnvStateHome); filepath.IsAbs(d) {
		return filepath.Join(filepath.Clean(d), "flyte")
	}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		return filepath.Join(h, ".local", "state", "flyte")
	}
	return ""
}

// Dir is an opened state directory.
type Dir struct {
	path string
}

// Open returns the state directory at path, creating it (and missing
// parents) with mode 0700. An existing directory is never chmod'ed: one
// that is not a directory, is owned by another user (root excepted for
// nothing: the directory is the user's own), or is writable by group or
// others is an error that says which path and why.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("no state directory: set XDG_STATE_HOME or HOME")
	}
	if err := os.MkdirAll(path, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the state directory %s: %w", path, safefile.Bare(err))
	}
	if err := CheckPrivateDir(path); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	return &Dir{path: path}, nil
}

// CheckPrivateDir reports why path is not a directory that only the current
// user controls: not a directory (a symlink is followed, then judged),
// owned by another uid, or writable by group or others.
func CheckPrivateDir(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return safefile.Bare(err)
	}
	if !fi.IsDir() {
		return errors.New("not a directory")
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("owned by uid %d, not by you (uid %d)", st.Uid, os.Geteuid())
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("mode %04o lets other users write it", octalMode(fi.Mode()))
	}
	return nil
}

// octalMode is a mode as chmod takes it: the permission bits and the
// sticky, setgid and setuid bits, so that /tmp shows as 1777.
func octalMode(m fs.FileMode) uint32 {
	o := uint32(m.Perm())
	if m&fs.ModeSticky != 0 {
		o |= 0o1000
	}
	if m&fs.ModeSetgid != 0 {
		o |= 0o2000
	}
	if m&fs.ModeSetuid != 0 {
		o |= 0o4000
	}
	return o
}

// Path is the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// file resolves a slash-separated name inside the directory, creating its
// parent directories 0700.
func (d *Dir) file(name string, create bool) (string, error) {
	if name == "" || filepath.IsAbs(name) || strings.Contains(name, "..") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("invalid state file name %q", name)
	}
	p := filepath.Join(d.path, filepath.FromSlash(name))
	if create {
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return "", fmt.Errorf("state directory: %w", safefile.Bare(err))
		}
	}
	return p, nil
}

// Read returns the contents of the named state file; a missing file reads
// as (nil, nil). A file that is not regular, is a symlink, has more than
// one link, or is larger than MaxFile is an error.
func (d *Dir) Read(name string) ([]byte, error) {
	p, err := d.file(name, false)
	if err != nil {
		return nil, err
	}
	return readFile(p)
}

func readFile(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("state file %s: %w", p, safefile.Bare(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", p, safefile.Bare(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("state file %s: not a regular file", p)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return nil, fmt.Errorf("state file %s: has %d hard links", p, st.Nlink)
	}
	if fi.Size() > MaxFile {
		return nil, fmt.Errorf("state file %s: larger than %d bytes", p, MaxFile)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxFile+1))
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", p, safefile.Bare(err))
	}
	if len(b) > MaxFile {
		return nil, fmt.Errorf("state file %s: larger than %d bytes", p, MaxFile)
	}
	return b, nil
}

// Write replaces the named state file atomically with data (mode 0600).
func (d *Dir) Write(name string, data []byte) error {
	p, err := d.file(name, true)
	if err != nil {
		return err
	}
	return writeFile(p, data)
}

func writeFile(p string, data []byte) error {
	dir := filepath.Dir(p)
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("state directory: %w", safefile.Bare(err))
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err == nil {
		err = safefile.SyncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", p, safefile.Bare(err))
	}
	return nil
}

// Update reads the named file, calls fn with its contents (nil when it does
// not exist) and writes what fn returns, all under an exclusive flock on a
// lock file beside it, so that concurrent flyte processes serialise. When
// fn returns nil data and a nil error, the file is left as it is.
func (d *Dir) Update(name string, fn func(old []byte) ([]byte, error)) error {
	p, err := d.file(name, true)
	if err != nil {
		return err
	}
	lf, err := os.OpenFile(p+".lock", os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("state file %s: %w", p, safefile.Bare(err))
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("state file %s: lock: %w", p, err)
	}
	old, err := readFile(p)
	if err != nil {
		return err
	}
	data, err := fn(old)
	if err != nil || data == nil {
		return err
	}
	return writeFile(p, data)
}
