package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/scope"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the processes the tests need, by its first
// argument: an agent (as a client's Command starts it), and a client run
// as another user.
const (
	serveArg = "agent-test-serve" // BUILD DIR: ServeMain
	dialArg  = "agent-test-dial"  // SOCKET: connect, say hello, print what came back
)

func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == serveArg {
		os.Exit(ServeMain(os.Args[3], os.Args[2], 0))
	}
	if len(os.Args) == 3 && os.Args[1] == dialArg {
		os.Exit(dialMain(os.Args[2]))
	}
	os.Exit(m.Run())
}

// dialMain connects to the socket at path, sends a hello and prints
// "welcome" if the agent answered, "closed" if it closed the connection.
func dialMain(path string) int {
	conn, err := net.Dial("unix", path)
	if err != nil {
		fmt.Println("dial:", err)
		return 1
	}
	defer conn.Close()
	_ = send(conn, hello{Version: Version, Build: "A"})
	var st Status
	if err := receive(conn, 64<<10, &st); err != nil {
		fmt.Println("closed")
		return 0
	}
	fmt.Println("welcome")
	return 0
}

// client is a Client of dir whose agents are this test binary, of build.
func client(t *testing.T, dir, build string) *Client {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{Dir: dir, Build: build, Command: []string{exe, serveArg, build}}
	t.Cleanup(func() { _, _ = c.Stop() })
	return c
}

// runDir is a fresh agent directory (not created yet) under a private one.
func runDir(t *testing.T) string {
	return filepath.Join(t.TempDir(), "flyte")
}

// gone waits until the process pid no longer exists (the test reaps it:
// the agents are its children).
func gone(pid int) {
	for syscall.Kill(pid, 0) == nil {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		unix.Nanosleep(&unix.Timespec{Nsec: 5e6}, nil)
	}
}

func TestStartStatusStop(t *testing.T) {
	dir := runDir(t)
	c := client(t, dir, "A")
	if _, err := c.Status(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("status before start: %v, want ErrNotRunning", err)
	}
	if was, err := c.Stop(); was || err != nil {
		t.Fatalf("stop before start: %v %v", was, err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("status or stop made the directory: %v", err)
	}
	st, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID == os.Getpid() || st.Build != "A" || st.Served != 0 {
		t.Fatalf("status %+v", st)
	}
	fi, err := os.Lstat(filepath.Join(dir, socketName))
	if err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket: %v %v, want a socket of mode 0600", fi.Mode(), err)
	}
	if fi, err := os.Lstat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory: %v %v, want mode 0700", fi.Mode(), err)
	}
	// The agent has no environment, no standard streams, a session of its own.
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", st.PID))
	if err == nil && len(environ) != 0 {
		t.Errorf("the agent's environment is %q, want empty", environ)
	}
	for fd := 0; fd <= 2; fd++ {
		if l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", st.PID, fd)); err != nil || l != "/dev/null" {
			t.Errorf("the agent's descriptor %d is %q (%v), want /dev/null", fd, l, err)
		}
	}
	if sid, err := unix.Getsid(st.PID); err != nil || sid != st.PID {
		t.Errorf("the agent's session is %d (%v), want its own (%d)", sid, err, st.PID)
	}
	if cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", st.PID)); err != nil || cwd != "/" {
		t.Errorf("the agent's working directory is %q (%v), want /", cwd, err)
	}
	// Its directory holds the socket and two empty lock files, nothing else.
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if fi, err := e.Info(); err != nil || (e.Name() != socketName && fi.Size() != 0) {
			t.Errorf("%s: %v %v, want empty", e.Name(), fi, err)
		}
	}
	if strings.Join(names, " ") != "agent.lock agent.pid agent.sock" {
		t.Errorf("the agent's directory holds %v", names)
	}
	again, err := c.Start()
	if err != nil || again.PID != st.PID {
		t.Fatalf("second start: pid %d (%v), want the running agent %d", again.PID, err, st.PID)
	}
	if was, err := c.Stop(); !was || err != nil {
		t.Fatalf("stop: %v %v", was, err)
	}
	gone(st.PID)
	if _, err := c.Status(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("status after stop: %v, want ErrNotRunning", err)
	}
	if _, err := os.Lstat(filepath.Join(dir, socketName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the socket outlived the agent: %v", err)
	}
}

// Two first commands at once start one agent.
func TestConcurrentStartsStartOne(t *testing.T) {
	dir := runDir(t)
	var wg sync.WaitGroup
	pids := make([]int, 4)
	errs := make([]error, 4)
	for i := range pids {
		c := client(t, dir, "A")
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := c.Start()
			if err == nil {
				pids[i] = st.PID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i := range pids {
		if errs[i] != nil || pids[i] != pids[0] {
			t.Fatalf("starts: pids %v errors %v, want one agent", pids, errs)
		}
	}
}

// A socket nobody listens on (an agent that died) is replaced.
func TestStaleSocketReplaced(t *testing.T) {
	dir := runDir(t)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, socketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	c := client(t, dir, "A")
	st, err := c.Start()
	if err != nil {
		t.Fatalf("start over a stale socket: %v", err)
	}
	if st.Build != "A" {
		t.Fatalf("status %+v", st)
	}
}

// An agent of another build is told to stop and replaced, never used.
func TestOtherBuildReplaced(t *testing.T) {
	dir := runDir(t)
	old, err := client(t, dir, "B").Start()
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, dir, "A")
	if _, err := c.Status(); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("status of another build's agent: %v, want ErrNotRunning", err)
	}
	st, err := c.Start()
	if err != nil {
		t.Fatal(err)
	}
	if st.PID == old.PID || st.Build != "A" {
		t.Fatalf("agent %+v, want a new one of build A (the old was %d)", st, old.PID)
	}
	gone(old.PID)
	// The agent serves no request of a client of another build.
	conn, err := net.Dial("unix", filepath.Join(dir, socketName))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var welcome Status
	var r reply
	if err := send(conn, hello{Version: Version, Build: "B"}); err != nil {
		t.Fatal(err)
	}
	if err := receive(conn, 64<<10, &welcome); err != nil {
		t.Fatal(err)
	}
	if err := send(conn, request{Op: OpList, Setup: testSetup(t), Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := receive(conn, 64<<10, &r); err != nil || r.Err == nil || r.Err.Msg != "agent of another build" {
		t.Fatalf("a request of build B: %+v %v", r, err)
	}
}

// A killed agent is replaced by the next request, which it serves.
func TestKilledAgentRestarted(t *testing.T) {
	dir := runDir(t)
	c := client(t, dir, "A")
	setup := testSetup(t)
	put(t, c, setup, "ONE")
	st, err := c.Status()
	if err != nil || st.Served != 1 {
		t.Fatalf("status %+v %v, want 1 served", st, err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	gone(st.PID)
	put(t, c, setup, "TWO")
	now, err := c.Status()
	if err != nil || now.PID == st.PID || now.Served != 1 {
		t.Fatalf("status %+v %v, want a new agent that served 1", now, err)
	}
	var res core.ListResult
	if _, err := c.Call(context.Background(), OpList, setup, core.ListRequest{}, &res, nil); err != nil {
		t.Fatal(err)
	}
	if len(res.Secrets) != 2 || res.Secrets[0].Key != "ONE" || res.Secrets[1].Key != "TWO" {
		t.Fatalf("listed %+v", res.Secrets)
	}
}

// Two runtime directories have two agents, which share nothing.
func TestTwoDirsTwoAgents(t *testing.T) {
	a, b := client(t, runDir(t), "A"), client(t, runDir(t), "A")
	put(t, a, testSetup(t), "ONE")
	sb, err := b.Start()
	if err != nil {
		t.Fatal(err)
	}
	sa, err := a.Status()
	if err != nil {
		t.Fatal(err)
	}
	if sa.PID == sb.PID || sa.Served != 1 || sb.Served != 0 || sb.Cores != 0 {
		t.Fatalf("agents %+v and %+v, want two, only the first having served", sa, sb)
	}
}

// A directory longer than a socket address holds works.
func TestLongDirectory(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100), strings.Repeat("e", 100))
	if err := os.MkdirAll(long, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(long, "flyte")
	if len(filepath.Join(dir, socketName)) <= maxSocketPath {
		t.Fatal("the path is not long enough")
	}
	c := client(t, dir, "A")
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(); err != nil {
		t.Fatal(err)
	}
}

// A directory that is a symlink, that others may use, or that is another
// user's is refused, and no agent is started there.
func TestDirectoryRefused(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		link: "agent directory " + link + " is a symlink: it must be a directory of yours",
		open: "agent directory " + open + " has mode 0755: it must be 0700",
	}
	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		if err := os.Mkdir(other, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(other, 65534, 65534); err != nil {
			t.Fatal(err)
		}
		cases[other] = fmt.Sprintf("agent directory %s is owned by uid 65534, not by you (uid 0)", other)
	}
	for dir, want := range cases {
		c := client(t, dir, "A")
		if _, err := c.Start(); err == nil || err.Error() != want {
			t.Errorf("start in %s: %v, want %q", dir, err, want)
		}
		if _, err := c.Call(context.Background(), OpList, testSetup(t), core.ListRequest{}, nil, nil); !errors.As(err, new(*UnavailableError)) {
			t.Errorf("call in %s: %v, want UnavailableError", dir, err)
		}
		for _, name := range []string{socketName, runLock} {
			if _, err := os.Lstat(filepath.Join(real, name)); err == nil {
				t.Errorf("%s was made through the symlink", name)
			}
		}
	}
}

// The agent refuses a connection from a process of another uid before it
// reads anything.
func TestAgentRefusesOtherUID(t *testing.T) {
	exe := asUserBinary(t)
	// The directory is opened up after the agent checked it, so that only
	// the agent's own check stands between the other user and it.
	base := filepath.Dir(filepath.Dir(exe))
	dir := filepath.Join(base, "flyte")
	s, err := Listen(dir, "A", 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Serve() }()
	defer func() { s.Stop(); <-done }()
	sock := filepath.Join(dir, socketName)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, dialArg, sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || string(out) != "closed\n" {
		t.Fatalf("client as uid 65534: %q %v, want closed", out, err)
	}
	if st := s.Status(); st.Refused != 1 || st.Served != 0 {
		t.Fatalf("status %+v, want 1 refused", st)
	}
	// The same client as this user is welcomed.
	out, err = exec.Command(exe, dialArg, sock).CombinedOutput()
	if err != nil || string(out) != "welcome\n" {
		t.Fatalf("client as this user: %q %v", out, err)
	}
}

// The client refuses an agent that runs as another uid.
func TestClientRefusesOtherUID(t *testing.T) {
	exe := asUserBinary(t)
	base := filepath.Dir(filepath.Dir(exe))
	if err := os.Chown(base, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "flyte")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, serveArg, "A", dir)
	cmd.ExtraFiles = []*os.File{pw}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if b, _ := io.ReadAll(pr); string(b) != ReadyLine+"\n" {
		t.Fatalf("the agent as uid 65534 said %q", b)
	}
	// Its directory is refused first (it is not this user's); below it,
	// the client's own check of the agent's uid refuses it too.
	c := client(t, dir, "A")
	if _, err := c.Start(); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("start: %v, want the directory refused", err)
	}
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := &socketDir{path: dir, fd: fd}
	defer d.Close()
	_, _, err = c.dial(d)
	var fe *ForeignError
	if !errors.As(err, &fe) || fe.UID != 65534 {
		t.Fatalf("dial: %v, want a ForeignError of uid 65534", err)
	}
	if want := "the agent socket is served by uid 65534, not by you (uid 0): refused"; err.Error() != want {
		t.Fatalf("error %q, want %q", err, want)
	}
}

// asUserBinary copies the test binary where uid 65534 can run it:
// BASE/bin/agent.test, in a BASE of mode 0755. It skips the test unless
// this is root.
func asUserBinary(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a process as another uid")
	}
	base, err := os.MkdirTemp("", "flyte-agent-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(base, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(base, "bin", "agent.test")
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// testSetup is a configuration with a store and an identity file of the
// test's own.
func testSetup(t *testing.T) *Setup {
	t.Helper()
	dir := t.TempDir()
	toml := fmt.Sprintf("[store]\npath = %q\n\n[seal]\nidentity = %q\n", filepath.Join(dir, "store"), filepath.Join(dir, "identity.txt"))
	path := filepath.Join(dir, "flyte.toml")
	if err := os.WriteFile(path, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) string {
		if k == "HOME" {
			return dir
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	// The agent never reads the configuration file: the client sends it.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	return &Setup{Config: cfg, CacheDir: filepath.Join(os.TempDir(), fmt.Sprintf("flyte-test-cache-%d", os.Getuid())),
		StateDir: filepath.Join(dir, "state")}
}

// put creates the secret key through the agent of c.
func put(t *testing.T, c *Client, setup *Setup, key string) {
	t.Helper()
	var sec core.Secret
	var stderr bytes.Buffer
	req := core.WriteRequest{Scope: scope.Scope{Org: setup.Config.Organization}, Key: key, Value: []byte("value of " + key)}
	if _, err := c.Call(context.Background(), OpWrite, setup, req, &sec, &stderr); err != nil {
		t.Fatalf("create %s: %v (%s)", key, err, stderr.Bytes())
	}
	if sec.Key != key || sec.Version != 1 {
		t.Fatalf("created %+v", sec)
	}
}

// An agent with no request for its idle period exits by itself, and takes
// its socket with it.
func TestIdleExit(t *testing.T) {
	if DefaultIdle != 10*time.Minute {
		t.Fatalf("DefaultIdle is %v; the README says 10 minutes", DefaultIdle)
	}
	dir := runDir(t)
	s, err := Listen(dir, "A", time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); err != nil { // returns once idle
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(dir, socketName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket after the idle exit: %v", err)
	}
}

func TestDirFor(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"XDG_RUNTIME_DIR": "/run/user/7", "TMPDIR": "/t"}, "/run/user/7/flyte"},
		{map[string]string{"XDG_RUNTIME_DIR": "relative", "TMPDIR": "/t"}, fmt.Sprintf("/t/flyte-agent-%d", os.Geteuid())},
		{map[string]string{}, fmt.Sprintf("/tmp/flyte-agent-%d", os.Geteuid())},
	} {
		if got := DirFor(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("DirFor(%v) = %s, want %s", tc.env, got, tc.want)
		}
	}
}

// The agent keeps the cores of the configurations it served last, at most
// maxCores.
func TestCoresBounded(t *testing.T) {
	c := client(t, runDir(t), "A")
	for i := range maxCores + 1 {
		put(t, c, testSetup(t), fmt.Sprintf("K%d", i))
	}
	st, err := c.Status()
	if err != nil || st.Cores != maxCores || st.Served != maxCores+1 {
		t.Fatalf("status %+v %v, want %d cores", st, err, maxCores)
	}
}
