//go:build wasip1

// Command hostile is a test plugin that misbehaves on request, so that the
// host's defences can be tested against a real wasm guest. Each op is one
// attack; see host/plugin/hostile_test.go.
package main

import (
	"crypto/rand"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Ops understood by the hostile plugin.
const (
	opSpin     = 1000 // never returns
	opHog      = 1001 // allocates until the memory cap
	opFlood    = 1002 // answers more than the message limit
	opRead     = 1003 // reads the path given as input through the fs capability
	opRandom   = 1004 // answers 32 random bytes
	opEscapes  = 1005 // fails with terminal escapes in its message
	opPanic    = 1006 // panics
	opWrite    = 1007 // writes the input as the file "x/y"
	opSymlinkR = 1008 // reads "link" (a symlink the test plants)
	opSpinHost = 1009 // never returns, calling the host all the while
)

type hostile struct{}

func (hostile) Describe() *abi.Describe {
	return &abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "hostile", Version: "0.0.1", Capabilities: []string{"fs"}}
}

var sink [][]byte

func (hostile) Handle(op abi.Op, in []byte) ([]byte, error) {
	switch op {
	case opSpin:
		//lint:ignore SA5002 the attack: a plugin that never returns
		for {
		}
	case opHog:
		for {
			sink = append(sink, make([]byte, 1<<20))
		}
	case opFlood:
		return make([]byte, abi.MaxMessage+1), nil
	case opRead:
		return guest.HostFS().ReadFile(string(in))
	case opRandom:
		b := make([]byte, 32)
		_, _ = rand.Read(b)
		return b, nil
	case opEscapes:
		return nil, abi.Errorf(abi.InvalidArgument, "bad \x1b[31mred\x1b[0m\r\nline")
	case opPanic:
		panic("boom")
	case opWrite:
		return nil, guest.HostFS().WriteFile("x/y", in, false)
	case opSymlinkR:
		return guest.HostFS().ReadFile("link")
	case opSpinHost:
		for {
			_, _ = guest.HostFS().ReadFile("missing")
		}
	}
	return nil, abi.Errorf(abi.Unimplemented, "unknown op")
}

func init() { guest.Serve(hostile{}) }

func main() {}
