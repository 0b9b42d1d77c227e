package task

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/inject"
	"golang.org/x/sys/unix"
)

// initSpec is what the parent tells the helper on fd 3.
type initSpec struct {
	Path  string
	Args  []string
	Env   []string
	Files []inject.File
	Stage string // an empty private directory to mount the overlay's tmpfs on
}

func encodeInit(s *initSpec) []byte {
	var e abi.Encoder
	e.String(1, s.Path)
	for _, a := range s.Args {
		e.Blob(2, append([]byte{0}, a...)) // prefixed so an empty argument survives
	}
	for _, v := range s.Env {
		e.String(3, v)
	}
	for _, f := range s.Files {
		var fe abi.Encoder
		fe.String(1, f.Name)
		fe.Uint(2, uint64(f.Mode))
		fe.Blob(3, f.Value)
		e.Blob(4, fe.Bytes())
		clear(fe.Bytes())
	}
	e.String(5, s.Stage)
	return e.Bytes()
}

func decodeInit(b []byte) (*initSpec, error) {
	s := new(initSpec)
	d := abi.NewDecoder(b)
	for d.Next() {
		switch d.Field() {
		case 1:
			s.Path = d.String()
		case 2:
			if a := d.Blob(); len(a) > 0 {
				s.Args = append(s.Args, string(a[1:]))
			}
		case 3:
			s.Env = append(s.Env, d.String())
		case 4:
			var f inject.File
			fd := abi.NewDecoder(d.Blob())
			for fd.Next() {
				switch fd.Field() {
				case 1:
					f.Name = fd.String()
				case 2:
					f.Mode = fs.FileMode(fd.Uint32())
				case 3:
					f.Value = fd.Blob()
				}
			}
			if fd.Err() != nil {
				return nil, fd.Err()
			}
			s.Files = append(s.Files, f)
		case 5:
			s.Stage = d.String()
		}
	}
	return s, d.Err()
}

// InitMain is the helper: flyte runs it in the task's new namespaces when
// started with InitArg. It never returns: it executes the command or exits.
func InitMain() {
	status := os.NewFile(4, "status")
	fail := func(kind byte, code int, err error) {
		c := byte('6')
		if code == 127 {
			c = '7'
		}
		_, _ = status.Write(append([]byte{kind, c}, err.Error()...))
		os.Exit(code)
	}
	conf, err := io.ReadAll(os.NewFile(3, "conf"))
	if err != nil {
		fail(0, 126, err)
	}
	spec, err := decodeInit(conf)
	if err != nil {
		fail(0, 126, fmt.Errorf("bad instructions: %w", err))
	}
	if err := mountSecrets(spec); err != nil {
		fail(statusNamespace, 126, err)
	}
	clear(conf)
	if err := dropCapabilities(); err != nil {
		fail(statusNamespace, 126, fmt.Errorf("dropping capabilities: %w", err))
	}
	_ = syscall.Close(3)
	syscall.CloseOnExec(4)
	err = syscall.Exec(spec.Path, spec.Args, spec.Env)
	code := 126
	if errors.Is(err, syscall.ENOENT) {
		code = 127
	}
	fail(statusStart, code, fmt.Errorf("%s: %w", spec.Path, err))
}

// dropCapabilities leaves the helper, and so the command, without the
// capabilities it needed for its mounts, in every set: ambient (which exec
// would keep), inheritable (which a file with inheritable capabilities
// would pick up), permitted and effective. As root outside a user namespace
// the command is root, like flyte, and keeps its usual capabilities.
func dropCapabilities() error {
	if os.Geteuid() == 0 {
		return nil
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	return unix.Capset(&hdr, &data[0])
}

const secretsFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC

// mountSecrets builds /etc/flyte/secrets on a private tmpfs and fills it.
func mountSecrets(s *initSpec) error {
	// Nothing mounted here may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	dir := abi.SecretsDir
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		// /etc/flyte/secrets does not exist on the host: lay an overlay
		// over /etc with a tmpfs upper layer, and create it there.
		if err := unix.Mount("tmpfs", s.Stage, "tmpfs", secretsFlags, "mode=0700,size=1m,nr_inodes=64"); err != nil {
			return fmt.Errorf("mounting a tmpfs: %w", err)
		}
		upper, work := filepath.Join(s.Stage, "upper"), filepath.Join(s.Stage, "work")
		for _, d := range []string{upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return err
			}
		}
		// An overlay shows only /etc's own files: keep what is mounted
		// below it (a container's /etc/hosts and /etc/resolv.conf) by
		// binding each mount aside first and back on top after.
		subs, err := submounts("/etc")
		if err != nil {
			return err
		}
		aside := filepath.Join(s.Stage, "aside")
		if err := os.Mkdir(aside, 0o700); err != nil {
			return err
		}
		for i, m := range subs {
			if err := bindTo(m, filepath.Join(aside, strconv.Itoa(i))); err != nil {
				return fmt.Errorf("keeping %s: %w", m, err)
			}
		}
		opts := "lowerdir=/etc,upperdir=" + upper + ",workdir=" + work
		if err := unix.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
			return fmt.Errorf("laying an overlay on /etc: %w", err)
		}
		for i, m := range subs {
			if err := bindTo(filepath.Join(aside, strconv.Itoa(i)), m); err != nil {
				return fmt.Errorf("restoring %s: %w", m, err)
			}
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	size := 0
	for _, f := range s.Files {
		size += len(f.Value) + 4096
	}
	opts := "mode=0700,size=" + strconv.Itoa(size+65536) + ",nr_inodes=" + strconv.Itoa(len(s.Files)+16)
	if err := unix.Mount("tmpfs", dir, "tmpfs", secretsFlags, opts); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	for _, f := range s.Files {
		if err := writeSecret(filepath.Join(dir, f.Name), f.Mode, f.Value); err != nil {
			return err
		}
		clear(f.Value)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		return err
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|secretsFlags, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", dir, err)
	}
	return nil
}

// submounts lists the mount points strictly below dir, outermost first.
func submounts(dir string) ([]string, error) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMountinfo(f[4])
		if strings.HasPrefix(mp, dir+"/") && !slices.Contains(out, mp) {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") < strings.Count(out[j], "/") })
	return out, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bindTo bind-mounts src on dst, creating dst like src (file or directory)
// when it does not exist.
func bindTo(src, dst string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dst); err != nil {
		if fi.IsDir() {
			err = os.MkdirAll(dst, 0o755)
		} else {
			var f *os.File
			if f, err = os.OpenFile(dst, os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
				err = f.Close()
			}
		}
		if err != nil {
			return err
		}
	}
	return unix.Mount(src, dst, "", unix.MS_BIND|unix.MS_REC, "")
}

func writeSecret(path string, mode fs.FileMode, v []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(v); err != nil {
		f.Close()
		return err
	}
	// Set the mode explicitly: the umask must not widen or narrow it.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
