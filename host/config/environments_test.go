package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	p := write(t, filepath.Join(t.TempDir(), "flyte.toml"), text)
	return Load(p, func(k string) string {
		if k == "HOME" {
			return "/home/u"
		}
		return ""
	})
}

func TestEnvironments(t *testing.T) {
	c, err := loadText(t, `
[inject]
file = "myfiles"

[[environments]]
name = "env_1"
project = "my_project"
domain = "development"
secrets = [
  { key = "my_secret", as_env_var = "MY_SECRET_ENV_VAR" },
  "my-secret",
  { key = "api-key", group = "openai" },
  { key = "cert", mount = "/etc/flyte/secrets" },
  { key = "other", injector = "custom" },
]

[[environments]]
name = "env_2"
secrets = "only_key"
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Environment{
		{Name: "env_1", Project: "my_project", Domain: "development", Secrets: []SecretRequest{
			{Key: "my_secret", AsEnvVar: "MY_SECRET_ENV_VAR", Injector: "envinject"},
			{Key: "my-secret", AsEnvVar: "MY_SECRET", Injector: "envinject"},
			{Key: "api-key", Group: "openai", AsEnvVar: "OPENAI_API_KEY", Injector: "envinject"},
			{Key: "cert", Mount: "/etc/flyte/secrets", Injector: "myfiles"},
			{Key: "other", AsEnvVar: "OTHER", Injector: "custom"},
		}},
		{Name: "env_2", Secrets: []SecretRequest{{Key: "only_key", AsEnvVar: "ONLY_KEY", Injector: "envinject"}}},
	}
	for i := range want {
		want[i].File = c.Path // where each is defined
	}
	if !reflect.DeepEqual(c.Environments, want) {
		t.Fatalf("got  %+v\nwant %+v", c.Environments, want)
	}
	if e, ok := c.Environment("env_2"); !ok || e.Name != "env_2" {
		t.Fatal("Environment lookup")
	}
}

// TestEnvironmentErrors pins the exact line (and hint) the user sees for each mistake in
// [[environments]]: where it is (PATH:LINE:COL, columns in characters), which environment and secret,
// and never the text that failed.
func TestEnvironmentErrors(t *testing.T) {
	const two = "[[environments]]\nname = \"a\"\nsecrets = [\"OK\"]\n[[environments]]\nname = \"b\"\n"
	const rule = "must match ^[A-Z_][A-Z0-9_]*$"
	const envHint = `choose another name with as_env_var, or ask for a file with mount = "/etc/flyte/secrets"`
	for _, tt := range []struct{ name, text, want, hint string }{
		{"bad env var", `[[environments]]
name = "e"
secrets = [{ key = "k", as_env_var = "my-var" }]`, `:3:38: environment e: secret k: as_env_var is not a valid environment variable name: it ` + rule, envHint},
		{"default env var starts with digit", `[[environments]]
name = "e"
secrets = ["1key"]`, `:3:12: environment e: secret 1key: its default variable name (the key upper-cased) is not a valid environment variable name: it ` + rule, envHint},
		{"denied", `[[environments]]
name = "e"
secrets = [{ key = "K", as_env_var = "PATH" }]`, `:3:38: environment e: secret K: as_env_var is a variable flyte never sets (PATH): it controls how programs are found, loaded or interpreted`, envHint},
		{"denied prefix", `[[environments]]
name = "e"
secrets = [{ key = "K", as_env_var = "LD_PRELOAD_ME" }]`, `:3:38: environment e: secret K: as_env_var is a variable flyte never sets (LD_*): it controls how programs are found, loaded or interpreted`, envHint},
		{"denied DYLD", `[[environments]]
name = "e"
secrets = [{ key = "K", as_env_var = "DYLD_INSERT_LIBRARIES" }]`, `:3:38: environment e: secret K: as_env_var is a variable flyte never sets (DYLD_*): it controls how programs are found, loaded or interpreted`, envHint},
		{"denied flyte's own", `[[environments]]
name = "e"
secrets = [{ key = "K", as_env_var = "FLYTE_IDENTITY" }]`, `:3:38: environment e: secret K: as_env_var is a variable flyte never sets (FLYTE_*): FLYTE_ variables are flyte's own`, envHint},
		{"denied default", `[[environments]]
name = "e"
secrets = ["path"]`, `:3:12: environment e: secret path: its default variable name (the key upper-cased) is a variable flyte never sets (PATH): it controls how programs are found, loaded or interpreted`, envHint},
		{"denied default with group", `[[environments]]
name = "e"
secrets = [{ key = "preload", group = "ld" }]`, `:3:20: environment e: secret preload: its default variable name (GROUP_KEY upper-cased) is a variable flyte never sets (LD_*): it controls how programs are found, loaded or interpreted`, envHint},
		{"denied default bare string", `[[environments]]
name = "e"
secrets = "home"`, `:3:11: environment e: secret home: its default variable name (the key upper-cased) is a variable flyte never sets (HOME): it controls how programs are found, loaded or interpreted`, envHint},
		{"in the second environment", two + `secrets = [{ key = "OK", as_env_var = "PATH" }]`, `:6:39: environment b: secret OK: as_env_var is a variable flyte never sets (PATH): it controls how programs are found, loaded or interpreted`, envHint},
		{"multi-line secrets, non-ASCII before", `[[environments]]
name = "e" # é café
secrets = [
  "ok",
  { "key" = "K", as_env_var = "BASH_ENV" }, # ünïcode
]`, `:5:31: environment e: secret K: as_env_var is a variable flyte never sets (BASH_ENV): it controls how programs are found, loaded or interpreted`, envHint},
		{"non-ASCII on the line", `[[environments]]
name = "e"
secrets = [{ key = "K", injector = "ééé", as_env_var = "é" }]`, `:3:56: environment e: secret K: as_env_var is not a valid environment variable name: it ` + rule, envHint},
		{"inline environments", `environments = [{ name = "e", secrets = [{ key = "K", as_env_var = "IFS" }] }]`,
			`:1:68: environment e: secret K: as_env_var is a variable flyte never sets (IFS): it controls how programs are found, loaded or interpreted`, envHint},
		{"bad mount", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/secrets" }]`, `:3:33: environment e: secret k: Only /etc/flyte/secrets is supported as secret mount path today.`, ""},
		{"both", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/flyte/secrets", as_env_var = "K" }]`, `:3:12: environment e: secret k: as_env_var and mount both given: ask for one`, ""},
		{"same variable", `[[environments]]
name = "e"
secrets = ["my-secret", { key = "other", as_env_var = "MY_SECRET" }]`, `:3:25: environment e: secrets my-secret and other both go to environment variable MY_SECRET`, ""},
		{"same file", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/flyte/secrets" }, { key = "k", mount = "/etc/flyte/secrets" }]`, `:3:57: environment e: secrets k and k both go to file /etc/flyte/secrets/k`, ""},
		{"unknown domain", `[[environments]]
name = "e"
domain = "qa"`, `:3:10: environment e: unknown domain: valid domains are development, staging, production`, ""},
		{"bad project", `[[environments]]
name = "e"
project = "My Project"`, `:3:11: environment e: invalid project name: must match ^[a-z0-9][-a-z0-9_]{0,62}$`, ""},
		{"no name", `[[environments]]
project = "p"`, `:1:3: environments[1] has no name`, ""},
		{"no name, second", two + `[[environments]]
project = "p"`, `:6:3: environments[3] has no name`, ""},
		{"bad name", `[[environments]]
name = "My Env"`, `:2:8: invalid environment name: must match ^[a-z0-9][-a-z0-9_]{0,62}$`, ""},
		{"name type", `[[environments]]
name = 1`, `:2:8: environments[1]: name must be a string, not an integer`, ""},
		{"twice", `[[environments]]
name = "e"
[[environments]]
name = "e"`, `:4:8: environment "e" is defined twice`, ""},
		{"unknown env setting", `[[environments]]
name = "e"
secret = ["k"]`, `:3:1: unknown setting in environments[1]`, "did you mean secrets?"},
		{"unknown env setting, dotted", `[[environments]]
name = "e"
projct.x = "p"`, `:3:1: unknown setting in environments[1]`, "did you mean project?"},
		{"unknown env setting, quoted", `[[environments]]
name = "e"
"domian" = "p"`, `:3:1: unknown setting in environments[1]`, "did you mean domain?"},
		{"unknown env setting, second", two + `nmae = "x"`, `:6:1: unknown setting in environments[2]`, "did you mean name?"},
		{"unknown secret setting", `[[environments]]
name = "e"
secrets = [{ key = "k", as_env_vr = "K" }]`, `:3:25: environment e: unknown secret setting`, "did you mean as_env_var?"},
		{"unknown secret setting, quoted", `[[environments]]
name = "e"
secrets = [{ key = "k", "mnt" = "/etc/flyte/secrets" }]`, `:3:25: environment e: unknown secret setting`, "did you mean mount?"},
		{"unknown secret setting, far", `[[environments]]
name = "e"
secrets = [{ key = "k", Hunter2Pass = "K" }]`, `:3:25: environment e: unknown secret setting`, ""},
		{"secret without key", `[[environments]]
name = "e"
secrets = [{ as_env_var = "K" }]`, `:3:12: environment e: a secret has no key`, ""},
		{"secret type", `[[environments]]
name = "e"
secrets = ["k", 3]`, `:3:17: environment e: each secret must be a key or a {key = ...} table, not an integer`, ""},
		{"secret value type", `[[environments]]
name = "e"
secrets = [{ key = "k", as_env_var = 3 }]`, `:3:38: environment e: secret k: as_env_var must be a string, not an integer`, ""},
		{"bad key", `[[environments]]
name = "e"
secrets = ["a b"]`, `:3:12: environment e: invalid secret key: must match ^[-a-zA-Z0-9_]+$`, ""},
		{"bad key in table", `[[environments]]
name = "e"
secrets = [{ key = "a b" }]`, `:3:20: environment e: invalid secret key: must match ^[-a-zA-Z0-9_]+$`, ""},
		{"secrets type", `[[environments]]
name = "e"
secrets = 3`, `:3:11: environment e: secrets must be a list of keys or {key = ...} tables, not an integer`, ""},
		{"key type", `[[environments]]
name = "e"
secrets = [{ key = 1 }]`, `:3:20: environment e: key must be a string, not an integer`, ""},
		{"inline environment item type", `environments = [{ name = "e" }, 1]`, `:1:16: setting "environments" must be an array of tables ([[environments]]), not an array`, ""},
		{"not a table array", `environments = "x"`, `:1:16: setting "environments" must be an array of tables ([[environments]]), not a string`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, filepath.Join(t.TempDir(), "flyte.toml"), tt.text)
			_, err := Load(p, env("HOME", "/home/u"))
			if err == nil || err.Error() != p+tt.want {
				t.Fatalf("got  %v\nwant %s%s", err, p, tt.want)
			}
			var h interface{ Hint() string }
			hint := ""
			if errors.As(err, &h) {
				hint = h.Hint()
			}
			if hint != tt.hint {
				t.Errorf("hint = %q, want %q", hint, tt.hint)
			}
			for _, quoted := range []string{"my-var", "Hunter2Pass", "LD_PRELOAD_ME", "IDENTITY", "é", "My Env", "a b"} {
				if strings.Contains(err.Error()+hint, quoted) {
					t.Errorf("the error quotes %q", quoted)
				}
			}
		})
	}
}

func TestCacheDir(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"FLYTE_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/c"},
		{map[string]string{"XDG_CACHE_HOME": "/x", "HOME": "/h"}, "/x/flyte"},
		{map[string]string{"XDG_CACHE_HOME": "relative", "HOME": "/h"}, "/h/.cache/flyte"},
		{map[string]string{}, ""},
	} {
		if got := CacheDir(func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("%v: got %q, want %q", tt.env, got, tt.want)
		}
	}
}

// Environments written inline mean what [[environments]] means, and a per-secret injector in them still
// needs the user's trust.
func TestInlineEnvironments(t *testing.T) {
	inline, err := loadText(t, `environments = [{ name = "e", secrets = ["k", { key = "f", mount = "/etc/flyte/secrets" }] }]`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := loadText(t, "[[environments]]\nname = \"e\"\nsecrets = [\"k\", { key = \"f\", mount = \"/etc/flyte/secrets\" }]\n")
	if err != nil {
		t.Fatal(err)
	}
	inline.Environments[0].File, tables.Environments[0].File = "", "" // two files
	if !reflect.DeepEqual(inline.Environments, tables.Environments) {
		t.Fatalf("inline %+v\ntables %+v", inline.Environments, tables.Environments)
	}
	f, err := parseFile("/cfg/flyte.toml", []byte(`environments = [{ name = "e", secrets = [{ key = "k", injector = "evil" }] }]`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"environments.secrets.injector"}; !reflect.DeepEqual(f.Restricted, want) {
		t.Fatalf("Restricted = %q, want %q", f.Restricted, want)
	}
}
