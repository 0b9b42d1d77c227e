//go:build !linux

package agent

import (
	"errors"
	"net"
	"os"
)

// The agent runs on Linux only: elsewhere every command works in-process.

var errUnsupported = errors.New("the agent runs on Linux only")

type socketDir struct{ path string }

func openDir(string, bool) (*socketDir, error)                 { return nil, errUnsupported }
func (d *socketDir) Close() error                              { return nil }
func (d *socketDir) socketAddr() (string, error)               { return "", errUnsupported }
func (d *socketDir) lock(string, bool) (*os.File, bool, error) { return nil, false, errUnsupported }
func (d *socketDir) removeSocket() error                       { return errUnsupported }
func peerUID(*net.UnixConn) (uint32, error)                    { return 0, errUnsupported }

func (d *socketDir) chmodSocket(uint32) error { return errUnsupported }
func fileStamp(string) string                 { return "" }
func readyPipe(int) *os.File                  { return nil }

const supported = false
