package plugin_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// fsGrant grants dir as the store's directory.
func fsGrant(dir string) map[string]capability.Grant {
	return map[string]capability.Grant{"fs": capability.FSGrant(dir)}
}

// loadWith loads a hand-made module as the store "x" on a host with opts.
func loadWith(t testing.TB, opts plugin.Options, s plugin.Spec) (*plugin.Plugin, error) {
	t.Helper()
	h, err := plugin.NewHost(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	if s.Name == "" {
		s.Name = "x"
	}
	if s.Timeout == 0 {
		s.Timeout = 300 * time.Millisecond
	}
	p, err := h.Load(context.Background(), s)
	if p != nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

var (
	pathFn = []byte{wasmtest.I32, wasmtest.I32}
	status = []byte{wasmtest.I32}
)

// A plugin that imports a capability it was not granted is refused at
// load, naming it, with the lines that would grant it as hints.
func TestUngrantedCapability(t *testing.T) {
	m := wasmtest.Guest().Import(abi.FSModule, "read", pathFn, status)
	_, err := loadWith(t, plugin.Options{}, plugin.Spec{Name: "dirs", Wasm: m.Encode()})
	if err == nil || err.Error() != `plugin dirs: needs capability "fs" (it imports flyte_fs_v1.read), which is not granted to it` {
		t.Fatalf("got %v", err)
	}
	var ce *plugin.CapabilityError
	if !errors.As(err, &ce) {
		t.Fatalf("not a CapabilityError: %T", err)
	}
	want := []string{"grant it in your own flyte.toml:", "  [plugins.dirs.grant.fs]", `  path = "/a/directory/for/dirs"`}
	if got := ce.Hints(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("hints %q", got)
	}
	// One hint for printers of one (cmd/flyte prefixes each line).
	var h interface{ Hint() string }
	if !errors.As(err, &h) || h.Hint() != strings.Join(want, "\nflyte: hint: ") {
		t.Fatalf("hint %q", h.Hint())
	}
	// Granted, it loads; loaded only to be described, it loads too.
	fs, _ := capability.ByName("fs")
	g, err := fs.Parse("dirs", map[string]any{"path": t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: m.Encode(), Grants: map[string]capability.Grant{"fs": g}}); err != nil {
		t.Fatal(err)
	}
	if _, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: m.Encode(), DescribeOnly: true}); err != nil {
		t.Fatal(err)
	}
}

// A host without a capability refuses a plugin that needs it, naming the
// minor version that brought it.
func TestCapabilityThisFlyteDoesNotHave(t *testing.T) {
	m := wasmtest.Guest().Import(abi.FSModule, "read", pathFn, status)
	for _, s := range []plugin.Spec{{Wasm: m.Encode(), Grants: fsGrant(t.TempDir())}, {Wasm: m.Encode(), DescribeOnly: true}} {
		_, err := loadWith(t, plugin.Options{Without: []string{"fs"}}, s)
		if err == nil || err.Error() != `plugin x: needs capability "fs" (ABI 1.0), which this flyte does not have` {
			t.Fatalf("got %v", err)
		}
	}
	// A grant of it is refused too, even to a plugin that does not use it.
	_, err := loadWith(t, plugin.Options{Without: []string{"fs"}}, plugin.Spec{Wasm: wasmtest.Guest().Encode(), Grants: fsGrant(t.TempDir())})
	if err == nil || err.Error() != `plugin x: is granted capability "fs", which this flyte does not have` {
		t.Fatalf("got %v", err)
	}
	// Without it, a plugin that does not need it loads.
	if _, err := loadWith(t, plugin.Options{Without: []string{"fs"}}, plugin.Spec{Wasm: wasmtest.Guest().Encode()}); err != nil {
		t.Fatal(err)
	}
}

func TestNewerABI(t *testing.T) {
	for _, c := range []struct {
		mod  func(*wasmtest.Module)
		want string
	}{
		{func(m *wasmtest.Module) { m.Import("flyte_kv_v1", "get", pathFn, status) },
			"imports flyte_kv_v1.get, from a newer ABI than this flyte's 1.4"},
		{func(m *wasmtest.Module) { m.Import(abi.FSModule, "chmod", pathFn, status) },
			"imports flyte_fs_v1.chmod, from a newer ABI than this flyte's 1.4"},
		{func(m *wasmtest.Module) { m.Import(abi.HostModule, "clock", nil, status) },
			"imports flyte_v1.clock, from a newer ABI than this flyte's 1.4"},
		{func(m *wasmtest.Module) { m.Marker("flyte_abi_v2") },
			"speaks flyte ABI v2; this flyte speaks v1 (1.4)"},
		{func(m *wasmtest.Module) { m.Marker("flyte_abi_v17").Import("flyte_v2", "x", nil, nil) },
			"speaks flyte ABI v17; this flyte speaks v1 (1.4)"},
		{func(m *wasmtest.Module) { m.Marker("flyte_abi_v") },
			"is not a flyte ABI v1 plugin (no flyte_abi_v1 export)"},
	} {
		m := wasmtest.Guest()
		c.mod(m)
		_, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: m.Encode(), Grants: fsGrant(t.TempDir())})
		if err == nil || err.Error() != "plugin x: "+c.want {
			t.Errorf("got  %v\nwant plugin x: %s", err, c.want)
		}
	}
}

func TestPinMismatchShowsBothHashes(t *testing.T) {
	wasm := wasmtest.Guest().Encode()
	in, err := inspect(t, wasm)
	if err != nil {
		t.Fatal(err)
	}
	pin := strings.Repeat("AB", 32)
	_, err = loadWith(t, plugin.Options{}, plugin.Spec{Wasm: wasm, SHA256: pin})
	if err == nil || err.Error() != "plugin x: content does not match its pinned sha256 (pinned "+strings.ToLower(pin)+", file is "+in.SHA256+")" {
		t.Fatalf("got %v", err)
	}
	_, err = loadWith(t, plugin.Options{}, plugin.Spec{Wasm: wasm, SHA256: "my-password"})
	if err == nil || err.Error() != "plugin x: its pinned sha256 is not 64 hexadecimal digits" {
		t.Fatalf("got %v", err)
	}
	if _, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: wasm, SHA256: strings.ToUpper(in.SHA256)}); err != nil {
		t.Fatal(err)
	}
}

// A guest built against ABI 1.0 keeps loading and answering.
func TestMinorZeroGuestLoads(t *testing.T) {
	d := abi.Marshal(&abi.Describe{Minor: 0, Kind: abi.KindStore, Name: "old", Version: "1"})
	p, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: wasmtest.GuestDescribing(d).Encode()})
	if err != nil {
		t.Fatal(err)
	}
	if p.Info.Minor != 0 || p.Info.Name != "old" {
		t.Fatalf("describe: %+v", p.Info)
	}
	if _, err := p.Call(context.Background(), abi.OpList, nil); abi.StatusOf(err) != abi.Unimplemented {
		t.Fatalf("call: %v", err)
	}
}

// time_left tells the guest how long its call may still run.
func TestTimeLeft(t *testing.T) {
	m := wasmtest.Guest().Import(abi.HostModule, "time_left", nil, status)
	tl := uint32(len(m.Imports) - 1)
	// handle: mem[0] = time_left(); output_write(0, 4); return 0
	body := append(wasmtest.I32Const(0), wasmtest.Call(tl)...)
	body = append(body, 0x36, 0x02, 0x00) // i32.store align=2 offset=0
	body = append(body, wasmtest.I32Const(0)...)
	body = append(body, wasmtest.I32Const(4)...)
	body = append(body, wasmtest.Call(0)...)
	body = append(body, 0x1a) // drop
	body = append(body, wasmtest.ReturnOK...)
	m.Func(abi.HandleExport).Body = body
	p, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: m.Encode(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Call(context.Background(), abi.OpList, nil)
	if err != nil || len(out) != 4 {
		t.Fatalf("call: %q %v", out, err)
	}
	if ms := binary.LittleEndian.Uint32(out); ms == 0 || ms > 60000 {
		t.Fatalf("time_left %d ms of a one-minute call", ms)
	}
}

func inspect(t testing.TB, wasm []byte) (*plugin.Inspection, error) {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	return h.Inspect(context.Background(), "x", wasm)
}

// Inspect reads a module without running it: a module whose
// initialisation never returns inspects as any other.
func TestInspect(t *testing.T) {
	live := abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "handmade", Version: "0.0.1", Ops: []abi.Op{abi.OpGet}, Capabilities: []string{"fs"}}
	m := wasmtest.GuestDescribing(abi.Marshal(&live)).Import(abi.FSModule, "read", pathFn, status).Import("flyte_kv_v1", "get", nil, nil)
	m.Func(abi.InitExport).Body = wasmtest.Loop
	m.Custom(abi.DescribeSection, abi.Marshal(&live))
	in, err := inspect(t, m.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if in.Major != 1 || in.Size != len(m.Encode()) || len(in.SHA256) != 64 {
		t.Fatalf("inspection %+v", in)
	}
	if in.Describe == nil || in.Describe.Name != "handmade" || in.Describe.Kind != abi.KindStore || len(in.Describe.Ops) != 1 {
		t.Fatalf("describe %+v", in.Describe)
	}
	if strings.Join(in.Capabilities, " ") != "fs" {
		t.Fatalf("capabilities %q", in.Capabilities)
	}
	if got := strings.Join(in.Imports, " "); got != "flyte_fs_v1.read flyte_kv_v1.get flyte_v1.output_write" {
		t.Fatalf("imports %q", got)
	}
	if got := strings.Join(in.Exports, " "); got != "_initialize flyte_abi_v1 flyte_describe flyte_handle memory" {
		t.Fatalf("exports %q", got)
	}
	// No section: no description.
	if in, err := inspect(t, wasmtest.Guest().Encode()); err != nil || in.Describe != nil {
		t.Fatalf("no section: %+v %v", in, err)
	}
	for _, c := range []struct {
		wasm []byte
		want string
	}{
		{wasmtest.Guest().Marker("flyte_abi_v2").Encode(), "plugin x: speaks flyte ABI v2; this flyte speaks v1 (1.4)"},
		{wasmtest.Guest().Without(abi.MarkerExport).Encode(), "plugin x: is not a flyte ABI v1 plugin (no flyte_abi_v1 export)"},
		{[]byte("not wasm"), "plugin x: not a valid WebAssembly module: invalid magic number"},
		{wasmtest.Guest().Custom(abi.DescribeSection, []byte{0xff}).Encode(), "plugin x: has a malformed flyte.describe section ("},
		{wasmtest.Guest().Custom(abi.DescribeSection, []byte{8, 1}).Custom(abi.DescribeSection, []byte{8, 1}).Encode(), "plugin x: has 2 flyte.describe sections; a plugin may have one"},
	} {
		if _, err := inspect(t, c.wasm); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("got %v, want %s", err, c.want)
		}
	}
}

// Load refuses a plugin whose section says other than the plugin does.
func TestDescribeSectionMustMatch(t *testing.T) {
	live := abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "handmade", Ops: []abi.Op{abi.OpGet, abi.OpList}}
	for _, c := range []struct {
		sec  abi.Describe
		want string
	}{
		{abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "another name", Ops: []abi.Op{abi.OpList, abi.OpGet}}, ""},
		{abi.Describe{Minor: abi.Minor, Kind: abi.KindInjector, Ops: live.Ops}, "kind: the section says injector, the plugin store"},
		{abi.Describe{Minor: 0, Kind: abi.KindStore, Ops: live.Ops}, "ABI minor: the section says 0, the plugin " + strconv.Itoa(abi.Minor)},
		{abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Ops: []abi.Op{abi.OpGet}}, "ops: the section says [" + opNum(abi.OpGet) + "], the plugin [" + opNum(abi.OpGet) + " " + opNum(abi.OpList) + "]"},
		{abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Ops: live.Ops, Capabilities: []string{"http"}}, "capabilities: the section says [http], the plugin []"},
	} {
		m := wasmtest.GuestDescribing(abi.Marshal(&live)).Custom(abi.DescribeSection, abi.Marshal(&c.sec))
		_, err := loadWith(t, plugin.Options{}, plugin.Spec{Wasm: m.Encode()})
		want := ""
		if c.want != "" {
			want = "plugin x: its flyte.describe section does not match what it describes when loaded (" + c.want + ")"
		}
		if (err == nil) != (want == "") || err != nil && err.Error() != want {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	}
}

func opNum(o abi.Op) string { return strconv.FormatUint(uint64(o), 10) }

// FuzzInspect: no module, however malformed (its custom sections
// included), panics Inspect, and every refusal is one line.
func FuzzInspect(f *testing.F) {
	live := abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindStore, Name: "handmade", Ops: []abi.Op{abi.OpGet}})
	f.Add(wasmtest.Guest().Custom(abi.DescribeSection, live).Encode())
	f.Add(wasmtest.Guest().Custom(abi.DescribeSection, []byte{0x12, 0xff, 0x01}).Encode())
	f.Add(wasmtest.Guest().Marker("flyte_abi_v3").Import(abi.HTTPModule, "request", pathFn, status).Encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\x0f\x0eflyte.describe"))
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer h.Close()
	f.Fuzz(func(t *testing.T, wasm []byte) {
		in, err := h.Inspect(context.Background(), "x", wasm)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r\x1b") {
				t.Fatalf("error is not one clean line: %q", err)
			}
			return
		}
		for _, s := range append(in.Imports, in.Exports...) {
			if strings.ContainsAny(s, "\n\r\x1b") {
				t.Fatalf("unsanitised name %q", s)
			}
		}
	})
}
