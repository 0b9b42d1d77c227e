//go:build darwin || (linux && flytepgroup)

// The task runner where Linux namespaces do not exist (macOS). The build
// tag flytepgroup selects it on Linux too, so that its tests run there:
// go test -tags flytepgroup ./host/task.

package task

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// fileSecrets: without a private mount namespace there is nowhere to put
// files that only the task can see.
const fileSecrets = false

// platform is named in FileSecretsError (also in a Linux test build).
const platform = "macOS"

// drainWait is how long, once the task and its process group are gone,
// flyte waits for the end of their output: a process that left the group
// (setsid) may hold the pipe open.
const drainWait = 2 * time.Second

// start runs the command as flyte's own child, without a helper: there is
// no parent-death signal and no subreaper here. Unless standard input is a
// terminal the command leads a process group of its own, which gets the
// signals flyte passes on and, when the command ends, SIGKILL for whatever
// is left in it. On a terminal it stays in flyte's group (the terminal's
// foreground job), where the terminal's signals reach it directly.
func start(spec Spec, tty bool, stdin *os.File, stdout, stderr io.Writer) (process, error) {
	if len(spec.Files) > 0 {
		keys := make([]string, len(spec.Files))
		for i, f := range spec.Files {
			keys[i] = f.Name
		}
		return nil, checkFiles(false, "", keys)
	}
	p := &pgroup{group: !tty}
	cmd := exec.Command(spec.Path)
	cmd.Args, cmd.Env = spec.Args, spec.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	if stdin != nil {
		cmd.Stdin = stdin
	}
	var err error
	if cmd.Stdout, err = p.pipe(stdout); err == nil {
		cmd.Stderr, err = p.pipe(stderr)
	}
	if err != nil {
		p.close()
		return nil, err
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: p.group}
	err = cmd.Start()
	for _, w := range p.writers {
		w.Close() // the task has its own copies
	}
	if err != nil {
		p.close()
		errno := unwrapSyscall(err)
		code := 126
		if errors.Is(errno, syscall.ENOENT) {
			code = 127
		}
		return nil, &StartError{Msg: fmt.Sprintf("%s: %v", spec.Path, errno), Code: code}
	}
	p.cmd = cmd
	p.copy()
	return p, nil
}

// pgroup is the running command. Its output goes through pipes flyte
// copies itself, so that waiting for the command is not waiting for every
// process that holds the pipe.
type pgroup struct {
	cmd     *exec.Cmd
	group   bool // the command leads its own process group
	readers []*os.File
	writers []*os.File
	outs    []io.Writer
	copies  sync.WaitGroup
	mu      sync.Mutex
	reaped  bool // the command was waited for: its pid is no longer signalled
}

// pipe returns what the command writes to for w: w itself if it is a
// file, else a pipe that copy drains into w.
func (p *pgroup) pipe(w io.Writer) (*os.File, error) {
	if f, ok := w.(*os.File); ok || w == nil {
		return f, nil
	}
	r, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.readers, p.writers, p.outs = append(p.readers, r), append(p.writers, pw), append(p.outs, w)
	return pw, nil
}

func (p *pgroup) copy() {
	for i, r := range p.readers {
		p.copies.Add(1)
		go func() {
			defer p.copies.Done()
			_, _ = io.Copy(p.outs[i], r)
		}()
	}
}

func (p *pgroup) close() {
	for _, f := range append(p.readers, p.writers...) {
		f.Close()
	}
}

func (p *pgroup) signal(s os.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return
	}
	if p.group {
		_ = syscall.Kill(-p.cmd.Process.Pid, s.(syscall.Signal))
		return
	}
	_ = p.cmd.Process.Signal(s)
}

// wait waits for the command, kills what is left of its process group,
// and waits for the output (for at most drainWait, should a process that
// left the group hold it).
func (p *pgroup) wait() (syscall.WaitStatus, error) {
	err := p.cmd.Wait()
	p.mu.Lock()
	p.reaped = true
	if p.group {
		// The group's id is the command's pid, which is not reused while
		// the group has members (and this comes right after the wait).
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	p.mu.Unlock()
	drained := make(chan struct{})
	go func() { p.copies.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(drainWait):
	}
	p.close()
	<-drained
	return exitStatus(p.cmd, err)
}

// InitMain is the Linux helper; it has nothing to do here.
func InitMain() {
	fmt.Fprintln(os.Stderr, "flyte: the task helper runs only on Linux")
	os.Exit(126)
}
