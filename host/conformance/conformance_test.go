package conformance_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/conformance"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// cache is the compiled-plugin cache cmd/flyte's tests share.
var cache = filepath.Join(os.TempDir(), fmt.Sprintf("flyte-test-cache-%d", os.Getuid()))

func load(t *testing.T, name string, wasm []byte, dir string) *plugin.Plugin {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	spec := plugin.Spec{Name: name, Wasm: wasm}
	if dir != "" {
		spec.Grants = map[string]capability.Grant{"fs": capability.FSGrant(dir)}
	}
	p, err := h.Load(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// grant is a fresh private directory, as flyte plugin test grants.
func grant(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "grant")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

func report(rs []conformance.Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintln(&b, r)
	}
	fmt.Fprintln(&b, conformance.Summary(rs))
	return b.String()
}

// Every built-in plugin passes its suite; the etcd store's needs an etcd
// and an http grant, and runs in host/builtin (TestEtcdStore).
func TestBuiltins(t *testing.T) {
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
			if name == "etcd" {
				t.Skip("needs an etcd: host/builtin's etcd tests run its suite")
			}
			wasm, err := builtin.Module(name)
			if err != nil {
				t.Fatal(err)
			}
			dir := ""
			if name == "filestore" {
				dir = grant(t)
			}
			p := load(t, name, wasm, dir)
			rs := conformance.Run(context.Background(), p, conformance.Options{Dir: dir})
			if conformance.Failed(rs) > 0 || len(rs) < 10 || strings.Contains(report(rs), "not exercised") {
				t.Fatalf("%s:\n%s", name, report(rs))
			}
			t.Logf("%s:\n%s", name, report(rs))
		})
	}
}

// buildPlugin compiles a test plugin of testdata/plugins.
func buildPlugin(t *testing.T, name string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), name+".wasm")
	if err := wasmtest.BuildGo("../../testdata/plugins/"+name, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The broken store fails exactly the checks of the rules it breaks, each
// with a message that says what was sent, what came back and what was
// expected.
func TestBrokenStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := grant(t)
	p := load(t, "brokenstore", buildPlugin(t, "brokenstore"), dir)
	rs := conformance.Run(context.Background(), p, conformance.Options{Dir: dir})
	got := map[string]string{}
	id := regexp.MustCompile(`(conformance-|all-orgs-)[0-9a-f]{8}`) // this run's names
	for _, r := range rs {
		if r.Err != nil {
			got[r.Name] = id.ReplaceAllString(r.Err.Error(), "${1}ID")
		}
	}
	order := `; want (project, domain, key) order, byte-wise with "" first`
	want := map[string]string{
		"update": `UPDATE of ""/""/"update" expecting version 1 answered version 1; want 2`,
		"update with a stale version (compare-and-set)": `UPDATE of ""/""/"update-conflict" expecting version 1, now version 2, answered ok; want conflict`,
		"update with any version":                       `UPDATE of ""/""/"update-any" (version 1) with expected_version 0 answered version 1; want 2`,
		"list order":                                    `LIST (no filter) answered "beta"/"production"/"-dash" after "beta"/"production"/"0zero" (page 1)` + order,
		"list pages of 2":                               `LIST (limit=2) answered ""/""/"-dash" after ""/""/"0zero" (page 1)` + order,
		"list pages of 3":                               `LIST (limit=3) answered ""/""/"0zero" after ""/""/"A" (page 1)` + order,
		"list filters":                                  `LIST (project="") answered ""/"production"/"Z" after ""/"production"/"_under" (page 1)` + order,
		"scope isolation":                               `after writes to the same key in other scopes: GET of "p"/""/"shared" answered version 1; want 2`,
		// It is a filestore underneath, so it speaks 1.3, with the same faults.
		"compact (1.3)":                 `after COMPACT: GET of ""/""/"compact" answered version 1; want 2`,
		"list every organization (1.3)": `LIST (all_orgs, key="all-orgs-ID", limit=0) answered conformance-ID-all-b/""/"d"/"all-orgs-ID" as entry 1; want conformance-ID-all-a/""/""/"all-orgs-ID" (order: organization, project, domain, key)`,
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got  %q\nwant %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("failed checks:\n%s", report(rs))
	}
	if s := conformance.Summary(rs); s != "38 checks, 10 failed" {
		t.Errorf("summary %q", s)
	}
}

// Two runs against the same backend both pass: each writes under names of
// its own and deletes its records at the end, so nothing of the first
// (but its meta values, which the note names) is there for the second to
// trip on. With Dir set (the suite sees the files, and damages and
// restores its own), and without (as for a network store).
func TestRunTwice(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	for _, seeFiles := range []bool{true, false} {
		dir := grant(t)
		opts := conformance.Options{}
		if seeFiles {
			opts.Dir = dir
		}
		for run := range 2 {
			p := load(t, "filestore", wasm, dir)
			rs := conformance.Run(context.Background(), p, opts)
			if conformance.Failed(rs) > 0 {
				t.Fatalf("files seen %t, run %d:\n%s", seeFiles, run+1, report(rs))
			}
			// A 1.3 store: the clean-up deleted the meta values too.
			last := rs[len(rs)-1]
			if last.Name != "clean up" || last.Note != "" {
				t.Fatalf("files seen %t, run %d: last result %q", seeFiles, run+1, last)
			}
			ents, err := os.ReadDir(filepath.Join(dir, "meta"))
			if err != nil && !os.IsNotExist(err) || len(ents) > 0 {
				t.Fatalf("files seen %t, run %d: meta values left: %v %v", seeFiles, run+1, ents, err)
			}
		}
		// No record is left: a listing of every organization shows none
		// (the store is a log's, which keeps deleted records until it is
		// compacted, and its secrets is the format marker).
		out, err := load(t, "filestore", wasm, dir).Call(context.Background(), abi.OpList, abi.Marshal(&abi.ListRequest{AllOrgs: true}))
		var resp abi.ListResponse
		if err != nil || abi.Unmarshal(out, &resp) != nil || len(resp.Records)+len(resp.Damaged) > 0 {
			t.Errorf("files seen %t: left in the store: %+v %v", seeFiles, resp, err)
		}
	}
}

// renderer is an injector for the RENDER checks: PLAN and the rest as the
// built-in envinject, RENDER answered by render (nil: refused).
type renderer struct {
	p      *plugin.Plugin
	render func(*abi.RenderRequest) (*abi.RenderPlan, error)
}

func (r renderer) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if op != abi.OpRender {
		return r.p.Call(ctx, op, in)
	}
	var req abi.RenderRequest
	if err := abi.Unmarshal(in, &req); err != nil {
		return nil, abi.Errorf(abi.InvalidArgument, "bad request")
	}
	plan, err := r.render(&req)
	if err != nil {
		return nil, err
	}
	return abi.Marshal(plan), nil
}

func renderInjector(t *testing.T, render func(*abi.RenderRequest) (*abi.RenderPlan, error)) (conformance.Caller, abi.Describe) {
	wasm, err := builtin.Module("envinject")
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, "envinject", wasm, "")
	info := p.Info
	info.Minor = abi.MinorRender
	info.Ops = append(info.Ops, abi.OpRender)
	return renderer{p, render}, info
}

// filesOnly renders each file output as its first secret, and refuses a
// request with a variable in it.
func filesOnly(req *abi.RenderRequest) (*abi.RenderPlan, error) {
	plan := &abi.RenderPlan{}
	for _, o := range req.Outputs {
		if o.Env != "" {
			return nil, abi.Errorf(abi.InvalidArgument, "renders files only, not ", o.Env)
		}
		plan.Outputs = append(plan.Outputs, abi.Output{ID: o.ID, Parts: []abi.Part{{Text: []byte("v=")}, {Ref: o.Refs[0]}}})
	}
	return plan, nil
}

// RENDER is checked once per kind of output: an injector that renders only
// files passes the file check and skips the others with its own reason; one
// that refuses everything skips all three, and the summary says RENDER was
// not exercised; a refusal with INTERNAL and a plan the host refuses fail,
// saying what was sent.
func TestRender(t *testing.T) {
	ctx := context.Background()
	lines := func(rs []conformance.Result) string { return report(rs) }

	p, info := renderInjector(t, filesOnly)
	rs := conformance.InjectorOf(ctx, p, info, conformance.Options{})
	out := lines(rs)
	for _, w := range []string{
		"ok   render a file\n",
		`skip render a variable: refused cleanly: invalid argument (renders files only, not DATABASE_URL)` + "\n",
		`skip render several outputs: refused cleanly: invalid argument (renders files only, not DATABASE_URL)` + "\n",
		"13 checks, all passed (5 skipped)\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("files only: no %q in\n%s", w, out)
		}
	}

	p, info = renderInjector(t, func(*abi.RenderRequest) (*abi.RenderPlan, error) {
		return nil, abi.Errorf(abi.Unimplemented, "no templates configured")
	})
	out = lines(conformance.InjectorOf(ctx, p, info, conformance.Options{}))
	for _, w := range []string{
		`skip render a file: refused cleanly: unimplemented (no templates configured)` + "\n",
		"13 checks, all passed (6 skipped), RENDER not exercised (the injector refused every output)\n",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("refuses all: no %q in\n%s", w, out)
		}
	}

	p, info = renderInjector(t, func(*abi.RenderRequest) (*abi.RenderPlan, error) {
		return nil, abi.Errorf(abi.Internal, "oops")
	})
	out = lines(conformance.InjectorOf(ctx, p, info, conformance.Options{}))
	w := `FAIL render a variable: RENDER of variable DATABASE_URL from db_user, db_password answered internal error (oops); want a render plan, or a clean status (invalid argument, unimplemented) for an output it cannot render` + "\n"
	if !strings.Contains(out, w) || !strings.Contains(out, "13 checks, 3 failed\n") {
		t.Errorf("internal: no %q in\n%s", w, out)
	}

	p, info = renderInjector(t, func(req *abi.RenderRequest) (*abi.RenderPlan, error) {
		plan, _ := filesOnly(&abi.RenderRequest{Outputs: []abi.OutputRequest{{ID: 99, File: "x", Refs: []uint32{1}}}})
		return plan, nil
	})
	out = lines(conformance.InjectorOf(ctx, p, info, conformance.Options{}))
	w = "FAIL render a file: RENDER of file app.conf from db_user, db_password answered a plan the host refuses: "
	if !strings.Contains(out, w) {
		t.Errorf("bad plan: no %q in\n%s", w, out)
	}
	t.Log(out)
}

// refusing is the built-in filestore, but DELETE of the key "large" is
// refused, as a backend might.
type refusing struct{ p *plugin.Plugin }

func (r refusing) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	var req abi.KeyRequest
	if op == abi.OpDelete && abi.Unmarshal(in, &req) == nil && req.Key == "large" {
		return nil, abi.Errorf(abi.PermissionDenied, "backend refused")
	}
	return r.p.Call(ctx, op, in)
}

// A record the clean-up cannot delete is a note naming it and the answer,
// not a failure.
func TestCleanUpNote(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, "filestore", wasm, grant(t))
	rs := conformance.StoreOf(context.Background(), refusing{p}, p.Info, conformance.Options{})
	if conformance.Failed(rs) > 0 {
		t.Fatalf("\n%s", report(rs))
	}
	last := rs[len(rs)-1].String()
	re := regexp.MustCompile(`^note clean up: could not delete 1 of the records it wrote \(DELETE of conformance-[0-9a-f]{8}/""/""/"large" answered permission denied \(backend refused\)\)$`)
	if !re.MatchString(last) {
		t.Errorf("got %q", last)
	}
}

// minor2 is the built-in filestore as a store of ABI minor 2 sees it: no
// META_DELETE or COMPACT.
type minor2 struct{ Caller conformance.Caller }

func (m minor2) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if op == abi.OpMetaDelete || op == abi.OpCompact {
		return nil, abi.Errorf(abi.Unimplemented, "unknown operation")
	}
	return m.Caller.Call(ctx, op, in)
}

// A store of minor 2 skips the 1.3 checks, with the reason, and its meta
// values stay (named in the note).
func TestMinor2Store(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, "filestore", wasm, grant(t))
	info := p.Info
	info.Minor = abi.MinorFence - 1
	info.Ops = slices.DeleteFunc(slices.Clone(info.Ops), func(op abi.Op) bool { return op >= abi.OpMetaDelete })
	rs := conformance.StoreOf(context.Background(), minor2{refusing{p}}, info, conformance.Options{})
	if conformance.Failed(rs) > 0 {
		t.Fatalf("\n%s", report(rs))
	}
	skipped := 0
	for _, r := range rs {
		if strings.HasSuffix(r.Name, "(1.3)") {
			skipped++
			if !strings.Contains(r.String(), "declares ABI minor 2; guards, META_DELETE, COMPACT and all_orgs are sent only to minor 3 and later") {
				t.Errorf("%s", r)
			}
		}
	}
	if skipped != 5 {
		t.Errorf("%d checks of 1.3 skipped; want 5:\n%s", skipped, report(rs))
	}
	last := rs[len(rs)-1].String()
	re := regexp.MustCompile(`^note clean up: could not delete 1 of the records it wrote \(DELETE of conformance-[0-9a-f]{8}/""/""/"large" answered permission denied \(backend refused\)\); left 3 meta values in the store, which the ABI has no op to delete: conformance_meta_[0-9a-f]{8}, conformance_meta_[0-9a-f]{8}_once, conformance_meta_[0-9a-f]{8}_replace$`)
	if !re.MatchString(last) {
		t.Errorf("got %q", last)
	}
}

// lenient is the built-in filestore, but a GET it cannot decode answers
// ok with no record.
type lenient struct{ p *plugin.Plugin }

func (l lenient) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if op == abi.OpGet && abi.Unmarshal(in, &abi.KeyRequest{}) != nil {
		return nil, nil
	}
	return l.p.Call(ctx, op, in)
}

// A malformed request is bytes that do not decode; the failure says which
// bytes, what came back and that any status but ok would do.
func TestMalformedMessage(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, "filestore", wasm, grant(t))
	rs := conformance.StoreOf(context.Background(), lenient{p}, p.Info, conformance.Options{})
	want := "FAIL malformed request: GET of 11 bytes ff (a varint longer than 10 bytes) answered ok; want any status but ok (invalid argument fits), not a crash"
	if !strings.Contains(report(rs), want+"\n") || conformance.Failed(rs) != 1 {
		t.Errorf("want %q in\n%s", want, report(rs))
	}
}
