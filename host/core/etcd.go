package core

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/grant"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/flytesecrets/flyte/host/plugin"
)

// etcdSpec completes the spec of the etcd store from [store]: the http
// grant of its endpoints (with the TLS files and the password file, checked
// against what flyte protects like any grant; no directory), its call
// deadline (store.timeout), and the configuration entries the plugin reads
// (etcdConfig).
func (c *Core) etcdSpec(s *plugin.Spec) error {
	st := c.cfg.Store
	g, err := c.etcdGrant(s.Name)
	if err != nil {
		return err
	}
	if err := g.Check(grant.For(c.opts.Protected, s.Name)); err != nil {
		return err
	}
	// nil in a flyte built without http: the plugin host then names the
	// capability the plugin needs.
	if cg := capability.HTTPGrant(g); cg != nil {
		if s.Grants == nil {
			s.Grants = map[string]capability.Grant{}
		}
		s.Grants["http"] = cg
	}
	s.Timeout = st.Timeout
	s.Config = etcdConfig(st, c.cfg.Plugins[s.Name].Config)
	return nil
}

// errNotEtcdStore is EtcdSpec's error for a plugin that is not the etcd
// store of the configuration.
var errNotEtcdStore = errors.New("the plugin is not the configured etcd store")

// etcdGrant is the http grant of the etcd store, from [store].
func (c *Core) etcdGrant(name string) (*httpgrant.Grant, error) {
	st := c.cfg.Store
	g, err := httpgrant.Store(name, httpgrant.StoreSettings{
		Endpoints: st.Endpoints, CAFile: st.CAFile, ClientCert: st.ClientCert, ClientKey: st.ClientKey,
		PasswordFile: st.PasswordFile, RequestTimeout: st.RequestTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.cfg.Path, err)
	}
	return g, nil
}

// etcdConfig is the abi.PluginConfig of the etcd store: the entries of
// [plugins.etcd.config] when the built-in is replaced (extra, which the
// configuration keeps clear of these names), and
//
//   - endpoints: the endpoints in the file's order, joined by "," (the
//     order the plugin tries them);
//   - prefix: the key prefix, always (the default filled in);
//   - user: the etcd user, only when set (the grant then holds the
//     credential "password").
func etcdConfig(st config.StoreConfig, extra map[string]string) []byte {
	m := maps.Clone(extra)
	if m == nil {
		m = map[string]string{}
	}
	m["endpoints"] = strings.Join(st.Endpoints, ",")
	m["prefix"] = st.Prefix
	if st.User != "" {
		m["user"] = st.User
	}
	return (&config.PluginConfig{Config: m}).Message()
}

// etcdLocation is the etcd store's location: its endpoints, sorted, and
// its prefix.
func etcdLocation(st config.StoreConfig) string {
	return config.EtcdStore + "\x00" + strings.Join(slices.Sorted(slices.Values(st.Endpoints)), ",") + "\x00" + st.Prefix
}
