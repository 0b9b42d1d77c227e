package conformance_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/conformance"
	"github.com/flytesecrets/flyte/host/plugin"
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
		switch {
		case r.Err != nil:
			fmt.Fprintf(&b, "FAIL %s: %v\n", r.Name, r.Err)
		case r.Skip != "":
			fmt.Fprintf(&b, "skip %s: %s\n", r.Name, r.Skip)
		default:
			fmt.Fprintf(&b, "ok   %s\n", r.Name)
		}
	}
	return b.String()
}

// Every built-in plugin passes its suite.
func TestBuiltins(t *testing.T) {
	for _, name := range builtin.Names() {
		t.Run(name, func(t *testing.T) {
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
			if conformance.Failed(rs) > 0 || len(rs) < 10 {
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
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "../../testdata/plugins/"+name)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The broken store fails exactly the checks of the rules it breaks, each
// with a message that says what is wrong.
func TestBrokenStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	dir := grant(t)
	p := load(t, "brokenstore", buildPlugin(t, "brokenstore"), dir)
	rs := conformance.Run(context.Background(), p, conformance.Options{Dir: dir})
	got := map[string]string{}
	for _, r := range rs {
		if r.Err != nil {
			got[r.Name] = r.Err.Error()
		}
	}
	want := map[string]string{
		"update":                  "UPDATE answered version 1; want 2",
		"update with any version": "UPDATE with expected_version 0 answered version 1; want 2",
		"list order":              `LIST answered "beta"/"production"/"-dash" after "beta"/"production"/"0zero" (page 1); entries must come in (project, domain, key) order, byte-wise with "" first`,
		"list pages of 2":         `LIST answered ""/""/"-dash" after ""/""/"0zero" (page 1)`,
		"list pages of 3":         `LIST answered ""/""/"0zero" after ""/""/"A" (page 1); entries must come in (project, domain, key) order, byte-wise with "" first`,
		"list filters":            `(project=""): LIST answered`,
		"update with a stale version (compare-and-set)": "UPDATE expecting version 1 of a version 2 answered ok; want conflict",
	}
	for name, w := range want {
		if !strings.Contains(got[name], w) {
			t.Errorf("%s: got %q\nwant %q", name, got[name], w)
		}
	}
	if len(got) != len(want)+1 || !strings.Contains(got["scope isolation"], "GET answered version 1; want 2") {
		t.Errorf("failed checks:\n%s", report(rs))
	}
}
