package core

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/identity"
)

// A renewed Core keeps its plugins but neither the last request's
// identity nor its secrets service (and so its data key).
func TestRenewDropsIdentityAndKey(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Organization: "o", Store: config.StoreConfig{Plugin: "filestore", Path: filepath.Join(dir, "store")}}
	first := identity.File(filepath.Join(dir, "one.txt"))
	c, err := New(cfg, Options{Identity: first})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := c.Secrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second := identity.File(filepath.Join(dir, "two.txt"))
	c.Renew(second)
	if c.Identity() != second {
		t.Fatal("the identity was not replaced")
	}
	m2, err := c.Secrets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m2 == m {
		t.Fatal("the secrets service (and its data key) outlived Renew")
	}
	if len(c.loads) != 1 {
		t.Fatalf("%d plugins loaded, want the store kept", len(c.loads))
	}
}
