// Package task runs a command with its secrets: environment variables in
// its environment, files on a tmpfs at /etc/flyte/secrets that only it can
// see, its output passed through the masker, signals forwarded, and its
// exit status returned.
//
// # The process tree
//
// flyte always starts the command through a helper, flyte itself
// re-executed with InitArg, which stays the command's parent:
//
//	flyte -> helper -> command -> its children...
//
// The helper forwards the signals flyte passes on, reaps orphans, and
// when the command ends or flyte dies, kills every process left in the
// command's tree before it exits with the command's status. The command
// stays in flyte's process group (for the terminal); the helper leaves it.
//
//   - With file secrets the helper is PID 1 of a new PID namespace (with
//     new mount and, for ordinary users, user namespaces), with a fresh
//     /proc, and its parent-death signal is SIGKILL: when flyte dies the
//     helper dies, and the kernel kills every process of the namespace,
//     however it detached itself. The command is not PID 1 (which would
//     ignore TERM and INT without a handler).
//   - Env-only tasks need no namespace, so that they run where namespaces
//     are forbidden: the helper is a child subreaper whose parent-death
//     signal (SIGPWR, never forwarded) makes it kill the tree: its
//     children, then whatever is re-parented to it (setsid, double fork),
//     until none is left.
//   - Where a fresh /proc is refused (a container that masks parts of its
//     own), a task with files runs in its mount namespace under the
//     subreaper helper, with the host's /proc.
//
// # File secrets
//
// The files never touch a disk and never appear in the host's /etc. The
// helper makes every mount private, lays an overlay over /etc whose upper
// layer is a tmpfs (so that /etc/flyte/secrets can exist without being
// created on the host), mounts a small tmpfs on /etc/flyte/secrets, writes
// the files (owned by the task's user, mode 0400 by default) and remounts
// it read-only. The overlay's tmpfs is staged on a directory covered only
// inside the namespace and detached before the command starts, so no
// directory on the host holds it. The namespace, and the files with it, go
// away with the helper.
//
// The helper gets its instructions, values included, on a pipe: never in
// its arguments or environment, which other users can read.
//
// # Platforms
//
// All of the above is Linux (task_linux.go, init_linux.go). macOS has no
// namespaces, parent-death signal or subreaper: there (task_pgroup.go)
// flyte runs the command as its own child, in a process group of its own
// unless standard input is a terminal, and kills what is left of that group
// when the command ends; a task that asks for file secrets is refused
// (CheckFiles) before anything runs.
package task

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/mask"
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
	// The task shares flyte's process group, so that the terminal's ^C, ^\
	// and ^Z reach both and job control works. On a terminal flyte
	// therefore does not pass INT and QUIT on again: the task already has
	// them from the terminal.
	// (They are caught and dropped, not ignored: an ignored signal would
	// stay ignored in the task.)
	forward, drop := Forwarded, []os.Signal(nil)
	tty := false
	if f, ok := spec.Stdin.(*os.File); ok && f != nil && term.IsTerminal(int(f.Fd())) {
		tty = true
		forward = []os.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2}
		drop = []os.Signal{syscall.SIGINT, syscall.SIGQUIT}
	}
	var outs []*mask.Writer
	stdout, stderr := spec.Stdout, spec.Stderr
	if spec.Mask != nil {
		o := mask.NewWriter(spec.Stdout, spec.Mask, maskHold)
		e := o.Sibling(spec.Stderr)
		stdout, stderr, outs = o, e, []*mask.Writer{o, e}
	}
	// Standard input that is not a file is fed through a pipe only once
	// the task runs: a helper that gives up must not swallow any of it.
	var stdin, feedR, feedW *os.File
	switch in := spec.Stdin.(type) {
	case nil:
	case *os.File:
		stdin = in
	default:
		var err error
		if feedR, feedW, err = os.Pipe(); err != nil {
			return 0, err
		}
		defer feedR.Close()
		defer feedW.Close()
		stdin = feedR
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

	// On Linux the helper's parent-death signal is tied to the thread that
	// starts it, so that thread stays put until Wait.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	task, err := start(spec, tty, stdin, stdout, stderr)
	if err != nil {
		flush(outs)
		return 0, err
	}
	if feedW != nil {
		feedR.Close() // the task has its own copy
		go func() {
			_, _ = io.Copy(feedW, spec.Stdin)
			feedW.Close()
		}()
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				task.signal(s)
			case <-dropped:
			case <-done:
				return
			}
		}
	}()
	defer close(done)

	ws, err := task.wait()
	flush(outs)
	if err != nil {
		return 0, err
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ws.ExitStatus(), nil
}

// process is the running task, as start returns it.
type process interface {
	// signal passes a signal on to the task.
	signal(os.Signal)
	// wait waits for the task and its output, and returns its status.
	wait() (syscall.WaitStatus, error)
}

// exitStatus is the status of a command that exec.Cmd.Wait returned err
// for: an exit status is not an error here.
func exitStatus(cmd *exec.Cmd, err error) (syscall.WaitStatus, error) {
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, err
	}
	return cmd.ProcessState.Sys().(syscall.WaitStatus), nil
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

// FileSecretsError says that flyte cannot give a task file secrets on this
// platform: they live in a private mount namespace, which only Linux has.
type FileSecretsError struct {
	Env  string   // the environment, if known
	Keys []string // the secrets it asks for as files
}

func (e *FileSecretsError) Error() string {
	what := "secret " + e.Keys[0] + " as a file"
	if len(e.Keys) > 1 {
		what = "secrets " + strings.Join(e.Keys, ", ") + " as files"
	}
	who := "the task"
	if e.Env != "" {
		who = "environment " + e.Env
	}
	return who + " asks for " + what + " under " + abi.SecretsDir +
		": file secrets need Linux's private mount namespace, which flyte does not have on " + platform
}

// Hint says what to do instead.
func (e *FileSecretsError) Hint() string {
	them := "them"
	if len(e.Keys) == 1 {
		them = "it"
	}
	return "ask for " + them + " with as_env_var in flyte.toml, or run flyte on Linux (a Linux VM or container will do)"
}

// CheckFiles refuses, before anything runs, a task of the environment env
// that asks for the secrets keys as files where this platform cannot give
// them (fileSecrets is false).
func CheckFiles(env string, keys []string) error { return checkFiles(fileSecrets, env, keys) }

func checkFiles(supported bool, env string, keys []string) error {
	if supported || len(keys) == 0 {
		return nil
	}
	return &FileSecretsError{Env: env, Keys: keys}
}
