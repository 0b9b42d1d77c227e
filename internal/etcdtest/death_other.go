//go:build !linux

package etcdtest

import "os/exec"

// dieWithParent does nothing where there is no parent-death signal: the
// test's cleanup stops the cluster.
func dieWithParent(*exec.Cmd) {}
