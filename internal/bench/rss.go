package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Peak memory of a command is the ru_maxrss that wait4 reports for it: the
// largest resident set of the process and of every descendant it waited
// for (for flyte run: the task helper and the task), not their sum.
//
// It is not measured from the bench process itself. Go starts a child with
// clone(CLONE_VM|CLONE_VFORK), so the child runs in its parent's memory
// until it execs, and the kernel's exec then raises the child's maxrss to
// the parent's high-water mark (fs/exec.c: setmax_mm_hiwater_rss of the old
// mm). A child of the bench, which may hold a wazero runtime or have just
// written 100,000 secrets, would report at least the bench's own peak. So
// the bench re-runs itself as a small launcher (-rss-exec), which starts
// the command and prints its ru_maxrss and the launcher's own high-water
// mark, the floor under any figure it reports. A bare /bin/true through the
// same launcher is the baseline of every memory row: it shows that floor.

var flagRSSExec = flag.Bool("rss-exec", false, "internal: run the command after the flags as a child, then print its peak RSS (wait4's ru_maxrss) and this launcher's own, in bytes")

// rssExec is the launcher: it runs args as a child with its output
// discarded and its errors passed on, and prints "MAXRSS FLOOR" on
// standard output.
func rssExec(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "bench: -rss-exec needs a command")
		return 2
	}
	floor := highWaterMark()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = nil, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "bench: no rusage on this system")
		return 1
	}
	fmt.Printf("%d %d\n", ru.Maxrss<<10, floor) // kilobytes on Linux
	return 0
}

// highWaterMark is this process's peak resident set so far (VmHWM), in
// bytes; 0 when unknown.
func highWaterMark() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// peakRSS runs bin with args in e through the launcher and returns the
// command's peak RSS in bytes (carried in a time.Duration, so that the
// samples go through alternate and summarize like times).
func (e env) peakRSS(bin string, args ...string) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	done, err := busy()
	if err != nil {
		return 0, err
	}
	defer done()
	var stderr, stdout bytes.Buffer
	cmd := e.command(&stderr, self, append([]string{"-rss-exec", "--", bin}, args...)...)
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		return 0, commandError(bin, args, err, &stderr)
	}
	f := strings.Fields(stdout.String())
	if len(f) != 2 {
		return 0, fmt.Errorf("the launcher's answer is not two numbers")
	}
	rss, err1 := strconv.ParseInt(f[0], 10, 64)
	floor, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil || rss <= 0 || floor < 0 {
		return 0, fmt.Errorf("the launcher's answer is not two numbers")
	}
	launcherFloor = max(launcherFloor, floor)
	return time.Duration(rss), nil
}

// launcherFloor is the highest high-water mark a launcher reported: no
// peak RSS the bench prints can be below it.
var launcherFloor int64
