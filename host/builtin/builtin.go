// Package builtin holds the built-in plugins' WebAssembly modules, compiled
// from source by the Makefile and embedded in the flyte binary. They are
// build outputs and never committed.
package builtin

import (
	"embed"
	"errors"
	"io/fs"
	"sort"
	"strings"
)

// The modules are built with (see the Makefile's plugins target):
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -trimpath -ldflags=-s -o host/builtin/wasm/NAME.wasm ./plugins/NAME/wasm
//
//go:embed wasm
var files embed.FS

// ErrMissing is returned for a built-in plugin that was not compiled into
// this binary, which happens when flyte is built with plain `go build`
// instead of `make`.
var ErrMissing = errors.New("built-in plugin missing from this binary (build flyte with make, which compiles the plugins first)")

// Module returns the named built-in module.
func Module(name string) ([]byte, error) {
	b, err := files.ReadFile("wasm/" + name + ".wasm")
	if err != nil {
		return nil, ErrMissing
	}
	return b, nil
}

// Names lists the built-in plugins present in this binary.
func Names() []string {
	ents, _ := fs.ReadDir(files, "wasm")
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".wasm"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}
