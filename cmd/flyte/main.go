// Command flyte keeps secrets for tasks: it seals them into a store that
// runs as a WebAssembly plugin and hands them to tasks that may see them.
// See the README for a tour and `flyte --help` for the commands.
package main

import (
	"os"
	"runtime/debug"

	"github.com/flytesecrets/flyte/host/task"
)

func main() {
	// First: before anything is read, flyte's environment and memory are
	// kept from other processes of the user (a task among them).
	harden()
	if len(os.Args) == 2 && os.Args[1] == task.InitArg {
		task.InitMain() // flyte as a task's helper, in its namespaces
	}
	if os.Getenv("GOGC") == "" {
		// A command is a short process: its collector runs when the heap
		// grows fivefold instead of twofold. Over a listing of 100,000
		// secrets it took two fifths of the client's time; a flyte run
		// client's heap stays a few MB whichever (peak RSS 12 MB). The
		// agent, long-lived, trades less: threefold. Its collector took
		// about a tenth of a listing of 100,000 secrets; at 200 a listing
		// is about 5% faster and the agent's RSS after it 300 MB, not
		// 250 (docs/PERFORMANCE.md). At 1,000 secrets its heap is a few MB.
		gc := 400
		if len(os.Args) == 3 && os.Args[1] == agentServeArg {
			gc = 200
		}
		debug.SetGCPercent(gc)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
