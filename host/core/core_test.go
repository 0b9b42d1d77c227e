package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
)

// loadConfig writes text as flyte.toml in a fresh directory, with a
// plugin file p.wasm next to it, and loads it.
func loadConfig(t *testing.T, text string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "flyte.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) string {
		if k == "HOME" {
			return dir
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir
}

// A plugin's grants come from its [plugins.N.grant.<capability>] tables,
// parsed by the capability and checked against what flyte protects; the
// store plugin's fs grant is store.path.
func TestSpecGrants(t *testing.T) {
	cfg, dir := loadConfig(t, `
[store]
path = "store"
[plugins.p]
path = "p.wasm"
sha256 = "`+strings.Repeat("ab", 32)+`"
[plugins.p.grant.fs]
path = "data"
`)
	c := &Core{cfg: cfg, opts: Options{Protected: []grant.Protected{{What: "the identity file", Path: filepath.Join(dir, "identity.txt")}}}}
	s, err := c.spec("p", abi.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	if s.SHA256 != strings.Repeat("ab", 32) || len(s.Grants) != 1 || s.Grants["fs"] == nil {
		t.Errorf("spec = %+v", s)
	}
	s, err = c.spec("filestore", abi.KindStore)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Grants) != 1 || s.Grants["fs"] == nil {
		t.Errorf("the store plugin's grants = %v", s.Grants)
	}
	if s, err := c.spec("envinject", abi.KindInjector); err != nil || len(s.Grants) != 0 {
		t.Errorf("an injector: %+v, %v", s.Grants, err)
	}

	// A grant of what flyte protects is refused before anything loads.
	c.opts.Protected = []grant.Protected{{What: "the identity file", Path: filepath.Join(dir, "data", "identity.txt")}}
	if _, err := c.spec("p", abi.KindStore); err == nil || !strings.Contains(err.Error(), "identity") {
		t.Errorf("protected: %v", err)
	}
}

func TestSpecGrantParseError(t *testing.T) {
	cfg, _ := loadConfig(t, "[plugins.p]\npath = \"p.wasm\"\n[plugins.p.grant.fs]\ndir = \"x\"\n")
	c := &Core{cfg: cfg}
	_, err := c.spec("p", abi.KindStore)
	if err == nil || !strings.HasPrefix(err.Error(), cfg.Path+": ") || !strings.Contains(err.Error(), "plugins.p.grant.fs") {
		t.Fatalf("spec = %v", err)
	}
}

func TestRenderSupport(t *testing.T) {
	for _, tt := range []struct {
		info abi.Describe
		want string
	}{
		{abi.Describe{Minor: 1, Ops: []abi.Op{abi.OpPlan, abi.OpRender}}, "injector t speaks flyte ABI v1.1, which cannot render outputs: rendering came in v1.2"},
		{abi.Describe{Minor: 2, Ops: []abi.Op{abi.OpPlan}}, "injector t does not render outputs: its ops do not include RENDER (101)"},
		{abi.Describe{Minor: 2, Ops: []abi.Op{abi.OpPlan, abi.OpRender}}, ""},
		{abi.Describe{Minor: 3, Ops: []abi.Op{abi.OpRender}}, ""},
	} {
		got := ""
		if err := RenderSupport("t", tt.info); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("RenderSupport(%+v) = %q, want %q", tt.info, got, tt.want)
		}
	}
}
