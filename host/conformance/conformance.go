// Package conformance checks that a plugin keeps the contract of
// abi/SPEC.md, by calling it as the host would and comparing its answers
// with what the specification says: for a store, create/get/update/delete
// with compare-and-set, record kinds, opaque sealed values, listing order
// and paging, filters, scope isolation, store-wide values, unknown ops and
// records it cannot read; for an injector, deterministic plans that pass
// the host's validator, and clean errors for requests it does not handle.
// It is what `flyte plugin test` runs.
//
// A store is tested against a fresh, empty grant (Options.Dir), which the
// suite fills, changes and finally damages: never run it on a store that
// holds anything of value. Every check is independent of the others'
// outcome (each uses keys of its own), so one failure does not hide
// another, and a plugin that traps or hangs fails that check only.
package conformance

import (
	"context"
	"errors"
	"fmt"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
)

// Result is the outcome of one check.
type Result struct {
	// Name says what was checked, in a few words.
	Name string
	// Err says what is wrong; nil when the check passed or was skipped.
	Err error
	// Skip, when set, says why the check did not apply.
	Skip string
}

// Options configure a run.
type Options struct {
	// Dir is the directory granted to a store as its fs capability: a
	// fresh, private (0700), empty directory of the caller's. "" skips the
	// checks that need to see the store's files.
	Dir string
}

// Caller is a loaded plugin: *plugin.Plugin.
type Caller interface {
	Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error)
}

// Run runs the suite that fits the plugin's kind.
func Run(ctx context.Context, p *plugin.Plugin, o Options) []Result {
	if p.Info.Kind == abi.KindInjector {
		return Injector(ctx, p, o)
	}
	return Store(ctx, p, o)
}

// Failed counts the results that failed.
func Failed(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Err != nil {
			n++
		}
	}
	return n
}

// check is one named check.
type check struct {
	name string
	run  func(ctx context.Context) error
}

// skipError marks a check that does not apply.
type skipError struct{ why string }

func (e *skipError) Error() string { return e.why }

func skip(why string) error { return &skipError{why} }

// runChecks runs checks in order, each under its own recovery: a panic of
// the suite on an answer it did not foresee is that check's failure.
func runChecks(ctx context.Context, checks []check) []Result {
	out := make([]Result, 0, len(checks))
	for _, c := range checks {
		r := Result{Name: c.name}
		err := safe(ctx, c.run)
		var sk *skipError
		switch {
		case errors.As(err, &sk):
			r.Skip = sk.why
		case err != nil:
			r.Err = err
		}
		out = append(out, r)
	}
	return out
}

func safe(ctx context.Context, f func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("the suite failed on an answer: %v", r)
		}
	}()
	return f(ctx)
}

// call sends one request and decodes the answer into resp (when not nil).
// A status comes back as an *abi.StatusError, a crash, a timeout or a
// malformed answer as another error.
func call(ctx context.Context, p Caller, op abi.Op, req, resp abi.Message) error {
	var in []byte
	if req != nil {
		in = abi.Marshal(req)
	}
	return callRaw(ctx, p, op, in, resp)
}

func callRaw(ctx context.Context, p Caller, op abi.Op, in []byte, resp abi.Message) error {
	out, err := p.Call(ctx, op, in)
	if err != nil {
		return err
	}
	if resp != nil {
		if err := abi.Unmarshal(out, resp); err != nil {
			return &malformed{op: op}
		}
	}
	return nil
}

type malformed struct{ op abi.Op }

func (e *malformed) Error() string { return "answered " + OpName(e.op) + " with a malformed message" }

// status returns the status an error carries, and whether it is a status
// at all (not a crash, a timeout or a malformed answer).
func status(err error) (abi.Status, bool) {
	if err == nil {
		return abi.OK, true
	}
	var se *abi.StatusError
	if errors.As(err, &se) {
		return se.Code, true
	}
	return 0, false
}

// want checks that err carries the status w; what names the request.
func want(what string, err error, w abi.Status) error {
	got, ok := status(err)
	switch {
	case !ok:
		return fmt.Errorf("%s: %v", what, short(err))
	case got != w:
		return fmt.Errorf("%s answered %s; want %s", what, got, w)
	}
	return nil
}

// short is an error of the plugin or host in one line, without the
// "plugin NAME: " prefix that every line of the report would repeat.
func short(err error) string {
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe.Msg
	}
	return plugin.Sanitize(err.Error())
}

var opNames = map[abi.Op]string{
	abi.OpCreate: "CREATE", abi.OpUpdate: "UPDATE", abi.OpGet: "GET", abi.OpList: "LIST", abi.OpDelete: "DELETE",
	abi.OpMetaGet: "META_GET", abi.OpMetaPut: "META_PUT", abi.OpPlan: "PLAN", abi.OpRender: "RENDER",
}

// OpName names an op as abi/SPEC.md does: "CREATE", "PLAN"; "op N" for
// one it does not define.
func OpName(op abi.Op) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("op %d", op)
}
