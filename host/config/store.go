package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/flytesecrets/flyte/host/httpgrant/origin"
)

// etcdKeys are the settings of [store] that only the etcd store takes, in the order they are
// decoded (and checked: the first wrong one is reported).
var etcdKeys = []string{"endpoints", "prefix", "user", "password_file", "ca_file", "client_cert", "client_key", "timeout", "request_timeout"}

// storeSchema knows [store]: plugin and path, and the etcd store's settings.
func storeSchema() *schema {
	s := &schema{keys: map[string]*schema{"plugin": nil, "path": nil}}
	for _, k := range etcdKeys {
		s.keys[k] = nil
	}
	return s
}

// Limits of the etcd store's settings.
const (
	maxPrefix = 256
	maxUser   = 128
)

// inlinePassword reports whether key is a password written in [store] itself.
func inlinePassword(key toml.Key) bool {
	return len(key) == 2 && key[0] == "store" && key[1] == "password"
}

// passwordSetting refuses store.password, at its key: a password is never written in flyte.toml.
// The value is not looked at.
func (d *decoder) passwordSetting(key toml.Key) error {
	return &hintError{
		msg:  d.at(keyLoc(key), false) + ": setting \"store.password\" is not allowed: a password is never written in " + FileName,
		hint: "put the password in a file only you can read (chmod 600) and name that file with password_file in [store]",
	}
}

// onlyEtcd refuses an etcd setting in [store] when the store plugin is another one.
func (d *decoder) onlyEtcd(t map[string]any, c *Config) error {
	for _, k := range etcdKeys {
		if _, ok := t[k]; ok {
			key := toml.Key{"store", k}
			return &hintError{
				msg:  fmt.Sprintf("%s: setting %q is for the etcd store, and store.plugin is %q", d.at(keyLoc(key), false), key.String(), c.Store.Plugin),
				hint: `set plugin = "etcd" in [store] to keep secrets in etcd, or remove ` + key.String(),
			}
		}
	}
	return nil
}

// etcdStore decodes [store] for the etcd store (plugin = "etcd"), filling in the defaults.
func (d *decoder) etcdStore(t map[string]any, c *Config) error {
	if _, ok := t["path"]; ok {
		key := toml.Key{"store", "path"}
		return &hintError{
			msg:  fmt.Sprintf("%s: setting %q is the filestore's directory; the etcd store keeps secrets at store.endpoints", d.at(keyLoc(key), false), key.String()),
			hint: `remove store.path, or set plugin = "filestore" to keep secrets in a directory`,
		}
	}
	s := StoreConfig{Plugin: EtcdStore, Prefix: DefaultEtcdPrefix, Timeout: DefaultEtcdTimeout}
	var err error
	if s.Endpoints, err = d.endpoints(t); err != nil {
		return err
	}
	if v, ok, err := d.str(t, toml.Key{"store", "prefix"}); err != nil {
		return err
	} else if ok {
		if !validPrefix(v) {
			return &hintError{
				msg:  d.valueErrorf(at("store", "prefix"), `setting "store.prefix" must start and end with "/", in printable ASCII without spaces or "//", at most %d bytes`, maxPrefix).Error(),
				hint: `the default is prefix = "` + DefaultEtcdPrefix + `"`,
			}
		}
		s.Prefix = v
	}
	if v, ok, err := d.str(t, toml.Key{"store", "user"}); err != nil {
		return err
	} else if ok {
		if !validUser(v) {
			return d.valueErrorf(at("store", "user"), `setting "store.user" must be 1 to %d printable ASCII characters without spaces`, maxUser)
		}
		s.User = v
	}
	for _, f := range []struct {
		key string
		to  *string
	}{{"password_file", &s.PasswordFile}, {"ca_file", &s.CAFile}, {"client_cert", &s.ClientCert}, {"client_key", &s.ClientKey}} {
		if *f.to, _, err = d.pathSetting(t, toml.Key{"store", f.key}); err != nil {
			return err
		}
	}
	switch {
	case s.User != "" && s.PasswordFile == "":
		return &hintError{
			msg:  d.keyErrorf(at("store", "user"), `setting "store.user" needs store.password_file, the file that holds the user's password`).Error(),
			hint: "put the password in a file only you can read (chmod 600) and name it with password_file in [store]",
		}
	case s.User == "" && s.PasswordFile != "":
		return d.keyErrorf(at("store", "password_file"), `setting "store.password_file" needs store.user, the etcd user whose password it holds`)
	case (s.ClientCert == "") != (s.ClientKey == ""):
		k := "client_cert"
		if s.ClientCert == "" {
			k = "client_key"
		}
		return d.keyErrorf(at("store", k), `settings "store.client_cert" and "store.client_key" go together: set both or neither`)
	}
	if !slices.ContainsFunc(s.Endpoints, func(e string) bool { return strings.HasPrefix(e, "https://") }) {
		for _, k := range []string{"ca_file", "client_cert"} {
			if _, ok := t[k]; ok {
				return &hintError{
					msg:  d.keyErrorf(at("store", k), "setting %q is for https endpoints, and store.endpoints lists none", "store."+k).Error(),
					hint: "write the endpoints as https://HOST:PORT, or remove store." + k,
				}
			}
		}
	}
	if v, ok, err := d.duration(t, toml.Key{"store", "timeout"}); err != nil {
		return err
	} else if ok {
		if v < 2*time.Millisecond || v > MaxTimeout {
			return d.valueErrorf(at("store", "timeout"), `setting "store.timeout" must be at least 2ms and at most %s`, MaxTimeout)
		}
		s.Timeout = v
	}
	s.RequestTimeout = min(DefaultRequestTimeout, s.Timeout/2)
	if v, ok, err := d.duration(t, toml.Key{"store", "request_timeout"}); err != nil {
		return err
	} else if ok {
		if v < time.Millisecond || v > s.Timeout/2 {
			return &hintError{
				msg:  d.valueErrorf(at("store", "request_timeout"), `setting "store.request_timeout" must be at least 1ms and at most half of store.timeout (%s)`, s.Timeout).Error(),
				hint: "a request that times out leaves time in the call to try the next endpoint",
			}
		}
		s.RequestTimeout = v
	}
	c.Store = s
	return nil
}

// endpoints decodes store.endpoints: 1 to MaxEndpoints origins, each canonical (origin.Parse, the
// http capability's rules), plain http only to loopback, none twice.
func (d *decoder) endpoints(t map[string]any) ([]string, error) {
	const key = `"store.endpoints"`
	v, ok := t["endpoints"]
	if !ok {
		return nil, &hintError{
			msg:  d.keyErrorf(at("store", "plugin"), "setting %s is missing: the etcd store needs the client URLs of the etcd cluster", key).Error(),
			hint: `add endpoints = ["https://HOST:2379"] to [store], one entry for each etcd node`,
		}
	}
	list, isList := v.([]any)
	if !isList {
		return nil, d.valueErrorf(at("store", "endpoints"), "setting %s must be an array of strings, not %s", key, TypeName(v))
	}
	if len(list) == 0 || len(list) > MaxEndpoints {
		return nil, d.valueErrorf(at("store", "endpoints"), "setting %s must list from 1 to %d endpoints", key, MaxEndpoints)
	}
	out := make([]string, 0, len(list))
	for i, item := range list {
		p := at("store", "endpoints", i)
		s, isStr := item.(string)
		if !isStr {
			return nil, d.valueErrorf(p, "endpoint #%d of %s must be a string, not %s", i+1, key, TypeName(item))
		}
		o, err := origin.Parse(s)
		if err != nil {
			return nil, d.valueErrorf(p, "endpoint #%d of %s %v", i+1, key, err)
		}
		if origin.Plain(o) && !origin.Loopback(o) {
			return nil, &hintError{
				msg:  d.valueErrorf(p, "endpoint #%d of %s is plain http to a host that is not loopback", i+1, key).Error(),
				hint: "use https://HOST:PORT (with ca_file in [store] if your etcd's certificate is signed by your own CA)",
			}
		}
		if j := slices.Index(out, o); j >= 0 {
			return nil, d.valueErrorf(p, "endpoint #%d of %s is endpoint #%d again", i+1, key, j+1)
		}
		out = append(out, o)
	}
	return out, nil
}

// duration returns the duration at the last element of key in t; ok is false when it is absent.
func (d *decoder) duration(t map[string]any, key toml.Key) (time.Duration, bool, error) {
	s, ok, err := d.str(t, key)
	if err != nil || !ok {
		return 0, ok, err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, false, d.valueErrorf(keyLoc(key), "setting %q is not a duration (write it like \"10s\" or \"500ms\")", key.String())
	}
	return v, true, nil
}

// validPrefix: starts and ends with "/", printable ASCII without spaces, no "//".
func validPrefix(s string) bool {
	if len(s) == 0 || len(s) > maxPrefix || s[0] != '/' || s[len(s)-1] != '/' || strings.Contains(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// validUser: 1 to maxUser printable ASCII characters, no space (as etcd's gateway takes it in JSON
// and the plugin in a header).
func validUser(s string) bool {
	if s == "" || len(s) > maxUser {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// etcdSettings are the [plugins.etcd.config] entries [store] sets for the etcd store.
var etcdSettings = []string{"endpoints", "prefix", "user"}

// etcdPlugin refuses, in [plugins.etcd] (a replacement of the built-in etcd store) while it is the
// store, what [store] sets: its grants (store.endpoints grants it http; it has no directory), its
// call deadline and the configuration entries flyte hands it from [store]. raw is [plugins].
func (d *decoder) etcdPlugin(raw map[string]any, name string, p PluginConfig, c *Config) error {
	if name != EtcdStore || c.Store.Plugin != EtcdStore {
		return nil
	}
	hint := "the etcd store's grant, deadline and endpoints come from [store]"
	if grants := slices.Sorted(maps.Keys(p.Grants)); len(grants) > 0 {
		g := grants[0]
		key := toml.Key{"plugins", name, "grant", g}
		what := "store.endpoints grants it"
		if g != "http" {
			what = "it is granted store.endpoints alone"
		}
		return &hintError{
			msg:  fmt.Sprintf("%s: [%s] is not allowed while etcd is the store: %s", d.at(keyLoc(key), false), key.String(), what),
			hint: "remove [" + key.String() + "]; " + hint,
		}
	}
	if t, ok := raw[name].(map[string]any); ok {
		if _, ok := t["timeout"]; ok {
			key := toml.Key{"plugins", name, "timeout"}
			return &hintError{msg: d.keyErrorf(keyLoc(key), "setting %q is not allowed while etcd is the store: its deadline is store.timeout", key.String()).Error(), hint: hint}
		}
	}
	for _, k := range etcdSettings {
		if _, ok := p.Config[k]; ok {
			key := toml.Key{"plugins", name, "config", k}
			return &hintError{msg: d.keyErrorf(keyLoc(key), "setting %q is not allowed while etcd is the store: store.%s sets it", key.String(), k).Error(), hint: hint}
		}
	}
	return nil
}
