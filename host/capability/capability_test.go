package capability_test

import (
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/grant"
)

func TestRegistry(t *testing.T) {
	c, ok := capability.ByModule(abi.FSModule)
	if !ok || c.Name != "fs" || c.Minor != 0 {
		t.Fatalf("fs: %+v %v", c, ok)
	}
	if d, ok := capability.ByName("fs"); !ok || d != c {
		t.Fatal("ByName(fs)")
	}
	var names []string
	for _, c := range capability.All() {
		names = append(names, c.Name)
		for _, f := range c.Funcs {
			if len(f.Results) != 1 || f.Results[0] != 0x7f {
				t.Errorf("%s.%s does not return one i32 status", c.Module, f.Name)
			}
		}
	}
	if len(names) == 0 || names[0] != "fs" {
		t.Fatalf("All: %v", names)
	}
	if _, ok := capability.ByModule("flyte_nope_v1"); ok {
		t.Fatal("unknown module found")
	}
}

func TestParseFS(t *testing.T) {
	fs, _ := capability.ByName("fs")
	for _, c := range []struct {
		t    map[string]any
		want string
	}{
		{map[string]any{}, "plugins.p.grant.fs needs path, the directory to grant"},
		{map[string]any{"path": 3}, `setting "plugins.p.grant.fs.path" must be a string`},
		{map[string]any{"path": ""}, `setting "plugins.p.grant.fs.path" is empty`},
		{map[string]any{"path": "rel/secret"}, `setting "plugins.p.grant.fs.path" must be an absolute path or start with ~/`},
		{map[string]any{"path": "/x\x1b"}, `setting "plugins.p.grant.fs.path" holds a control character; it must be a directory's path`},
		{map[string]any{"path": "/x", "dir": "/y"}, `unknown setting "plugins.p.grant.fs.dir"`},
		{map[string]any{"path": "/x", "Pass word": "/y"}, `plugins.p.grant.fs has a setting flyte does not know`},
	} {
		if _, err := fs.Parse("p", c.t); err == nil || err.Error() != c.want {
			t.Errorf("%v: got %v, want %s", c.t, err, c.want)
		}
	}
	t.Setenv("HOME", "/home/someone")
	if g, err := fs.Parse("p", map[string]any{"path": "~/store"}); err != nil || g.(interface{ Dir() string }).Dir() != "/home/someone/store" {
		t.Fatalf("~/: %v", err)
	}
	dir := t.TempDir()
	g, err := fs.Parse("p", map[string]any{"path": dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	id := filepath.Join(dir, "sub", "identity")
	err = g.Check([]grant.Protected{{What: "the identity file", Path: id}})
	if err == nil || err.Error() != "plugins.p.grant.fs.path "+dir+" would give plugin p the identity file ("+id+"); choose a directory outside it" {
		t.Fatalf("got %v", err)
	}
	err = capability.FSGrant(dir).Check([]grant.Protected{{What: "the identity file", Path: id}})
	if err == nil || err.Error() != "store.path "+dir+" would give the store plugin the identity file ("+id+"); choose a directory outside it" {
		t.Fatalf("got %v", err)
	}
	if got := fs.Example("p"); len(got) != 2 || got[0] != "[plugins.p.grant.fs]" {
		t.Fatalf("example: %q", got)
	}
}
