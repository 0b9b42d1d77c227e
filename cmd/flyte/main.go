// Command flyte keeps secrets for tasks: it seals them into a store that
// runs as a WebAssembly plugin and hands them to tasks that may see them.
// See the README for a tour and `flyte --help` for the commands.
package main

import (
	"os"

	"github.com/flytesecrets/flyte/host/task"
)

func main() {
	// First: before anything is read, flyte's environment and memory are
	// kept from other processes of the user (a task among them).
	harden()
	if len(os.Args) == 2 && os.Args[1] == task.InitArg {
		task.InitMain() // flyte as a task's helper, in its namespaces
	}
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}
