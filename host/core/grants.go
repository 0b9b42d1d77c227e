package core

import (
	"maps"
	"slices"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/flytesecrets/flyte/host/plugin"
)

// Protected is what no grant may reach, for cfg and the environment:
// flyte's own files and directories (grant.Own) and every file a plugin's
// grant names: the password file, client key, client certificate and CA
// file of [store] (the etcd store's) and the credentials, client_key,
// client_cert and ca_file of every [plugins.NAME.grant.http] table. A
// plugin may be granted the files its own grants name (grant.For); no other
// plugin may be granted a directory that reaches one of them, nor a secret
// one as a file. A grant that does not parse protects nothing here: the
// plugin it belongs to is refused when it loads. It is the list Options
// wants.
func Protected(cfg *config.Config, getenv func(string) string) []grant.Protected {
	own := grant.Own(cfg, getenv)
	if cfg == nil {
		return own
	}
	if cfg.Store.Plugin == config.EtcdStore {
		c := &Core{cfg: cfg}
		if g, err := c.etcdGrant(cfg.Store.Plugin); err == nil {
			own = append(own, g.Protected()...)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(cfg.Plugins)) {
		t, ok := cfg.Plugins[n].Grants["http"]
		if !ok {
			continue
		}
		if g, err := httpgrant.Parse(n, t); err == nil {
			own = append(own, g.Protected()...)
		}
	}
	return own
}

// StoreCapability is the capability the core grants the named plugin for
// being the store of cfg: "fs" (store.path) for a store plugin, "http"
// (store.endpoints) for the etcd store, "" for a plugin that is not the
// store.
func StoreCapability(cfg *config.Config, name string) string {
	switch {
	case name != cfg.Store.Plugin:
		return ""
	case name == config.EtcdStore:
		return "http"
	}
	return "fs"
}

// Granted names the capabilities the core grants the named plugin, sorted:
// those of its [plugins.NAME.grant.CAPABILITY] tables and its store
// capability (StoreCapability).
func Granted(cfg *config.Config, name string) []string {
	var out []string
	if pc, ok := cfg.Plugins[name]; ok {
		out = slices.Collect(maps.Keys(pc.Grants))
	}
	if c := StoreCapability(cfg, name); c != "" && !slices.Contains(out, c) {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// EtcdSpec completes s, the spec of the etcd store of cfg, as the core
// does when it loads it: the http grant of [store] (checked against
// protected, less the files of its own grant), its configuration entries
// and its call deadline. `flyte plugin test` tests the configured etcd
// store with it. Any other plugin is an error.
func EtcdSpec(cfg *config.Config, protected []grant.Protected, s *plugin.Spec) error {
	if StoreCapability(cfg, s.Name) != "http" {
		return errNotEtcdStore
	}
	c := &Core{cfg: cfg, opts: Options{Protected: protected}}
	return c.etcdSpec(s)
}
