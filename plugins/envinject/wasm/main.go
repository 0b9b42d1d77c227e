// Command wasm writes the built-in envinject plugin's WebAssembly module: the
// injector of package envinject, assembled by plugins/internal/injectwasm (a
// module of a few kilobytes, where Go's wasip1 build of the same code is
// 2 MB, nearly all Go's runtime, that wazero takes a second of CPU to
// compile on first use). go generate in host/builtin runs it:
//
//	go run ./plugins/envinject/wasm host/builtin/wasm/envinject.wasm
package main

import (
	"fmt"
	"os"

	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/envinject"
	"github.com/flytesecrets/flyte/plugins/internal/injectwasm"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: wasm OUT.wasm")
		os.Exit(2)
	}
	d := guest.InjectorHandler(envinject.Info, envinject.Injector{}).Describe()
	if err := os.WriteFile(os.Args[1], injectwasm.Build(injectwasm.Env, d, 0), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "wasm:", err)
		os.Exit(1)
	}
}
