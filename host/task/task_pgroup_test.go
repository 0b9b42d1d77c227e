//go:build linux && flytepgroup

package task

// The macOS runner, run on Linux: go test -tags flytepgroup ./host/task.

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/host/inject"
)

func runSh(t *testing.T, script string, mask [][]byte) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code, err := Run(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", script}, Env: []string{"V=the-value"},
		Stdin: strings.NewReader("in\n"), Stdout: &out, Stderr: &errb, Mask: mask})
	if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// An env task runs as flyte's child: environment, input, masked output and
// exit status.
func TestPgroupRuns(t *testing.T) {
	code, out, errs := runSh(t, `read l; echo "$l $V"; echo oops >&2; exit 3`, [][]byte{[]byte("the-value")})
	if code != 3 || out != "in *****\n" || errs != "oops\n" {
		t.Fatalf("code %d, stdout %q, stderr %q", code, out, errs)
	}
	code, _, _ = runSh(t, `kill -TERM $$`, nil)
	if code != 128+int(syscall.SIGTERM) {
		t.Fatalf("killed task: code %d", code)
	}
	if _, err := Run(Spec{Path: "/nonexistent", Args: []string{"x"}}); err == nil {
		t.Fatal("a missing command started")
	} else if se := (*StartError)(nil); !errors.As(err, &se) || se.Code != 127 {
		t.Fatalf("missing command: %v", err)
	}
}

// What the task leaves behind in its process group is killed when it ends,
// even while it holds the task's output open.
func TestPgroupKillsLeftovers(t *testing.T) {
	_, out, _ := runSh(t, `sleep 1000 & echo $!`, [][]byte{})
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("stdout %q", out)
	}
	// SIGKILL is sent; wait (by count) until the process is gone or dead.
	for i := 0; ; i++ {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			break
		}
		if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); f[0] == "Z" || f[0] == "X" {
			break
		}
		if i == 3000 {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("leftover %d still runs", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// File secrets are refused before anything starts.
func TestPgroupRefusesFiles(t *testing.T) {
	_, err := Run(Spec{Path: "/bin/true", Args: []string{"true"}, Files: []inject.File{{Name: "k", Mode: 0o400, Value: []byte("v")}}})
	var fe *FileSecretsError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v", err)
	}
}

// readyWriter reports the first write that holds "ready". (It embeds no
// bytes.Buffer, whose ReadFrom io.Copy would call instead of Write.)
type readyWriter struct {
	buf   bytes.Buffer
	ready chan struct{}
}

func (w *readyWriter) String() string { return w.buf.String() }

func (w *readyWriter) Write(b []byte) (int, error) {
	n, err := w.buf.Write(b)
	if w.ready != nil && strings.Contains(w.buf.String(), "ready") {
		close(w.ready)
		w.ready = nil
	}
	return n, err
}

// A signal flyte gets is passed on to the task's whole process group.
func TestPgroupForwardsSignals(t *testing.T) {
	out := &readyWriter{ready: make(chan struct{})}
	ready := out.ready
	go func() {
		<-ready
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}()
	code, err := Run(Spec{Path: "/bin/sh", Args: []string{"sh", "-c", `sleep 1000 & trap 'echo got-term; exit 7' TERM; echo ready; wait`},
		Stdin: strings.NewReader(""), Stdout: out, Stderr: os.Stderr})
	if err != nil || code != 7 || out.String() != "ready\ngot-term\n" {
		t.Fatalf("code %d, err %v, stdout %q", code, err, out.String())
	}
}
