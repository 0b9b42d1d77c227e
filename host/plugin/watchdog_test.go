package plugin_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
)

const opSpinHost = 1009

func builtinSpec(s *plugin.Spec) {
	s.Builtin = true
	s.Timeout = 300 * time.Millisecond
}

func needUnchecked(t *testing.T) {
	t.Helper()
	if !plugin.UncheckedBuiltins {
		t.Skip("built-in plugins keep wazero's checks on this platform")
	}
}

// A built-in plugin's call that loops through the host stops at its first
// host call past the deadline, as any plugin's would: the same error, and
// the plugin goes on answering.
func TestBuiltinStopsAtHostCall(t *testing.T) {
	needUnchecked(t)
	p := mustLoad(t, builtinSpec)
	start := time.Now()
	_, err := p.Call(context.Background(), opSpinHost, nil)
	if err == nil || err.Error() != "plugin hostile: call timed out after 300ms" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call ended after %v", d)
	}
	alive(t, p)
}

// stuckChild runs this test binary as a child that loads the hostile
// plugin as a built-in and makes it spin without calling the host; how
// says what the child does besides (see TestMain).
func stuckChild(t *testing.T, how string) (stderr string, took time.Duration, err error) {
	t.Helper()
	needUnchecked(t)
	buildHostile(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestStuckChild$")
	// The child is killed, so it cannot remove a directory of its own.
	cmd.Env = append(os.Environ(), "FLYTE_TEST_STUCK="+how, "FLYTE_TEST_STUCK_WASM="+hostilePath(t), "FLYTE_TEST_STUCK_DIR="+t.TempDir())
	var b strings.Builder
	cmd.Stderr = &b
	start := time.Now()
	err = cmd.Run()
	return b.String(), time.Since(start), err
}

// hostilePath writes the hostile plugin to a file for a child.
func hostilePath(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "hostile.wasm")
	if err := os.WriteFile(p, buildHostile(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// The child of stuckChild.
func TestStuckChild(t *testing.T) {
	how := os.Getenv("FLYTE_TEST_STUCK")
	if how == "" {
		t.Skip("run by the stuck tests")
	}
	wasm, err := os.ReadFile(os.Getenv("FLYTE_TEST_STUCK_WASM"))
	if err != nil {
		t.Fatal(err)
	}
	// The cache the other tests share: the module compiles once.
	opts := plugin.Options{CacheDir: filepath.Join(os.TempDir(), "flyte-test-cache-plugin")}
	if how == "stuck-hook-blocks" {
		opts.Stuck = func(error) { select {} } // as if the Go runtime could not run the watchdog
	}
	h, err := plugin.NewHost(opts)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(context.Background(), plugin.Spec{Name: "hostile", Wasm: wasm, Kind: abi.KindStore, Builtin: true,
		Timeout: 300 * time.Millisecond, Grants: fsGrant(os.Getenv("FLYTE_TEST_STUCK_DIR"))})
	if err != nil {
		t.Fatal(err)
	}
	if how == "gc" {
		// A collection needs every goroutine stopped; one in wasm machine
		// code never stops, so this one waits for ever, and so does
		// everything that needs the world stopped meanwhile.
		go func() {
			time.Sleep(100 * time.Millisecond)
			runtime.GC()
		}()
	}
	_, err = p.Call(context.Background(), opSpin, nil)
	t.Fatalf("the call returned: %v", err)
}

// A built-in plugin's call that spins without calling the host cannot be
// stopped: a second after its deadline the watchdog says so and ends the
// process, with status 1. When a collection had begun before the call
// (the test binary allocates while it loads the plugin; so may flyte), the
// watchdog cannot run, and the kernel's timer kills the process instead:
// either way it ends, and what it says, if anything, is the line below.
func TestBuiltinStuckEndsProcess(t *testing.T) {
	stderr, took, err := stuckChild(t, "default")
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child: %v; stderr:\n%s", err, stderr)
	}
	if ws := exit.Sys().(syscall.WaitStatus); ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		t.Logf("killed by the kernel's timer after %v: a collection kept the watchdog from running", took)
		return
	}
	if exit.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1; stderr:\n%s", err, stderr)
	}
	const want = "flyte: plugin hostile: call did not end within its 300ms deadline and cannot be interrupted (a built-in plugin runs without the per-loop checks): flyte stopped\n"
	if !strings.HasSuffix(stderr, want) {
		t.Fatalf("stderr:\n%s\nwant it to end with:\n%s", stderr, want)
	}
	t.Logf("ended after %v", took)
}

// When the watchdog itself cannot run, the kernel timer kills the process
// three seconds after the deadline.
func TestBuiltinStuckKilled(t *testing.T) {
	for _, how := range []string{"stuck-hook-blocks", "gc"} {
		t.Run(how, func(t *testing.T) {
			stderr, took, err := stuckChild(t, how)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("child: %v; stderr:\n%s", err, stderr)
			}
			ws := exit.Sys().(syscall.WaitStatus)
			switch {
			case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
			case how == "gc" && exit.ExitCode() == 1 && strings.Contains(stderr, "flyte stopped"):
				// The collection had not begun when the watchdog ran.
			default:
				t.Fatalf("child: %v, want killed by SIGKILL; stderr:\n%s", err, stderr)
			}
			if took > 30*time.Second {
				t.Fatalf("the child took %v", took)
			}
			t.Logf("%v after %v", err, took)
		})
	}
}

// wazero keys its compilation cache on a module's bytes alone: the same
// bytes loaded as a built-in (compiled without the checks) and then as a
// third-party plugin must not share compiled code, or the plugin's spin
// could not be stopped at its deadline.
func TestBuiltinCacheKeptApart(t *testing.T) {
	needUnchecked(t)
	dir := t.TempDir()
	load := func(builtin bool) *plugin.Plugin {
		h, err := plugin.NewHost(plugin.Options{CacheDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		p, err := h.Load(context.Background(), plugin.Spec{Name: "hostile", Wasm: buildHostile(t), Kind: abi.KindStore, Builtin: builtin,
			Timeout: 300 * time.Millisecond, Grants: fsGrant(os.Getenv("FLYTE_TEST_STUCK_DIR"))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close(context.Background()) })
		return p
	}
	alive(t, load(true))
	p := load(false)
	_, err := p.Call(context.Background(), opSpin, nil)
	if err == nil || err.Error() != "plugin hostile: call timed out after 300ms" {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "builtin")); err != nil {
		t.Fatalf("no cache of the built-ins' own: %v", err)
	}
}
