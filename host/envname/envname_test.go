package envname

import "testing"

func TestDenied(t *testing.T) {
	for _, tt := range []struct{ name, rule, why string }{
		{"PATH", "PATH", whyLoader},
		{"LD_PRELOAD", "LD_*", whyLoader},
		{"LD_", "LD_*", whyLoader},
		{"DYLD_INSERT_LIBRARIES", "DYLD_*", whyLoader},
		{"MALLOC_CHECK_", "MALLOC_*", whyLoader},
		{"GLIBC_TUNABLES", "GLIBC_*", whyLoader},
		{"FLYTE_IDENTITY", "FLYTE_*", whyFlyte},
		{"PYTHONPATH", "PYTHONPATH", whyLoader},
		{"GIT_CONFIG_PARAMETERS", "GIT_CONFIG_*", whyLoader},
		{"GIT_CONFIG_KEY_0", "GIT_CONFIG_*", whyLoader},
		{"GIT_ASKPASS", "GIT_ASKPASS", whyLoader},
		{"GOFLAGS", "GOFLAGS", whyLoader},
		{"LUA_INIT_5_4", "LUA_INIT*", whyLoader},
		{"NPM_CONFIG_SCRIPT_SHELL", "NPM_CONFIG_*", whyLoader},
		{"OPENSSL_CONF", "OPENSSL_CONF", whyLoader},
		{"XDG_CONFIG_HOME", "XDG_CONFIG_HOME", whyLoader},
		{"GIT_TOKEN", "", ""}, // git reads no such variable: a name users pick
		{"MY_SECRET", "", ""},
		{"PATH_TO_KEY", "", ""},
		{"XLD_PRELOAD", "", ""},
		{"path", "", ""}, // not a valid name either; Valid says so
	} {
		rule, why, ok := Denied(tt.name)
		if rule != tt.rule || why != tt.why || ok != (tt.rule != "") {
			t.Errorf("Denied(%q) = %q, %q, %v; want %q, %q", tt.name, rule, why, ok, tt.rule, tt.why)
		}
	}
}

func TestDefault(t *testing.T) {
	for _, tt := range []struct{ group, key, want string }{
		{"", "my-secret", "MY_SECRET"},
		{"openai", "api-key", "OPENAI_API_KEY"},
		{"", "1key", "1KEY"},
		{"", "path", "PATH"},
	} {
		if got := Default(tt.group, tt.key); got != tt.want {
			t.Errorf("Default(%q, %q) = %q, want %q", tt.group, tt.key, got, tt.want)
		}
	}
}

func TestValid(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "_": true, "A_1": true, "MY_SECRET": true,
		"": false, "1A": false, "a": false, "A-B": false, "A B": false, "É": false, "A\n": false,
	} {
		if got := Valid(name); got != want {
			t.Errorf("Valid(%q) = %v, want %v", name, got, want)
		}
	}
}
