//go:build !linux

package main

// harden does nothing here: there is no portable way to keep a process of
// the same user from reading flyte's environment (ps eww on macOS shows
// it), which is why the README recommends FLYTE_IDENTITY_FILE or
// FLYTE_IDENTITY_CMD over FLYTE_IDENTITY outside Linux.
func harden() {}
