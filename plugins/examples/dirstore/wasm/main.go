//go:build wasip1

// Command wasm is the dirstore example plugin as a WebAssembly reactor.
// Build it with `make examples`, or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o dirstore.wasm ./plugins/examples/dirstore/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/examples/dirstore"
)

func init() { guest.ServeStore(dirstore.Info, dirstore.New(guest.HostFS())) }

func main() {}
