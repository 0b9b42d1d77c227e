package core

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/task"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// buildBadinject builds testdata/plugins/badinject, the hostile injector.
func buildBadinject(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	out := filepath.Join(t.TempDir(), "badinject.wasm")
	if err := wasmtest.BuildGo("../../testdata/plugins/badinject", out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPrepareTaskRenders runs the whole path with real plugins: the
// built-in store and envinject, and badinject rendering: PLAN, then
// RENDER, the values filled in by the host, every rendered form in
// Mask or MaskWhole, and a hostile answer refusing the whole task.
func TestPrepareTaskRenders(t *testing.T) {
	wasm := buildBadinject(t)
	dir := t.TempDir()
	env := func(name string) string {
		return "\n[[environments]]\nname = \"" + name + `"
secrets = ["db_user", { key = "db_password", deliver = false }]
[[environments.render]]
file = "app.conf"
injector = "badinject"
secrets = ["db_password"]
mode = "0440"
[[environments.render]]
env = "DATABASE_URL"
injector = "badinject"
secrets = ["db_user", "db_password"]
`
	}
	text := "[store]\npath = \"store\"\n[seal]\nidentity = \"identity.txt\"\n[plugins.badinject]\npath = \"" + wasm + "\"\n" +
		env("ok") + env("render-unrouted") + env("render-foreign") + env("render-deep") +
		"\n[[environments]]\nname = \"old\"\nsecrets = [\"db_user\"]\n[[environments.render]]\nenv = \"X\"\ninjector = \"envinject\"\nsecrets = [\"db_user\"]\n"
	path := filepath.Join(dir, "flyte.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	m, err := c.Secrets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const password = "p@ss:w/rd"
	for k, v := range map[string]string{"db_user": "app_user", "db_password": password} {
		if _, err := m.Create(ctx, scope.Scope{}, k, abi.SecretString, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	prepare := func(name string) (*task.Prepared, error) {
		return c.PrepareTask(ctx, TaskRequest{Environment: name, Mask: true})
	}

	p, err := prepare("ok")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Wipe()
	wantURL := "db_user=app_user,db_password=" + password
	var got []string
	for _, e := range p.Env {
		got = append(got, e.Name+"="+string(e.Value))
	}
	if strings.Join(got, " ") != "DB_USER=app_user DATABASE_URL="+wantURL {
		t.Errorf("env = %q", got)
	}
	if len(p.Files) != 1 || p.Files[0].Name != "app.conf" || p.Files[0].Mode != 0o440 || string(p.Files[0].Value) != "db_password="+password {
		t.Errorf("files = %+v", p.Files)
	}
	// The identity is masked as written and in lower case.
	id, err := c.Identity().Load()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{id.String(): true, strings.ToLower(id.String()): true}
	values, whole := map[string]bool{}, map[string]bool{}
	for _, v := range p.Secrets {
		values[string(v)] = true
	}
	for _, v := range p.Mask {
		if !ids[string(v)] {
			values[string(v)] = true
		}
		delete(ids, string(v))
	}
	for _, v := range p.MaskWhole {
		whole[string(v)] = true
	}
	// The secrets are masked with their lines; the outputs, which join
	// them with literal text, whole.
	if len(values) != 2 || !values["app_user"] || !values[password] {
		t.Errorf("Secrets and Mask hold %d values, not the 2 secrets", len(values))
	}
	if len(whole) != 2 || !whole[wantURL] || !whole["db_password="+password] {
		t.Errorf("MaskWhole = %q", p.MaskWhole)
	}
	if len(ids) != 0 {
		t.Error("Mask misses a form of the identity")
	}
	file := p.Files[0].Value
	p.Wipe()
	if strings.Trim(string(file), "\x00") != "" {
		t.Error("Wipe left a rendered file's value")
	}

	for name, want := range map[string]string{
		"render-unrouted": "injector badinject: bad render: uses secret db_user, which is not routed to output /etc/flyte/secrets/app.conf",
		"render-foreign":  "injector badinject: bad render: references secret #999, which the task did not ask for",
		"render-deep":     "injector badinject: bad render: output /etc/flyte/secrets/app.conf nests parts more than 8 deep",
		"old":             "injector envinject does not render outputs: its ops do not include RENDER (101)",
	} {
		p, err := prepare(name)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, %v\nwant %s", name, p, err, want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error holds the password", name)
		}
	}
}
