//go:build wasip1

// Command wasm is the built-in filestore plugin as a WebAssembly reactor.
// Build it with (the Makefile does):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o host/builtin/wasm/filestore.wasm ./plugins/filestore/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

func init() { guest.ServeStore(filestore.Info, filestore.New(guest.HostRangeFS()).ConvertOnWrite()) }

func main() {}
