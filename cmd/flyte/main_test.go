package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// testCache is shared by every flyte process the tests start, so that the
// suite compiles each plugin once, not once per process. It is keyed by
// the plugins' content, so a stale entry is never used.
var testCache = filepath.Join(os.TempDir(), fmt.Sprintf("flyte-test-cache-%d", os.Getuid()))

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"flyte": func() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)) },
	})
}

// warmCache compiles the built-in plugins into testCache once, so that no
// script sees the first-run progress line unless it asks for a cold cache.
func warmCache(t testing.TB) {
	t.Helper()
	home := t.TempDir()
	env := map[string]string{"HOME": home, "FLYTE_CACHE_DIR": testCache}
	var out, errb bytes.Buffer
	if code := run([]string{"plugin", "list"}, nil, &out, &errb, func(k string) string { return env[k] }); code != 0 {
		t.Fatalf("flyte plugin list: exit %d\n%s%s", code, out.String(), errb.String())
	}
}

// scriptEnv sets the environment every script starts with: a private home
// (so config, identity and store live in $WORK), the shared plugin cache,
// and nothing inherited that could change flyte's behaviour.
func scriptEnv(e *testscript.Env) error {
	home := filepath.Join(e.WorkDir, "home")
	e.Setenv("HOME", home)
	e.Setenv("XDG_CONFIG_HOME", "")
	e.Setenv("XDG_DATA_HOME", "")
	e.Setenv("XDG_CACHE_HOME", "")
	e.Setenv("FLYTE_CONFIG", "")
	e.Setenv("FLYTE_DEBUG", "")
	e.Setenv("FLYTE_CACHE_DIR", testCache)
	e.Setenv("STORE", filepath.Join(home, ".local", "share", "flyte", "store"))
	return nil
}

func TestScripts(t *testing.T) {
	warmCache(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		Setup:               scriptEnv,
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
	})
}
