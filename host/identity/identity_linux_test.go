package identity

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A signal that would end flyte while FLYTE_IDENTITY_CMD runs stops the
// command's whole process group first, not only its shell: nothing it
// started is left running under PID 1. The test process is a subreaper, so
// that it can wait for the command's background child.
func TestSignalStopsCommandGroup(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a subreaper: %v", err)
	}
	defer func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) }()
	fifo := filepath.Join(t.TempDir(), "ready")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	src := Resolve(env(map[string]string{EnvCmd: "sleep 300 & echo $! > " + fifo + "; wait"}), "")
	var signaled os.Signal
	src.Signaled = func(sig os.Signal) { signaled = sig }
	done := make(chan error, 1)
	go func() {
		_, err := src.Load()
		done <- err
	}()
	// Opening the fifo waits for the command to write it: it runs.
	b, err := os.ReadFile(fifo)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("the command's child: %q", b)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = <-done
	if want := "flyte got signal 15 (terminated) and stopped FLYTE_IDENTITY_CMD"; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
	if signaled != syscall.SIGTERM {
		t.Errorf("Signaled got %v, want SIGTERM", signaled)
	}
	// The background sleep was killed with its group (or else this waits
	// for it, and the test's deadline tells).
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(child, &ws, 0, nil); err != nil {
		t.Fatalf("waiting for the command's child %d: %v", child, err)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the command's child ended with %v, want SIGKILL", ws)
	}
	// A later command runs with the signals as they were.
	if _, err := Resolve(env(map[string]string{EnvCmd: "exit 3"}), "").Load(); err == nil || err.Error() != "FLYTE_IDENTITY_CMD failed with exit status 3" {
		t.Errorf("after a signal: %v", err)
	}
}
