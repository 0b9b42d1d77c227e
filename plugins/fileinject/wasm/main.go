//go:build wasip1

// Command wasm is the built-in fileinject plugin as a WebAssembly reactor.
// Build it with (the Makefile does):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o host/builtin/wasm/fileinject.wasm ./plugins/fileinject/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/fileinject"
)

func init() { guest.ServeInjector(fileinject.Info, fileinject.Injector{}) }

func main() {}
