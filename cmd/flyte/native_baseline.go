//go:build flytenative

// This file exists for benchmarks only. Built with -tags flytenative
// (`go build -tags flytenative -o bin/flyte-native ./cmd/flyte`, which
// `make bench` does itself), flyte links the filestore plugin's Go code
// natively instead of loading its WebAssembly module (internal/nativestore):
// the same store code, ABI codec and dispatch over the same fs capability,
// only without Wasm. It is the baseline the Wasm host is measured against, and
// it reads and writes the same on-disk store as a normal flyte. Never ship
// it: it bypasses the plugin sandbox.
//
// It differs from flyte only where Wasm is involved: no "compiling plugin"
// line on a cold cache, and the configured store plugin (store.plugin,
// [plugins.NAME]) is not consulted, since core.Options.NativeStore replaces
// whatever store the configuration names. The testscript suite passes with
// -tags flytenative except for the two scripts that check exactly that.

package main

import (
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/internal/nativestore"
)

func init() {
	nativeStore = func(dir string) core.Store { return nativestore.New(dir) }
}
