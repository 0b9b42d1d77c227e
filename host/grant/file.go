package grant

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/flytesecrets/flyte/host/safefile"
)

// Sizes of the files a grant may name.
const (
	// MaxSecretFile bounds a secret file (a credential, a private key).
	MaxSecretFile = 64 << 10
	// MaxFile bounds any other file (a CA bundle, a certificate).
	MaxFile = 1 << 20
)

// CheckFile returns an error when the file at path, given to grantee
// ("plugin etcd") by setting ("plugins.etcd.grant.http.ca_file"), may not
// be: see ReadFile.
func CheckFile(setting, grantee, path string, protected []Protected, secret bool) error {
	_, err := ReadFile(setting, grantee, path, protected, secret)
	return err
}

// ReadFile reads the file at path, an absolute path from the user's
// configuration, for a grant, when it may be given to grantee by setting.
// With symlinks followed, it must be a regular file with a single link,
// owned by the effective user (or, unless secret, by root), not writable by
// anyone else, not a kernel's (procfs, sysfs), and neither one of the
// protected paths nor inside one. A
// secret file (a credential, a private key) must in addition be readable by
// its owner alone (mode 0600 or less) and at most MaxSecretFile bytes;
// any other at most MaxFile. The file is opened without following a
// symlink in its last component and checked again on the open descriptor,
// so that it cannot be swapped between the check and the read.
//
// Each error is one line that names the setting and the path, never the
// file's content.
func ReadFile(setting, grantee, path string, protected []Protected, secret bool) ([]byte, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%s %s: not an absolute path", setting, path)
	}
	g, err := where(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: cannot tell where it leads: %w", setting, path, safefile.Bare(err))
	}
	p, ids := reaches(g, protected, true)
	if p != nil {
		return nil, fmt.Errorf("%s %s would give %s %s (%s); choose a file outside it", setting, path, grantee, p.What, p.Path)
	}
	fi, err := os.Lstat(g.real)
	if err != nil {
		return nil, fileErr(setting, path, err)
	}
	if err := checkMode(setting, path, fi, secret); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(g.real, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fileErr(setting, path, err)
	}
	defer f.Close()
	ofi, err := f.Stat()
	if err != nil {
		return nil, fileErr(setting, path, err)
	}
	if !os.SameFile(fi, ofi) {
		return nil, fmt.Errorf("%s %s: changed while flyte read it", setting, path)
	}
	if err := checkMode(setting, path, ofi, secret); err != nil {
		return nil, err
	}
	if fs := pseudo(f); fs != "" {
		return nil, fmt.Errorf("%s %s: a file of %s, not one someone stored", setting, path, fs)
	}
	if id, ok := idOf(ofi); ok {
		for _, p := range ids {
			if p == id {
				return nil, fmt.Errorf("%s %s: is one of flyte's own files; choose a file outside them", setting, path)
			}
		}
	}
	limit := int64(MaxFile)
	if secret {
		limit = MaxSecretFile
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fileErr(setting, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s %s: larger than %d KiB", setting, path, limit>>10)
	}
	return data, nil
}

// checkMode checks a file's type, links, owner and mode.
func checkMode(setting, path string, fi fs.FileInfo, secret bool) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: %s, not a regular file", setting, path, safefile.Kind(fi.Mode()))
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s %s: cannot tell who owns it", setting, path)
	}
	if uint64(st.Nlink) != 1 {
		return fmt.Errorf("%s %s: has %d hard links; a granted file must have one (copy it)", setting, path, uint64(st.Nlink))
	}
	euid := uint32(os.Geteuid())
	if st.Uid != euid && (secret || st.Uid != 0) {
		return fmt.Errorf("%s %s: owned by uid %d, not by you (uid %d)", setting, path, st.Uid, euid)
	}
	perm := fi.Mode().Perm()
	if secret && perm&0o077 != 0 {
		return &hintError{
			msg:  fmt.Sprintf("%s %s: others may read it (mode %04o)", setting, path, perm),
			hint: "chmod 600 " + path}
	}
	if perm&0o022 != 0 {
		return &hintError{
			msg:  fmt.Sprintf("%s %s: others may change it (mode %04o)", setting, path, perm),
			hint: "chmod go-w " + path}
	}
	return nil
}

func idOf(fi fs.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// fileErr turns a failure to reach a granted file into one line.
func fileErr(setting, path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s %s: no such file", setting, path)
	case errors.Is(err, syscall.ELOOP):
		return fmt.Errorf("%s %s: is a symlink that changed while flyte read it", setting, path)
	}
	return fmt.Errorf("%s %s: %w", setting, path, safefile.Bare(err))
}

// hintError is an error with a hint line, which the command line prints as
// "flyte: hint: ...".
type hintError struct{ msg, hint string }

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Hint() string  { return e.hint }
