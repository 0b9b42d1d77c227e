// Package secretfile holds the rules for the files a task's secrets go to:
// a base name directly under /etc/flyte/secrets, and a mode no wider than
// MaxMode. The configuration checks a rendered output's file with them when
// it loads, and the injector-plan check applies them again to what a plugin
// proposes, so the two can never disagree.
package secretfile

import (
	"io/fs"
	"strings"
)

// Modes of a secret file.
const (
	// DefaultMode is the mode of a file whose plan or output names none.
	DefaultMode = fs.FileMode(0o400)
	// MaxMode is the widest mode: read by the task's user and group.
	MaxMode = fs.FileMode(0o440)
)

// MaxName is the longest base name of a secret file, in bytes.
const MaxName = 255

// ValidName reports whether base may name a file directly under
// /etc/flyte/secrets: 1 to MaxName bytes of letters, digits, '-', '_' and
// '.', not starting with '.', and no "..". (A loop, not a regular
// expression: `[...]{0,254}` compiled into 250 KB of program at every
// flyte start, the task's helper included.)
func ValidName(base string) bool {
	if len(base) == 0 || len(base) > MaxName || base[0] == '.' || strings.Contains(base, "..") {
		return false
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// ValidMode reports whether m (permission bits as written, 0 for
// DefaultMode) is a mode a secret file may have: no bit outside MaxMode.
func ValidMode(m uint32) bool {
	return m <= 0o777 && fs.FileMode(m)&^MaxMode == 0
}
