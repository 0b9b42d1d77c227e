package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	c, err := loadText(t, `
[[environments]]
name = "app"
secrets = [
  "db_user",
  { key = "db_password", deliver = false },
  { key = "registry_user", deliver = false },
  { key = "registry_password", deliver = false },
  { key = "cert", mount = "/etc/flyte/secrets" },
]

[[environments.render]]
env = "DATABASE_URL"
injector = "tmplinject"
secrets = ["db_user", "db_password"]

[[environments.render]]
file = "config.json"
injector = "dockerauth"
secrets = ["registry_user", "registry_password"]
mode = "0440"

[[environments.render]]
file = "/etc/flyte/secrets/app.conf"
injector = "tmplinject"
secrets = ["db_password", "cert"]
mode = 0o400
`)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := c.Environment("app")
	wantSecrets := []SecretRequest{
		{Key: "db_user", AsEnvVar: "DB_USER", Injector: "envinject"},
		{Key: "db_password", RenderOnly: true},
		{Key: "registry_user", RenderOnly: true},
		{Key: "registry_password", RenderOnly: true},
		{Key: "cert", Mount: "/etc/flyte/secrets", Injector: "fileinject"},
	}
	wantRender := []RenderOutput{
		{Env: "DATABASE_URL", Injector: "tmplinject", Secrets: []string{"db_user", "db_password"}},
		{File: "config.json", Mode: 0o440, Injector: "dockerauth", Secrets: []string{"registry_user", "registry_password"}},
		{File: "app.conf", Mode: 0o400, Injector: "tmplinject", Secrets: []string{"db_password", "cert"}},
	}
	if !reflect.DeepEqual(e.Secrets, wantSecrets) {
		t.Errorf("secrets\n got %+v\nwant %+v", e.Secrets, wantSecrets)
	}
	if !reflect.DeepEqual(e.Render, wantRender) {
		t.Errorf("render\n got %+v\nwant %+v", e.Render, wantRender)
	}
	if f := e.Files(); !reflect.DeepEqual(f, []string{"cert", "config.json", "app.conf"}) {
		t.Errorf("Files = %q", f)
	}
	if n := e.Render[1].Name(); n != "/etc/flyte/secrets/config.json" {
		t.Errorf("Name = %q", n)
	}
	if n := e.Render[0].Name(); n != "DATABASE_URL" {
		t.Errorf("Name = %q", n)
	}
}

// TestRenderErrors pins each load check of [[environments.render]]: one line at the place, never the
// text that failed.
func TestRenderErrors(t *testing.T) {
	const head = "[[environments]]\nname = \"e\"\nsecrets = [\"a\", { key = \"b\", mount = \"/etc/flyte/secrets\" }, { key = \"c\", deliver = false }]\n"
	const out = head + "[[environments.render]]\ninjector = \"t\"\nsecrets = [\"c\"]\n"
	const envHint = `choose another name with env, or render a file with file = "NAME"`
	for _, tt := range []struct{ name, text, want, hint string }{
		{"neither", head + "[[environments.render]]\ninjector = \"t\"\n", `:4:16: environment e: render output 1: has neither file nor env: say where it goes`, ""},
		{"both", out + "file = \"x\"\nenv = \"X\"\n", `:4:16: environment e: render output 1: file and env both given: an output is one file or one variable`, ""},
		{"file traversal", out + "file = \"../../etc/passwd\"\n", `:7:8: environment e: render output 1: file must be the name of a file directly under /etc/flyte/secrets: letters, digits, '-', '_' and '.', not starting with '.'`, ""},
		{"file nested", out + "file = \"a/b\"\n", `:7:8: environment e: render output 1: file must be the name of a file directly under /etc/flyte/secrets: letters, digits, '-', '_' and '.', not starting with '.'`, ""},
		{"file outside", out + "file = \"/etc/passwd\"\n", `:7:8: environment e: render output 1: file must be the name of a file directly under /etc/flyte/secrets: letters, digits, '-', '_' and '.', not starting with '.'`, ""},
		{"file type", out + "file = 1\n", `:7:8: environment e: render output 1: file must be a string, not an integer`, ""},
		{"env denied", out + "env = \"LD_PRELOAD\"\n", `:7:7: environment e: render output 1: env is a variable flyte never sets (LD_*): it controls how programs are found, loaded or interpreted`, envHint},
		{"env invalid", out + "env = \"my-var\"\n", `:7:7: environment e: render output 1: env is not a valid environment variable name: it must match ^[A-Z_][A-Z0-9_]*$`, envHint},
		{"env clashes with as_env_var", out + "env = \"A\"\n", `:7:7: environment e: render output 1 goes to variable A, where secret a already goes`, ""},
		{"file clashes with mount", out + "file = \"b\"\n", `:7:8: environment e: render output 1 goes to file b, where secret b already goes`, ""},
		{"outputs clash", out + "env = \"X\"\n[[environments.render]]\ninjector = \"t\"\nsecrets = [\"c\"]\nenv = \"X\"\n", `:11:7: environment e: render output 2 goes to variable X, where render output 1 already goes`, ""},
		{"mode for env", out + "env = \"X\"\nmode = \"0400\"\n", `:8:1: environment e: render output 1 (variable X): mode is for a file, not a variable`, ""},
		{"mode wide", out + "file = \"x\"\nmode = \"0644\"\n", `:8:8: environment e: render output 1 (file x): mode must be an octal file mode no wider than 0440, such as "0400"`, ""},
		{"mode setuid", out + "file = \"x\"\nmode = 0o4400\n", `:8:8: environment e: render output 1 (file x): mode must be an octal file mode no wider than 0440, such as "0400"`, ""},
		{"mode not octal", out + "file = \"x\"\nmode = \"0489\"\n", `:8:8: environment e: render output 1 (file x): mode must be an octal file mode no wider than 0440, such as "0400"`, ""},
		{"mode zero", out + "file = \"x\"\nmode = \"0\"\n", `:8:8: environment e: render output 1 (file x): mode must be an octal file mode no wider than 0440, such as "0400"`, ""},
		{"mode type", out + "file = \"x\"\nmode = true\n", `:8:8: environment e: render output 1 (file x): mode must be a string such as "0400", not a boolean`, ""},
		{"no injector", head + "[[environments.render]]\nfile = \"x\"\nsecrets = [\"c\"]\n", `:4:16: environment e: render output 1 (file x): has no injector: name the plugin that renders it`, ""},
		{"bad injector", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"Evil One\"\nsecrets = [\"c\"]\n", `:6:12: environment e: render output 1 (file x): injector: invalid plugin name: must match ^[a-z0-9][-a-z0-9_]{0,62}$`, ""},
		{"no secrets", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\n", `:4:16: environment e: render output 1 (file x): has no secrets: list the environment's secrets it may use`, ""},
		{"secret not in environment", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = [\"c\", \"zz\"]\n", `:7:17: environment e: render output 1 (file x): secret zz is not one of the environment's secrets`, ""},
		{"secret twice", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = [\"c\", \"c\"]\n", `:7:17: environment e: render output 1 (file x): lists secret c twice`, ""},
		{"secret invalid", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = [\"a b\"]\n", `:7:12: environment e: render output 1 (file x): invalid secret key: must match ^[-a-zA-Z0-9_]+$`, ""},
		{"secrets type", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = \"c\"\n", `:7:11: environment e: render output 1 (file x): secrets must be a list of the environment's secret keys, not a string`, ""},
		{"secrets item type", head + "[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = [1]\n", `:7:12: environment e: render output 1 (file x): item 1 of secrets must be a secret's key (a string), not an integer`, ""},
		{"unknown render setting", out + "file = \"x\"\ninjecter = \"y\"\n", `:8:1: environment e: render output 1: unknown render setting`, "did you mean injector?"},
		{"render type", head + "render = \"x\"\n", `:4:10: environment e: render must be an array of tables ([[environments.render]]), not a string`, ""},
		{"render item type", head + "render = [1]\n", `:4:11: environment e: each render output must be a table, not an integer`, ""},
		{"render-only unused", head, `:3:75: environment e: secret c has deliver = false, but no render output uses it`, ""},
		{"deliver with as_env_var", "[[environments]]\nname = \"e\"\nsecrets = [{ key = \"c\", deliver = false, as_env_var = \"C\" }]\n", `:3:42: environment e: secret c: as_env_var and deliver = false both given: a secret that is not delivered goes only into render outputs`, ""},
		{"deliver with mount", "[[environments]]\nname = \"e\"\nsecrets = [{ key = \"c\", deliver = false, mount = \"/etc/flyte/secrets\" }]\n", `:3:42: environment e: secret c: mount and deliver = false both given: a secret that is not delivered goes only into render outputs`, ""},
		{"deliver type", "[[environments]]\nname = \"e\"\nsecrets = [{ key = \"c\", deliver = \"no\" }]\n", `:3:35: environment e: secret c: deliver must be a boolean, not a string`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, filepath.Join(t.TempDir(), "flyte.toml"), tt.text)
			_, err := Load(p, env("HOME", "/home/u"))
			if err == nil || err.Error() != p+tt.want {
				t.Fatalf("got  %v\nwant %s%s", err, p, tt.want)
			}
			if hint := hintOf(err); hint != tt.hint {
				t.Errorf("hint = %q, want %q", hint, tt.hint)
			}
			for _, quoted := range []string{"my-var", "passwd", "Evil One", "injecter"} {
				if strings.Contains(err.Error()+hintOf(err), quoted) {
					t.Errorf("the error quotes %q", quoted)
				}
			}
		})
	}
}

// TestRenderNeedsTrust: a discovered project file cannot render (it chooses code and moves values) nor
// take a secret's delivery away.
func TestRenderNeedsTrust(t *testing.T) {
	for _, tt := range []struct {
		text string
		want []string
	}{
		{"[[environments]]\nname = \"e\"\nsecrets = [\"a\"]\n[[environments.render]]\nfile = \"x\"\ninjector = \"t\"\nsecrets = [\"a\"]\n", []string{"environments.render"}},
		{"[[environments]]\nname = \"e\"\nsecrets = [\"a\"]\nrender = [{ file = \"x\", injector = \"t\", secrets = [\"a\"] }]\n", []string{"environments.render"}},
		{"[[environments]]\nname = \"e\"\nsecrets = [{ key = \"a\", deliver = false }]\n", []string{"environments.secrets.deliver"}},
	} {
		f, err := parseFile("/x/flyte.toml", []byte(tt.text))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.Restricted, tt.want) {
			t.Errorf("%q: Restricted = %q, want %q", tt.text, f.Restricted, tt.want)
		}
	}
}
