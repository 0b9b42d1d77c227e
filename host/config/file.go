package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/flytesecrets/flyte/host/safefile"
	"golang.org/x/sys/unix"
)

// File is a configuration file that was read safely and whose syntax and setting names are valid, but
// whose values are not decoded yet. Reading and decoding are two steps so that the decision whether the
// file may use its settings (Source, Restricted) is taken before anything in it has effect, "~" included.
type File struct {
	// Path is the file as found, absolute; messages name it.
	Path string
	// Real is Path with every symbolic link resolved.
	Real string
	// Source is how the file was found.
	Source Source
	// SHA256 is the digest of the file's bytes, as read.
	SHA256 [32]byte
	// Restricted lists, in file order and once each, the settings the file sets that only the user's own
	// file, or one the user trusts, may set: everything but organization, domains and [[environments]]
	// without a per-secret injector, render outputs or deliver = false. They choose code (plugins,
	// injectors), grant capabilities, pin plugins, or move the store, the identity or a secret's value. A name chosen by the file that is not a plain name shows as "*".
	Restricted []string

	tree map[string]any
	text string // the file's text, to say where an error is
}

// Read reads the configuration file found, after checking that it is safe to read:
//
//   - its type, on the opened descriptor (opened non-blocking, without following a final symbolic link
//     of the resolved path): a named pipe, a device or a directory is refused, never read;
//   - ownership, as OpenSSH's StrictModes: the file and its directory must be owned by the user or root
//     and not be writable by group or others; every directory above, up to /, must be owned by the user
//     or root, and may be writable by others only with the sticky bit (as /tmp is). When the name found
//     is a symbolic link, the directory holding the link must pass the same checks as the file's own. The
//     rule is the same for root. Whoever could write any of these could replace the file;
//   - its size, at most 1 MiB.
//
// Each refusal is one line that names the path and why.
func Read(found Found) (*File, error) {
	p := found.Path
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return nil, fileError(p, err)
	}
	if !filepath.IsAbs(real) {
		if real, err = filepath.Abs(real); err != nil {
			return nil, fileError(p, err)
		}
	}
	// The file first, so that a file planted by someone else is named as such; then the directories.
	fh, err := openChecked(p, real)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	linkDir, err := filepath.EvalSymlinks(filepath.Dir(p))
	if err != nil {
		return nil, fileError(p, err)
	}
	if err := checkDirs(p, linkDir); err != nil {
		return nil, err
	}
	if d := filepath.Dir(real); d != linkDir {
		if err := checkDirs(p, d); err != nil {
			return nil, err
		}
	}
	data, err := io.ReadAll(io.LimitReader(fh, maxFileSize+1))
	if err != nil {
		return nil, fileError(p, err)
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config file %s: larger than %d bytes", p, maxFileSize)
	}
	f, err := parseFile(p, data)
	if err != nil {
		return nil, err
	}
	f.Real, f.Source = real, found.Source
	return f, nil
}

// openChecked opens real without blocking and returns it if it is a regular file the user may trust;
// shown is the name for messages.
func openChecked(shown, real string) (*os.File, error) {
	fd, err := unix.Open(real, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fileError(shown, err)
	}
	f := os.NewFile(uintptr(fd), real)
	if err := checkOpened(shown, f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func checkOpened(shown string, f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return fileError(shown, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return fileError(shown, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("config file %s: %s, not a regular file", shown, safefile.Kind(fi.Mode()))
	}
	if err := checkOwner(shown, "", st); err != nil {
		return err
	}
	if fi.Size() > maxFileSize {
		return fmt.Errorf("config file %s: larger than %d bytes", shown, maxFileSize)
	}
	return nil
}

// checkDirs applies the ownership rule to dir, the directory that holds the configuration file shown,
// and to every directory above it.
func checkDirs(shown, dir string) error {
	for d, own := filepath.Clean(dir), true; ; d, own = filepath.Dir(d), false {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return fmt.Errorf("config file %s: cannot examine directory %s: %v", shown, d, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("config file %s: %s is not a directory", shown, d)
		}
		if own {
			if err := checkOwner(shown, d, st); err != nil {
				return err
			}
		} else if err := checkAncestor(shown, d, st); err != nil {
			return err
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// checkOwner refuses the file (dir "") or the file's directory dir unless it is owned by the user or
// root and writable by nobody else.
func checkOwner(shown, dir string, st unix.Stat_t) error {
	what := "config file " + shown + ": "
	if dir != "" {
		what += "directory " + dir + " "
	}
	if !ownerOK(st.Uid) {
		return fmt.Errorf("%sis owned by uid %d, not by you or root", what, st.Uid)
	}
	if perm := st.Mode & 0o7777; othersMayWrite(st) {
		fix := shown
		if dir != "" {
			fix = dir
		}
		return &hintError{
			msg:  fmt.Sprintf("%shas mode %04o, which lets group or others change it", what, perm),
			hint: "if that is not what you meant, fix it with: chmod go-w " + fix,
		}
	}
	return nil
}

// checkAncestor refuses a directory above the file's unless it is owned by the user or root, and, when
// group or others may write it, sticky (so that they cannot rename what is in it). In a rootless
// container it also accepts one owned by a user outside flyte's user namespace (unmappedOwner) that
// group and others may not write: see docs/DESIGN.md.
func checkAncestor(shown, dir string, st unix.Stat_t) error {
	if !ownerOK(st.Uid) {
		err := fmt.Errorf("config file %s: directory %s is owned by uid %d, not by you or root", shown, dir, st.Uid)
		switch {
		case !unmappedOwner(st.Uid):
			return err
		case st.Mode&0o022 != 0:
			return &hintError{msg: err.Error(), hint: "its owner is outside this user namespace (a rootless container), which flyte accepts only for a directory group and others may not write"}
		}
		return nil
	}
	if perm := st.Mode & 0o7777; othersMayWrite(st) && perm&unix.S_ISVTX == 0 {
		return fmt.Errorf("config file %s: directory %s has mode %04o, which lets others replace what is in it (it is not sticky)", shown, dir, perm)
	}
	return nil
}

// othersMayWrite reports whether anyone but the owner may write the file: others, or a group that is not
// the owner's private group (groups.go).
func othersMayWrite(st unix.Stat_t) bool {
	perm := st.Mode & 0o7777
	return perm&0o002 != 0 || perm&0o020 != 0 && !privateGroup(st.Gid, st.Uid)
}

func ownerOK(uid uint32) bool {
	return uid == 0 || int(uid) == os.Geteuid()
}

// hintError is an error with advice for the user, one line more; callers find it through Hint.
type hintError struct {
	msg, hint string
}

func (e *hintError) Error() string { return e.msg }

// Hint is the advice that goes with the error.
func (e *hintError) Hint() string { return e.hint }

// Settings a file found by the upward search may always set: who the secrets belong to, which domains
// exist, and which secrets a task environment asks for and where they go (never through which injector).
var (
	openTop         = []string{"organization", "domains", "project", "domain", "environments"}
	openEnvironment = []string{"name", "project", "domain", "secrets"}
	openSecret      = []string{"key", "group", "as_env_var", "mount"}
)

// restricted lists the settings of a file that need trust (see File.Restricted), from toml's list of
// keys in file order. Tables are not settings themselves: the values in them are. A key inside an
// environment that flyte does not know is no setting at all: decoding reports it, at its line and column
// with a did-you-mean, whoever wrote the file; calling it a setting that needs trust would blame the
// wrong thing and repeat a name the file chose.
func restricted(md toml.MetaData) []string {
	var out []string
	for _, k := range md.Keys() {
		if md.Type(k...) == "Hash" || open(k) || unknownInEnvironment(k) {
			continue
		}
		if name := settingName(k); !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

func open(k toml.Key) bool {
	switch {
	case len(k) == 1:
		return slices.Contains(openTop, k[0])
	case k[0] != "environments":
		return false
	case len(k) == 2:
		return slices.Contains(openEnvironment, k[1])
	default:
		return len(k) == 3 && k[1] == "secrets" && slices.Contains(openSecret, k[2])
	}
}

// unknownInEnvironment reports whether k, a key under environments, is not one of flyte's settings.
func unknownInEnvironment(k toml.Key) bool {
	switch {
	case len(k) < 2 || k[0] != "environments":
		return false
	case len(k) == 2:
		return !slices.Contains(environmentKeys, k[1])
	case k[1] != "secrets":
		return true // under a key that is itself unknown
	default:
		return len(k) == 3 && !slices.Contains(secretKeys, k[2])
	}
}

var plainName = regexp.MustCompile(`^[-a-zA-Z0-9_]{1,64}$`)

// settingName writes a key as dotted names; a part that is not a plain name (the file chose it, and it
// failed no validation yet) is shown as "*", never echoed.
func settingName(k toml.Key) string {
	parts := make([]string, len(k))
	for i, p := range k {
		if !plainName.MatchString(p) {
			p = "*"
		}
		parts[i] = p
	}
	return strings.Join(parts, ".")
}
