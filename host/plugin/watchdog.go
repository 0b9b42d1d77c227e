package plugin

import (
	"context"
	"os"
	"time"
)

// Built-in modules run without wazero's deadline checks, under a watchdog.
//
// wazero can stop a call at its deadline only when the module is compiled
// with WithCloseOnContextDone: then every loop header leaves the machine
// code for Go to ask whether the module was closed. A Go guest compiles
// each function to a loop (its goroutine switching), so that is one exit
// per function call and per iteration: measured here, a listing of 100,000
// records took 6 to 8 s with the checks and 1.1 to 1.3 s without
// (docs/PERFORMANCE.md). A third-party plugin keeps the checks: it is
// hostile by assumption. A built-in plugin is flyte's own code, compiled
// from this repository and embedded in the binary; what it cannot be
// trusted with is only what it reads (a store directory someone else
// wrote), and a bug there must not hang flyte either. So a built-in's call
// runs under three bounds instead:
//
//  1. at the deadline, any host function it calls fails the call (a loop
//     that reads, writes or logs stops there), which comes back as the
//     usual "call timed out" and the instance is thrown away;
//  2. a call still running a second later is one that loops without
//     calling the host, and cannot be stopped: the watchdog reports it
//     (Options.Stuck, by default a line on standard error) and ends the
//     process with status 1 (an agent ends; its clients fall back to
//     running the command themselves, and the next one starts a new agent);
//  3. should the Go runtime itself be unable to run the watchdog (a
//     collection waits for every goroutine to stop, and one in wasm machine
//     code never does), a kernel timer kills the process two seconds later
//     (SIGKILL, armed per call; Linux).
//
// Where the kernel timer is not available (not Linux), built-ins run with
// the checks, as every other plugin.

// stuckGrace is how long past its deadline a built-in's call may run
// before the watchdog ends the process; killGrace, before the kernel does.
var (
	stuckGrace = time.Second
	killGrace  = 3 * time.Second
)

// StuckError is what Options.Stuck receives.
type StuckError struct {
	Plugin  string
	Timeout time.Duration
}

func (e *StuckError) Error() string {
	return "plugin " + e.Plugin + ": call did not end within its " + e.Timeout.String() +
		" deadline and cannot be interrupted (a built-in plugin runs without the per-loop checks): flyte stopped"
}

// defaultStuck reports a stuck call on standard error and ends the process.
func defaultStuck(err error) {
	_, _ = os.Stderr.WriteString("flyte: " + err.Error() + "\n")
	os.Exit(1)
}

// watch guards one call of an unchecked (built-in) module that must end by
// its context's deadline; the caller calls the function it returns when
// the call ends.
func (p *Plugin) watch(ctx context.Context) (done func()) {
	if !p.host.unchecked {
		return func() {}
	}
	left := p.Spec.Timeout
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	disarm := armKill(left + killGrace)
	stuck := p.host.opts.Stuck
	if stuck == nil {
		stuck = defaultStuck
	}
	t := time.AfterFunc(left+stuckGrace, func() {
		stuck(&StuckError{Plugin: p.Spec.Name, Timeout: p.Spec.Timeout})
	})
	return func() {
		t.Stop()
		disarm()
	}
}

// pastDeadline is what a host function of an unchecked module panics
// with once its call's deadline passed: the call ends there, and is
// reported as timed out.
type pastDeadline struct{}

func (pastDeadline) Error() string { return "deadline exceeded" }

// checkDeadline stops a call of an unchecked module at its first host call
// after its deadline.
func checkDeadline(ctx context.Context) {
	if ctx.Err() != nil {
		if st := stateOf(ctx); st != nil && st.plugin.host.unchecked {
			st.pastDeadline = true
			panic(pastDeadline{})
		}
	}
}

// UncheckedBuiltins says whether built-in modules run without wazero's
// deadline checks on this platform (Linux on amd64 or arm64).
const UncheckedBuiltins = uncheckedBuiltins
