//go:build wasip1

// Command wasm is the tmplinject example plugin as a WebAssembly reactor.
// Build it with `make examples`, or:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o tmplinject.wasm ./plugins/examples/tmplinject/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/examples/tmplinject"
)

func init() { guest.ServeInjector(tmplinject.Info, tmplinject.Injector{Config: guest.Config}) }

func main() {}
