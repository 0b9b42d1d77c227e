// Package sanitize makes text that someone else wrote safe to print: a
// plugin's messages and declarations, a path a project's flyte.toml chose.
// It is a leaf (it imports only the standard library), so that packages
// which print such text without running plugins (host/inject, host/task,
// the CLI) do not link the plugin host.
package sanitize

import "strings"

// MaxLen is the longest text Text keeps, in bytes; longer text is cut
// there and "..." added.
const MaxLen = 300

// Text returns s safe to print: no control characters (terminal escapes),
// no zero-width or bidirectional controls, valid UTF-8, at most MaxLen
// bytes before the "..." that marks a cut.
func Text(s string) string {
	if len(s) > MaxLen {
		s = s[:MaxLen] + "..."
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return ' ' // C0 and C1 controls: terminal escapes
		case r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0xfeff:
			return -1 // zero-width and bidirectional controls: text that reads differently than it is
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}
