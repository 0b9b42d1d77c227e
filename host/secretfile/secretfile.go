// Package secretfile holds the rules for the files a task's secrets go to:
// a base name directly under /etc/flyte/secrets, and a mode no wider than
// MaxMode. The configuration checks a rendered output's file with them when
// it loads, and the injector-plan check applies them again to what a plugin
// proposes, so the two can never disagree.
package secretfile

import (
	"io/fs"
	"regexp"
	"strings"
)

// Modes of a secret file.
const (
	// DefaultMode is the mode of a file whose plan or output names none.
	DefaultMode = fs.FileMode(0o400)
	// MaxMode is the widest mode: read by the task's user and group.
	MaxMode = fs.FileMode(0o440)
)

// Pattern is the rule for a file's base name: letters, digits, '-', '_' and
// '.', not starting with '.', at most 255 bytes.
var Pattern = regexp.MustCompile(`^[-a-zA-Z0-9_][-a-zA-Z0-9_.]{0,254}$`)

// ValidName reports whether base may name a file directly under
// /etc/flyte/secrets: it matches Pattern and holds no "..".
func ValidName(base string) bool {
	return Pattern.MatchString(base) && !strings.Contains(base, "..")
}

// ValidMode reports whether m (permission bits as written, 0 for
// DefaultMode) is a mode a secret file may have: no bit outside MaxMode.
func ValidMode(m uint32) bool {
	return m <= 0o777 && fs.FileMode(m)&^MaxMode == 0
}
