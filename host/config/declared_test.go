package config

import (
	"reflect"
	"strings"
	"testing"
)

func str(s string) *string { return &s }

// A task file's declarations mean what the same entries of flyte.toml mean, with the SDK's reading of
// empty arguments and of as_env_var with mount; errors name the declaration's FILE:LINE.
func TestDeclaredEnvironment(t *testing.T) {
	c, err := loadText(t, "")
	if err != nil {
		t.Fatal(err)
	}
	secrets := []DeclaredSecret{
		{Key: "my_secret", AsEnvVar: str("MY_SECRET_ENV_VAR"), At: "t.py:3"},
		{Key: "my-secret", String: true, At: "t.py:4"},
		{Key: "api-key", Group: str("openai"), At: "t.py:5"},
		{Key: "cert", Mount: str("/etc/flyte/secrets"), At: "t.py:6"},
		{Key: "both", Mount: str("/etc/flyte/secrets"), AsEnvVar: str("BOTH"), At: "t.py:7"},
		{Key: "empty", Group: str(""), AsEnvVar: str(""), Mount: str(""), At: "t.py:8"},
	}
	e, warnings, err := c.DeclaredEnvironment("env_1", "t.py:2", secrets)
	if err != nil {
		t.Fatal(err)
	}
	want := &Environment{Name: "env_1", File: "t.py:2", Secrets: []SecretRequest{
		{Key: "my_secret", AsEnvVar: "MY_SECRET_ENV_VAR", Injector: "envinject"},
		{Key: "my-secret", AsEnvVar: "MY_SECRET", Injector: "envinject"},
		{Key: "api-key", Group: "openai", AsEnvVar: "OPENAI_API_KEY", Injector: "envinject"},
		{Key: "cert", Mount: "/etc/flyte/secrets", Injector: "fileinject"},
		{Key: "both", AsEnvVar: "BOTH", Injector: "envinject"},
		{Key: "empty", AsEnvVar: "EMPTY", Injector: "envinject"},
	}}
	if !reflect.DeepEqual(e, want) {
		t.Fatalf("got  %+v\nwant %+v", e, want)
	}
	if len(warnings) != 1 || !strings.HasPrefix(warnings[0], "t.py:7: environment env_1: secret both: as_env_var and mount both given") {
		t.Fatalf("warnings %q", warnings)
	}
	for _, tt := range []struct {
		s    DeclaredSecret
		want string
	}{
		{DeclaredSecret{Key: "x", Mount: str("/mnt/secrets"), At: "t.py:9"}, "t.py:9: environment env_1: secret x: Only /etc/flyte/secrets is supported as secret mount path today."},
		{DeclaredSecret{Key: "x", Mount: str("/mnt"), AsEnvVar: str("X"), At: "t.py:9"}, "t.py:9: environment env_1: secret x: Only /etc/flyte/secrets"},
		{DeclaredSecret{Key: "x", AsEnvVar: str("lower"), At: "t.py:9"}, "t.py:9: environment env_1: secret x: as_env_var is not a valid environment variable name"},
		{DeclaredSecret{Key: "bad key!", String: true, At: "t.py:9"}, "t.py:9: environment env_1: "},
		{DeclaredSecret{Key: "path", String: true, At: "t.py:9"}, "t.py:9: environment env_1: secret path: its default variable name (the key upper-cased) is a variable flyte never sets"},
	} {
		_, _, err := c.DeclaredEnvironment("env_1", "t.py:2", []DeclaredSecret{tt.s})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: got %v, want %s...", tt.s, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "lower") || err != nil && strings.Contains(err.Error(), "bad key!") {
			t.Errorf("the error repeats a value that failed validation: %v", err)
		}
	}
	_, _, err = c.DeclaredEnvironment("env_1", "t.py:2", []DeclaredSecret{
		{Key: "a", AsEnvVar: str("SAME"), At: "t.py:3"}, {Key: "b", AsEnvVar: str("SAME"), At: "t.py:4"}})
	if err == nil || !strings.HasPrefix(err.Error(), "t.py:4: environment env_1: secrets a and b both go to environment variable SAME") {
		t.Errorf("two secrets at one variable: %v", err)
	}
	if _, _, err := c.DeclaredEnvironment("Env 1", "t.py:2", nil); err == nil || !strings.HasPrefix(err.Error(), "t.py:2: ") {
		t.Errorf("invalid environment name: %v", err)
	}
}

// The top-level project and domain are checked like -p and -d.
func TestDefaultScope(t *testing.T) {
	c, err := loadText(t, "project = \"my_project\"\ndomain = \"staging\"\n")
	if err != nil || c.Project != "my_project" || c.Domain != "staging" {
		t.Fatalf("got %v, %+v", err, c)
	}
	for _, text := range []string{"project = \"Bad Project\"\n", "domain = \"nowhere\"\n", "project = 3\n",
		"domain = \"staging\"\ndomains = [\"development\"]\n"} {
		_, err := loadText(t, text)
		if err == nil || !strings.Contains(err.Error(), "flyte.toml:") || strings.Contains(err.Error(), "Bad Project") || strings.Contains(err.Error(), "nowhere") {
			t.Errorf("%q: %v", text, err)
		}
	}
}
