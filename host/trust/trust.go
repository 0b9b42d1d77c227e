// Package trust decides what a configuration file flyte did not get from the user may do.
//
// A flyte.toml found by walking up from the working directory may have been written by someone else: a
// repository the user cloned, or another user of a shared directory. Such a file may declare the
// organization, the domains and task environments, but the settings that choose code (plugins,
// injectors), grant directories, or move the store or the identity have effect only once the user trusts
// it with `flyte config trust`, as direnv's `allow` and mise's `trust` work. A trust record holds the
// file's real path, the SHA-256 of its content and the SHA-256 of every plugin it names; when any of them
// changes, the file needs trusting again. Files the user named (--config, $FLYTE_CONFIG) or keeps in
// ~/.config/flyte are the user's own and need no record.
//
// Records live in flyte's state directory (package state), in trust/files.json, updated under its lock.
package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/state"
)

// StateFile is where the records are, inside the state directory.
const StateFile = "trust/files.json"

// MaxPlugin bounds the size of a plugin file that is hashed.
const MaxPlugin = 256 << 20

// Error is a refusal with advice: Hint is one more line for the user, such as the command to run.
type Error struct {
	msg, hint string
}

func (e *Error) Error() string { return e.msg }

// Hint is the advice that goes with the error.
func (e *Error) Hint() string { return e.hint }

// Load finds the configuration (config.Find), reads it safely (config.Read) and decodes it, enforcing
// trust: a file found by the upward search that sets anything beyond organization, domains and
// [[environments]] (config.File.Restricted) is refused unless a record trusts its real path, its
// content, and then, once it is decoded, each plugin it names. A trusted file's plugins are pinned to the
// trusted digests, so the bytes flyte later loads are the ones that were checked. Nothing is written.
func Load(explicit, cwd string, getenv func(string) string) (*config.Config, error) {
	found, err := config.Find(explicit, cwd, getenv)
	if err != nil {
		return nil, err
	}
	if found.Source == config.SourceNone {
		return config.Load("", getenv)
	}
	f, err := config.Read(found)
	if err != nil {
		return nil, err
	}
	if found.Source.Own() || len(f.Restricted) == 0 {
		return f.Decode(getenv)
	}
	records, err := read(getenv)
	if err != nil {
		return nil, err
	}
	hint := "review the file, then run: flyte config trust " + f.Path
	i := slices.IndexFunc(records, func(r Record) bool { return r.Path == f.Real })
	if i < 0 {
		return nil, &Error{
			msg:  fmt.Sprintf("%s sets %s, which a flyte.toml found from the working directory may set only after you trust it", f.Path, f.Restricted[0]),
			hint: hint,
		}
	}
	rec := records[i]
	if rec.SHA256 != hex.EncodeToString(f.SHA256[:]) {
		return nil, &Error{
			msg:  fmt.Sprintf("%s changed since you trusted it, and it sets %s", f.Path, f.Restricted[0]),
			hint: "review the changes, then run: flyte config trust " + f.Path,
		}
	}
	// The content is the one trusted: only now do its settings take effect ("~" included).
	c, err := f.Decode(getenv)
	if err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		pc := c.Plugins[name]
		j := slices.IndexFunc(rec.Plugins, func(p Plugin) bool { return p.Name == name })
		if j < 0 || rec.Plugins[j].Path != pc.Path {
			return nil, &Error{
				msg:  fmt.Sprintf("plugin %s of %s is %s, which is not the file you trusted", name, f.Path, pc.Path),
				hint: hint,
			}
		}
		sum, err := HashFile(pc.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s of %s: %w", name, f.Path, err)
		}
		if sum != rec.Plugins[j].SHA256 {
			return nil, &Error{
				msg:  fmt.Sprintf("plugin %s (%s) of %s changed since you trusted it", name, pc.Path, f.Path),
				hint: "review the plugin, then run: flyte config trust " + f.Path,
			}
		}
		if pc.SHA256 == "" {
			pc.SHA256 = sum
			c.Plugins[name] = pc
		}
	}
	return c, nil
}

// Trusted is what Trust recorded, for the user to see.
type Trusted struct {
	Record
	// Shown is the file as the user named it.
	Shown string
	// Sets lists the settings that the record lets the file use (config.File.Restricted).
	Sets []string
}

// Trust records that the user trusts the configuration file at path (relative to cwd) as it is now, and
// each plugin it names. The file must pass config.Read's type and ownership checks and decode without
// error, and every plugin it names must be a readable regular file. A record for the same real path is
// replaced.
func Trust(path, cwd string, getenv func(string) string) (*Trusted, error) {
	p := abs(cwd, path)
	f, err := config.Read(config.Found{Path: p, Source: config.SourceSearch})
	if err != nil {
		return nil, err
	}
	c, err := f.Decode(getenv)
	if err != nil {
		return nil, err
	}
	t := &Trusted{Record: Record{Path: f.Real, SHA256: hex.EncodeToString(f.SHA256[:])}, Shown: p, Sets: f.Restricted}
	for _, name := range slices.Sorted(maps.Keys(c.Plugins)) {
		pc := c.Plugins[name]
		sum, err := HashFile(pc.Path)
		if err != nil {
			return nil, fmt.Errorf("plugin %s of %s: %w", name, p, err)
		}
		t.Plugins = append(t.Plugins, Plugin{Name: name, Path: pc.Path, SHA256: sum})
	}
	d, err := open(getenv)
	if err != nil {
		return nil, err
	}
	err = d.Update(StateFile, func(old []byte) ([]byte, error) {
		records, err := parseState(d, old)
		if err != nil {
			return nil, err
		}
		records = slices.DeleteFunc(records, func(r Record) bool { return r.Path == t.Path })
		return Marshal(append(records, t.Record)), nil
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Revoke removes the record of the file at path (relative to cwd), matched by its real path, or by its
// absolute path when it no longer exists. It returns the path whose record it removed.
func Revoke(path, cwd string, getenv func(string) string) (string, error) {
	p := abs(cwd, path)
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real
	}
	notTrusted := &Error{msg: p + " is not trusted", hint: "run 'flyte config trust --list' to see the files you trust"}
	// Look before locking: revoking what is not trusted writes nothing, not even a lock file.
	records, err := read(getenv)
	if err != nil {
		return "", err
	}
	if !slices.ContainsFunc(records, func(r Record) bool { return r.Path == p }) {
		return "", notTrusted
	}
	d, err := open(getenv)
	if err != nil {
		return "", err
	}
	found := false
	err = d.Update(StateFile, func(old []byte) ([]byte, error) {
		records, err := parseState(d, old)
		if err != nil {
			return nil, err
		}
		n := len(records)
		records = slices.DeleteFunc(records, func(r Record) bool { return r.Path == p })
		if found = len(records) < n; !found {
			return nil, nil
		}
		return Marshal(records), nil
	})
	if err != nil {
		return "", err
	}
	if !found {
		return "", notTrusted
	}
	return p, nil
}

// Status says whether a record still matches what is on disk.
type Status string

// The states of a record.
const (
	StatusOK            Status = "ok"
	StatusChanged       Status = "changed"
	StatusMissing       Status = "missing"
	StatusPluginChanged Status = "plugin changed"
	StatusPluginMissing Status = "plugin missing"
)

// Entry is one record and its state.
type Entry struct {
	Record
	Status Status
}

// List returns the records, sorted by path, each with whether the file and its plugins still match.
// It creates nothing: without a state directory the list is empty.
func List(getenv func(string) string) ([]Entry, error) {
	records, err := read(getenv)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range records {
		out = append(out, Entry{Record: r, Status: status(r)})
	}
	slices.SortFunc(out, func(a, b Entry) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return out, nil
}

func status(r Record) Status {
	sum, err := HashFile(r.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return StatusMissing
	case err != nil || sum != r.SHA256:
		return StatusChanged
	}
	for _, p := range r.Plugins {
		sum, err := HashFile(p.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return StatusPluginMissing
		case err != nil || sum != p.SHA256:
			return StatusPluginChanged
		}
	}
	return StatusOK
}

// HashFile returns the lower-case hex SHA-256 of the regular file at path. It never blocks on a named
// pipe or reads a device: the type is checked on the descriptor before reading. A missing file is an
// error that wraps fs.ErrNotExist.
func HashFile(path string) (string, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("%s: no such file: %w", path, fs.ErrNotExist)
		}
		return "", fmt.Errorf("%s: %v", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > MaxPlugin {
		return "", fmt.Errorf("%s: larger than %d MiB", path, MaxPlugin>>20)
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, MaxPlugin+1))
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	if n > MaxPlugin {
		return "", fmt.Errorf("%s: larger than %d MiB", path, MaxPlugin>>20)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// read returns the records without creating the state directory.
func read(getenv func(string) string) ([]Record, error) {
	p := state.Path(getenv)
	if p == "" {
		return nil, nil
	}
	if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	d, err := state.Open(p)
	if err != nil {
		return nil, err
	}
	b, err := d.Read(StateFile)
	if err != nil {
		return nil, err
	}
	return parseState(d, b)
}

// parseState parses the records file of d; an error names the file.
func parseState(d *state.Dir, b []byte) ([]Record, error) {
	records, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", filepath.Join(d.Path(), filepath.FromSlash(StateFile)), err)
	}
	return records, nil
}

// open opens (creating) the state directory, to write.
func open(getenv func(string) string) (*state.Dir, error) {
	return state.Open(state.Path(getenv))
}

func abs(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
