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
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/state"
)

// StateFile is where the records are, inside the state directory.
const StateFile = "trust/files.json"

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
// trusted digests, so the bytes flyte later loads are the ones that were checked. A searched-for file that
// sets only open settings is decoded over the user's own file (see overUserFile). Nothing is written.
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
	if found.Source.Own() {
		return f.Decode(getenv)
	}
	if len(f.Restricted) == 0 {
		return overUserFile(f, getenv)
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
		sum, err := hashFile(pc.Path)
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

// overUserFile decodes f, a file found by the upward search that sets only open settings, over the
// user's own file (config.UserFile) when there is one, so that a repository's flyte.toml cannot move the
// store or drop the user's identity, plugins or injectors by merely existing: it adds organization,
// domains and environments, and everything else is the user's.
func overUserFile(f *config.File, getenv func(string) string) (*config.Config, error) {
	user, err := config.FindUser(getenv)
	if err != nil {
		return nil, err
	}
	if user.Source == config.SourceNone {
		return f.Decode(getenv)
	}
	uf, err := config.Read(user)
	if err != nil {
		return nil, err
	}
	base, err := uf.Decode(getenv)
	if err != nil {
		return nil, err
	}
	return f.DecodeOver(base, getenv)
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
		sum, err := hashFile(pc.Path)
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
	sum, err := hashFile(r.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return StatusMissing
	case err != nil || sum != r.SHA256:
		return StatusChanged
	}
	for _, p := range r.Plugins {
		sum, err := hashFile(p.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return StatusPluginMissing
		case err != nil || sum != p.SHA256:
			return StatusPluginChanged
		}
	}
	return StatusOK
}

// hashFile returns the lower-case hex SHA-256 of the plugin file at path, read as the host reads plugins
// (plugin.ReadFile: a regular file, never a named pipe or a device, at most plugin.MaxModuleSize), so that
// a file trust accepts is one the host will load. A missing file is an error that wraps fs.ErrNotExist.
func hashFile(path string) (string, error) {
	b, err := plugin.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: no such file: %w", path, fs.ErrNotExist)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("%s: %v", path, pe.Err)
		}
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
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
