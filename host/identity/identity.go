// Package identity finds the user's age identity, the key that unwraps
// every store's data key. It comes from the first of these that is set
// (non-empty):
//
//  1. FLYTE_IDENTITY, the key itself (AGE-SECRET-KEY-1...), for CI;
//  2. FLYTE_IDENTITY_FILE, an identity file, checked like the default one;
//  3. FLYTE_IDENTITY_CMD, a command, run with /bin/sh -c, whose standard
//     output holds the key (a password manager), stopped after CmdTimeout;
//  4. the configuration's identity file ([seal] identity, by default
//     ~/.config/flyte/identity.txt), the only one flyte ever creates.
//
// So when a variable is set, flyte never creates an identity. Errors name
// the variable, never the key, a file's content or a command's output. A
// task never sees these variables (Strip).
package identity

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/host/seal"
	"golang.org/x/term"
)

// The variables that carry the identity, in the order they are consulted.
const (
	EnvKey  = "FLYTE_IDENTITY"
	EnvFile = "FLYTE_IDENTITY_FILE"
	EnvCmd  = "FLYTE_IDENTITY_CMD"
)

// Variables are the identity's variables, in the order they are consulted.
var Variables = []string{EnvKey, EnvFile, EnvCmd}

// CmdTimeout bounds FLYTE_IDENTITY_CMD: long enough to unlock a password
// manager, short enough that a hung one does not hang flyte.
const CmdTimeout = 30 * time.Second

// Source is where the identity comes from. It is read when first needed
// and kept; a command runs at most once.
type Source struct {
	variable string // the variable that chose it; "" for the configured file
	file     string // the identity file, when the identity is one
	value    string // FLYTE_IDENTITY's key, or FLYTE_IDENTITY_CMD's command

	// Timeout bounds FLYTE_IDENTITY_CMD; zero means CmdTimeout.
	Timeout time.Duration
	// Stdin is FLYTE_IDENTITY_CMD's standard input when it is a terminal,
	// so that a password manager can ask for a passphrase; otherwise the
	// command reads nothing: piped input is flyte's own (a secret's value).
	Stdin io.Reader
	// Stderr is FLYTE_IDENTITY_CMD's standard error; nil discards it.
	Stderr io.Writer
	// Signaled is called when SIGINT, SIGTERM or SIGHUP stopped
	// FLYTE_IDENTITY_CMD (flyte catches them while it runs, to stop it),
	// so that flyte can end as the signal says; if it returns, or is nil,
	// the command's Load fails.
	Signaled func(os.Signal)

	mu      sync.Mutex
	id      *age.X25519Identity
	err     error // a variable's failure, kept: a command runs once
	created bool
}

// Resolve returns the source getenv selects: the first identity variable
// that is set, else the identity file at configured.
func Resolve(getenv func(string) string, configured string) *Source {
	for _, v := range Variables {
		val := getenv(v)
		if val == "" {
			continue
		}
		s := &Source{variable: v, value: val}
		if v == EnvFile {
			s.value = ""
			s.file = val
			if !hasControl(val) {
				if abs, err := filepath.Abs(val); err == nil {
					s.file = abs
				}
			}
		}
		return s
	}
	return File(configured)
}

// File returns the source for the identity file at path, which is created
// at first use (LoadOrCreate).
func File(path string) *Source { return &Source{file: path} }

// Variable names the variable that chose the source; "" when it is the
// configuration's file.
func (s *Source) Variable() string { return s.variable }

// File is the identity file, when the identity is one ("" otherwise).
func (s *Source) File() string { return s.file }

// String names the source for messages; never the key. FLYTE_IDENTITY_FILE's
// value is named only when it names a file that exists: otherwise it may
// be a key put in the wrong variable.
func (s *Source) String() string {
	switch s.variable {
	case "":
		return s.file
	case EnvFile:
		if _, err := os.Lstat(s.file); err == nil && !hasControl(s.file) {
			return s.file + " (" + EnvFile + ")"
		}
	}
	return "from " + s.variable
}

// Load returns the identity without ever creating one. A missing
// configured file yields an error matching fs.ErrNotExist.
func (s *Source) Load() (*age.X25519Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != nil || s.err != nil {
		return s.id, s.err
	}
	id, err := s.read()
	if err != nil && s.variable == "" {
		return nil, err // the file may yet be created
	}
	s.id, s.err = id, err
	return id, err
}

// LoadOrCreate returns the identity, creating the configured file when it
// does not exist (seal.LoadOrCreateIdentity); a source chosen by a variable
// is never created. created reports whether this call created it.
func (s *Source) LoadOrCreate() (id *age.X25519Identity, created bool, err error) {
	if s.variable != "" {
		id, err := s.Load()
		return id, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != nil {
		return s.id, false, nil
	}
	id, created, err = seal.LoadOrCreateIdentity(s.file)
	if err != nil {
		return nil, false, err
	}
	s.id, s.created = id, s.created || created
	return id, created, nil
}

// Undo removes the identity file this source just created, for a command
// that failed and so changes nothing.
func (s *Source) Undo() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.created {
		_ = os.Remove(s.file)
		s.created, s.id = false, nil
	}
}

// Created returns the identity file this source created, if it still
// exists: the user must be told once, and back it up.
func (s *Source) Created() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.created {
		return "", false
	}
	if _, err := os.Lstat(s.file); err != nil {
		return "", false
	}
	return s.file, true
}

// Loaded returns the identity if it was read already, else nil.
func (s *Source) Loaded() *age.X25519Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id
}

func (s *Source) read() (*age.X25519Identity, error) {
	switch s.variable {
	case EnvKey:
		id, err := seal.ParseIdentity(EnvKey, []byte(s.value))
		if err != nil {
			return nil, &Error{msg: err.Error(),
				hint: EnvKey + " holds the key itself (AGE-SECRET-KEY-1...), not its recipient (age1...); to name a file, use " + EnvFile}
		}
		return id, nil
	case EnvFile:
		if hasControl(s.file) {
			return nil, fmt.Errorf("%s holds a control character: it must name an identity file", EnvFile)
		}
		id, err := seal.LoadIdentity(s.file)
		if errors.Is(err, fs.ErrNotExist) {
			// Not named: a value that names nothing may be a key put in
			// the wrong variable.
			return nil, &Error{msg: EnvFile + " names a file that does not exist",
				hint: EnvFile + " names an identity file; to give the key itself, use " + EnvKey}
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvFile, err)
		}
		return id, nil
	case EnvCmd:
		return s.run()
	}
	return seal.LoadIdentity(s.file)
}

// Error is a one-line error with a hint.
type Error struct{ msg, hint string }

func (e *Error) Error() string { return e.msg }

// Hint says what to do.
func (e *Error) Hint() string { return e.hint }

// run runs FLYTE_IDENTITY_CMD and parses its output. Its errors say how it
// ended, never what it printed.
func (s *Source) run() (*age.X25519Identity, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = CmdTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A signal that would end flyte stops the command first, rather
	// than leave it running without its parent.
	stop := cancelOnSignal(cancel)
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.value)
	cmd.Env = Strip(os.Environ()) // a nested flyte must not run it again
	// The shell dies with flyte, even by SIGKILL (Linux).
	cmd.SysProcAttr = childAttr()
	if f, ok := s.Stdin.(*os.File); ok && f != nil && term.IsTerminal(int(f.Fd())) {
		// On a terminal the command stays in flyte's process group, so
		// that it may read it (a password prompt): a timeout or a signal
		// to flyte alone kills the shell, not what it started in the
		// background. (^C reaches the whole group anyway.)
		cmd.Stdin = f
	} else {
		// Without a terminal, the command gets its own process group,
		// so that a timeout or a signal stops whatever it started too.
		cmd.SysProcAttr.Setpgid = true
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	}
	cmd.Stderr = s.Stderr
	out := &capped{b: make([]byte, 0, seal.MaxIdentitySize)}
	defer clear(out.b[:cap(out.b)])
	cmd.Stdout = out
	cmd.WaitDelay = time.Second // a descendant holding the output open
	err := cmd.Run()
	if sig := stop(); sig != nil {
		if s.Signaled != nil {
			s.Signaled(sig)
		}
		return nil, fmt.Errorf("flyte got signal %d (%s) and stopped %s", sig, sig, EnvCmd)
	}
	var exit *exec.ExitError
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, &Error{msg: fmt.Sprintf("%s did not finish within %s; flyte stopped it", EnvCmd, timeout),
			hint: EnvCmd + " must print the identity (AGE-SECRET-KEY-1...) on its standard output and exit"}
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil, fmt.Errorf("%s was killed by signal %d (%s)", EnvCmd, ws.Signal(), ws.Signal())
		}
		return nil, fmt.Errorf("%s failed with exit status %d", EnvCmd, exit.ExitCode())
	case err != nil:
		return nil, fmt.Errorf("%s could not run: %w", EnvCmd, err)
	case out.over:
		return nil, fmt.Errorf("the output of %s is malformed: larger than %d bytes", EnvCmd, seal.MaxIdentitySize)
	}
	return seal.ParseIdentity("the output of "+EnvCmd, out.b)
}

// cancelOnSignal calls cancel when SIGINT, SIGTERM or SIGHUP arrives (one
// that flyte was started to ignore stays ignored). stop ends that, and
// returns the signal that came, if one did.
func cancelOnSignal(cancel func()) (stop func() os.Signal) {
	var watch []os.Signal
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(sig) {
			watch = append(watch, sig)
		}
	}
	if len(watch) == 0 {
		return func() os.Signal { return nil }
	}
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, watch...)
	var got os.Signal
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		select {
		case got = <-caught:
			cancel()
		case <-done:
		}
	}()
	return func() os.Signal {
		close(done)
		<-finished
		signal.Stop(caught)
		if got == nil {
			select {
			case got = <-caught: // came as the command ended
			default:
			}
		}
		return got
	}
}

// capped keeps the first cap(b) bytes written to it and drains the rest,
// so that the command ends rather than blocks on a full pipe. b never
// grows beyond its capacity, so no copy of the key is left behind.
type capped struct {
	b    []byte
	over bool
}

func (c *capped) Write(p []byte) (int, error) {
	n := min(len(p), cap(c.b)-len(c.b))
	c.b = append(c.b, p[:n]...)
	if n < len(p) {
		c.over = true
	}
	return len(p), nil
}

// Strip returns env (NAME=VALUE entries) without the identity variables,
// for a task or any other process flyte starts: the identity is flyte's
// alone. Other FLYTE_ variables stay: a task may use flyte's or Flyte's own
// (FLYTE_CONFIG for a nested flyte, flytekit's FLYTE_PLATFORM_URL), and
// none of them holds a secret.
func Strip(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(Variables, name) {
			out = append(out, kv)
		}
	}
	return out
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}
