package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeConfig puts a flyte.toml in the environment's working directory.
func (e *isoEnv) writeConfig(text string) {
	e.t.Helper()
	if err := os.WriteFile(filepath.Join(e.work, "flyte.toml"), []byte(text), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func (e *isoEnv) must(args ...string) string {
	e.t.Helper()
	cmd, out, errb := e.command(context.Background(), nil, args...)
	if err := cmd.Run(); err != nil {
		e.t.Fatalf("flyte %s: %v\n%s%s", strings.Join(args, " "), err, out, errb)
	}
	return out.String()
}

// A task that traps a signal sees it when flyte receives it, and flyte
// exits with the task's status: env-only (subreaper helper) and with file
// secrets (PID namespace).
func TestRunForwardsSignals(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig(lifetimeConfig)
	e.must("create", "secret", "K", "signal-test-value")
	valueFile := filepath.Join(e.work, "value.txt")
	if err := os.WriteFile(valueFile, []byte("file-value-5678"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.must("create", "secret", "F", "--from-file", valueFile)
	for _, env := range []string{"e", "f"} {
		for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2} {
			name := strings.TrimPrefix(sigName(sig), "SIG")
			t.Run(env+"/"+name, func(t *testing.T) {
				script := fmt.Sprintf(`trap 'echo got %s; exit 7' %s; echo ready; while :; do sleep 0.05; done`, name, name)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cmd, _, errb := e.command(ctx, nil, "run", env, "--", "sh", "-c", script)
				pr, pw := io.Pipe()
				cmd.Stdout = pw
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				lines := bufio.NewScanner(pr)
				if !lines.Scan() || lines.Text() != "ready" {
					t.Fatalf("task did not start: %q %s", lines.Text(), errb)
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				var got []string
				done := make(chan struct{})
				go func() {
					for lines.Scan() {
						got = append(got, lines.Text())
					}
					close(done)
				}()
				err := cmd.Wait()
				pw.Close()
				<-done
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 7 {
					t.Fatalf("flyte exited with %v, want status 7; stderr %s", err, errb)
				}
				if strings.Join(got, "\n") != "got "+name {
					t.Fatalf("task printed %q", got)
				}
			})
		}
	}
}

func sigName(s syscall.Signal) string {
	return map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT", syscall.SIGHUP: "SIGHUP",
		syscall.SIGQUIT: "SIGQUIT", syscall.SIGUSR1: "SIGUSR1", syscall.SIGUSR2: "SIGUSR2"}[s]
}

// Two tasks running at once, in two projects with different values for one
// key, each see their own file; the host sees neither.
func TestRunConcurrentIsolation(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig(`
[[environments]]
name = "a"
project = "proja"
secrets = [{ key = "k", mount = "/etc/flyte/secrets" }]

[[environments]]
name = "b"
project = "projb"
secrets = [{ key = "k", mount = "/etc/flyte/secrets" }]
`)
	e.must("create", "secret", "-p", "proja", "k", "value-of-a-1234")
	e.must("create", "secret", "-p", "projb", "k", "value-of-b-5678")
	script := `cat /etc/flyte/secrets/k; echo; sleep 1; cat /etc/flyte/secrets/k; echo`
	var wg sync.WaitGroup
	outs := map[string]*strings.Builder{}
	errs := map[string]error{}
	var mu sync.Mutex
	for _, env := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd, out, errb := e.command(context.Background(), nil, "run", env, "--no-mask", "--", "sh", "-c", script)
			err := cmd.Run()
			mu.Lock()
			defer mu.Unlock()
			outs[env] = &strings.Builder{}
			outs[env].WriteString(out.String())
			if err != nil {
				errs[env] = fmt.Errorf("%v: %s", err, errb)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond) // both tasks are (very likely) in their sleep now
	if _, err := os.Stat("/etc/flyte/secrets/k"); err == nil {
		t.Error("the host sees /etc/flyte/secrets/k while the tasks run")
	}
	wg.Wait()
	for env, want := range map[string]string{"a": "value-of-a-1234\nvalue-of-a-1234\n", "b": "value-of-b-5678\nvalue-of-b-5678\n"} {
		if errs[env] != nil {
			t.Fatalf("task %s: %v", env, errs[env])
		}
		if outs[env].String() != want {
			t.Errorf("task %s saw %q, want %q", env, outs[env].String(), want)
		}
	}
	if _, err := os.Stat("/etc/flyte"); err == nil {
		t.Error("/etc/flyte exists on the host after the tasks")
	}
}

// As root the task's files belong to root; as an ordinary user (through a
// user namespace) they belong to that user, mode 0400 either way.
func TestRunAsRootAndAsUser(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig(`
[[environments]]
name = "e"
secrets = [{ key = "f", mount = "/etc/flyte/secrets" }, { key = "v", as_env_var = "V" }]
`)
	check := func(t *testing.T, run func(args ...string) (string, error), uid int) {
		for _, kv := range [][2]string{{"f", "file-value-9876"}, {"v", "env-value-5432"}} {
			if _, err := run("create", "secret", kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		out, err := run("run", "e", "--no-mask", "--", "sh", "-c",
			`id -u; stat -c '%a %u' /etc/flyte/secrets/f; cat /etc/flyte/secrets/f; echo; echo "$V"`)
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("%d\n400 %d\nfile-value-9876\nenv-value-5432\n", uid, uid)
		if out != want {
			t.Fatalf("got %q, want %q", out, want)
		}
	}
	if os.Geteuid() != 0 {
		t.Run("user", func(t *testing.T) {
			check(t, func(args ...string) (string, error) { return e.must(args...), nil }, os.Geteuid())
		})
		t.Skip("not root: the root case cannot run here")
	}
	t.Run("root", func(t *testing.T) {
		check(t, func(args ...string) (string, error) { return e.must(args...), nil }, 0)
	})
	t.Run("user", func(t *testing.T) {
		const nobody = 65534
		u := asUser(t, e, nobody)
		check(t, u, nobody)
		// The helper's capabilities do not reach the command, in any set.
		out, err := u("run", "e", "--", "grep", "^Cap[IPEA][nrfm][hmfb]:", "/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasSuffix(line, "\t0000000000000000") {
				t.Errorf("task has capabilities: %q", line)
			}
		}
		if strings.Count(out, "\n") != 4 {
			t.Errorf("expected CapInh, CapPrm, CapEff and CapAmb, got %q", out)
		}
	})
}

// asUser prepares a copy of flyte, a home, a cache and a working directory
// that uid can use, and returns a function that runs flyte as uid.
func asUser(t *testing.T, e *isoEnv, uid int) func(args ...string) (string, error) {
	t.Helper()
	command := asUserCmd(t, e, uid)
	return func(args ...string) (string, error) {
		out, err := command(args...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			return string(out), fmt.Errorf("flyte %s as uid %d: %v\n%s", strings.Join(args, " "), uid, err, stderr)
		}
		return string(out), nil
	}
}

// asUserCmd prepares what asUser does and returns a function that makes
// the command, for a flyte that runs in the background.
func asUserCmd(t *testing.T, e *isoEnv, uid int) func(args ...string) *exec.Cmd {
	t.Helper()
	root, err := os.MkdirTemp("", "flyte-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "bin", "flyte")
	src, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"bin", "home", "cache", "work"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg, _ := os.ReadFile(filepath.Join(e.work, "flyte.toml"))
	if err := os.WriteFile(filepath.Join(root, "work", "flyte.toml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"home", "cache", "work"} {
		if err := os.Chown(filepath.Join(root, d), uid, uid); err != nil {
			t.Fatal(err)
		}
	}
	return func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = filepath.Join(root, "work")
		cmd.Env = []string{"HOME=" + filepath.Join(root, "home"), "PATH=/usr/local/bin:/usr/bin:/bin",
			"FLYTE_CACHE_DIR=" + filepath.Join(root, "cache"), "LANG=C", "FLYTE_NO_AGENT=1"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		return cmd
	}
}

// runner starts flyte as one user: flyte's own (self) or nobody.
type runner struct {
	name string
	uid  int
	cmd  func(args ...string) *exec.Cmd
}

// runners are the users the lifetime tests run flyte as: the test's own,
// and nobody when the test runs as root.
func runners(t *testing.T, e *isoEnv) []runner {
	rs := []runner{{"self", os.Geteuid(), func(args ...string) *exec.Cmd {
		cmd, _, _ := e.command(context.Background(), nil, args...)
		cmd.Stdout, cmd.Stderr = nil, nil
		return cmd
	}}}
	if os.Geteuid() == 0 {
		rs = append(rs, runner{"nobody", 65534, asUserCmd(t, e, 65534)})
	}
	return rs
}

// readableFile is a file every user can read.
func readableFile(t *testing.T, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flyte-value-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := filepath.Join(dir, "value.txt")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (r runner) must(t *testing.T, args ...string) {
	t.Helper()
	if out, err := r.cmd(args...).CombinedOutput(); err != nil {
		t.Fatalf("flyte %s as %s: %v\n%s", strings.Join(args, " "), r.name, err, out)
	}
}

// started is a flyte run in the background whose task said "ready".
type started struct {
	cmd   *exec.Cmd
	errb  *strings.Builder
	ended chan struct{} // closed when flyte has ended
	err   error         // flyte's Wait, once ended
}

// startTask starts cmd and reads its output until the task says "ready",
// then drains it; flyte ending first is a failure, not a hang. Cleanup
// kills flyte.
func startTask(t *testing.T, cmd *exec.Cmd) *started {
	t.Helper()
	pr, pw := io.Pipe()
	s := &started{cmd: cmd, errb: &strings.Builder{}, ended: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = pw, s.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = cmd.Wait()
		pw.Close()
		close(s.ended)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-s.ended
	})
	lines := bufio.NewScanner(pr)
	for lines.Scan() {
		if lines.Text() == "ready" {
			go func() {
				for lines.Scan() {
				}
			}()
			return s
		}
	}
	<-s.ended
	t.Fatalf("the task did not start: %v; stderr: %s", s.err, s.errb)
	return nil
}

// kill ends flyte with SIGKILL and waits for it.
func (s *started) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.ended
}

// proc is a process, told apart from a later one with the same pid by its
// start time.
type proc struct {
	pid   int
	comm  string
	start string
}

func readProc(pid int) (p proc, ppid int, state string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, 0, "", false
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return p, 0, "", false
	}
	f := strings.Fields(s[j+1:])
	if len(f) < 20 {
		return p, 0, "", false
	}
	fmt.Sscan(f[1], &ppid)
	return proc{pid: pid, comm: s[i+1 : j], start: f[19]}, ppid, f[0], true
}

// descendants lists the living processes below pid.
func descendants(pid int) []proc {
	ents, _ := os.ReadDir("/proc")
	kids := map[int][]proc{}
	for _, e := range ents {
		var p int
		if _, err := fmt.Sscan(e.Name(), &p); err != nil {
			continue
		}
		if pr, ppid, state, ok := readProc(p); ok && state != "Z" && state != "X" {
			kids[ppid] = append(kids[ppid], pr)
		}
	}
	var out []proc
	queue := []int{pid}
	for len(queue) > 0 {
		for _, k := range kids[queue[0]] {
			out = append(out, k)
			queue = append(queue, k.pid)
		}
		queue = queue[1:]
	}
	return out
}

func alive(p proc) bool {
	now, _, state, ok := readProc(p.pid)
	return ok && now.start == p.start && state != "Z" && state != "X"
}

// waitFor polls cond until it holds: a liveness bound, not a timing claim.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1200; i++ { // 60 s
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("gave up waiting: %s", what)
}

// noProcCmd runs flyte where a fresh /proc is refused, as in a container
// that masks parts of its own: in a user namespace whose /proc has a mount
// on it that it may not uncover. Inside, flyte runs as uid 65534, which is
// also how files of users the namespaces do not map appear, so that
// flyte's ownership checks of its configuration pass for the test's own
// files. The shell and unshare exec into flyte: the process started is
// flyte.
func noProcCmd(cmd *exec.Cmd) *exec.Cmd {
	unshare, _ := exec.LookPath("unshare")
	cmd.Args = append([]string{"unshare", "-Urm", "sh", "-c",
		`mount -t tmpfs none /proc/sys && exec unshare -Um --map-user=65534 --map-group=65534 "$0" "$@"`, cmd.Path}, cmd.Args[1:]...)
	cmd.Path = unshare
	return cmd
}

const lifetimeConfig = `
[[environments]]
name = "f"
secrets = [{ key = "F", mount = "/etc/flyte/secrets" }, "K"]

[[environments]]
name = "e"
secrets = ["K"]
`

// SIGKILL of flyte ends the task's whole tree: children, a child that
// left with setsid and its own children, and a double-forked daemon;
// with file secrets (PID namespace), where a fresh /proc is refused
// (subreaper in a mount namespace), and env-only (subreaper); as the
// test's user and as nobody. No stage directory is left anywhere.
func TestRunTreeDiesWithFlyte(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig(lifetimeConfig)
	script := `sleep 1001 & setsid sh -c 'sleep 1002 & sleep 1003' & (setsid sleep 1004 &); echo ready; sleep 1005`
	type mode struct {
		name, env string
		wrap      func(*exec.Cmd) *exec.Cmd
	}
	modes := []mode{{"file", "f", nil}, {"env", "e", nil}}
	if _, err := exec.LookPath("unshare"); err == nil {
		modes = append(modes, mode{"file-noproc", "f", noProcCmd})
	}
	for _, r := range runners(t, e) {
		r.must(t, "create", "secret", "K", "env-value-1234")
		r.must(t, "create", "secret", "F", "--from-file", readableFile(t, "file-value-5678"))
		for _, m := range modes {
			t.Run(r.name+"/"+m.name, func(t *testing.T) {
				tmp, err := os.MkdirTemp("", "flyte-tmpdir-")
				if err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(tmp)
				if err := os.Chmod(tmp, 0o777); err != nil {
					t.Fatal(err)
				}
				cmd := r.cmd("run", m.env, "--", "sh", "-c", script)
				cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
				if m.wrap != nil {
					cmd = m.wrap(cmd)
				}
				s := startTask(t, cmd)
				var tree []proc
				waitFor(t, "the task's five sleeps, all below flyte", func() bool {
					tree = descendants(cmd.Process.Pid)
					n := 0
					for _, p := range tree {
						if p.comm == "sleep" {
							n++
						}
					}
					return n == 5
				})
				s.kill(t)
				waitFor(t, "the task's tree to die", func() bool {
					for _, p := range tree {
						if alive(p) {
							return false
						}
					}
					return true
				})
				if left, _ := os.ReadDir(tmp); len(left) != 0 {
					t.Errorf("left behind in TMPDIR: %v", left)
				}
			})
		}
	}
}

// A task with file secrets is not PID 1 of its namespace (PID 1 ignores
// TERM and INT it has no handler for): flyte's helper is. TERM sent to
// flyte reaches it, and flyte exits with its status.
func TestRunFileTaskGetsTERM(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig(lifetimeConfig)
	for _, r := range runners(t, e) {
		t.Run(r.name, func(t *testing.T) {
			r.must(t, "create", "secret", "K", "env-value-1234")
			r.must(t, "create", "secret", "F", "--from-file", readableFile(t, "file-value-5678"))
			// No trap: the default action of TERM must end the task.
			cmd := r.cmd("run", "f", "--", "sh", "-c", `echo "pid $$ init $(cat /proc/1/comm)"; echo ready; exec sleep 1000`)
			pr, pw := io.Pipe()
			cmd.Stdout = pw
			var errb strings.Builder
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			lines := bufio.NewScanner(pr)
			var first string
			for lines.Scan() && lines.Text() != "ready" {
				first = lines.Text()
			}
			var pid int
			var init string
			if _, err := fmt.Sscanf(first, "pid %d init %s", &pid, &init); err != nil || pid == 1 || init != "flyte" {
				t.Fatalf("task says %q (want a pid other than 1, under flyte); stderr %s", first, errb.String())
			}
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			ended := make(chan error, 1)
			go func() { ended <- cmd.Wait() }()
			var err error
			select {
			case err = <-ended:
			case <-time.After(60 * time.Second): // a liveness bound
				t.Fatal("the task ignored TERM")
			}
			pw.Close()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
				t.Fatalf("flyte exited with %v, want status 143; stderr %s", err, errb.String())
			}
		})
	}
}

// Who can read a task's secret files, as the README says: the task, any
// process of the same user (through /proc/PID/root, as it could read the
// task's environment or memory) and root; not another user; not another
// task with file secrets of an ordinary user, whose /proc shows only its
// own PID namespace.
func TestRunSecretFileReaders(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read as several users")
	}
	e := newIsoEnv(t)
	e.writeConfig(lifetimeConfig)
	const value = "file-value-5678"
	read := func(uid int, path string) (string, error) {
		cmd := exec.Command("cat", path)
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, r := range runners(t, e) {
		t.Run(r.name, func(t *testing.T) {
			r.must(t, "create", "secret", "K", "env-value-1234")
			r.must(t, "create", "secret", "F", "--from-file", readableFile(t, value))
			cmd := r.cmd("run", "f", "--", "sh", "-c", "echo ready; exec sleep 1000")
			startTask(t, cmd)
			var task proc
			waitFor(t, "the task to exec sleep", func() bool {
				for _, p := range descendants(cmd.Process.Pid) {
					if p.comm == "sleep" {
						task = p
						return true
					}
				}
				return false
			})
			path := fmt.Sprintf("/proc/%d/root/etc/flyte/secrets/F", task.pid)
			other := 65534 // another user than flyte's
			if r.uid == other {
				other = 65533
			}
			for _, c := range []struct {
				who string
				uid int
				ok  bool
			}{{"the same user", r.uid, true}, {"root", 0, true}, {"another user", other, false}} {
				out, err := read(c.uid, path)
				if c.ok && (err != nil || out != value) {
					t.Errorf("%s cannot read the task's file: %v %q", c.who, err, out)
				}
				if !c.ok && (err == nil || !strings.Contains(out, "Permission denied")) {
					t.Errorf("%s reads the task's file: %v %q", c.who, err, out)
				}
			}
			// Another task of the same user: an env-only one can, one with
			// file secrets cannot name the first (unless flyte runs as root,
			// and its tasks with it).
			out, err := r.cmd("run", "e", "--no-mask", "--", "cat", path).CombinedOutput()
			if err != nil || string(out) != value {
				t.Errorf("an env-only task of the same user cannot read it: %v %q", err, out)
			}
			if r.uid != 0 {
				out, err = r.cmd("run", "f", "--no-mask", "--", "cat", path).CombinedOutput()
				if err == nil || !strings.Contains(string(out), "No such file or directory") {
					t.Errorf("a task with file secrets of the same user reads it: %v %q", err, out)
				}
			}
		})
	}
}
