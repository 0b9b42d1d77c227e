package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

// The bench's resident agents. "flyte" in the table is the normal build
// served by a warm agent, as a user's commands are. The bench never
// touches the user's own agent: every flyte command it runs gets
// XDG_RUNTIME_DIR set to a private directory (mode 0700) in the bench's
// temporary directory (runtimeDir), so the agent its commands start lives
// there. A cold first run gets a runtime directory of its own, so that no
// agent runs when it starts. Every runtime directory the bench makes is
// remembered, and `flyte agent stop` is run in each when the bench ends,
// fails or is interrupted (atExit, cleanupOnSignal).

// runtimeDir is the XDG_RUNTIME_DIR of every flyte command the bench runs
// ("" until the bench made it); a command's own XDG_RUNTIME_DIR in extra
// (a cold run's) comes later in its environment and wins.
var runtimeDir string

var (
	exitMu    sync.Mutex
	exitFuncs []func()
	exited    bool
	agentBin  string   // the flyte that stops the agents
	agentDirs []string // every runtime directory made, for stopAgents
)

// atExit registers f to run when the bench ends (runExit), last first.
func atExit(f func()) {
	exitMu.Lock()
	defer exitMu.Unlock()
	exitFuncs = append(exitFuncs, f)
}

// runExit runs the registered functions once.
func runExit() {
	exitMu.Lock()
	defer exitMu.Unlock()
	if exited {
		return
	}
	exited = true
	for i := len(exitFuncs) - 1; i >= 0; i-- {
		exitFuncs[i]()
	}
}

// cleanupOnSignal stops the agents and removes the temporary directories
// when the bench is interrupted or terminated, then exits. It first waits
// for the work in flight (busy): a command that is running ends, an
// in-process fill stops at its next secret, and nothing new starts, so
// that nothing starts an agent or writes a file after the clean-up.
func cleanupOnSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-ch
		fmt.Fprintf(os.Stderr, "bench: %v: stopping the bench's agents and removing its files\n", s)
		stopping.Store(true)
		procMu.Lock() // never released: the process exits
		runExit()
		os.Exit(130)
	}()
}

var (
	procMu   sync.RWMutex
	stopping atomic.Bool
)

var errInterrupted = errors.New("interrupted")

// busy marks work that starts a process or writes the bench's files: it
// returns the function that ends it, or errInterrupted once the bench is
// being stopped. Calls must not nest.
func busy() (done func(), err error) {
	procMu.RLock()
	if stopping.Load() {
		procMu.RUnlock()
		return nil, errInterrupted
	}
	return procMu.RUnlock, nil
}

// newRuntimeDir makes dir, mode 0700, as a runtime directory the bench's
// flyte commands may start an agent in; stopAgents stops that agent.
func newRuntimeDir(flyte, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o700); err != nil { // whatever the umask
		return err
	}
	exitMu.Lock()
	defer exitMu.Unlock()
	if agentBin == "" {
		agentBin = flyte
		exitFuncs = append(exitFuncs, stopAgents)
	}
	agentDirs = append(agentDirs, dir)
	return nil
}

// agentCmd runs `flyte agent ARGS` for the runtime directory dir, with
// nothing else of the bench's environment, and returns its output.
func agentCmd(flyte, dir string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(flyte, append([]string{"agent"}, args...)...)
	cmd.Dir = filepath.Dir(dir)
	cmd.Env = []string{"HOME=" + filepath.Dir(dir), "XDG_RUNTIME_DIR=" + dir, "PATH=" + os.Getenv("PATH"), "LANG=C"}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", commandError(flyte, append([]string{"agent"}, args...), err, &stderr)
	}
	return stdout.String(), nil
}

// stopAgent stops the agent of the runtime directory dir, if one runs.
func stopAgent(flyte, dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "flyte")); err != nil {
		return nil // no command started an agent there
	}
	_, err := agentCmd(flyte, dir, "stop")
	return err
}

// stopAgents stops the agent of every runtime directory the bench made.
// It runs under exitMu (runExit).
func stopAgents() {
	for _, dir := range agentDirs {
		if err := stopAgent(agentBin, dir); err != nil {
			fmt.Fprintf(os.Stderr, "bench: stopping the agent of %s: %s\n", dir, oneLine(err))
		}
	}
}

// agentServed is how many requests the agent of the runtime directory dir
// has served (`flyte agent status`), and its process id; pid 0 when none
// runs.
func agentServed(flyte, dir string) (served uint64, pid int, err error) {
	done, err := busy()
	if err != nil {
		return 0, 0, err
	}
	out, err := agentCmd(flyte, dir, "status")
	done()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "served":
			served, err = strconv.ParseUint(v, 10, 64)
		case "pid":
			pid, err = strconv.Atoi(v)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("flyte agent status: %q: %w", l, err)
		}
	}
	return served, pid, nil
}

// startAgent starts the bench's agent (runtimeDir) unless it runs.
func startAgent(flyte string) error {
	done, err := busy()
	if err != nil {
		return err
	}
	defer done()
	_, err = agentCmd(flyte, runtimeDir, "start")
	return err
}

// servedCheck says, after a comparison, whether the bench's agent served
// every run of the agent variants: a command that could not reach it
// falls back in-process with the same output, and would then be measured
// as "flyte" unnoticed. want is how many requests the agent should have
// served since the status before (served, pid).
type servedCheck struct {
	flyte  string
	served uint64
	pid    int
	err    error
}

// agentCheck notes the bench's agent's count now.
func agentCheck(flyte string) *servedCheck {
	c := &servedCheck{flyte: flyte}
	c.served, c.pid, c.err = agentServed(flyte, runtimeDir)
	return c
}

// verify returns an error unless the agent, the same process as before,
// served at least want requests since.
func (c *servedCheck) verify(want int) error {
	if c.err != nil {
		return c.err
	}
	served, pid, err := agentServed(c.flyte, runtimeDir)
	switch {
	case err != nil:
		return err
	case c.pid == 0 || pid != c.pid:
		return fmt.Errorf("the agent was not running throughout (pid %d before, %d after): some runs may not have been served warm", c.pid, pid)
	case served-c.served < uint64(want):
		return fmt.Errorf("the agent served %d of the %d requests: the others ran in-process (fell back)", served-c.served, want)
	}
	return nil
}
