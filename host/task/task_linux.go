//go:build linux && !flytepgroup

package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// fileSecrets: Linux gives a task file secrets in its own mount namespace.
const (
	fileSecrets = true
	platform    = "Linux"
)

// start starts the task through the helper (see the package comment). If
// the system refuses a fresh /proc (a container that masks parts of its
// own), the task runs without a PID namespace, under the subreaper
// helper, which sees the host's /proc.
func start(spec Spec, tty bool, stdin *os.File, stdout, stderr io.Writer) (process, error) {
	pidns := len(spec.Files) > 0
	for {
		cmd, err := launch(spec, pidns, tty, stdin, stdout, stderr)
		var pe *procError
		if errors.As(err, &pe) && pidns {
			pidns = false
			continue
		}
		if err != nil {
			return nil, err
		}
		return helper{cmd}, nil
	}
}

// helper is the running helper: it passes signals on to the command, and
// has killed whatever was left of the task's tree when it ends.
type helper struct{ cmd *exec.Cmd }

func (h helper) signal(s os.Signal) { _ = h.cmd.Process.Signal(s) }

func (h helper) wait() (syscall.WaitStatus, error) { return exitStatus(h.cmd, h.cmd.Wait()) }

// launch starts the helper and waits until it has started the command: it
// returns the running helper, or why the command did not start (the helper
// then has ended). With pidns the helper is PID 1 of a new PID namespace
// and gets SIGKILL when flyte dies; otherwise it is a subreaper and gets
// pdeathSignal, on which it kills the task's tree itself.
func launch(spec Spec, pidns, tty bool, stdin *os.File, stdout, stderr io.Writer) (*exec.Cmd, error) {
	parent := os.Getpid()
	if pidns {
		parent = 0 // PID 1 of a namespace has no parent in it
	}
	conf := encodeInit(&initSpec{Path: spec.Path, Args: spec.Args, Env: spec.Env, Files: spec.Files, PIDNS: pidns, TTY: tty, Parent: parent})
	defer clear(conf)
	cmd := exec.Command(spec.Self, InitArg)
	cmd.Args[0] = "flyte"
	// Nothing of flyte's environment; one processor for the Go runtime,
	// which then starts fewer threads and skips reading the cgroup limits:
	// the helper only waits and forwards signals.
	cmd.Env = []string{"GOMAXPROCS=1"}
	// The helper dies with flyte, and the task's whole tree with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: pdeathSignal}
	if pidns {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWPID
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if len(spec.Files) > 0 {
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWNS
		if uid := os.Geteuid(); uid != 0 {
			gid := os.Getegid()
			cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
			cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}}
			cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}}
			cmd.SysProcAttr.GidMappingsEnableSetgroups = false
			// The helper keeps CAP_SYS_ADMIN (mounts) and
			// CAP_DAC_OVERRIDE (overlayfs checks the mounter's access to
			// its work directory) in its namespace across exec, as
			// ambient capabilities since its uid is not 0 there; it
			// clears them before it starts the command.
			cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_DAC_OVERRIDE}
		}
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr

	confR, confW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer confW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		confR.Close()
		return nil, err
	}
	defer statusR.Close()
	cmd.ExtraFiles = []*os.File{confR, statusW} // fds 3 and 4
	err = startDumpable(cmd)
	confR.Close()
	statusW.Close()
	if err != nil {
		errno := unwrapSyscall(err)
		// clone(2) refuses new namespaces with EPERM, EINVAL or ENOSPC
		// (user.max_user_namespaces); anything else is about starting
		// flyte's own helper.
		if cmd.SysProcAttr.Cloneflags != 0 && (errors.Is(errno, syscall.EPERM) || errors.Is(errno, syscall.EINVAL) || errors.Is(errno, syscall.ENOSPC) || errors.Is(errno, syscall.EUSERS)) {
			return nil, &NamespaceError{Err: errno}
		}
		return nil, fmt.Errorf("cannot start the task's helper (%s): %w", spec.Self, errno)
	}
	_, werr := confW.Write(conf)
	confW.Close()
	// The helper closes its end of the status pipe once the command runs;
	// anything read first is its error.
	msg, _ := io.ReadAll(io.LimitReader(statusR, 4096))
	if len(msg) > 0 || werr != nil {
		_ = cmd.Wait()
		if len(msg) == 0 {
			return nil, fmt.Errorf("task helper: %w", werr)
		}
		return nil, decodeStatus(msg)
	}
	return cmd, nil
}

// Status codes the helper reports before the command runs.
const (
	statusNamespace = 'N' // a mount failed: namespaces are restricted
	statusStart     = 'S' // the command could not be executed
	statusProc      = 'P' // a fresh /proc was refused
)

// procError says the system refused a fresh /proc in the task's PID
// namespace.
type procError struct{ text string }

func (e *procError) Error() string { return "a fresh /proc was refused: " + e.text }

func decodeStatus(msg []byte) error {
	if len(msg) < 2 {
		return errors.New("task helper failed")
	}
	text := string(bytes.TrimSpace(msg[2:]))
	switch msg[0] {
	case statusNamespace:
		return &NamespaceError{Err: errors.New(text)}
	case statusProc:
		return &procError{text: text}
	case statusStart:
		code := 126
		if msg[1] == '7' {
			code = 127
		}
		return &StartError{Msg: text, Code: code}
	}
	return errors.New("task helper: " + text)
}

// startDumpable starts cmd. When flyte made itself non-dumpable (so that
// no process of the user reads its environment or memory) and cmd gets a
// new user namespace, flyte is dumpable while it starts cmd, and only
// then: the child inherits the flag from the fork, and an ordinary user
// can write the child's uid_map and gid_map only while it is dumpable. The
// helper makes itself non-dumpable again first thing, and the task has
// not started yet.
func startDumpable(cmd *exec.Cmd) error {
	if cmd.SysProcAttr.Cloneflags&syscall.CLONE_NEWUSER == 0 {
		return cmd.Start()
	}
	if d, err := unix.PrctlRetInt(unix.PR_GET_DUMPABLE, 0, 0, 0, 0); err != nil || d != 0 {
		return cmd.Start()
	}
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0); err != nil {
		return cmd.Start()
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0) }()
	return cmd.Start()
}
