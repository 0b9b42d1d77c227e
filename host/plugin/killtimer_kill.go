//go:build linux && (amd64 || arm64)

package plugin

import (
	"syscall"
	"time"
	"unsafe"
)

// uncheckedBuiltins: the kernel timer of the watchdog exists (watchdog.go).
const uncheckedBuiltins = true

// sigevent is struct sigevent of Linux (64 bytes), for SIGEV_SIGNAL.
type sigevent struct {
	value  uint64
	signo  int32
	notify int32
	_      [12]int32
}

type itimerspec struct{ interval, value syscall.Timespec }

// armKill arms a POSIX timer that sends the process SIGKILL after d; the
// function it returns deletes it. If the timer cannot be made, nothing is
// armed (the Go watchdog still runs).
func armKill(d time.Duration) (disarm func()) {
	ev := sigevent{signo: int32(syscall.SIGKILL), notify: 0 /* SIGEV_SIGNAL */}
	var id int32
	if _, _, e := syscall.RawSyscall(syscall.SYS_TIMER_CREATE, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ev)), uintptr(unsafe.Pointer(&id))); e != 0 {
		return func() {}
	}
	spec := itimerspec{value: syscall.NsecToTimespec(max(d, time.Millisecond).Nanoseconds())}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_TIMER_SETTIME, uintptr(id), 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); e != 0 {
		_, _, _ = syscall.RawSyscall(syscall.SYS_TIMER_DELETE, uintptr(id), 0, 0)
		return func() {}
	}
	return func() { _, _, _ = syscall.RawSyscall(syscall.SYS_TIMER_DELETE, uintptr(id), 0, 0) }
}
