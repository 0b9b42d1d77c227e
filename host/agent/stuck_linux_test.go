package agent

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/flytesecrets/flyte/host/core"
	"golang.org/x/sys/unix"
)

// An agent that is stopped (SIGSTOP, ^Z) or stuck does not answer: the
// command works without it after answerTimeout, and no agent is started
// beside it. (Found by review: each command waited about 90 s, then said
// no agent was running.)
func TestStoppedAgentNotWaitedFor(t *testing.T) {
	dir := runDir(t)
	c := client(t, dir, "A")
	setup := testSetup(t)
	put(t, c, setup, "ONE")
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(st.PID, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			_ = syscall.Kill(st.PID, syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	var res core.ListResult
	_, err = c.Call(context.Background(), OpList, setup, core.ListRequest{}, &res, nil)
	var ue *UnavailableError
	if !errors.As(err, &ue) || ue.Sent || !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("call to a stopped agent: %v, want an unsent UnavailableError of ErrNoAnswer", err)
	}
	if _, err := c.Status(); !errors.Is(err, ErrNoAnswer) {
		t.Fatalf("status of a stopped agent: %v, want ErrNoAnswer", err)
	}
	resume()
	now, err := c.Status()
	if err != nil || now.PID != st.PID {
		t.Fatalf("status after SIGCONT: %+v %v, want the same agent (pid %d): none was started beside it", now, err, st.PID)
	}
	if _, err := c.Call(context.Background(), OpList, setup, core.ListRequest{}, &res, nil); err != nil || len(res.Secrets) != 1 {
		t.Fatalf("after SIGCONT: %v, %d secrets", err, len(res.Secrets))
	}
}

// A request whose context ends (the user interrupted the command) reports
// that, not an unavailable agent: the CLI would otherwise do it again
// in-process.
func TestInterruptedCallNotUnavailable(t *testing.T) {
	dir := runDir(t)
	c := client(t, dir, "A")
	setup := testSetup(t)
	put(t, c, setup, "ONE")
	canceled := 0
	for range 10 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var res core.ListResult
		_, err := c.Call(ctx, OpList, setup, core.ListRequest{}, &res, nil)
		var ue *UnavailableError
		switch {
		case errors.As(err, &ue):
			t.Fatalf("interrupted call: %v, an UnavailableError", err)
		case errors.Is(err, context.Canceled):
			canceled++
		case err != nil:
			t.Fatalf("interrupted call: %v", err)
		}
	}
	if canceled == 0 {
		t.Fatal("no call saw its context end: the test proves nothing")
	}
}

// The agent says it is ready on descriptor 3 only when that is a pipe (as
// spawn gives it); started otherwise, it leaves the descriptor alone.
func TestReadyPipeOnlyPipe(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "fd")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if readyPipe(int(f.Fd())) != nil {
		t.Fatal("a regular file taken for the ready pipe")
	}
	if readyPipe(1<<20) != nil {
		t.Fatal("a closed descriptor taken for the ready pipe")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	fd, err := unix.Dup(int(w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	p := readyPipe(fd)
	if p == nil {
		t.Fatal("a pipe not taken for the ready pipe")
	}
	p.Close()
}

func TestBuildString(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "(not a build id)",
		"aB3_-/x9":                "aB3_-/x9",
		"abc\x1b[2J":              "(not a build id)",
		"abc def":                 "(not a build id)",
		string(make([]byte, 300)): "(not a build id)",
	} {
		if got := BuildString(in); got != want {
			t.Errorf("BuildString(%q) = %q, want %q", in, got, want)
		}
	}
}
