// Package grant decides whether a directory (Check) or a file (CheckFile,
// ReadFile) may be granted to a plugin. A grant must never reach flyte's
// own secrets: the identity, the configuration, the state directory, the
// plugin compilation cache (whose native code flyte runs without checking
// it again), the installed plugins and the plugin files flyte runs. A
// plugin granted a directory that contains one of them, or lies inside
// one, could read the identity or take over the host, so such a grant is
// refused before the plugin is loaded.
//
// Both sides are compared as the kernel will see them: symlinks are
// followed (a path that does not exist yet is its deepest existing
// ancestor, resolved, with the rest appended), and directories are also
// compared by device and inode, so that a bind mount of a protected
// directory is recognised too. Containment is by whole path components:
// /a/cache2 is not inside /a/cache.
//
// The check is made when the grant is given (when the plugin is loaded).
// Someone who can rename a directory on the granted path can move the grant
// afterwards; a directory other users can change is no place for a store.
package grant

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/state"
)

// Protected is a file or directory that no grant may reach.
type Protected struct {
	// What names it in messages: "flyte's plugin cache".
	What string
	// Path is where it is, as configured; "" protects nothing.
	Path string
	// Plugin, when set, is the plugin whose grant names the file (a
	// credential, a TLS file): that plugin may be granted it (For), no
	// other.
	Plugin string
	// Readable marks a file that is no secret (a CA file, a client
	// certificate): another plugin's grant may name the file itself, to
	// read it, but no directory granted to a plugin may reach it, since a
	// plugin that could write it could swap whom the owner trusts.
	Readable bool
}

// For is protected as seen by the grants of plugin: without the files its
// own grants name.
func For(protected []Protected, plugin string) []Protected {
	out := make([]Protected, 0, len(protected))
	for _, p := range protected {
		if p.Plugin == "" || p.Plugin != plugin {
			out = append(out, p)
		}
	}
	return out
}

// Own lists flyte's own files and directories for cfg and the environment:
// the identity, the configuration file in use, the configuration
// directory, the state directory, the plugin compilation cache, the
// directory of installed plugins and the files of the configured plugins.
// The files the plugins' grants name are added by core.Protected, which
// parses the grants: that is the list to use.
func Own(cfg *config.Config, getenv func(string) string) []Protected {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	var own []Protected
	if cfg != nil {
		own = append(own,
			Protected{What: "the identity file", Path: cfg.Seal.Identity},
			Protected{What: "the configuration file", Path: cfg.Path})
	}
	own = append(own,
		Protected{What: "flyte's configuration directory", Path: configDir(getenv)},
		Protected{What: "flyte's state directory", Path: state.Path(getenv)},
		Protected{What: "flyte's plugin cache", Path: config.CacheDir(getenv)},
		Protected{What: "flyte's installed plugins", Path: config.PluginDir(getenv)})
	if cfg != nil {
		names := make([]string, 0, len(cfg.Plugins))
		for n := range cfg.Plugins {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			own = append(own, Protected{What: "the file of plugin " + n, Path: cfg.Plugins[n].Path})
		}
	}
	return own
}

// configDir is flyte's configuration directory, the one that holds the
// user's own flyte.toml: $XDG_CONFIG_HOME/flyte, else ~/.config/flyte.
func configDir(getenv func(string) string) string {
	if f := config.UserFile(getenv); f != "" {
		return filepath.Dir(f)
	}
	return ""
}

// Check returns an error when dir, granted to grantee ("the store plugin")
// by setting ("store.path"), contains, equals or lies inside one of the
// protected paths. The error is one line that names the setting, the
// directory and what it would reach.
func Check(setting, grantee, dir string, protected []Protected) error {
	g, err := where(dir)
	if err != nil {
		return fmt.Errorf("%s %s: cannot tell where it leads: %w", setting, dir, err)
	}
	if fs := pseudoAt(existing(g.real)); fs != "" {
		return fmt.Errorf("%s %s: a directory of %s; choose one that holds files", setting, dir, fs)
	}
	if p, _ := reaches(g, protected, false); p != nil {
		return fmt.Errorf("%s %s would give %s %s (%s); choose a directory outside it", setting, dir, grantee, p.What, p.Path)
	}
	return nil
}

// reaches returns the first protected path that g contains, equals or lies
// inside, or nil, and the file identities of the protected paths it checked
// (for a granted file's hard-link check). For a granted file (file), the
// Readable ones are left out.
func reaches(g place, protected []Protected, file bool) (*Protected, []fileID) {
	var ids []fileID
	for i, p := range protected {
		if p.Path == "" || file && p.Readable {
			continue
		}
		w, err := where(p.Path)
		if err != nil {
			// Unreachable for flyte too; compare what can be seen of it.
			w = place{lexical: absClean(p.Path), real: absClean(p.Path)}
		}
		if overlap(g, w) {
			return &protected[i], ids
		}
		if w.id != nil {
			ids = append(ids, *w.id)
		}
	}
	return nil, ids
}

// place is a path as written and as the kernel reaches it.
type place struct {
	lexical, real string
	// id is the file's device and inode, when it exists.
	id *fileID
	// chain holds the ids of the real path's existing ancestors and of the
	// path itself.
	chain []fileID
}

type fileID struct{ dev, ino uint64 }

// overlap reports whether one place contains the other.
func overlap(a, b place) bool {
	if within(a.lexical, b.lexical) || within(b.lexical, a.lexical) ||
		within(a.real, b.real) || within(b.real, a.real) {
		return true
	}
	return a.id != nil && slices.Contains(b.chain, *a.id) || b.id != nil && slices.Contains(a.chain, *b.id)
}

// within reports whether p is dir or lies inside it (whole components).
func within(p, dir string) bool {
	if p == dir || dir == "/" {
		return true
	}
	return strings.HasPrefix(p, dir+"/")
}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

func where(p string) (place, error) {
	pl := place{lexical: absClean(p)}
	r, err := resolve(pl.lexical)
	if err != nil {
		return pl, err
	}
	pl.real = r
	for q := r; ; q = filepath.Dir(q) {
		if id, ok := statID(q); ok {
			if q == r {
				pl.id = &id
			}
			pl.chain = append(pl.chain, id)
		}
		if q == "/" {
			break
		}
	}
	return pl, nil
}

// existing is the deepest existing directory of the real path p.
func existing(p string) string {
	for {
		if _, err := os.Stat(p); err == nil || p == "/" {
			return p
		}
		p = filepath.Dir(p)
	}
}

func statID(p string) (fileID, bool) {
	fi, err := os.Stat(p)
	if err != nil {
		return fileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino}, true
}

// maxLinks bounds the symlinks followed in one path, as the kernel does.
const maxLinks = 40

// resolve returns the real path the kernel reaches through the absolute,
// clean path p: every symlink followed, even one whose target does not
// exist yet, and the missing tail appended to the deepest existing
// directory.
func resolve(p string) (string, error) {
	pending := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			// cur is real: its parent is too.
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
			// Nothing below exists: the rest is created as written.
			return filepath.Join(append([]string{next}, pending...)...), nil
		case err != nil:
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", err
		case fi.Mode()&fs.ModeSymlink != 0:
			links++
			if links > maxLinks {
				return "", syscall.ELOOP
			}
			t, err := os.Readlink(next)
			if err != nil {
				return "", err
			}
			if filepath.IsAbs(t) {
				cur = "/"
			}
			pending = append(strings.Split(t, "/"), pending...)
		default:
			cur = next
		}
	}
	return cur, nil
}
