package suggest

import "testing"

func TestClosest(t *testing.T) {
	words := []string{"create", "get", "delete", "update", "project", "domain"}
	for in, want := range map[string]string{
		"crate": "create", "gte": "get", "projcet": "project", "domian": "domain",
		"xyz": "", "": "", "Hunter2Pass": "", "x": "", "pro": "project", "porject": "project",
		"ate": "", // the end of create and of update: no guess
	} {
		if got := Closest(in, words); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	secret := []string{"key", "group", "as_env_var", "mount", "injector"}
	for in, want := range map[string]string{"as_env": "as_env_var", "env_var": "as_env_var", "mnt": "mount", "inject": "injector"} {
		if got := Closest(in, secret); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := Distance("gte", "get"); d != 1 {
		t.Errorf("Distance(gte, get) = %d, want 1 (a transposition)", d)
	}
}
