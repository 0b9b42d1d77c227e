package secretfile

import (
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
