//go:build wasip1

// Command wasm is the built-in etcd store plugin as a WebAssembly reactor.
// Build it with (the Makefile does):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o host/builtin/wasm/etcd.wasm ./plugins/etcdstore/wasm
package main

import (
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/etcdstore"
)

func init() {
	guest.ServeStore(etcdstore.Info, etcdstore.New(guest.HostHTTP(), guest.Config, guest.TimeLeft))
}

func main() {}
