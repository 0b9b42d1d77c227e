package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// startTimeout bounds the start of an agent, waitTimeout the exit of one
// that was asked to stop, answerTimeout the welcome of a running agent (it
// answers a hello at once: one that does not is stopped or stuck, and the
// command works in-process rather than wait), and lockTimeout the wait for
// another client that is starting an agent.
const (
	startTimeout  = 30 * time.Second
	waitTimeout   = 10 * time.Second
	answerTimeout = 3 * time.Second
	lockTimeout   = startTimeout + answerTimeout
)

// DirFor is the agent's directory for the environment getenv describes:
// $XDG_RUNTIME_DIR/flyte, or else flyte-agent-UID in the temporary
// directory ($TMPDIR, else /tmp). One agent serves each directory.
func DirFor(getenv func(string) string) string {
	if d := getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(d) {
		return filepath.Join(filepath.Clean(d), "flyte")
	}
	tmp := getenv("TMPDIR")
	if !filepath.IsAbs(tmp) {
		tmp = "/tmp"
	}
	return filepath.Join(filepath.Clean(tmp), fmt.Sprintf("flyte-agent-%d", os.Geteuid()))
}

// Client reaches the agent of a directory, and starts it when needed.
type Client struct {
	// Dir is the agent's directory (DirFor).
	Dir string
	// Build is this flyte's build id: an agent of another build is told
	// to stop and replaced, never used.
	Build string
	// Command starts an agent: a program and its arguments, to which Dir
	// is appended. The agent gets no environment, no standard streams,
	// a session of its own, and "/" as its working directory.
	Command []string
	// Arg0, when set, is the name the agent's process is given (its
	// argv[0]) instead of Command[0]: Command[0] may be /proc/self/exe, so
	// that the agent is this very binary even if its file was replaced.
	Arg0 string
}

// UnavailableError says the agent could not be reached or started, or
// went away during a request. Sent says the request had been sent: a
// request that changes the store may then have been done.
type UnavailableError struct {
	Err  error
	Sent bool
}

func (e *UnavailableError) Error() string { return "agent unavailable: " + e.Err.Error() }
func (e *UnavailableError) Unwrap() error { return e.Err }

// ForeignError is an agent socket served by a process of another uid.
type ForeignError struct{ UID uint32 }

func (e *ForeignError) Error() string {
	return fmt.Sprintf("the agent socket is served by uid %d, not by you (uid %d): refused", e.UID, os.Geteuid())
}

// ErrNotRunning says no agent of this build serves the directory.
var ErrNotRunning = errors.New("no agent is running")

// ErrNoAnswer says an agent listens but does not answer (it is stopped,
// with SIGSTOP or ^Z, or stuck): it is not replaced, and the command works
// without it.
var ErrNoAnswer = errors.New("the agent does not answer (stopped or stuck)")

// Call sends the request op with the body req and the configuration
// setup, starting an agent if none runs, and decodes the answer into
// resp. The agent's standard error output goes to stderr as it comes;
// created is the identity file the request created, if any. The error is
// an *UnavailableError when the agent could not serve the request; any
// other error is the request's own, as an in-process core would have
// returned it (with its message, hint and fields).
func (c *Client) Call(ctx context.Context, op string, setup *Setup, req, resp any, stderr io.Writer) (created string, err error) {
	conn, _, err := c.connect(true)
	if err != nil {
		return "", &UnavailableError{Err: err}
	}
	defer conn.Close()
	if err := ctx.Err(); err != nil { // interrupted before anything was sent
		return "", err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	err = send(conn, request{Op: op, Setup: setup, Body: body})
	clear(body)
	if err != nil {
		return "", &UnavailableError{Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	created, err = readAnswer(conn, resp, stderr)
	var unavailable *UnavailableError
	if errors.As(err, &unavailable) && ctx.Err() != nil {
		return created, ctx.Err() // interrupted, not the agent's failure
	}
	return created, err
}

// readAnswer reads the agent's frames after a request: standard error
// output, written to stderr as it comes, then the answer, its body into
// resp. An error that is not the request's own is an *UnavailableError.
func readAnswer(conn io.Reader, resp any, stderr io.Writer) (created string, err error) {
	for {
		b, err := readFrame(conn, MaxFrame)
		if err != nil {
			return "", &UnavailableError{Err: err, Sent: true}
		}
		var r reply
		err = json.Unmarshal(b, &r)
		clear(b) // it may hold a value
		if err != nil {
			return "", &UnavailableError{Err: fmt.Errorf("agent protocol: malformed frame: %w", err), Sent: true}
		}
		if !r.Done {
			if stderr != nil {
				_, _ = stderr.Write(r.Stderr)
			}
			continue
		}
		// A body that does not fit resp is malformed, but the reply's
		// error, if it has one, is still the answer.
		var malformed error
		if r.BodyNext {
			body, err := readFrame(conn, MaxFrame)
			if err != nil {
				return "", &UnavailableError{Err: err, Sent: true}
			}
			malformed = decodeBody(body, resp)
			clear(body)
		}
		if r.Err != nil && r.Err.Kind == kindTooLarge {
			return r.Created, &UnavailableError{Err: errors.New(r.Err.Msg), Sent: true}
		}
		if r.Err != nil {
			return r.Created, r.Err.decode()
		}
		if malformed != nil {
			return r.Created, &UnavailableError{Err: fmt.Errorf("agent protocol: malformed answer: %w", malformed), Sent: true}
		}
		return r.Created, nil
	}
}

// decodeBody decodes an answer's body into resp (nil: it is dropped). A
// type that decodes its own JSON gets the bytes directly, without
// encoding/json's scans of the whole text first: a listing's body is
// megabytes, and ListResult checks its form itself.
func decodeBody(body []byte, resp any) error {
	switch v := resp.(type) {
	case nil:
		return nil
	case json.Unmarshaler:
		return v.UnmarshalJSON(body)
	}
	return json.Unmarshal(body, resp)
}

// Start starts the agent unless one of this build runs, and returns its
// status.
func (c *Client) Start() (*Status, error) {
	conn, st, err := c.connect(true)
	if err != nil {
		return nil, err
	}
	conn.Close()
	return st, nil
}

// Status returns the running agent's status, or ErrNotRunning; an agent
// of another build is reported as ErrNotRunning with its status.
func (c *Client) Status() (*Status, error) {
	conn, st, err := c.connect(false)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	if err := send(conn, request{Op: OpStatus}); err != nil {
		return nil, err
	}
	var r reply
	if err := receive(conn, 64<<10, &r); err != nil {
		return nil, err
	}
	var now Status
	if err := json.Unmarshal(r.Body, &now); err != nil {
		return nil, err
	}
	return &now, nil
}

// Stop asks the running agent, of any build, to exit, and waits until it
// has. It reports whether one was running.
func (c *Client) Stop() (bool, error) {
	d, err := openDir(c.Dir, false)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer d.Close()
	conn, _, err := c.dial(d)
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return false, nil
		}
		return false, err
	}
	stopErr := stopOn(conn)
	conn.Close()
	if stopErr != nil {
		return true, stopErr
	}
	return true, waitGone(d)
}

// connect returns a connection to the agent of this build, after its
// welcome, ready for a request; with start, an agent that is missing,
// gone (a stale socket) or of another build is (re)started first.
func (c *Client) connect(start bool) (*net.UnixConn, *Status, error) {
	if !supported {
		return nil, nil, errUnsupported
	}
	d, err := openDir(c.Dir, start)
	if !start && errors.Is(err, os.ErrNotExist) {
		return nil, nil, ErrNotRunning
	}
	if err != nil {
		return nil, nil, err
	}
	defer d.Close()
	conn, st, err := c.dial(d)
	switch {
	case err == nil && c.ours(st):
		return conn, st, nil
	case err == nil:
		conn.Close()
		if !start {
			return nil, st, fmt.Errorf("%w of this build (the running agent is of build %s)", ErrNotRunning, BuildString(st.Build))
		}
	case !start || !errors.Is(err, ErrNotRunning):
		return nil, nil, err
	}
	// Two first commands start one agent: the second waits for the first,
	// for as long as a start may take, and no longer (a client stopped
	// while it holds the lock must not hold up every command).
	lk, err := d.lockWithin(startLock, lockTimeout)
	if err != nil {
		return nil, nil, err
	}
	defer lk.Close()
	conn, st, err = c.dial(d)
	switch {
	case err == nil && c.ours(st):
		return conn, st, nil
	case err == nil: // another build: it stops, and is replaced
		err = stopOn(conn)
		conn.Close()
		if err == nil {
			err = waitGone(d)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("cannot stop the agent of another build: %w", err)
		}
	case !errors.Is(err, ErrNotRunning):
		return nil, nil, err
	}
	if err := c.spawn(); err != nil {
		return nil, nil, err
	}
	conn, st, err = c.dial(d)
	if err == nil && !c.ours(st) {
		conn.Close()
		return nil, nil, fmt.Errorf("the agent started is of build %s, not %s", BuildString(st.Build), c.Build)
	}
	return conn, st, err
}

func (c *Client) ours(st *Status) bool {
	return st.Version == Version && st.Build == c.Build && c.Build != ""
}

// dial connects to the socket in d, checks that the agent runs as this
// user, and exchanges the hello and the welcome. A socket that is missing
// or that nobody listens on is ErrNotRunning.
func (c *Client) dial(d *socketDir) (*net.UnixConn, *Status, error) {
	addr, err := d.socketAddr()
	if err != nil {
		return nil, nil, err
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, ErrNotRunning
		}
		return nil, nil, fmt.Errorf("cannot connect to the agent: %w", err)
	}
	uid, err := peerUID(conn)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if int(uid) != os.Geteuid() {
		conn.Close()
		return nil, nil, &ForeignError{UID: uid}
	}
	_ = conn.SetDeadline(time.Now().Add(answerTimeout))
	var st Status
	if err := send(conn, hello{Version: Version, Build: c.Build}); err != nil {
		conn.Close()
		if isTimeout(err) {
			return nil, nil, ErrNoAnswer
		}
		return nil, nil, ErrNotRunning // it went away meanwhile
	}
	if err := receive(conn, 64<<10, &st); err != nil {
		conn.Close()
		if isTimeout(err) {
			return nil, nil, ErrNoAnswer
		}
		return nil, nil, ErrNotRunning
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, &st, nil
}

// lockWithin takes the lock name in d, polling for at most within: a
// holder that does not let go (stopped while it starts an agent) makes
// the command work without the agent instead of waiting for ever.
func (d *socketDir) lockWithin(name string, within time.Duration) (*os.File, error) {
	deadline := time.Now().Add(within)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		lk, ok, err := d.lock(name, false)
		if err != nil || ok {
			return lk, err
		}
		if time.Now().After(deadline) {
			return nil, errors.New("another flyte command has been starting the agent for too long")
		}
		time.Sleep(wait)
	}
}

// isTimeout reports whether err is a deadline that passed.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// BuildString is a build id an agent reported, fit to print: a Go build id
// is made of letters, digits, '-', '_' and '/', and anything else a
// listener on the socket sends is not echoed.
func BuildString(b string) string {
	const id = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_/"
	if b == "" || len(b) > 256 || strings.Trim(b, id) != "" {
		return "(not a build id)"
	}
	return b
}

// stopOn asks the agent at the other end of conn, after its welcome, to
// exit.
func stopOn(conn *net.UnixConn) error {
	if err := send(conn, request{Op: OpStop}); err != nil {
		return err
	}
	var r reply
	return receive(conn, 64<<10, &r)
}

// waitGone waits until no agent holds d's run lock.
func waitGone(d *socketDir) error {
	deadline := time.Now().Add(waitTimeout)
	for {
		lk, ok, err := d.lock(runLock, false)
		if err != nil {
			return err
		}
		if ok {
			lk.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the agent did not exit")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// spawn starts an agent detached from this process, and waits until it
// listens (or found another agent listening).
func (c *Client) spawn() error {
	if len(c.Command) == 0 {
		return errors.New("no command to start the agent with")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	defer pr.Close()
	cmd := exec.Command(c.Command[0], append(slices.Clone(c.Command[1:]), c.Dir)...)
	if c.Arg0 != "" {
		cmd.Args[0] = c.Arg0
	}
	cmd.Env = []string{} // nothing of the client's (its identity variables least of all)
	cmd.Dir = "/"
	cmd.ExtraFiles = []*os.File{pw} // descriptor 3: "ready" once it listens
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	pw.Close()
	if err != nil {
		return fmt.Errorf("cannot start the agent: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reaped if it ends while this process lives
	_ = pr.SetReadDeadline(time.Now().Add(startTimeout))
	b, _ := io.ReadAll(io.LimitReader(pr, 64))
	switch strings.TrimSpace(string(b)) {
	case ReadyLine, BusyLine:
		return nil
	}
	return errors.New("the agent did not start")
}

// What an agent started by a client writes on descriptor 3: it listens,
// or another agent holds the directory.
const (
	ReadyLine = "ready"
	BusyLine  = "busy"
)

// ServeMain is the agent's process (a client's Command): it listens on
// the socket in dir, tells the client that started it on descriptor 3 if
// that is a pipe (started otherwise, descriptor 3 is left alone), and serves until it is stopped or idle. It returns the process's exit
// status.
func ServeMain(dir, build string, idle time.Duration) int {
	ready := readyPipe(3)
	tell := func(line string) {
		if ready != nil {
			_, _ = ready.WriteString(line + "\n")
			ready.Close()
		}
	}
	s, err := Listen(dir, build, idle)
	if errors.Is(err, ErrRunning) {
		tell(BusyLine)
		return 0
	}
	if err != nil {
		tell("error")
		return 1
	}
	tell(ReadyLine)
	if err := s.Serve(); err != nil {
		return 1
	}
	return 0
}
