package core

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
)

// A second task of the same environment takes the built-in injector's plan
// from the state directory's plan cache: the injector is not loaded, and
// the task gets the same variables.
func TestPrepareTaskPlanCache(t *testing.T) {
	if testing.Short() {
		t.Skip("loads plugins")
	}
	cfg, dir := loadConfig(t, `
[store]
path = "store"
[seal]
identity = "identity.txt"
[[environments]]
name = "e"
secrets = ["API"]
`)
	opts := Options{StateDir: filepath.Join(dir, "state")}
	ctx := context.Background()
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write(ctx, WriteRequest{Scope: scope.Scope{Org: cfg.Organization}, Key: "API", Kind: abi.SecretString, Value: []byte("api-value")}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	// Each task in a Core of its own, as each flyte run is a process.
	prepare := func() (env string, loaded bool) {
		c, err := New(cfg, opts)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p, err := c.PrepareTask(ctx, TaskRequest{Environment: "e"})
		if err != nil {
			t.Fatal(err)
		}
		defer p.Wipe()
		if len(p.Env) != 1 {
			t.Fatalf("%d variables", len(p.Env))
		}
		c.loadMu.Lock()
		_, loaded = c.loads["envinject"]
		c.loadMu.Unlock()
		return p.Env[0].Name + "=" + string(p.Env[0].Value), loaded
	}
	first, loaded := prepare()
	if !loaded {
		t.Error("the first task did not load envinject")
	}
	second, loaded := prepare()
	if loaded {
		t.Error("the second task loaded envinject: its plan was not taken from the cache")
	}
	if first != "API=api-value" || second != first {
		t.Errorf("variables %q then %q", first, second)
	}
}
