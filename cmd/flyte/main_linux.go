package main

import "golang.org/x/sys/unix"

// harden makes flyte's process non-dumpable, as ssh-agent does: a process
// of the same user, such as a task, can then neither read flyte's
// /proc/PID/environ (which holds FLYTE_IDENTITY when it is set) nor its
// memory (/proc/PID/mem, ptrace), which holds the identity, the data keys
// and the secrets. flyte's own /proc/self stays readable to it; a program
// flyte starts is dumpable again once it has exec'd, unless it does this
// too. Only a process with CAP_SYS_PTRACE (root) still reads it.
func harden() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
