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
// exits with the task's status.
func TestRunForwardsSignals(t *testing.T) {
	e := newIsoEnv(t)
	e.writeConfig("[[environments]]\nname = \"e\"\nsecrets = [\"K\"]\n")
	e.must("create", "secret", "K", "signal-test-value")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2} {
		name := strings.TrimPrefix(sigName(sig), "SIG")
		t.Run(name, func(t *testing.T) {
			script := fmt.Sprintf(`trap 'echo got %s; exit 7' %s; echo ready; while :; do sleep 0.05; done`, name, name)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd, _, errb := e.command(ctx, nil, "run", "e", "--", "sh", "-c", script)
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
	return func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Dir = filepath.Join(root, "work")
		cmd.Env = []string{"HOME=" + filepath.Join(root, "home"), "PATH=/usr/local/bin:/usr/bin:/bin",
			"FLYTE_CACHE_DIR=" + filepath.Join(root, "cache"), "LANG=C"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
		out, err := cmd.Output()
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
