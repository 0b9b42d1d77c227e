package wasmtest

import (
	"fmt"
	"os"
	"os/exec"
)

// BuildGo builds the Go guest in package directory pkg into the file out, as
// every plugin is built (a wasip1 reactor: -buildmode=c-shared), with the
// extra go build flags given. Its error holds the compiler's output. It is
// for tests, which build the plugins of testdata and plugins/examples from
// source; it needs the go command.
func BuildGo(pkg, out string, flags ...string) error {
	args := append([]string{"build", "-buildmode=c-shared", "-trimpath"}, flags...)
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
	}
	return nil
}
