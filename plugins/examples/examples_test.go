//go:build !wasip1

package examples_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// Each example imports from its host only what it uses: the linker keeps
// a kit import only when the plugin calls it, so a plugin that never calls
// guest.TimeLeft or guest.HostHTTP loads on a 1.0 or 1.1 host, and one
// that never writes does not import fs.write.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("builds wasm modules")
	}
	want := map[string][]string{
		"./tmplinject/wasm":   {"flyte_v1.config_read", "flyte_v1.input_read", "flyte_v1.output_write"},
		"./dirstore/wasm":     {"flyte_fs_v1.list", "flyte_fs_v1.read", "flyte_v1.input_read", "flyte_v1.output_write", "flyte_v1.result_read"},
		"./testdata/timeleft": {"flyte_http_v1.request", "flyte_v1.config_read", "flyte_v1.input_read", "flyte_v1.output_write", "flyte_v1.result_read", "flyte_v1.time_left"},
	}
	dir := t.TempDir()
	for pkg, imports := range want {
		out := filepath.Join(dir, strings.ReplaceAll(pkg, "/", "_")+".wasm")
		if err := wasmtest.BuildGo(pkg, out, "-ldflags=-s"); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := flyteImports(b)
		if err != nil {
			t.Fatalf("%s: %v", pkg, err)
		}
		if !slices.Equal(got, imports) {
			t.Errorf("%s imports\n %v\nwant\n %v", pkg, got, imports)
		}
	}
}

// flyteImports returns the module's function imports from flyte's modules,
// sorted, read from its import section (Go's wasip1 modules import only
// functions).
func flyteImports(b []byte) ([]string, error) {
	bad := errors.New("not a module this test can read")
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, bad
	}
	i := 8
	uleb := func() int {
		v, s := 0, 0
		for i < len(b) {
			c := b[i]
			i++
			v |= int(c&0x7f) << s
			if c < 0x80 {
				return v
			}
			s += 7
		}
		return -1
	}
	name := func() string {
		n := uleb()
		if n < 0 || i+n > len(b) {
			return ""
		}
		s := string(b[i : i+n])
		i += n
		return s
	}
	var out []string
	for i < len(b) {
		id := b[i]
		i++
		n := uleb()
		if n < 0 || i+n > len(b) {
			return nil, bad
		}
		end := i + n
		if id == 2 {
			for k := uleb(); k > 0; k-- {
				mod, fn := name(), name()
				if i >= len(b) || b[i] != 0 {
					return nil, bad
				}
				i++
				uleb()
				if strings.HasPrefix(mod, "flyte_") {
					out = append(out, mod+"."+fn)
				}
			}
		}
		i = end
	}
	slices.Sort(out)
	return out, nil
}
