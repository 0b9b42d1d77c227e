package fsgrant

import (
	"os"

	"golang.org/x/sys/unix"
)

func renameExclusive(dirfd int, old, new string) error {
	return unix.RenameatxNp(dirfd, old, dirfd, new, unix.RENAME_EXCL)
}

// lockHolder would name the process holding a flock on f; macOS has no
// /proc/locks, so the error says "another flyte process" without a pid.
func lockHolder(*os.File) int { return 0 }
