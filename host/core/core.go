// Package core assembles flyte from its configuration: the plugin host, the
// store plugin with its grants, and the secrets service over it. It is what
// the CLI holds, and what a resident agent would hold: everything is
// loaded on first use and kept for the life of the Core.
package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/inject"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/secrets"
)

// Options configure a Core.
type Options struct {
	// CacheDir holds compiled plugins; "" disables the cache.
	CacheDir string
	// Progress receives a line before a plugin is compiled for the first time.
	Progress io.Writer
	// Log receives plugins' log messages; nil drops them.
	Log io.Writer
	// NativeStore, when set, replaces the built-in filestore plugin by a
	// natively linked store over the same directory. It exists for
	// benchmark baselines.
	NativeStore func(dir string) secrets.Store
	// Protected are flyte's own files and directories and the files the
	// plugins' grants name (Protected), which no directory granted to a
	// plugin may contain or lie inside.
	Protected []grant.Protected
	// StateDir is flyte's state directory (state.Path); "" keeps no
	// history, so rollbacks go undetected.
	StateDir string
	// Identity is where the identity comes from (identity.Resolve); nil
	// means the configuration's identity file.
	Identity *identity.Source
	// PlanCache keeps the plans of the built-in injectors (inject.Planner);
	// nil means the state directory's (inject.StateCache), or none without
	// StateDir. A resident process would keep them in memory.
	PlanCache inject.PlanCache
	// OneShot says the Core serves one command of a process that then
	// exits (plugin.Options.WholeMemory), not a resident agent.
	OneShot bool
}

// Core is a configured flyte.
type Core struct {
	cfg  *config.Config
	opts Options
	host *plugin.Host

	mu      sync.Mutex // guards secrets
	secrets *secrets.Manager
	// marks outlives each Manager (Renew makes a new one per request of
	// the agent): the marks file is parsed again only when it changed.
	marks secrets.MarksCache

	loadMu sync.Mutex
	loads  map[string]*loadCall // by plugin name: done or in progress
}

// loadCall is one plugin load; concurrent users of the same plugin wait
// for the first.
type loadCall struct {
	done chan struct{}
	p    *plugin.Plugin
	err  error
}

// New returns a Core for cfg. Nothing is loaded yet.
func New(cfg *config.Config, opts Options) (*Core, error) {
	h, err := plugin.NewHost(plugin.Options{CacheDir: opts.CacheDir, Progress: opts.Progress, Log: opts.Log, WholeMemory: opts.OneShot})
	if err != nil {
		return nil, err
	}
	if opts.Identity == nil {
		opts.Identity = identity.File(cfg.Seal.Identity)
	}
	if opts.PlanCache == nil && opts.StateDir != "" {
		opts.PlanCache = inject.NewStateCache(opts.StateDir)
	}
	return &Core{cfg: cfg, opts: opts, host: h, loads: map[string]*loadCall{}}, nil
}

// Identity is where the user's identity comes from.
func (c *Core) Identity() *identity.Source { return c.opts.Identity }

// Close releases every plugin and forgets the data key.
func (c *Core) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets != nil {
		c.secrets.Close()
	}
	c.loadMu.Lock()
	defer c.loadMu.Unlock()
	for _, l := range c.loads {
		<-l.done
		if l.p != nil {
			l.p.Close(context.Background())
		}
	}
	c.loads = nil
	_ = c.host.Close()
}

// Secrets returns the secrets service, loading the store plugin on first use.
func (c *Core) Secrets(ctx context.Context) (*secrets.Manager, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.secrets != nil {
		return c.secrets, nil
	}
	var store secrets.Store
	minor := uint32(abi.Minor)
	if c.opts.NativeStore != nil && c.cfg.Store.Plugin == "filestore" {
		store = c.opts.NativeStore(c.cfg.Store.Path)
	} else {
		p, err := c.load(ctx, c.cfg.Store.Plugin, abi.KindStore)
		if err != nil {
			return nil, err
		}
		store, minor = p, p.Info.Minor
	}
	c.secrets = secrets.New(store, secrets.Options{Org: c.cfg.Organization, Source: c.opts.Identity, StateDir: c.opts.StateDir,
		Location: c.location(), StoreMinor: minor, Marks: &c.marks})
	return c.secrets, nil
}

// location names where the store is, for the data keys this machine
// remembers per location: the store plugin's name, the store path with its
// symlinks resolved (one store reached by two paths is one location) or,
// for the etcd store, its endpoints (sorted: one cluster listed in two
// orders is one location) and prefix, and, for a third-party plugin, a
// hash of its [plugins.NAME] config (two buckets of one plugin are two
// locations).
func (c *Core) location() string {
	loc := c.cfg.Store.Plugin + "\x00" + realPath(c.cfg.Store.Path)
	if c.cfg.Store.Plugin == config.EtcdStore {
		loc = etcdLocation(c.cfg.Store)
	}
	if pc, ok := c.cfg.Plugins[c.cfg.Store.Plugin]; ok && len(pc.Config) > 0 {
		h := sha256.New()
		for _, k := range slices.Sorted(maps.Keys(pc.Config)) {
			fmt.Fprintf(h, "%d:%s%d:%s", len(k), k, len(pc.Config[k]), pc.Config[k])
		}
		loc += "\x00" + hex.EncodeToString(h.Sum(nil))
	}
	return loc
}

// Location names where the configured store is (see location): two
// configurations with one location name one store. `flyte store migrate`
// refuses to copy a store onto itself with it.
func (c *Core) Location() string { return c.location() }

// realPath is p with the symlinks of its deepest existing ancestor resolved
// and the rest, which does not exist yet, appended as written; p itself
// when it is empty or cannot be resolved.
func realPath(p string) string {
	if p == "" {
		return p
	}
	p = filepath.Clean(p)
	var rest []string
	for dir := p; ; {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(append([]string{r}, rest...)...)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p
		}
		rest = append([]string{filepath.Base(dir)}, rest...)
		dir = parent
	}
}

// spec builds the load spec of the named plugin: a [plugins.NAME] entry of
// the configuration, or else a built-in plugin.
func (c *Core) spec(name string, kind abi.PluginKind) (plugin.Spec, error) {
	s := plugin.Spec{Name: name, Kind: kind, Source: "built-in"}
	if pc, ok := c.cfg.Plugins[name]; ok {
		b, err := plugin.ReadFile(pc.Path)
		if err != nil {
			return s, fmt.Errorf("cannot read plugin %s: %w", name, err)
		}
		s.Wasm, s.Source, s.SHA256 = b, pc.Path, pc.SHA256
		s.MemoryPages, s.Timeout = pc.MemoryPages, pc.Timeout
		s.Config = pc.Message()
		if err := c.grants(&s, pc.Grants); err != nil {
			return s, err
		}
	} else {
		b, err := builtin.Module(name)
		if err != nil {
			if errors.Is(err, builtin.ErrMissing) && !slices.Contains(builtin.Names(), name) && len(builtin.Names()) > 0 {
				return s, fmt.Errorf("unknown plugin %q: it is neither built in nor configured in [plugins.%s]", name, name)
			}
			return s, fmt.Errorf("plugin %s: %w", name, err)
		}
		s.Wasm, s.Builtin = b, true
	}
	// Only the store plugin gets the store's directory (the configuration
	// refuses a [plugins.NAME.grant.fs] table for it); the etcd store gets
	// its endpoints instead (etcd.go).
	switch StoreCapability(c.cfg, name) {
	case "http":
		if err := c.etcdSpec(&s); err != nil {
			return s, err
		}
	case "fs":
		if err := c.grant(&s, "fs", capability.FSGrant(c.cfg.Store.Path)); err != nil {
			return s, err
		}
	}
	return s, nil
}

// grants adds the capabilities [plugins.NAME.grant.<capability>] grants to
// the plugin of s, each parsed by its capability and checked against what
// flyte protects. A table for a capability this flyte was built without is
// left out: the plugin host names the capability if the plugin needs it.
func (c *Core) grants(s *plugin.Spec, tables map[string]map[string]any) error {
	for _, name := range slices.Sorted(maps.Keys(tables)) {
		cp, ok := capability.ByName(name)
		if !ok {
			continue
		}
		g, err := cp.Parse(s.Name, tables[name])
		if err != nil {
			return fmt.Errorf("%s: %w", c.cfg.Path, err)
		}
		if err := c.grant(s, name, g); err != nil {
			return err
		}
	}
	return nil
}

// grant checks g and grants it to the plugin of s as the capability name.
func (c *Core) grant(s *plugin.Spec, name string, g capability.Grant) error {
	if err := g.Check(grant.For(c.opts.Protected, s.Name)); err != nil {
		return err
	}
	if s.Grants == nil {
		s.Grants = map[string]capability.Grant{}
	}
	s.Grants[name] = g
	return nil
}

// errClosed is what load returns after Close.
var errClosed = errors.New("flyte is shutting down")

// load returns the named plugin, loading it on first use. Different
// plugins load in parallel (each compile uses its own workers); callers
// of one plugin share a single load.
func (c *Core) load(ctx context.Context, name string, kind abi.PluginKind) (*plugin.Plugin, error) {
	c.loadMu.Lock()
	if c.loads == nil { // closed: a Prefetch that started late loads nothing
		c.loadMu.Unlock()
		return nil, errClosed
	}
	l, ok := c.loads[name]
	if !ok {
		l = &loadCall{done: make(chan struct{})}
		c.loads[name] = l
	}
	c.loadMu.Unlock()
	if !ok {
		s, err := c.spec(name, kind)
		if err == nil {
			l.p, err = c.host.Load(ctx, s)
		}
		l.err = err
		close(l.done)
	}
	<-l.done
	if l.err != nil {
		return nil, l.err
	}
	if kind != 0 && l.p.Info.Kind != kind {
		return nil, fmt.Errorf("plugin %s is %s, not %s", name, plugin.KindPhrase(l.p.Info.Kind), plugin.KindPhrase(kind))
	}
	return l.p, nil
}

// Prefetch starts loading the named plugins in the background, so that
// their compile or cache load overlaps other work.
func (c *Core) Prefetch(ctx context.Context, kind abi.PluginKind, names ...string) {
	for _, n := range names {
		go func() { _, _ = c.load(ctx, n, kind) }()
	}
}

// PluginInfo describes a plugin for `flyte plugin list`.
type PluginInfo struct {
	Name   string
	Kind   abi.PluginKind
	ABI    string
	Info   abi.Describe
	Size   int
	SHA256 string
	Source string
	Err    error // set when the plugin failed to load
}

// Plugins loads every built-in and configured plugin, in parallel, and
// describes it. The store plugin is loaded as for use; the others only to
// be described, so that a plugin that needs a capability it is granted only
// as the store (the built-in filestore, when another plugin is the store)
// is listed rather than refused.
func (c *Core) Plugins(ctx context.Context) []PluginInfo {
	names := append([]string(nil), builtin.Names()...)
	for n := range c.cfg.Plugins {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	out := make([]PluginInfo, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = c.describe(ctx, n)
		}()
	}
	wg.Wait()
	return out
}

// describe loads the named plugin for Plugins.
func (c *Core) describe(ctx context.Context, name string) PluginInfo {
	var p *plugin.Plugin
	var err error
	if name == c.cfg.Store.Plugin {
		p, err = c.load(ctx, name, 0)
	} else {
		var s plugin.Spec
		if s, err = c.spec(name, 0); err == nil {
			s.DescribeOnly = true
			if p, err = c.host.Load(ctx, s); err == nil {
				defer p.Close(ctx)
			}
		}
	}
	if err != nil {
		return PluginInfo{Name: name, Err: err}
	}
	return PluginInfo{
		Name: name, Kind: p.Info.Kind, ABI: fmt.Sprintf("v%d.%d", abi.Version, p.Info.Minor),
		Info: p.Info, Size: p.Size, SHA256: p.SHA256, Source: p.Spec.Source,
	}
}
