//go:build !linux

package identity

import "syscall"

// childAttr is FLYTE_IDENTITY_CMD's shell's: there is no parent-death
// signal outside Linux.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
