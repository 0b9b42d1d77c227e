package fsgrant

import (
	"encoding/binary"
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// direntBuf is the buffer of one getdents64 call: about 3,000 entries of
// a store's names.
const direntBuf = 128 << 10

// readDirFile lists the open directory f with getdents64 and the type the
// kernel gives in each entry (d_type), so that a listing costs no lstat
// per entry: os.File.ReadDir on a file opened through an os.Root lstats
// every name. An entry whose type the filesystem does not report
// (DT_UNKNOWN) is looked at with fstatat relative to f, without following
// a symlink: its name is one component, so it stays in the directory.
func readDirFile(f *os.File) ([]rawEntry, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var out []rawEntry
	var lerr error
	if err := rc.Control(func(fd uintptr) {
		buf := make([]byte, direntBuf)
		for {
			n, err := unix.Getdents(int(fd), buf)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				lerr = err
				return
			}
			if n <= 0 {
				return
			}
			if out, err = appendDirents(out, int(fd), buf[:n]); err != nil {
				lerr = err
				return
			}
		}
	}); err != nil {
		return nil, err
	}
	return out, lerr
}

// appendDirents appends to out the entries of buf, dirent64 records read
// from the directory fd, without "." and "..". An entry of type DT_UNKNOWN
// is fstatat'ed relative to fd without following a symlink; one that
// cannot be (it was removed since) stays kindUnknown, which is not listed.
func appendDirents(out []rawEntry, fd int, buf []byte) ([]rawEntry, error) {
	err := parseDirents(buf, func(name string, typ uint8) {
		if name == "." || name == ".." {
			return
		}
		k := kindOf(typ)
		if k == kindUnknown {
			var st unix.Stat_t
			if unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
				k = kindOfMode(st.Mode)
			}
		}
		out = append(out, rawEntry{name: name, kind: k})
	})
	return out, err
}

func kindOf(typ uint8) entryKind {
	switch typ {
	case unix.DT_DIR:
		return kindDir
	case unix.DT_REG:
		return kindFile
	case unix.DT_UNKNOWN:
		return kindUnknown
	}
	return kindOther
}

func kindOfMode(m uint32) entryKind {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return kindDir
	case unix.S_IFREG:
		return kindFile
	}
	return kindOther
}

var errDirents = errors.New("malformed directory entries")

// parseDirents walks a buffer of Linux dirent64 records (8-byte inode,
// 8-byte offset, 2-byte record length, 1-byte type, NUL-terminated name)
// and calls fn for each name. A record that does not fit the buffer, or a
// name without its NUL, is an error: nothing past it is trusted.
func parseDirents(b []byte, fn func(name string, typ uint8)) error {
	const head = 19 // ino, off, reclen, type
	for len(b) > 0 {
		if len(b) < head {
			return errDirents
		}
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < head+1 || reclen > len(b) {
			return errDirents
		}
		name := b[head:reclen]
		end := -1
		for i, c := range name {
			if c == 0 {
				end = i
				break
			}
		}
		if end <= 0 {
			return errDirents
		}
		fn(string(name[:end]), b[18])
		b = b[reclen:]
	}
	return nil
}
