package identity

import "syscall"

// childAttr is FLYTE_IDENTITY_CMD's shell's: it gets SIGKILL when flyte
// dies, however flyte dies.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
