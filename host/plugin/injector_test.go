package plugin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// injector is a hand-made injector module.
func injector() *wasmtest.Module {
	return wasmtest.GuestDescribing(abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindInjector, Name: "ni", Ops: []abi.Op{abi.OpPlan}}))
}

func httpGrant(t *testing.T) capability.Grant {
	t.Helper()
	c, ok := capability.ByName("http")
	if !ok {
		t.Skip("this flyte has no http")
	}
	g, err := c.Parse("ni", map[string]any{"origins": []any{"https://example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	return g
}

// Injectors get no capabilities: one that imports a capability module or
// is granted a capability is refused at load, in one line with a hint,
// whether its kind is expected, declared in its section or only live.
func TestInjectorCapabilities(t *testing.T) {
	http := httpGrant(t)
	grants := map[string]capability.Grant{"http": http}
	const imports = "plugin ni: is an injector; injectors get no capabilities (it imports flyte_http_v1.request)"
	const granted = "plugin ni: is an injector; injectors get no capabilities (it is granted http)"
	withSection := func(m *wasmtest.Module) *wasmtest.Module {
		return m.Custom(abi.DescribeSection, abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindInjector, Name: "ni", Ops: []abi.Op{abi.OpPlan}}))
	}
	for _, c := range []struct {
		name string
		m    *wasmtest.Module
		kind abi.PluginKind
		g    map[string]capability.Grant
		want string
		hint string
	}{
		{"imports http, granted", injector().Import(abi.HTTPModule, "request", pathFn, status), abi.KindInjector, grants, imports, "an injector that needs a capability cannot be used; build it without flyte_http_v1.request"},
		{"imports http, not granted", injector().Import(abi.HTTPModule, "request", pathFn, status), abi.KindInjector, nil, imports, ""},
		{"imports http, kind from its section", withSection(injector().Import(abi.HTTPModule, "request", pathFn, status)), 0, nil, imports, ""},
		{"granted http", injector(), abi.KindInjector, grants, granted, "remove [plugins.ni.grant.http] from your flyte.toml (or the --grant that gives it)"},
		{"granted http, kind live", injector(), 0, grants, granted, ""},
		{"imports fs, granted, kind live", injector().Import(abi.FSModule, "read", pathFn, status), 0, fsGrant(t.TempDir()), "plugin ni: is an injector; injectors get no capabilities (it imports flyte_fs_v1.read)", ""},
		{"imports fs, described only", injector().Import(abi.FSModule, "read", pathFn, status), 0, nil, "plugin ni: is an injector; injectors get no capabilities (it imports flyte_fs_v1.read)", ""},
	} {
		s := plugin.Spec{Name: "ni", Wasm: c.m.Encode(), Kind: c.kind, Grants: c.g, DescribeOnly: c.name == "imports fs, described only"}
		_, err := loadWith(t, plugin.Options{}, s)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
			continue
		}
		var ie *plugin.InjectorError
		if !errors.As(err, &ie) {
			t.Errorf("%s: not an InjectorError: %T", c.name, err)
		}
		if c.hint != "" && ie.Hint() != c.hint {
			t.Errorf("%s: hint %q", c.name, ie.Hint())
		}
	}
	// An injector without capabilities loads; so does a store granted one.
	if _, err := loadWith(t, plugin.Options{}, plugin.Spec{Name: "ni", Wasm: injector().Encode(), Kind: abi.KindInjector}); err != nil {
		t.Error(err)
	}
	if _, err := loadWith(t, plugin.Options{}, plugin.Spec{Name: "ni", Wasm: wasmtest.Guest().Import(abi.HTTPModule, "request", pathFn, status).Encode(), Grants: map[string]capability.Grant{"http": httpGrant(t)}}); err != nil {
		t.Error(err)
	}
}

// Inspect refuses an injector whose section declares it one and that
// imports a capability module, without running it.
func TestInspectInjectorCapabilities(t *testing.T) {
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	sec := abi.Marshal(&abi.Describe{Minor: abi.Minor, Kind: abi.KindInjector, Name: "ni", Ops: []abi.Op{abi.OpPlan}})
	m := injector().Import(abi.HTTPModule, "request", pathFn, status).Custom(abi.DescribeSection, sec)
	_, err = h.Inspect(context.Background(), "ni", m.Encode())
	if err == nil || err.Error() != "plugin ni: is an injector; injectors get no capabilities (it imports flyte_http_v1.request)" {
		t.Errorf("got %v", err)
	}
	if _, err := h.Inspect(context.Background(), "ni", injector().Custom(abi.DescribeSection, sec).Encode()); err != nil {
		t.Errorf("an injector without capabilities: %v", err)
	}
}
