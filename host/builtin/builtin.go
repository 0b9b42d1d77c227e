// Package builtin holds the built-in plugins' WebAssembly modules, built
// from source by go generate (which make runs) and embedded in the flyte
// binary by file name, so that a build without them fails at build time
// with "pattern wasm/NAME.wasm: no matching files found" instead of giving
// a flyte without its plugins. They are build outputs and never committed.
// Each carries a flyte.describe section (internal/describesection), so
// that flyte plugin inspect shows its kind and ops without running it.
//
// The stores are Go compiled for wasip1. The two injectors are assembled
// by plugins/internal/injectwasm from their Go code's behaviour: a Go
// module is 2 MB of Go's runtime, which wazero takes about a second of CPU
// to compile on first use, for a pure function of a small request; the
// assembled modules are under 2 KB, and FuzzInjectors holds them to what
// the Go code answers.
package builtin

import (
	_ "embed"
	"errors"
)

//go:generate go run ../../plugins/envinject/wasm wasm/envinject.wasm
//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o wasm/etcd.wasm ../../plugins/etcdstore/wasm
//go:generate go run ../../plugins/fileinject/wasm wasm/fileinject.wasm
//go:generate env GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o wasm/filestore.wasm ../../plugins/filestore/wasm
//go:generate go run ../../internal/describesection wasm/envinject.wasm wasm/etcd.wasm wasm/fileinject.wasm wasm/filestore.wasm

var (
	//go:embed wasm/envinject.wasm
	envinject []byte
	//go:embed wasm/etcd.wasm
	etcd []byte
	//go:embed wasm/fileinject.wasm
	fileinject []byte
	//go:embed wasm/filestore.wasm
	filestore []byte
)

// names lists the built-in plugins, sorted.
var names = []string{"envinject", "etcd", "fileinject", "filestore"}

// sources maps a built-in's name to its package under plugins/ where they
// differ: the etcd store is plugins/etcdstore.
var sources = map[string]string{"etcd": "etcdstore"}

// source returns the directory under plugins/ of the named built-in.
func source(name string) string {
	if s, ok := sources[name]; ok {
		return s
	}
	return name
}

func module(name string) ([]byte, bool) {
	switch name {
	case "envinject":
		return envinject, true
	case "etcd":
		return etcd, true
	case "fileinject":
		return fileinject, true
	case "filestore":
		return filestore, true
	}
	return nil, false
}

// ErrMissing is returned for a name that is not a built-in plugin.
var ErrMissing = errors.New("no such built-in plugin")

// Module returns the named built-in module.
func Module(name string) ([]byte, error) {
	b, ok := module(name)
	if !ok {
		return nil, ErrMissing
	}
	return b, check(b)
}

// check refuses an embedded file that is not a WebAssembly module (an empty
// file left where the build's output should be).
func check(b []byte) error {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return errors.New("the copy built into this binary is not a WebAssembly module (rebuild flyte with make install)")
	}
	return nil
}

// Names lists the built-in plugins.
func Names() []string { return append([]string(nil), names...) }
