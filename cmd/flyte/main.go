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
	if os.Getenv("GOGC") == "" && !(len(os.Args) == 3 && os.Args[1] == agentServeArg) {
		// A command is a short process: its collector runs when the heap
		// grows fivefold instead of twofold. Over a listing of 100,000
		// secrets it took two fifths of the client's time; a flyte run
		// client's heap stays a few MB whichever (peak RSS 12 MB). The
		// agent, long-lived, keeps Go's default.
		debug.SetGCPercent(400)
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
