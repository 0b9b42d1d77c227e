package secretfile

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	for _, ok := range []string{"app.conf", "a", "config.json", "DB-url_1", strings.Repeat("a", 255)} {
		if !ValidName(ok) {
			t.Errorf("ValidName(%q) = false", ok)
		}
	}
	for _, bad := range []string{"", ".", "..", ".hidden", "a/b", "../x", "a..b", "x\x00", "a b", strings.Repeat("a", 256), "é"} {
		if ValidName(bad) {
			t.Errorf("ValidName(%q) = true", bad)
		}
	}
}

func TestValidMode(t *testing.T) {
	for _, ok := range []uint32{0, 0o400, 0o440, 0o040, 0o000} {
		if !ValidMode(ok) {
			t.Errorf("ValidMode(%04o) = false", ok)
		}
	}
	for _, bad := range []uint32{0o600, 0o444, 0o4400, 0o1000, 0o700, 0o401, 1 << 31} {
		if ValidMode(bad) {
			t.Errorf("ValidMode(%04o) = true", bad)
		}
	}
}

// ValidName is the rule it replaced: the regular expression below and no "..".
var pattern = regexp.MustCompile(`^[-a-zA-Z0-9_][-a-zA-Z0-9_.]{0,254}$`)

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"app.conf", "a", ".", "..", ".x", "a..b", "a b", "é", strings.Repeat("a", 255), strings.Repeat("a", 256), "-", "_x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := pattern.MatchString(s) && !strings.Contains(s, "..")
		if got := ValidName(s); got != want {
			t.Fatalf("ValidName(%q) = %v, want %v", s, got, want)
		}
	})
}
