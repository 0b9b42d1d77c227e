//go:build linux && !flytepgroup

package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

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
	// PIDNS: the helper is PID 1 of a new PID namespace and mounts a fresh
	// /proc there; otherwise it is a child subreaper.
	PIDNS bool
	// TTY: flyte's standard input is a terminal, so the task gets INT and
	// QUIT from the terminal itself and the helper passes neither on.
	TTY bool
	// Parent is flyte's pid, as the helper's getppid should return it (0
	// for PID 1 of a namespace): anything else means flyte is gone.
	Parent int
}

const (
	flagPIDNS = 1 << iota
	flagTTY
)

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
	var flags uint64
	if s.PIDNS {
		flags |= flagPIDNS
	}
	if s.TTY {
		flags |= flagTTY
	}
	e.Uint(5, flags)
	e.Uint(6, uint64(s.Parent))
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
			flags := d.Uint()
			s.PIDNS, s.TTY = flags&flagPIDNS != 0, flags&flagTTY != 0
		case 6:
			s.Parent = int(d.Uint32())
		}
	}
	return s, d.Err()
}

// pdeathSignal is the subreaper helper's parent-death signal: one flyte
// never forwards, so that the helper can tell "flyte is gone" from a
// signal for the task. (As PID 1 of a namespace the helper gets SIGKILL
// instead: its death is the namespace's.)
const pdeathSignal = syscall.SIGPWR

// InitMain is the helper: flyte runs it when started with InitArg, as the
// task's parent. It sets up the task's namespaces (if any), starts the
// command, forwards signals to it, reaps orphans, and when the command
// ends, or flyte dies, kills every process left in the task's tree and
// exits with the command's status. It never returns.
func InitMain() {
	// The command's parent-death signal is tied to the thread that starts
	// it: this one, for good.
	runtime.LockOSThread()
	// Signals before the command starts wait for it.
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD, pdeathSignal}, Forwarded...)...)
	// Neither pipe may reach the command: EOF on the status pipe is how
	// flyte learns that the command runs.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
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
	// A parent-death signal that came before signal.Notify is lost (the
	// Go runtime drops it): look once, now that it would be caught.
	if os.Getppid() != spec.Parent {
		os.Exit(128 + int(syscall.SIGKILL))
	}
	if spec.PIDNS || len(spec.Files) > 0 {
		// Nothing mounted here may propagate back to the host.
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			fail(statusNamespace, 126, fmt.Errorf("making mounts private: %w", err))
		}
	}
	if len(spec.Files) > 0 {
		if err := mountSecrets(spec); err != nil {
			fail(statusNamespace, 126, err)
		}
	}
	clear(conf)
	if spec.PIDNS {
		// A fresh /proc shows the namespace's own processes, so that ps,
		// /proc/self and /proc/$$ agree with the pids the task sees.
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			fail(statusProc, 126, fmt.Errorf("mounting /proc: %w", err))
		}
	} else if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fail(0, 126, fmt.Errorf("becoming a subreaper: %w", err))
	}
	if err := dropCapabilities(); err != nil {
		fail(statusNamespace, 126, fmt.Errorf("dropping capabilities: %w", err))
	}
	_ = syscall.Close(3)
	task, err := syscall.ForkExec(spec.Path, spec.Args, &syscall.ProcAttr{
		Env:   spec.Env,
		Files: []uintptr{0, 1, 2},
		// Should the helper itself be killed, the command goes too.
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		code := 126
		if errors.Is(err, syscall.ENOENT) {
			code = 127
		}
		fail(statusStart, code, fmt.Errorf("%s: %w", spec.Path, err))
	}
	// The command stays in flyte's process group, for the terminal; the
	// helper leaves it, so that ^C, ^\ and a signal to the whole group
	// reach the command once, not again through the helper.
	_ = syscall.Setpgid(0, 0)
	status.Close() // EOF: the command is running
	os.Exit(supervise(task, spec.Parent, spec.TTY, sigs))
}

// supervise forwards signals to the task and reaps every child until the
// task ends or flyte dies, then tears the tree down; it returns the exit
// status for the helper: the task's, or 128+N when signal N killed it.
//
// Signalling and reaping happen in this one loop, so the task's pid is
// never signalled after it was reaped (and possibly reused).
func supervise(task, parent int, tty bool, sigs <-chan os.Signal) int {
	for s := range sigs {
		switch s {
		case syscall.SIGCHLD, pdeathSignal:
		case syscall.SIGINT, syscall.SIGQUIT:
			if !tty {
				_ = syscall.Kill(task, s.(syscall.Signal))
			}
		default:
			_ = syscall.Kill(task, s.(syscall.Signal))
		}
		// Whatever the signal, look at the task and at flyte: a full
		// channel drops signals, so none of them is relied on alone.
		if ws, done := reap(task); done {
			teardown()
			if ws.Signaled() {
				return 128 + int(ws.Signal())
			}
			return ws.ExitStatus()
		}
		if os.Getppid() != parent {
			teardown()
			return 128 + int(syscall.SIGKILL)
		}
	}
	return 126
}

// reap collects every child that has ended, and says whether the task
// was among them, with its status.
func reap(task int) (ws syscall.WaitStatus, done bool) {
	for {
		var w syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &w, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return ws, done
		}
		if pid == task {
			ws, done = w, true
		}
	}
}

// teardown kills every process left in the helper's tree and waits until
// none is left. The helper's children are killed and reaped; their own
// children, even those that left with setsid or a double fork, are then
// re-parented to the helper (a subreaper, or PID 1 of the namespace) and
// killed in the next round. A child is killed by pid only while it is
// unreaped, so the pid cannot have been reused.
func teardown() {
	idle := 0
	for {
		kids := children(os.Getpid(), idle > 0)
		for _, k := range kids {
			_ = syscall.Kill(k, syscall.SIGKILL)
		}
		flags := 0
		if len(kids) == 0 {
			flags = syscall.WNOHANG
		}
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, flags, nil)
		switch {
		case err == syscall.EINTR:
		case err != nil: // ECHILD: nothing left
			return
		case pid == 0:
			// Children exist that /proc did not show: a fork that had
			// not finished, or a /proc that does not list them. Look
			// again, for a while.
			if idle++; idle > 1000 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		default:
			idle = 0
		}
	}
}

// children lists the helper's children (pid is the helper's own): from
// /proc/self/task/TID/children, which lists the children of each of its
// threads, re-parented orphans included, in a few reads; where the kernel
// has no such file (it needs CONFIG_PROC_CHILDREN), or with scan (wait4
// said a child is left that the files did not show), by a scan of every
// process's stat in /proc.
func children(pid int, scan bool) []int {
	if !scan {
		if kids, ok := threadChildren(); ok {
			return kids
		}
	}
	return scanChildren(pid)
}

// threadChildren reads the children of each of the helper's threads.
func threadChildren() ([]int, bool) {
	d, err := os.Open("/proc/self/task")
	if err != nil {
		return nil, false
	}
	tids, err := d.Readdirnames(-1)
	d.Close()
	if err != nil || len(tids) == 0 {
		return nil, false
	}
	var out []int
	for _, tid := range tids {
		b, err := os.ReadFile("/proc/self/task/" + tid + "/children")
		if err != nil {
			return nil, false
		}
		for _, f := range strings.Fields(string(b)) {
			if p, err := strconv.Atoi(f); err == nil && p > 0 {
				out = append(out, p)
			}
		}
	}
	return out, true
}

// scanChildren lists the processes whose parent is pid, from /proc.
func scanChildren(pid int) []int {
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	defer d.Close()
	names, _ := d.Readdirnames(-1)
	var out []int
	for _, n := range names {
		p, err := strconv.Atoi(n)
		if err != nil || p == pid {
			continue
		}
		b, err := os.ReadFile("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		if ppid, ok := parseStatPPID(b); ok && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// parseStatPPID reads the parent pid from /proc/PID/stat: "pid (comm)
// state ppid ...", where comm may itself hold spaces and parentheses.
func parseStatPPID(b []byte) (int, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid < 0 {
		return 0, false
	}
	return ppid, true
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

// stageAt is where the helper briefly mounts the tmpfs that holds the
// overlay's upper and work directories: a directory that exists wherever
// flyte runs (flyte itself reads /proc/self), covered only inside the
// task's private mount namespace, and uncovered again, with the stage
// detached, before the command starts. The stage is never a directory on
// the host's disk, so nothing can be left behind, whatever kills flyte.
const stageAt = "/proc"

// mountSecrets builds /etc/flyte/secrets on a private tmpfs and fills it.
// Mounts must already be private.
func mountSecrets(s *initSpec) error {
	dir := abi.SecretsDir
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		// /etc/flyte/secrets does not exist on the host: lay an overlay
		// over /etc with a tmpfs upper layer, and create it there.
		// An overlay shows only /etc's own files: keep what is mounted
		// below it (a container's /etc/hosts and /etc/resolv.conf) by
		// binding each mount aside first and back on top after.
		subs, err := submounts("/etc")
		if err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", stageAt, "tmpfs", secretsFlags, "mode=0700,size=1m,nr_inodes=64"); err != nil {
			return fmt.Errorf("mounting a tmpfs: %w", err)
		}
		upper, work := filepath.Join(stageAt, "upper"), filepath.Join(stageAt, "work")
		for _, d := range []string{upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return err
			}
		}
		aside := filepath.Join(stageAt, "aside")
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
		// The overlay holds its own reference to its layers: the stage
		// can go, and with it the binds set aside.
		if err := unix.Unmount(stageAt, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detaching the stage from %s: %w", stageAt, err)
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
