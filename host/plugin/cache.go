package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/flytesecrets/flyte/host/safefile"
	"github.com/flytesecrets/flyte/host/state"
	"github.com/tetratelabs/wazero"
)

// cacheSubdir is where wazero keeps its files inside the cache directory.
const cacheSubdir = "wazero"

// openCache opens the compilation cache in dir. The cache holds native
// code that wazero runs without checking it again (only a CRC), so it is
// flyte's alone: a missing directory is created with mode 0700 (missing
// parents too), and an existing one is used only if it is the user's own
// and nobody else can write it, nor the directories wazero keeps in it. An
// existing directory is never chmod'ed: a shared directory named by
// mistake (FLYTE_CACHE_DIR=/tmp) is refused, not taken over.
func openCache(dir string) (wazero.CompilationCache, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("cannot create the plugin cache %s: %w", dir, safefile.Bare(err))
	}
	if err := checkCache(dir); err != nil {
		return nil, err
	}
	c, err := wazero.NewCompilationCacheWithDir(filepath.Join(dir, cacheSubdir))
	if err != nil {
		return nil, fmt.Errorf("cannot open the plugin cache %s: %w", dir, safefile.Bare(err))
	}
	return c, nil
}

// checkCache refuses a cache directory, or a directory wazero keeps in it,
// that another user owns or can write.
func checkCache(dir string) error {
	dirs := []string{dir}
	sub := filepath.Join(dir, cacheSubdir)
	ents, err := os.ReadDir(sub)
	switch {
	case err == nil:
		dirs = append(dirs, sub)
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(sub, e.Name()))
			}
		}
	case errors.Is(err, fs.ErrNotExist):
	default:
		dirs = append(dirs, sub) // CheckPrivateDir says what is wrong
	}
	for _, d := range dirs {
		if err := state.CheckPrivateDir(d); err != nil {
			return fmt.Errorf("plugin cache %s: %v; flyte runs the native code kept there, so the cache must be a directory only you can write (set FLYTE_CACHE_DIR or XDG_CACHE_HOME)", d, err)
		}
	}
	return nil
}
