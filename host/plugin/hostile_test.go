package plugin_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

const (
	opSpin     = 1000
	opHog      = 1001
	opFlood    = 1002
	opRead     = 1003
	opRandom   = 1004
	opEscapes  = 1005
	opPanic    = 1006
	opWrite    = 1007
	opSymlinkR = 1008
)

var (
	hostileOnce sync.Once
	hostileWasm []byte
	hostileErr  error
)

// buildHostile compiles testdata/plugins/hostile once per test binary.
func buildHostile(t *testing.T) []byte {
	t.Helper()
	hostileOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flyte-hostile")
		if err != nil {
			hostileErr = err
			return
		}
		out := filepath.Join(dir, "hostile.wasm")
		if hostileErr = wasmtest.BuildGo("../../testdata/plugins/hostile", out); hostileErr != nil {
			return
		}
		hostileWasm, hostileErr = os.ReadFile(out)
		os.RemoveAll(dir)
	})
	if hostileErr != nil {
		t.Fatalf("building the hostile test plugin: %v", hostileErr)
	}
	return hostileWasm
}

func loadHostile(t *testing.T, mod func(*plugin.Spec)) (*plugin.Plugin, error) {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{CacheDir: filepath.Join(os.TempDir(), "flyte-test-cache-plugin")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s := plugin.Spec{Name: "hostile", Wasm: buildHostile(t), Kind: abi.KindStore, Grants: fsGrant(t.TempDir()), Timeout: 2 * time.Second, MemoryPages: 512}
	if mod != nil {
		mod(&s)
	}
	p, err := h.Load(context.Background(), s)
	if p != nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

func mustLoad(t *testing.T, mod func(*plugin.Spec)) *plugin.Plugin {
	t.Helper()
	p, err := loadHostile(t, mod)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// alive checks that a plugin still answers after an instance was discarded.
func alive(t *testing.T, p *plugin.Plugin) {
	t.Helper()
	if out, err := p.Call(context.Background(), opRandom, nil); err != nil || len(out) != 32 {
		t.Fatalf("plugin did not recover: %v", err)
	}
}

func TestUngrantedCapabilityRefusedAtLoad(t *testing.T) {
	_, err := loadHostile(t, func(s *plugin.Spec) { s.Grants = nil })
	if err == nil || !strings.Contains(err.Error(), `plugin hostile: needs capability "fs" (it imports flyte_fs_v1.`) {
		t.Fatalf("got %v", err)
	}
}

func TestNotAPlugin(t *testing.T) {
	_, err := loadHostile(t, func(s *plugin.Spec) { s.Wasm = []byte("\x00asm\x01\x00\x00\x00") })
	if err == nil || err.Error() != "plugin hostile: is not a flyte ABI v1 plugin (no flyte_abi_v1 export)" {
		t.Fatalf("got %v", err)
	}
	_, err = loadHostile(t, func(s *plugin.Spec) { s.Wasm = []byte("not wasm") })
	if err == nil || !strings.HasPrefix(err.Error(), "plugin hostile: not a valid WebAssembly module") {
		t.Fatalf("got %v", err)
	}
}

func TestPinnedHash(t *testing.T) {
	_, err := loadHostile(t, func(s *plugin.Spec) { s.SHA256 = strings.Repeat("0", 64) })
	if err == nil || !strings.Contains(err.Error(), "does not match its pinned sha256") {
		t.Fatalf("got %v", err)
	}
}

func TestWrongKind(t *testing.T) {
	_, err := loadHostile(t, func(s *plugin.Spec) { s.Kind = abi.KindInjector })
	if err == nil || err.Error() != "plugin hostile: is a store plugin, not an injector plugin" {
		t.Fatalf("got %v", err)
	}
}

func TestDeadline(t *testing.T) {
	p := mustLoad(t, func(s *plugin.Spec) { s.Timeout = 300 * time.Millisecond })
	_, err := p.Call(context.Background(), opSpin, nil)
	if err == nil || err.Error() != "plugin hostile: call timed out after 300ms" || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	alive(t, p)
}

func TestMemoryCap(t *testing.T) {
	// The hog ends when the cap stops it, not by the deadline: a loaded
	// machine may take seconds to fill 16 MiB.
	p := mustLoad(t, func(s *plugin.Spec) { s.MemoryPages = 256; s.Timeout = time.Minute })
	_, err := p.Call(context.Background(), opHog, nil)
	var pe *plugin.Error
	if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "plugin hostile: crashed: ") {
		t.Fatalf("got %v", err)
	}
	alive(t, p)
}

func TestOutputLimit(t *testing.T) {
	p := mustLoad(t, nil)
	_, err := p.Call(context.Background(), opFlood, nil)
	if err == nil || err.Error() != "plugin hostile: answer larger than the limit" {
		t.Fatalf("got %v", err)
	}
	alive(t, p)
}

func TestPanicDiscardsInstance(t *testing.T) {
	p := mustLoad(t, nil)
	if _, err := p.Call(context.Background(), opPanic, nil); err == nil || !strings.HasPrefix(err.Error(), "plugin hostile: crashed: ") {
		t.Fatalf("got %v", err)
	}
	alive(t, p)
}

func TestErrorTextSanitized(t *testing.T) {
	p := mustLoad(t, nil)
	_, err := p.Call(context.Background(), opEscapes, nil)
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.InvalidArgument || strings.ContainsAny(se.Message, "\x1b\r\n") {
		t.Fatalf("got %q", err)
	}
}

// wazero's default random source is deterministic; the host must give
// guests crypto/rand.
func TestRandomIsReal(t *testing.T) {
	a, b := mustLoad(t, nil), mustLoad(t, nil)
	x, err1 := a.Call(context.Background(), opRandom, nil)
	y, err2 := b.Call(context.Background(), opRandom, nil)
	if err1 != nil || err2 != nil || bytes.Equal(x, y) {
		t.Fatalf("two fresh instances drew the same bytes: %x %x (%v %v)", x, y, err1, err2)
	}
}

func TestFSConfinement(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := mustLoad(t, func(s *plugin.Spec) { s.Grants = fsGrant(dir) })
	for _, path := range []string{"../outside", "/etc/passwd", "a/../../outside", ".flyte-tmp-x", "", "a//b", strings.Repeat("a", 2000)} {
		_, err := p.Call(context.Background(), opRead, []byte(path))
		var se *abi.StatusError
		if !errors.As(err, &se) || se.Code != abi.InvalidArgument {
			t.Errorf("read %q: got %v", path, err)
		}
	}
	// A symlink planted in the granted directory does not lead outside it.
	if err := os.Symlink(outside, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	out, err := p.Call(context.Background(), opSymlinkR, nil)
	if err == nil || bytes.Contains(out, []byte("host secret")) {
		t.Fatalf("symlink escape: %q %v", out, err)
	}
	// Writes land inside, atomically, mode 0600 in 0700 directories.
	if _, err := p.Call(context.Background(), opWrite, []byte("data")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "x", "y"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("written file: %v %v", fi, err)
	}
	if di, _ := os.Stat(filepath.Join(dir, "x")); di.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v", di.Mode())
	}
}
