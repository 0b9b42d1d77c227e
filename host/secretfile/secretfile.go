// Package filename holds the rule for the names of the files a task's
// secrets go to: a base name directly under /etc/flyte/secrets. The
// configuration checks a rendered output's file with it when it loads, and
// the injector-plan check applies it again to what a plugin proposes, so the
// two can never disagree.
package filename

import (
	"regexp"
	"strings"
)

// Pattern is the rule for a file's base name: letters, digits, '-', '_' and
// '.', not starting with '.', at most 255 bytes.
var Pattern = regexp.MustCompile(`^[-a-zA-Z0-9_][-a-zA-Z0-9_.]{0,254}$`)

// Valid reports whether base may name a file directly under
// /etc/flyte/secrets: it matches Pattern and holds no "..".
func Valid(base string) bool {
	return Pattern.MatchString(base) && !strings.Contains(base, "..")
}
