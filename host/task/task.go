// Package task runs a command with its secrets: environment variables in
// its environment, files on a tmpfs at /etc/flyte/secrets that only it can
// see, its output passed through the masker, signals forwarded, and its
// exit status returned.
//
// # File secrets
//
// The files never touch a disk and never appear in the host's /etc. The
// task is started through a helper (flyte itself, re-executed with
// InitArg) in a new mount namespace, and in a new user namespace that maps
// only the user's own uid and gid when flyte does not run as root. The
// helper makes every mount private, lays an overlay over /etc whose upper
// layer is a tmpfs (so that /etc/flyte/secrets can exist without being
// created on the host), mounts a small tmpfs on /etc/flyte/secrets, writes
// the files (owned by the task's user, mode 0400 by default), remounts it
// read-only and executes the command in its place. The namespace, and the
// files with it, go away when the last process in it exits.
//
// The helper gets its instructions, values included, on a pipe: never in
// its arguments or environment, which other users can read.
package task

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/mask"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// InitArg is the argument that makes flyte act as the task's helper.
const InitArg = "__flyte_task_init"

// Forwarded are the signals flyte passes on to the task.
var Forwarded = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2}

// Spec is what to run.
type Spec struct {
	// Path is the command's absolute path; Args its arguments, Args[0]
	// included.
	Path string
	Args []string
	// Env is the task's whole environment.
	Env []string
	// Files go to /etc/flyte/secrets; with none, no namespace is made.
	Files []inject.File
	// Mask lists the values to hide in the task's output; nil disables
	// masking, and the task writes to Stdout and Stderr directly.
	Mask   [][]byte
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Self is flyte's own executable, for the helper.
	Self string
}

// NamespaceError says the system refused the private namespace that file
// secrets need.
type NamespaceError struct{ Err error }

func (e *NamespaceError) Error() string {
	return "file secrets need a private mount namespace, and this system refused one: " + e.Err.Error()
}

func (e *NamespaceError) Unwrap() error { return e.Err }

// StartError says the command could not be started.
type StartError struct {
	Msg  string
	Code int // exit status to use: 126 or 127, as a shell does
}

func (e *StartError) Error() string { return e.Msg }

// maskHold is how long the masker holds a possible partial match.
const maskHold = 250e6 // 250 ms

// Run runs the task and returns its exit status (128+N when a signal N
// killed it).
func Run(spec Spec) (int, error) {
	var cmd *exec.Cmd
	var conf []byte
	var stage string
	if len(spec.Files) == 0 {
		cmd = exec.Command(spec.Path)
		cmd.Args, cmd.Env = spec.Args, spec.Env
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	} else {
		var err error
		stage, err = os.MkdirTemp("", "flyte-task-")
		if err != nil {
			return 0, err
		}
		defer os.Remove(stage)
		conf = encodeInit(&initSpec{Path: spec.Path, Args: spec.Args, Env: spec.Env, Files: spec.Files, Stage: stage})
		defer clear(conf)
		cmd = exec.Command(spec.Self, InitArg)
		cmd.Args[0] = "flyte"
		cmd.Env = []string{}
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
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
			// clears them before it executes the command.
			cmd.SysProcAttr.AmbientCaps = []uintptr{unix.CAP_SYS_ADMIN, unix.CAP_DAC_OVERRIDE}
		}
	}
	cmd.Stdin = spec.Stdin
	// The task dies with flyte: it is never left running unsupervised
	// (flyte killed, or its own output gone). Pdeathsig is tied to the
	// thread that starts the child, so that thread stays put until Wait.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// The task shares flyte's process group, so that the terminal's ^C, ^\
	// and ^Z reach both and job control works. On a terminal flyte
	// therefore does not pass INT and QUIT on again: the task already has
	// them from the terminal.
	// (They are caught and dropped, not ignored: an ignored signal would
	// stay ignored in the task.)
	forward, drop := Forwarded, []os.Signal(nil)
	if f, ok := spec.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		forward = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}
		drop = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
	}
	var outs []*mask.Writer
	if spec.Mask != nil {
		o := mask.NewWriter(spec.Stdout, spec.Mask, maskHold)
		e := o.Sibling(spec.Stderr)
		cmd.Stdout, cmd.Stderr, outs = o, e, []*mask.Writer{o, e}
	} else {
		cmd.Stdout, cmd.Stderr = spec.Stdout, spec.Stderr
	}

	var confW, statusR *os.File
	if conf != nil {
		confR, w, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		sR, statusW, err := os.Pipe()
		if err != nil {
			return 0, err
		}
		confW, statusR = w, sR
		cmd.ExtraFiles = []*os.File{confR, statusW} // fds 3 and 4
		defer confR.Close()
		defer statusW.Close()
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forward...)
	defer signal.Stop(sigs)
	dropped := make(chan os.Signal, 8)
	if drop != nil {
		signal.Notify(dropped, drop...)
		defer signal.Stop(dropped)
	}
	// A closed stdout must not kill flyte with SIGPIPE: the write fails,
	// the task's own output pipe breaks in turn, and flyte still reports
	// the task's status. (Catching, unlike ignoring, is not inherited.)
	pipes := make(chan os.Signal, 1)
	signal.Notify(pipes, syscall.SIGPIPE)
	defer signal.Stop(pipes)

	if err := cmd.Start(); err != nil {
		if conf != nil {
			confW.Close()
			statusR.Close()
			errno := unwrapSyscall(err)
			// clone(2) refuses new namespaces with EPERM, EINVAL or
			// ENOSPC (user.max_user_namespaces); anything else is about
			// starting flyte's own helper.
			if errors.Is(errno, syscall.EPERM) || errors.Is(errno, syscall.EINVAL) || errors.Is(errno, syscall.ENOSPC) || errors.Is(errno, syscall.EUSERS) {
				return 0, &NamespaceError{Err: errno}
			}
			return 0, fmt.Errorf("cannot start the task's helper (%s): %w", spec.Self, errno)
		}
		return 0, startError(spec.Path, err)
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				_ = cmd.Process.Signal(s)
			case <-dropped:
			case <-done:
				return
			}
		}
	}()
	defer close(done)

	if conf != nil {
		cmd.ExtraFiles[0].Close()
		cmd.ExtraFiles[1].Close()
		_, werr := confW.Write(conf)
		confW.Close()
		// The helper closes its end of the status pipe when it executes
		// the command (close-on-exec); anything read first is its error.
		msg, _ := io.ReadAll(io.LimitReader(statusR, 4096))
		statusR.Close()
		if len(msg) > 0 || werr != nil {
			_ = cmd.Wait()
			flush(outs)
			if len(msg) == 0 {
				return 0, fmt.Errorf("task helper: %w", werr)
			}
			return 0, decodeStatus(msg)
		}
	}
	err := cmd.Wait()
	flush(outs)
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return 0, err
		}
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

func flush(outs []*mask.Writer) {
	for _, w := range outs {
		_ = w.Close()
	}
}

func unwrapSyscall(err error) error {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno
	}
	return err
}

func startError(path string, err error) error {
	errno := unwrapSyscall(err)
	switch {
	case errors.Is(errno, syscall.ENOENT):
		return &StartError{Msg: path + ": command not found", Code: 127}
	case errors.Is(errno, syscall.EACCES), errors.Is(errno, syscall.ENOEXEC):
		return &StartError{Msg: path + ": " + errno.Error(), Code: 126}
	}
	return &StartError{Msg: path + ": " + errno.Error(), Code: 126}
}

// LookPath finds a command the way a shell does, reporting 127 for a
// missing one and 126 for one that cannot be executed.
func LookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return "", &StartError{Msg: name + ": command not found", Code: 127}
		}
		return "", &StartError{Msg: name + ": " + unwrapSyscall(err).Error(), Code: 126}
	}
	if !filepath.IsAbs(p) {
		if p, err = filepath.Abs(p); err != nil {
			return "", err
		}
	}
	return p, nil
}

// Status codes the helper reports before the command runs.
const (
	statusNamespace = 'N' // a mount failed: namespaces are restricted
	statusStart     = 'S' // the command could not be executed
)

func decodeStatus(msg []byte) error {
	if len(msg) < 2 {
		return errors.New("task helper failed")
	}
	text := string(bytes.TrimSpace(msg[2:]))
	switch msg[0] {
	case statusNamespace:
		return &NamespaceError{Err: errors.New(text)}
	case statusStart:
		code := 126
		if msg[1] == '7' {
			code = 127
		}
		return &StartError{Msg: text, Code: code}
	}
	return errors.New("task helper: " + text)
}
