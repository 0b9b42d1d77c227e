package builtin_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/host/builtin"
)

// Built-in guests stay small: fmt, encoding/json and reflect each add
// hundreds of kilobytes to a Go guest and to its compile time.
func TestGuestsStaySmall(t *testing.T) {
	for _, name := range builtin.Names() {
		cmd := exec.Command("go", "list", "-deps", "../../plugins/"+name+"/wasm")
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

func TestBuiltinsPresent(t *testing.T) {
	want := []string{"envinject", "fileinject", "filestore"}
	if got := builtin.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("built-in plugins %v, want %v (build with make)", got, want)
	}
	for _, n := range want {
		b, err := builtin.Module(n)
		if err != nil || len(b) < 8 || string(b[:4]) != "\x00asm" {
			t.Fatalf("%s: not a wasm module (%v)", n, err)
		}
	}
	if _, err := builtin.Module("nope"); err != builtin.ErrMissing {
		t.Fatalf("missing module: %v", err)
	}
}
