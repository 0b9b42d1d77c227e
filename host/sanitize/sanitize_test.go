package sanitize

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"bell\a and \x1b[31mred", "bell  and  [31mred"},
		{"c1 \u009b controls", "c1   controls"},
		{"zero\u200bwidth \u202eevil\u2066", "zerowidth evil"},
		{"bad \xff utf8", "bad ? utf8"},
		{"line\nbreak\r", "line break "},
		{strings.Repeat("a", MaxLen+1), strings.Repeat("a", MaxLen) + "..."},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzText checks what every caller relies on: whatever the input, the
// output is valid UTF-8 without a control character, and bounded.
func FuzzText(f *testing.F) {
	for _, s := range []string{"", "ok", "\x1b]0;title\a", "\u202e\u2066x", "\xff\xfe", strings.Repeat("é", 200)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Text(s)
		if !utf8.ValidString(out) {
			t.Fatalf("Text(%q) = %q: not UTF-8", s, out)
		}
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || (r >= 0x200b && r <= 0x200f) ||
				(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) || r == 0xfeff {
				t.Fatalf("Text(%q) = %q: holds %U", s, out, r)
			}
		}
		// No byte grows: a control becomes one space, a run of bad bytes
		// one "?"; a cut adds "...".
		if len(out) > MaxLen+3 {
			t.Fatalf("Text of %d bytes is %d bytes long", len(s), len(out))
		}
	})
}
