// Package conformance checks that a plugin keeps the contract of
// abi/SPEC.md, by calling it as the host would and comparing its answers
// with what the specification says: for a store, create/get/update/delete
// with compare-and-set, record kinds, opaque sealed values, listing order
// and paging, filters, scope isolation, store-wide values, unknown ops and
// records it cannot read; for an injector, deterministic plans that pass
// the host's validator, and clean errors for requests it does not handle.
// It is what `flyte plugin test` runs.
//
// A store is tested against its grant: a fresh, empty directory
// (Options.Dir), or for a network store the origins the user granted. Each
// run writes under names of its own (organizations conformance-<8 hex>...,
// meta values conformance_meta_<8 hex>...), so a second run against the
// same backend starts clean, and it deletes every record it created at the
// end; meta values stay (the ABI has no META_DELETE), and the "clean up"
// check's note names them. The check of records it cannot read damages,
// then restores, the files this run added to Options.Dir. Every check is
// independent of the others' outcome (each uses keys of its own), so one
// failure does not hide another, and a plugin that traps or hangs fails
// that check only.
package conformance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// Result is the outcome of one check.
type Result struct {
	// Name says what was checked, in a few words.
	Name string
	// Err says what is wrong; nil when the check passed or was skipped.
	Err error
	// Skip, when set, says why the check did not apply.
	Skip string
	// Note, on a check that passed, is what the report should still say:
	// what the suite could not clean up.
	Note string

	// render marks a check of RENDER on an injector that lists it.
	render bool
}

// String is the result's line of the report: "ok   NAME", "FAIL NAME:
// why", "skip NAME: why" or "note NAME: what" (a pass with a note).
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return "FAIL " + r.Name + ": " + r.Err.Error()
	case r.Skip != "":
		return "skip " + r.Name + ": " + r.Skip
	case r.Note != "":
		return "note " + r.Name + ": " + r.Note
	}
	return "ok   " + r.Name
}

// Summary is the report's last words: "N checks, all passed", "..., all
// passed (K skipped)", "..., F failed", and ", RENDER not exercised" when an
// injector that lists RENDER refused every output the suite asked for.
func Summary(rs []Result) string {
	skipped, render, renderRun := 0, 0, 0
	for _, r := range rs {
		if r.Skip != "" {
			skipped++
		}
		if r.render {
			render++
			if r.Skip == "" {
				renderRun++
			}
		}
	}
	s := fmt.Sprintf("%d checks, ", len(rs))
	switch n := Failed(rs); {
	case n > 0:
		s += fmt.Sprintf("%d failed", n)
	case skipped > 0:
		s += fmt.Sprintf("all passed (%d skipped)", skipped)
	default:
		s += "all passed"
	}
	if render > 0 && renderRun == 0 {
		s += ", RENDER not exercised (the injector refused every output)"
	}
	return s
}

// runID is 8 random hex digits, which name what one run writes.
func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
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

func (e *malformed) Error() string {
	return "answered bytes that do not decode as " + OpName(e.op) + "'s response message"
}

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
		return fmt.Errorf("%s: %v; want %s", what, short(err), w)
	case got != w:
		return fmt.Errorf("%s answered %s; want %s", what, answered(err), w)
	}
	return nil
}

// answered is the status err carries, with the plugin's message when it
// has one: "not found (secret not found)".
func answered(err error) string {
	var se *abi.StatusError
	if !errors.As(err, &se) {
		return abi.OK.String()
	}
	if m := sanitize.Text(se.Message); m != "" && m != se.Code.String() {
		return fmt.Sprintf("%s (%s)", se.Code, m)
	}
	return se.Code.String()
}

// malformedInputs are requests that decode as no request message: the
// wire format's own errors (abi/SPEC.md, section 5), never a decodable
// request with names the host would not send (section 9: a plugin may
// assume the host validated names).
var malformedInputs = []struct {
	in   []byte
	what string
}{
	{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "11 bytes ff (a varint longer than 10 bytes)"},
	{[]byte{0x0a, 0x7f, 0x01}, "0a 7f 01 (field 1 announces 127 bytes, 1 follows)"},
	{[]byte{0x08, 0x01}, "08 01 (field 1 as a varint, the wrong wire type)"},
	{[]byte{0x18, 0x80}, "18 80 (field 3, a varint cut short)"},
}

// wantMalformed is what the suite expects of a malformed request.
const wantMalformed = "want any status but ok (invalid argument fits), not a crash"

// malformed sends each of malformedInputs as op: any status but OK passes.
func malformedCheck(ctx context.Context, p Caller, ops ...abi.Op) error {
	for _, op := range ops {
		for _, m := range malformedInputs {
			err := callRaw(ctx, p, op, m.in, nil)
			st, ok := status(err)
			switch {
			case !ok:
				return fmt.Errorf("%s of %s: %s; %s", OpName(op), m.what, short(err), wantMalformed)
			case st == abi.OK:
				return fmt.Errorf("%s of %s answered ok; %s", OpName(op), m.what, wantMalformed)
			}
		}
	}
	return nil
}

// notes joins what a check could not do, for Result.Note.
func notes(parts []string) string { return strings.Join(parts, "; ") }

// short is an error of the plugin or host in one line, without the
// "plugin NAME: " prefix that every line of the report would repeat.
func short(err error) string {
	var pe *plugin.Error
	if errors.As(err, &pe) {
		return pe.Msg
	}
	return sanitize.Text(err.Error())
}

var opNames = map[abi.Op]string{
	abi.OpCreate: "CREATE", abi.OpUpdate: "UPDATE", abi.OpGet: "GET", abi.OpList: "LIST", abi.OpDelete: "DELETE",
	abi.OpMetaGet: "META_GET", abi.OpMetaPut: "META_PUT", abi.OpPlan: "PLAN", abi.OpRender: "RENDER",
	abi.OpMetaDelete: "META_DELETE", abi.OpCompact: "COMPACT",
}

// OpName names an op as abi/SPEC.md does: "CREATE", "PLAN"; "op N" for
// one it does not define.
func OpName(op abi.Op) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return fmt.Sprintf("op %d", op)
}
