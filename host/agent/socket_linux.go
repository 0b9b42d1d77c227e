package agent

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/flytesecrets/flyte/host/safefile"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket address holds (sun_path
// is 108 bytes with its NUL).
const maxSocketPath = 107

// socketDir is the agent's directory, opened and checked: its descriptor
// (O_PATH), through which the socket is bound or reached, so that a check
// and a use see the same directory.
type socketDir struct {
	path string
	fd   int
}

// openDir creates the directory dir (mode 0700) if it does not exist and
// opens it, refusing one that is a symlink, is not a directory, is owned
// by another user, or that group or others may use (its mode must be
// 0700): the socket in it would be another user's to replace or reach.
// Without create, a missing directory is an error matching os.ErrNotExist.
func openDir(dir string, create bool) (*socketDir, error) {
	if !filepath.IsAbs(dir) {
		return nil, fmt.Errorf("agent directory %s is not an absolute path", dir)
	}
	if !create {
		// nothing made: a command that only asks about the agent changes nothing
	} else if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("cannot create the agent directory %s: %w", dir, safefile.Bare(err))
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return nil, fmt.Errorf("agent directory %s: %w", dir, err)
	}
	if err := checkDir(dir, &st); err != nil {
		return nil, err
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("agent directory %s: %w", dir, err)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(fd, &fst); err != nil || fst.Dev != st.Dev || fst.Ino != st.Ino {
		unix.Close(fd)
		return nil, fmt.Errorf("agent directory %s changed while it was checked", dir)
	}
	if err := checkDir(dir, &fst); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &socketDir{path: dir, fd: fd}, nil
}

// checkDir is openDir's rule.
func checkDir(dir string, st *unix.Stat_t) error {
	switch {
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("agent directory %s is a symlink: it must be a directory of yours", dir)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("agent directory %s is not a directory", dir)
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("agent directory %s is owned by uid %d, not by you (uid %d)", dir, st.Uid, os.Geteuid())
	case st.Mode&0o077 != 0:
		return fmt.Errorf("agent directory %s has mode %04o: it must be 0700", dir, st.Mode&0o7777)
	}
	return nil
}

func (d *socketDir) Close() error { return unix.Close(d.fd) }

// socketAddr is the address of the socket in d: through the directory's
// descriptor (/proc/self/fd/N/agent.sock), which is short whatever the
// directory's path and names the directory that was checked; the plain
// path where /proc is not mounted, if it fits.
func (d *socketDir) socketAddr() (string, error) {
	via := fmt.Sprintf("/proc/self/fd/%d/%s", d.fd, socketName)
	if _, err := os.Stat(fmt.Sprintf("/proc/self/fd/%d", d.fd)); err == nil {
		return via, nil
	}
	p := filepath.Join(d.path, socketName)
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("agent socket path %s is %d bytes, longer than the system's limit (%d), and /proc is not mounted to reach it otherwise: set XDG_RUNTIME_DIR to a shorter directory", p, len(p), maxSocketPath)
	}
	return p, nil
}

// lock takes the lock file name in d: exclusive, waiting for it unless
// wait is false (then ok is false when another process holds it). The
// lock ends when the returned file is closed, or the process ends.
func (d *socketDir) lock(name string, wait bool) (f *os.File, ok bool, err error) {
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("agent lock %s: %w", filepath.Join(d.path, name), err)
	}
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	for {
		err = unix.Flock(fd, how)
		if err != unix.EINTR {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		unix.Close(fd)
		return nil, false, nil
	}
	if err != nil {
		unix.Close(fd)
		return nil, false, fmt.Errorf("agent lock %s: %w", filepath.Join(d.path, name), err)
	}
	return os.NewFile(uintptr(fd), filepath.Join(d.path, name)), true, nil
}

// removeSocket removes a socket left in d by an agent that is gone.
func (d *socketDir) removeSocket() error {
	err := unix.Unlinkat(d.fd, socketName, 0)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// peerUID is the uid of the process at the other end of conn, as the
// kernel recorded it when it connected (or listened).
func peerUID(conn *net.UnixConn) (uint32, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return cred.Uid, nil
}

// supported says the agent runs on this system.
const supported = true

// errUnsupported is used where the agent does not run.
var errUnsupported = errors.New("the agent runs on Linux only")

// chmodSocket sets the mode of the socket in d.
func (d *socketDir) chmodSocket(mode uint32) error {
	if err := unix.Fchmodat(d.fd, socketName, mode, 0); err != nil {
		return fmt.Errorf("cannot set the agent socket's mode: %w", err)
	}
	return nil
}

// fileStamp names the directory or file at path as it is now: its device
// and inode; "absent" when it cannot be stat'ed.
func fileStamp(path string) string {
	var st unix.Stat_t
	if path == "" || unix.Stat(path, &st) != nil {
		return "absent"
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// readyPipe is descriptor fd as a file when it is a pipe (what spawn
// gives an agent), else nil: an agent started by hand, or with sockets
// passed from 3 on, must not write to or close what is there.
func readyPipe(fd int) *os.File {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	return os.NewFile(uintptr(fd), "ready")
}
