package core

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/plugin"
)

// pluginOpts are Options for the plugin requests with a cache of the test's.
func pluginOpts(t *testing.T) Options {
	return Options{CacheDir: filepath.Join(t.TempDir(), "cache")}
}

// A plugin request is a plain value: it survives JSON as it is.
func TestPluginRequestsArePlain(t *testing.T) {
	req := PluginTestRequest{Plugin: PluginRequest{File: "/x/p.wasm", Wasm: []byte("\x00asm")},
		Grants: map[string]map[string]any{"http": {"origins": []any{"https://a:443"}, "credentials": map[string]any{"t": "/c"}}}}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back PluginTestRequest
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, req) {
		t.Errorf("round trip: %+v, %v; want %+v", back, err, req)
	}
}

func TestPluginRequestShown(t *testing.T) {
	for _, tt := range []struct {
		req  PluginRequest
		want string
	}{
		{PluginRequest{Name: "filestore"}, "filestore"},
		{PluginRequest{File: "/x/mystore.wasm"}, "mystore"},
		{PluginRequest{File: "/x/My Store.wasm"}, "(file)"},
		{PluginRequest{File: "/x/My Store.wasm", Name: "mine"}, "mine"},
	} {
		if got := tt.req.Shown(); got != tt.want {
			t.Errorf("%+v.Shown() = %q, want %q", tt.req, got, tt.want)
		}
	}
}

// A built-in named by name and the same module named as a file describe
// the same plugin, without running it; only the configuration grants.
func TestInspectPlugin(t *testing.T) {
	cfg, dir := loadConfig(t, "[store]\npath = \"store\"\n")
	opts := pluginOpts(t)
	ctx := context.Background()
	in, err := InspectPlugin(ctx, opts, cfg, PluginRequest{Name: "filestore"})
	if err != nil {
		t.Fatal(err)
	}
	if in.Name != "filestore" || in.Source != "built-in" || in.File || !in.Declared || in.Kind != abi.KindStore ||
		in.KindPhrase != "a store plugin" || in.Major != abi.Version || len(in.Ops) == 0 || in.SHA256 == "" {
		t.Errorf("inspection = %+v", in)
	}
	if want := []PluginCapability{{Name: "fs", Granted: true}}; !reflect.DeepEqual(in.Capabilities, want) {
		t.Errorf("capabilities = %+v, want %+v", in.Capabilities, want)
	}
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "copy.wasm")
	f, err := InspectPlugin(ctx, opts, nil, PluginRequest{File: file, Wasm: wasm})
	if err != nil {
		t.Fatal(err)
	}
	// A file is named by what it declares, and granted nothing.
	if f.Name != "filestore" || f.Source != file || !f.File || f.SHA256 != in.SHA256 || f.Capabilities[0].Granted {
		t.Errorf("inspection of the file = %+v", f)
	}

	// Unknown, and pinned to another content.
	var unknown *UnknownPluginError
	if _, err := InspectPlugin(ctx, opts, cfg, PluginRequest{Name: "nosuch"}); !errors.As(err, &unknown) || unknown.Name != "nosuch" {
		t.Errorf("unknown plugin: %v", err)
	}
	if err := FindPlugin(cfg, PluginRequest{Name: "nosuch"}); !errors.As(err, &unknown) {
		t.Errorf("FindPlugin of an unknown plugin: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fs.wasm"), wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	pinned, _ := loadConfig(t, "[plugins.mine]\npath = \""+filepath.Join(dir, "fs.wasm")+"\"\nsha256 = \""+strings.Repeat("ab", 32)+"\"\n")
	var pe *plugin.Error
	if _, err := InspectPlugin(ctx, opts, pinned, PluginRequest{Name: "mine"}); !errors.As(err, &pe) || !strings.Contains(err.Error(), "does not match its pinned sha256") {
		t.Errorf("pinned to another content: %v", err)
	}
}

// Grant tables given with a request are parsed by their capability, an fs
// directory must exist, and what flyte protects stays out of reach.
func TestCheckGrants(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Protected: []grant.Protected{{What: "the identity file", Path: filepath.Join(dir, "id", "identity.txt")}}}
	var ge *GrantError
	if err := CheckGrants(opts, "p", map[string]map[string]any{"http": {"origins": []any{"ftp://x"}}}); !errors.As(err, &ge) {
		t.Errorf("a bad origin: %v", err)
	}
	if err := CheckGrants(opts, "p", map[string]map[string]any{"fs": {"path": filepath.Join(dir, "none")}}); !errors.Is(err, ErrGrantDir) {
		t.Errorf("a missing directory: %v", err)
	}
	if err := os.Mkdir(filepath.Join(dir, "id"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := CheckGrants(opts, "p", map[string]map[string]any{"fs": {"path": dir}})
	if err == nil || errors.As(err, &ge) || !strings.Contains(err.Error(), "identity") {
		t.Errorf("a directory holding the identity: %v", err)
	}
}

// The directory of installed plugins may not lie inside a directory the
// configuration grants.
func TestCheckPluginDir(t *testing.T) {
	cfg, dir := loadConfig(t, "[store]\npath = \"store\"\n")
	var pe *PluginDirError
	if err := CheckPluginDir(cfg, filepath.Join(dir, "store", "plugins")); !errors.As(err, &pe) || pe.Hint() == "" {
		t.Errorf("inside the store: %v", err)
	}
	if err := CheckPluginDir(cfg, filepath.Join(dir, "plugins")); err != nil {
		t.Errorf("beside the store: %v", err)
	}
}

// The suite runs on a built-in injector and on the built-in store, which
// gets a fresh directory of its own: the configured store is not touched.
func TestPluginConformance(t *testing.T) {
	cfg, dir := loadConfig(t, "[store]\npath = \"store\"\n")
	opts := pluginOpts(t)
	opts.Protected = Protected(cfg, func(string) string { return "" })
	ctx := context.Background()
	res, err := PluginConformance(ctx, opts, cfg, PluginTestRequest{Plugin: PluginRequest{Name: "envinject"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Name != "envinject" || res.KindPhrase != "an injector plugin" || res.Failed != 0 || len(res.Lines) == 0 || res.Summary == "" {
		t.Errorf("envinject: %+v", res)
	}
	res, err = PluginConformance(ctx, opts, cfg, PluginTestRequest{Plugin: PluginRequest{Name: "filestore"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 || res.KindPhrase != "a store plugin" {
		t.Errorf("filestore: %+v", res)
	}
	if _, err := os.Stat(filepath.Join(dir, "store")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the configured store was touched: %v", err)
	}
	var ge *GrantError
	if _, err := PluginConformance(ctx, opts, cfg, PluginTestRequest{Plugin: PluginRequest{Name: "filestore"},
		Grants: map[string]map[string]any{"fs": {"path": dir}}}); !errors.As(err, &ge) {
		t.Errorf("an fs grant: %v", err)
	}
}
