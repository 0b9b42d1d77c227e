package builtin_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/plugins/envinject"
	"github.com/flytesecrets/flyte/plugins/fileinject"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// The built-in injectors are assembled (plugins/internal/injectwasm), not
// compiled from their Go code: whatever bytes they are sent, they answer
// what the Go code of plugins/envinject and plugins/fileinject answers
// through the kit (guest.Dispatch), status and output byte for byte, and
// they describe themselves as it does.

// assembled are the built-ins written by plugins/internal/injectwasm, with
// their Go reference.
var assembled = map[string]guest.Handler{
	"envinject":  guest.InjectorHandler(envinject.Info, envinject.Injector{}),
	"fileinject": guest.InjectorHandler(fileinject.Info, fileinject.Injector{}),
}

var (
	injOnce   sync.Once
	injectors map[string]*plugin.Plugin
	injErr    error
)

func loadInjectors(t testing.TB) map[string]*plugin.Plugin {
	t.Helper()
	injOnce.Do(func() {
		h, err := plugin.NewHost(plugin.Options{})
		if err != nil {
			injErr = err
			return
		}
		injectors = map[string]*plugin.Plugin{}
		for name := range assembled {
			wasm, err := builtin.Module(name)
			if err != nil {
				injErr = err
				return
			}
			p, err := h.Load(context.Background(), plugin.Spec{Name: name, Wasm: wasm, Kind: abi.KindInjector})
			if err != nil {
				injErr = err
				return
			}
			injectors[name] = p
		}
	})
	if injErr != nil {
		t.Fatal(injErr)
	}
	return injectors
}

// sameAsGo calls op with in on the module and on its Go reference.
func sameAsGo(t testing.TB, name string, op abi.Op, in []byte) {
	t.Helper()
	p := loadInjectors(t)[name]
	wantSt, wantOut := guest.Dispatch(assembled[name], op, in)
	out, err := p.Call(context.Background(), op, in)
	if st := abi.StatusOf(err); st != wantSt {
		t.Fatalf("%s op %d input %x: status %v (%v), want %v", name, op, in, st, err, wantSt)
	}
	if err != nil {
		var m abi.ErrorMessage
		if abi.Unmarshal(wantOut, &m) != nil {
			t.Fatalf("Go answered a malformed error %x", wantOut)
		}
		if err.Error() != plugin.Sanitize(m.Message) {
			t.Fatalf("%s op %d input %x: error %q, want %q", name, op, in, err.Error(), plugin.Sanitize(m.Message))
		}
		return
	}
	if !bytes.Equal(out, wantOut) {
		t.Fatalf("%s input %x:\n got %x\nwant %x", name, in, out, wantOut)
	}
}

func injectorSeeds() [][]byte {
	return [][]byte{
		nil,
		abi.Marshal(&abi.PlanRequest{Task: abi.Task{Environment: "e", Org: "o", Project: "p", Domain: "d"}, Secrets: []abi.SecretRequest{
			{Ref: 1, Key: "db_password", Kind: abi.SecretString, AsEnvVar: "DB_PASSWORD", Scope: abi.Scope{Org: "o"}, Size: 7},
			{Ref: 300, Key: "k", AsEnvVar: "K", Scope: abi.Scope{Org: "o", Project: "p", Domain: "d"}},
		}}),
		abi.Marshal(&abi.PlanRequest{Secrets: []abi.SecretRequest{
			{Ref: 2, Key: "tls_key", Group: "g", Kind: abi.SecretFile, Mount: abi.SecretsDir, Size: 1 << 20},
			{Ref: 1<<32 - 1, Key: string(bytes.Repeat([]byte("k"), 200)), Mount: abi.SecretsDir},
			{Key: "no_ref", Mount: abi.SecretsDir},
		}}),
		abi.Marshal(&abi.PlanRequest{Secrets: []abi.SecretRequest{{Ref: 1, Key: "neither"}}}),
		abi.Marshal(&abi.PlanRequest{Secrets: []abi.SecretRequest{{Ref: 1, Key: "e", AsEnvVar: "E"}, {Ref: 2, Key: "f\x1b[31m", Mount: abi.SecretsDir}}}),
		{0x12, 0x02, 0x3a, 0x80},                                     // a scope that is not a message
		{0x12, 0x03, 0x08, 0x80, 0x80},                               // a truncated ref
		{0x0a, 0x02, 0x08, 0x01},                                     // a task field of the wrong type
		{0x12, 0x06, 0x08, 0x80, 0x80, 0x80, 0x80, 0x10},             // a ref over 32 bits
		{0x99, 0x01, 0x00, 0x12, 0x00},                               // an unknown field, then an empty secret
		{0x12, 0x04, 0x2a, 0x01, 0x41, 0x0b},                         // a secret with a stray wire type 3
		{0x12, 0x08, 0x2a, 0x01, 0x41, 0x2a, 0x00, 0x32, 0x01, 0x2f}, // both targets, the variable emptied
		{0x00},                               // field 0
		{0xf8, 0xff, 0xff, 0xff, 0x0f, 0x00}, // field 2^29 + 15
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02}, // a key over 64 bits
	}
}

func TestInjectorsMatchGo(t *testing.T) {
	ps := loadInjectors(t)
	for name, h := range assembled {
		if got, want := abi.Marshal(&ps[name].Info), abi.Marshal(h.Describe()); !bytes.Equal(got, want) {
			t.Errorf("%s describes itself as %+v, want %+v", name, ps[name].Info, *h.Describe())
		}
		for _, in := range injectorSeeds() {
			sameAsGo(t, name, abi.OpPlan, in)
		}
		for _, op := range []abi.Op{0, abi.OpGet, abi.OpRender, 1 << 31} {
			sameAsGo(t, name, op, injectorSeeds()[1])
		}
	}
}

// Each assembled injector is a couple of kilobytes (compiling it costs
// nothing next to a Go guest: 2 MB, a second of CPU on first use), uses
// WebAssembly 1.0 only, and imports input_read and output_write only.
func TestInjectorsAreSmall(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV1))
	defer rt.Close(ctx)
	for name := range assembled {
		b, err := builtin.Module(name)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 2<<10 {
			t.Errorf("%s is %d bytes", name, len(b))
		}
		m, err := rt.CompileModule(ctx, b)
		if err != nil {
			t.Fatalf("%s is not a WebAssembly 1.0 module: %v", name, err)
		}
		var imports []string
		for _, f := range m.ImportedFunctions() {
			mod, fn, _ := f.Import()
			imports = append(imports, mod+"."+fn)
		}
		if strings.Join(imports, " ") != abi.HostModule+".input_read "+abi.HostModule+".output_write" {
			t.Errorf("%s imports %v", name, imports)
		}
	}
}

// A large request: the module grows its memory for it and plans every
// secret.
func TestInjectorsLargeRequest(t *testing.T) {
	for _, name := range []string{"envinject", "fileinject"} {
		var req abi.PlanRequest
		for i := range 3000 {
			s := abi.SecretRequest{Ref: uint32(i + 1), Key: "KEY_" + string(rune('A'+i%26)), Scope: abi.Scope{Org: "o"}}
			if name == "envinject" {
				s.AsEnvVar = s.Key
			} else {
				s.Mount = abi.SecretsDir
			}
			req.Secrets = append(req.Secrets, s)
		}
		sameAsGo(t, name, abi.OpPlan, abi.Marshal(&req))
	}
}

// FuzzInjectors compares the assembled injectors with their Go code on any
// input.
func FuzzInjectors(f *testing.F) {
	for _, s := range injectorSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sameAsGo(t, "envinject", abi.OpPlan, in)
		sameAsGo(t, "fileinject", abi.OpPlan, in)
	})
}
