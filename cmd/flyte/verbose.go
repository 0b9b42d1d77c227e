package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// -v/--verbose says on standard error where flyte's inputs come from, never
// a value: -v the configuration file, the store, the identity and the state
// directory; -vv also the organization and domains, the plugin cache and
// each configured plugin's file and whether its SHA-256 is pinned. Paths
// are printed with sanitize.Text (a repository's flyte.toml chose some).
// FLYTE_DEBUG, not -v, shows the plugins' own log lines.

// verboseEngine reports what engine is about to use.
func (c *cli) verboseEngine(cfg *config.Config, opts core.Options) {
	if c.verbose < 1 {
		return
	}
	say := func(format string, args ...any) {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = sanitize.Text(s)
			}
		}
		fmt.Fprintf(c.stderr, "flyte: "+format+"\n", args...)
	}
	if cfg.Path == "" {
		say("configuration: none found, defaults apply")
	} else {
		say("configuration: %s", cfg.Path)
	}
	// store.path is the directory of the built-in filestore; what another
	// store makes of it (if it uses fs at all) is not known without
	// loading it, so its setting is shown as such.
	_, configured := cfg.Plugins[cfg.Store.Plugin]
	switch {
	case cfg.Store.Path != "" && cfg.Store.Plugin == config.DefaultStorePlugin && !configured:
		say("store: plugin %s, directory %s", cfg.Store.Plugin, cfg.Store.Path)
	case cfg.Store.Path != "":
		say("store: plugin %s (store.path %s)", cfg.Store.Plugin, cfg.Store.Path)
	default:
		say("store: plugin %s", cfg.Store.Plugin)
	}
	src := opts.Identity
	if src == nil {
		src = identity.File(cfg.Seal.Identity)
	}
	say("identity: %s", src.String())
	say("state directory: %s", opts.StateDir)
	if c.verbose < 2 {
		return
	}
	say("organization: %s; domains: %s", cfg.Organization, strings.Join(cfg.Domains, ", "))
	if opts.CacheDir == "" {
		say("plugin cache: off")
	} else {
		say("plugin cache: %s", opts.CacheDir)
	}
	names := make([]string, 0, len(cfg.Plugins))
	for n := range cfg.Plugins {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		p := cfg.Plugins[n]
		pin := "sha256 pinned"
		if p.SHA256 == "" {
			pin = "sha256 not pinned"
		}
		say("plugin %s: %s (%s)", n, p.Path, pin)
	}
}
