//go:build !wasip1

package examples_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
)

// The C injector is built with Debian's clang-14 and wasi-libc when they
// are installed (.ci/run installs them), and checked against the same
// logic written in Go: whatever bytes it is sent, it answers the plan Go
// would (the same entries) or the same status.

var (
	once    sync.Once
	loaded  *plugin.Plugin
	loadErr error
)

func load(t testing.TB) *plugin.Plugin {
	t.Helper()
	cc := os.Getenv("CC_WASM")
	if cc == "" {
		cc = "clang-14"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skip(cc + " is not installed (apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32)")
	}
	once.Do(func() {
		dir, err := os.MkdirTemp("", "cinject")
		if err != nil {
			loadErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "cinject.wasm")
		cmd := exec.Command(cc, "--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-Os", "-Wall", "-Wextra", "-Werror",
			"-Wl,--strip-all", "-o", out, filepath.Join("cinject", "cinject.c"))
		if b, err := cmd.CombinedOutput(); err != nil {
			loadErr = errors.New(err.Error() + "\n" + string(b))
			return
		}
		wasm, err := os.ReadFile(out)
		if err != nil {
			loadErr = err
			return
		}
		h, err := plugin.NewHost(plugin.Options{})
		if err != nil {
			loadErr = err
			return
		}
		loaded, loadErr = h.Load(context.Background(), plugin.Spec{Name: "cinject", Wasm: wasm, Kind: abi.KindInjector,
			MemoryPages: 64, Timeout: 5 * time.Second})
	})
	if loadErr != nil {
		t.Fatal(loadErr)
	}
	return loaded
}

// goPlan is cinject.c in Go.
func goPlan(req *abi.PlanRequest) (*abi.Plan, abi.Status) {
	plan := new(abi.Plan)
	for _, s := range req.Secrets {
		switch {
		case s.AsEnvVar != "":
			plan.Env = append(plan.Env, abi.EnvEntry{Name: s.AsEnvVar, Ref: s.Ref})
		case s.Mount != "":
			plan.Files = append(plan.Files, abi.FileEntry{Path: s.Mount + "/" + s.Key, Mode: 0o400, Ref: s.Ref})
		default:
			return nil, abi.InvalidArgument
		}
	}
	return plan, abi.OK
}

func same(t testing.TB, p *plugin.Plugin, in []byte) {
	t.Helper()
	var want *abi.Plan
	wantSt := abi.InvalidArgument
	var req abi.PlanRequest
	if abi.Unmarshal(in, &req) == nil {
		want, wantSt = goPlan(&req)
	}
	out, err := p.Call(context.Background(), abi.OpPlan, in)
	if st := abi.StatusOf(err); st != wantSt {
		t.Fatalf("input %x: status %v (%v), want %v", in, st, err, wantSt)
	}
	if err != nil {
		return
	}
	var got abi.Plan
	if err := abi.Unmarshal(out, &got); err != nil {
		t.Fatalf("input %x: malformed plan %x", in, out)
	}
	if !bytes.Equal(abi.Marshal(&got), abi.Marshal(want)) {
		t.Fatalf("input %x:\n got %+v\nwant %+v", in, got, *want)
	}
}

func seeds() [][]byte {
	return [][]byte{
		nil,
		abi.Marshal(&abi.PlanRequest{Task: abi.Task{Environment: "e", Org: "o"}, Secrets: []abi.SecretRequest{
			{Ref: 1, Key: "db_password", Kind: abi.SecretString, AsEnvVar: "DB_PASSWORD", Scope: abi.Scope{Org: "o"}, Size: 7},
			{Ref: 2, Key: "tls_key", Group: "g", Kind: abi.SecretFile, Mount: abi.SecretsDir, Size: 1 << 20},
			{Ref: 300, Key: "k", AsEnvVar: "K"},
		}}),
		abi.Marshal(&abi.PlanRequest{Secrets: []abi.SecretRequest{{Ref: 1, Key: "neither"}}}),
		{0x12, 0x02, 0x3a, 0x80},                         // a scope that is not a message
		{0x12, 0x03, 0x08, 0x80, 0x80},                   // a truncated ref
		{0x0a, 0x02, 0x08, 0x01},                         // a task field of the wrong type
		{0x12, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10}, // a ref over 32 bits
		{0x99, 0x01, 0x00, 0x12, 0x00},                   // an unknown field, then an empty secret
	}
}

func TestPlan(t *testing.T) {
	p := load(t)
	d := p.Info
	if d.Kind != abi.KindInjector || d.Minor != abi.MinorRender || d.Name != "cinject" || len(d.Ops) != 1 || d.Ops[0] != abi.OpPlan {
		t.Errorf("describe = %+v", d)
	}
	for _, in := range seeds() {
		same(t, p, in)
	}
	if _, err := p.Call(context.Background(), abi.OpRender, nil); abi.StatusOf(err) != abi.Unimplemented {
		t.Errorf("render: %v, want unimplemented", err)
	}
}

// FuzzPlan compares the C decoder and planner with Go's on any input.
func FuzzPlan(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) { same(t, load(t), in) })
}
