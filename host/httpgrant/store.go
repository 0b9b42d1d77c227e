package httpgrant

import (
	"fmt"
	"slices"
	"time"

	"github.com/flytesecrets/flyte/host/httpgrant/origin"
)

// StoreSettings are the settings of [store] that make the http grant of a
// store plugin reaching its backend over http (the built-in etcd store):
// the user names the endpoints once, and that list is what the plugin is
// granted.
type StoreSettings struct {
	// Endpoints are canonical origins (origin.Parse), in the user's order;
	// plain http only to loopback.
	Endpoints []string
	// CAFile, ClientCert and ClientKey are absolute paths, or "".
	CAFile, ClientCert, ClientKey string
	// PasswordFile is the file of the credential "password", absolute; ""
	// for none.
	PasswordFile string
	// RequestTimeout bounds one request.
	RequestTimeout time.Duration
}

// storeSettings name a store grant's settings in messages.
var storeSettings = map[string]string{
	"origins":              "store.endpoints",
	"ca_file":              "store.ca_file",
	"client_cert":          "store.client_cert",
	"client_key":           "store.client_key",
	"credentials.password": "store.password_file",
	"request_timeout":      "store.request_timeout",
}

// Store returns the http grant of the named store plugin from the settings
// of [store], which the configuration has validated: the endpoints are its
// origins, the password file its credential "password"; responses up to the
// largest allowed (MaxMaxResponse: a page of secrets), no redirects, no
// proxy, plain http to loopback only. Messages about the grant (Check, New,
// an origin not granted) name the settings of [store]. An error here is a
// value the configuration should have refused; it names the setting, never
// the value.
func Store(plugin string, s StoreSettings) (*Grant, error) {
	g := &Grant{Plugin: plugin, MaxResponse: MaxMaxResponse, RequestTimeout: s.RequestTimeout,
		CAFile: s.CAFile, ClientCert: s.ClientCert, ClientKey: s.ClientKey, settings: storeSettings}
	if len(s.Endpoints) == 0 || len(s.Endpoints) > MaxOrigins {
		return nil, fmt.Errorf("setting %q must list from 1 to %d endpoints", g.setting("origins"), MaxOrigins)
	}
	for i, e := range s.Endpoints {
		o, err := origin.Parse(e)
		if err != nil || o != e {
			return nil, fmt.Errorf("endpoint #%d of %q is not a canonical origin", i+1, g.setting("origins"))
		}
		if origin.Plain(o) && !origin.Loopback(o) {
			return nil, fmt.Errorf("endpoint #%d of %q is plain http to a host that is not loopback", i+1, g.setting("origins"))
		}
		if slices.Contains(g.Origins, o) {
			return nil, fmt.Errorf("setting %q lists an endpoint twice", g.setting("origins"))
		}
		g.Origins = append(g.Origins, o)
	}
	if s.RequestTimeout < time.Millisecond {
		return nil, fmt.Errorf("setting %q must be at least 1ms", g.setting("request_timeout"))
	}
	if (s.ClientCert == "") != (s.ClientKey == "") {
		return nil, fmt.Errorf("settings %q and %q go together: set both or neither", g.setting("client_cert"), g.setting("client_key"))
	}
	p := parser{}
	for _, f := range []struct{ key, path string }{
		{"ca_file", s.CAFile}, {"client_cert", s.ClientCert}, {"client_key", s.ClientKey}, {"credentials.password", s.PasswordFile},
	} {
		if f.path == "" {
			continue
		}
		if _, err := p.pathValue(g.setting(f.key), f.path); err != nil {
			return nil, err
		}
	}
	if s.PasswordFile != "" {
		g.Credentials = map[string]string{"password": s.PasswordFile}
	}
	return g, nil
}
