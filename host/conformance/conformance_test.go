package conformance_test

import (
	"context"
	"fmt"
	"io/fs"
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
		fmt.Fprintln(&b, r)
	}
	fmt.Fprintln(&b, conformance.Summary(rs))
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
	for _, r := range rs {
		if r.Err != nil {
			got[r.Name] = r.Err.Error()
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
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got  %q\nwant %q", name, got[name], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("failed checks:\n%s", report(rs))
	}
	if s := conformance.Summary(rs); s != "33 checks, 8 failed" {
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
		var notes []string
		for run := range 2 {
			p := load(t, "filestore", wasm, dir)
			rs := conformance.Run(context.Background(), p, opts)
			if conformance.Failed(rs) > 0 {
				t.Fatalf("files seen %t, run %d:\n%s", seeFiles, run+1, report(rs))
			}
			last := rs[len(rs)-1]
			want := "left 3 meta values in the store, which the ABI has no op to delete: conformance_meta_"
			if seeFiles {
				want = "left 4 meta values in the store, which the ABI has no op to delete: conformance_meta_" // and the one it damaged
			}
			if last.Name != "clean up" || !strings.HasPrefix(last.Note, want) {
				t.Fatalf("files seen %t, run %d: last result %q", seeFiles, run+1, last)
			}
			notes = append(notes, last.Note)
		}
		if notes[0] == notes[1] {
			t.Errorf("two runs used the same meta names: %s", notes[0])
		}
		// No record is left: the store's secrets directory holds no file.
		err := filepath.WalkDir(filepath.Join(dir, "secrets"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				t.Errorf("left in the store: %s", p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
