package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A store granted the user's home (which holds the identity) is refused
// with exit 1 and one line, before anything is created.
func TestGrantRefusedExitsOne(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "flyte.toml")
	if err := os.WriteFile(cfg, []byte("[store]\npath = \""+home+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "FLYTE_CACHE_DIR": testCache}
	var out, errb bytes.Buffer
	code := run([]string{"create", "secret", "-c", cfg, "KEY", "value"}, nil, &out, &errb, func(k string) string { return env[k] })
	want := "flyte: store.path " + home + " would give the store plugin the identity file (" +
		filepath.Join(home, ".config", "flyte", "identity.txt") + "); choose a directory outside it\n"
	if code != exitFailure || out.Len() != 0 || errb.String() != want {
		t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1 and\n%s", code, out.String(), errb.String(), want)
	}
	if ents, err := os.ReadDir(home); err != nil || len(ents) != 0 {
		t.Errorf("home holds %v, %v", ents, err)
	}
}
