package suggest

import "testing"

func TestClosest(t *testing.T) {
	words := []string{"create", "get", "delete", "update", "project", "domain"}
	for in, want := range map[string]string{
		"crate": "create", "gte": "get", "projcet": "project", "domian": "domain",
		"xyz": "", "": "", "Hunter2Pass": "", "x": "", "pro": "", "porject": "project",
	} {
		if got := Closest(in, words); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
	if d := Distance("gte", "get"); d != 1 {
		t.Errorf("Distance(gte, get) = %d, want 1 (a transposition)", d)
	}
}
