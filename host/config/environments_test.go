package config

import (
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
	if !reflect.DeepEqual(c.Environments, want) {
		t.Fatalf("got  %+v\nwant %+v", c.Environments, want)
	}
	if e, ok := c.Environment("env_2"); !ok || e.Name != "env_2" {
		t.Fatal("Environment lookup")
	}
}

func TestEnvironmentErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, want string }{
		{"bad env var", `[[environments]]
name = "e"
secrets = [{ key = "k", as_env_var = "my-var" }]`, `: environment e: secret k: Invalid environment variable name: my-var, must match ^[A-Z_][A-Z0-9_]*$`},
		{"default env var starts with digit", `[[environments]]
name = "e"
secrets = ["1key"]`, `: environment e: secret 1key: Invalid environment variable name: 1KEY, must match ^[A-Z_][A-Z0-9_]*$`},
		{"bad mount", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/secrets" }]`, `: environment e: secret k: Only /etc/flyte/secrets is supported as secret mount path today.`},
		{"both", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/flyte/secrets", as_env_var = "K" }]`, `: environment e: secret k: as_env_var and mount both given: ask for one`},
		{"same variable", `[[environments]]
name = "e"
secrets = ["my-secret", { key = "other", as_env_var = "MY_SECRET" }]`, `: environment e: secrets my-secret and other both go to environment variable MY_SECRET`},
		{"same file", `[[environments]]
name = "e"
secrets = [{ key = "k", mount = "/etc/flyte/secrets" }, { key = "k", mount = "/etc/flyte/secrets" }]`, `: environment e: secrets k and k both go to file /etc/flyte/secrets/k`},
		{"unknown domain", `[[environments]]
name = "e"
domain = "qa"`, `: environment e: unknown domain: valid domains are development, staging, production`},
		{"bad project", `[[environments]]
name = "e"
project = "My Project"`, `: environment e: invalid project name`},
		{"no name", `[[environments]]
project = "p"`, `: environments[1] has no name`},
		{"twice", `[[environments]]
name = "e"
[[environments]]
name = "e"`, `: environment "e" is defined twice`},
		{"unknown env setting", `[[environments]]
name = "e"
secret = ["k"]`, `: unknown setting in environments[1]`},
		{"unknown secret setting", `[[environments]]
name = "e"
secrets = [{ key = "k", env = "K" }]`, `: environment e: unknown secret setting`},
		{"bad key", `[[environments]]
name = "e"
secrets = ["a b"]`, `: environment e: invalid secret key`},
		{"not a table array", `environments = "x"`, `: setting "environments" must be an array of tables ([[environments]]), not a string`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadText(t, tt.text)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v\nwant …%s", err, tt.want)
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
