package builtin

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Built-in guests stay small: fmt, encoding/json and reflect each add
// hundreds of kilobytes to a Go guest and to its compile time. (The
// injectors are no Go guests: their wasm directories hold the programs
// that assemble them, TestInjectorsAreSmall.)
func TestGuestsStaySmall(t *testing.T) {
	for _, name := range Names() {
		if name == "envinject" || name == "fileinject" {
			continue
		}
		cmd := exec.Command("go", "list", "-deps", "../../plugins/"+source(name)+"/wasm")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", name, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			switch dep {
			case "fmt", "reflect", "encoding/json", "encoding/binary":
				t.Errorf("built-in plugin %s imports %s", name, dep)
			}
		}
	}
}

// Every built-in is in the binary, as a WebAssembly module; a name that is
// not a built-in is ErrMissing.
func TestBuiltinsPresent(t *testing.T) {
	want := []string{"envinject", "etcd", "fileinject", "filestore"}
	if got := Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("built-in plugins %v, want %v", got, want)
	}
	for _, n := range want {
		if _, err := os.Stat("../../plugins/" + source(n) + "/wasm"); err != nil {
			t.Errorf("built-in %s has no source: %v", n, err)
		}
		b, err := Module(n)
		if err != nil || len(b) < 8 || string(b[:4]) != "\x00asm" {
			t.Fatalf("%s: not a wasm module (%v)", n, err)
		}
	}
	if _, err := Module("nope"); err != ErrMissing {
		t.Fatalf("missing module: %v", err)
	}
}

// A file that is not a module (an empty one where the build's output
// should be) is an error that says how to fix it.
func TestCheck(t *testing.T) {
	for _, b := range []string{"", "\x00asm", "\x7fELF\x02\x01\x01\x00"} {
		if err := check([]byte(b)); err == nil || err.Error() != "the copy built into this binary is not a WebAssembly module (rebuild flyte with make install)" {
			t.Errorf("%q: %v", b, err)
		}
	}
	if err := check([]byte("\x00asm\x01\x00\x00\x00")); err != nil {
		t.Error(err)
	}
}

// A build without a built-in module fails at build time, with Go's own
// error naming the missing file: this package, copied without
// wasm/filestore.wasm, does not compile.
func TestBuildFailsWithoutModule(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("builtin.go")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"go.mod":               []byte("module example.com/builtin\n\ngo 1.24\n"),
		"builtin.go":           src,
		"wasm/envinject.wasm":  []byte("\x00asm\x01\x00\x00\x00"),
		"wasm/etcd.wasm":       []byte("\x00asm\x01\x00\x00\x00"),
		"wasm/fileinject.wasm": []byte("\x00asm\x01\x00\x00\x00"),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "pattern wasm/filestore.wasm: no matching files found") {
		t.Fatalf("build without wasm/filestore.wasm: %v\n%s", err, out)
	}
	// With it, the copy builds: the failure was the missing file.
	if err := os.WriteFile(filepath.Join(dir, "wasm/filestore.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command("go", "build", ".")
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build with every module: %v\n%s", err, out)
	}
}
