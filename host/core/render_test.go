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
// Values or WholeValues, and a hostile answer refusing the whole task.
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
	prepare := func(name string) (*Task, error) {
		e, _ := cfg.Environment(name)
		return c.PrepareTask(ctx, e, "", "")
	}

	task, err := prepare("ok")
	if err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	a := task.Applied
	wantURL := "db_user=app_user,db_password=" + password
	var got []string
	for _, e := range a.Env {
		got = append(got, e.Name+"="+string(e.Value))
	}
	if strings.Join(got, " ") != "DB_USER=app_user DATABASE_URL="+wantURL {
		t.Errorf("env = %q", got)
	}
	if len(a.Files) != 1 || a.Files[0].Name != "app.conf" || a.Files[0].Mode != 0o440 || string(a.Files[0].Value) != "db_password="+password {
		t.Errorf("files = %+v", a.Files)
	}
	values, whole := map[string]bool{}, map[string]bool{}
	for _, v := range task.Values() {
		values[string(v)] = true
	}
	for _, v := range task.WholeValues() {
		whole[string(v)] = true
	}
	// The secrets are masked with their lines; the outputs, which join
	// them with literal text, whole.
	if len(values) != 2 || !values["app_user"] || !values[password] {
		t.Errorf("Values = %q", task.Values())
	}
	if len(whole) != 2 || !whole[wantURL] || !whole["db_password="+password] {
		t.Errorf("WholeValues = %q", task.WholeValues())
	}
	task.Close()
	if strings.Trim(string(a.Files[0].Value), "\x00") != "" {
		t.Error("Close left a rendered file's value")
	}

	for name, want := range map[string]string{
		"render-unrouted": "injector badinject: bad render: uses secret db_user, which is not routed to output /etc/flyte/secrets/app.conf",
		"render-foreign":  "injector badinject: bad render: references secret #999, which the task did not ask for",
		"render-deep":     "injector badinject: bad render: output /etc/flyte/secrets/app.conf nests parts more than 8 deep",
		"old":             "injector envinject does not render outputs: its ops do not include RENDER (101)",
	} {
		task, err := prepare(name)
		if err == nil || err.Error() != want {
			t.Errorf("%s: %v, %v\nwant %s", name, task, err, want)
		}
		if err != nil && strings.Contains(err.Error(), password) {
			t.Errorf("%s: the error holds the password", name)
		}
	}
}
