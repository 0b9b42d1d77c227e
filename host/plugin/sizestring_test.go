package plugin

import "testing"

func TestSizeString(t *testing.T) {
	for n, want := range map[int]string{
		0: "0 bytes", 999: "999 bytes", 1000: "1 KB", 19121: "19 KB", 999_999: "999 KB",
		1_000_000: "1.0 MB", 2_130_000: "2.1 MB",
	} {
		if got := sizeString(n); got != want {
			t.Errorf("sizeString(%d) = %q, want %q", n, got, want)
		}
	}
}
