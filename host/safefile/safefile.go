// Package safefile holds the small file-system helpers that flyte's
// careful readers and writers share: naming a file type in an error,
// making a new directory entry durable, and reporting an OS error without
// repeating the path the caller already names.
package safefile

import (
	"errors"
	"io/fs"
	"os"
)

// Kind names the type of a file that is not a regular file, with its
// article ("a named pipe"), for messages such as "PATH is a named pipe,
// not a regular file".
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// SyncDir fsyncs a directory, so that a name just created, linked or
// renamed in it survives a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// Bare drops the *fs.PathError around err, for a message that names the
// path itself: "state file P: permission denied", not the path twice.
func Bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
