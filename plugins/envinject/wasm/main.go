//go:build wasip1

// Command wasm is the built-in envinject plugin as a WebAssembly reactor.
// Build it with (the Makefile does):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o host/builtin/wasm/envinject.wasm ./plugins/envinject/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/envinject"
)

func init() { guest.ServeInjector(envinject.Info, envinject.Injector{}) }

func main() {}
