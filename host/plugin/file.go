package plugin

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/flytesecrets/flyte/host/safefile"
)

// MaxModuleSize bounds a plugin module file (abi/SPEC.md, section 1).
// flyte's own plugins are about 2 MB; Go and Rust guests with large
// dependencies stay well under it.
const MaxModuleSize = 64 << 20

// ReadFile reads a plugin module. It never blocks and never reads more
// than MaxModuleSize: the file must be a regular file (not a FIFO, which
// would block, nor a device like /dev/zero, which never ends), it is
// opened without waiting for a writer, and exactly the size it had when
// opened is read.
func ReadFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file", path, safefile.Kind(fi.Mode()))
	}
	if fi.Size() > MaxModuleSize {
		return nil, fmt.Errorf("%s is %d bytes; a plugin module may be at most %d bytes (64 MiB)", path, fi.Size(), MaxModuleSize)
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s changed while it was read", path)
		}
		return nil, err
	}
	return b, nil
}
