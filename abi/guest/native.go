//go:build !wasip1

package guest

import "github.com/flytesecrets/flyte/abi"

// Outside a wasip1 build there is no host: see serve.go.

func serve(Handler) {}

// marshalOut encodes a call's answer. A native link's caller keeps it, and
// calls may run concurrently: each gets its own.
func marshalOut(m abi.Message) []byte { return abi.Marshal(m) }

func config() []byte { return nil }

func hostLogString(uint32, string) {}

func hostDir() FS { return noHost{} }

func hostRangeDir() RangeFS { return noHost{} }

// noHost is HostFS outside a wasip1 build: every call fails.
type noHost struct{}

var errNoHost = abi.Errorf(abi.Unavailable, "guest.HostFS works only in a wasip1 build")

func (noHost) ReadFile(string) ([]byte, error)           { return nil, errNoHost }
func (noHost) WriteFile(string, []byte, bool) error      { return errNoHost }
func (noHost) Remove(string) error                       { return errNoHost }
func (noHost) ReadDir(string) ([]abi.DirEntry, error)    { return nil, errNoHost }
func (noHost) Lock(string) error                         { return errNoHost }
func (noHost) ReadAt(string, int64, []byte) (int, error) { return 0, errNoHost }
func (noHost) WriteAt(string, int64, []byte) error       { return errNoHost }
func (noHost) Rename(string, string) error               { return errNoHost }
func (noHost) RemoveAll(string) error                    { return errNoHost }

func timeLeft() uint32 { return 0 }

func hostNet() HTTP { return noNet{} }

// noNet is HostHTTP outside a wasip1 build: every call fails.
type noNet struct{}

var errNoNet = abi.Errorf(abi.Unavailable, "guest.HostHTTP works only in a wasip1 build")

func (noNet) Do(*abi.HTTPRequest) (*abi.HTTPResponse, error) { return nil, errNoNet }
func (noNet) Credential(string) ([]byte, error)              { return nil, errNoNet }
