// Package httpgrant is the host side of the http capability (SPEC.md,
// section 2.4): what a plugin's [plugins.NAME.grant.http] table may say
// (Parse), whether the files it names may be given to a plugin (Check), and
// the HTTP client that sends a plugin's requests within that grant (Client,
// Call).
//
// A grant lists origins (scheme://host:port); nothing else is reachable.
// Redirects are not followed unless granted, and then each target is checked
// against the origins again. Plain http reaches only the loopback interface
// unless insecure_http is granted, checked again on the address actually
// dialed. TLS is verified against the system roots or the granted ca_file.
// No proxy is used unless granted. Responses are capped (max_response), and
// every request gets a time budget that leaves the plugin's call time to
// try another endpoint and still answer.
//
// A credential (a password, a token) is a file named in the grant, read
// by the host and handed to the guest only through the capability; its
// bytes never appear in a message.
package httpgrant

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/flytesecrets/flyte/host/grant"
)

// Grant is a plugin's [plugins.NAME.grant.http] table, parsed.
type Grant struct {
	// Plugin names the grantee in messages.
	Plugin string
	// Origins are canonical: lower-case scheme://host:port.
	Origins      []string
	Redirects    bool
	InsecureHTTP bool
	// CAFile, ClientCert, ClientKey and the Credentials' paths are
	// absolute.
	CAFile, ClientCert, ClientKey string
	// Proxy is "" (none), "env" (from the environment) or an http(s) URL.
	Proxy          string
	MaxResponse    int64
	RequestTimeout time.Duration
	// Credentials maps a name the guest asks for to a file.
	Credentials map[string]string

	// settings name the grant's settings when they are not those of a
	// [plugins.NAME.grant.http] table (Store); nil for one.
	settings map[string]string

	protected []grant.Protected
	checked   bool
}

// files lists the grant's files in the order New reads them.
func (g *Grant) files() []grantFile {
	var fs []grantFile
	if g.CAFile != "" {
		fs = append(fs, grantFile{g.setting("ca_file"), g.CAFile, "ca_file", caFile})
	}
	if g.ClientCert != "" {
		fs = append(fs, grantFile{g.setting("client_cert"), g.ClientCert, "client_cert", clientCert})
	}
	if g.ClientKey != "" {
		fs = append(fs, grantFile{g.setting("client_key"), g.ClientKey, "client_key", clientKey})
	}
	for _, n := range slices.Sorted(maps.Keys(g.Credentials)) {
		fs = append(fs, grantFile{g.setting("credentials." + n), g.Credentials[n], n, credential})
	}
	return fs
}

// Protected lists the files the grant names as files no other plugin may
// be granted (grant.For leaves them to this one): "the file SETTING names".
// The CA file and the client certificate are no secret: another plugin's
// grant may name them to read them (Readable), but no directory granted to
// a plugin may reach them.
func (g *Grant) Protected() []grant.Protected {
	var out []grant.Protected
	for _, f := range g.files() {
		out = append(out, grant.Protected{What: "the file " + f.setting + " names", Path: f.path, Plugin: g.Plugin, Readable: !f.secret()})
	}
	return out
}

// grantFile is a file a grant names: the setting that names it, its path,
// the setting's key or the credential's name, and what it is.
type grantFile struct {
	setting, path, name string
	kind                fileKind
}

type fileKind int

const (
	caFile fileKind = iota
	clientCert
	clientKey
	credential
)

// secret reports whether the file must be one only its owner can read.
func (f grantFile) secret() bool { return f.kind == clientKey || f.kind == credential }

// setting names the setting k of the grant ("ca_file", "credentials.NAME",
// "origins") as the user wrote it: in [plugins.NAME.grant.http], or, for a
// grant built by Store, in [store].
func (g *Grant) setting(k string) string {
	if s, ok := g.settings[k]; ok {
		return s
	}
	return "plugins." + g.Plugin + ".grant.http." + k
}

// originsSetting is where a message sends the user to grant an origin.
func (g *Grant) originsSetting() string {
	if s, ok := g.settings["origins"]; ok {
		return s
	}
	return "[plugins." + g.Plugin + ".grant.http] origins"
}

func (g *Grant) grantee() string { return "plugin " + g.Plugin }

// Check refuses a grant whose files may not be given to the plugin (see
// grant.ReadFile: the credentials and client_key are secret files, mode
// 0600) and remembers protected for New, which reads them with the same
// checks.
func (g *Grant) Check(protected []grant.Protected) error {
	for _, f := range g.files() {
		if err := grant.CheckFile(f.setting, g.grantee(), f.path, protected, f.secret()); err != nil {
			return err
		}
	}
	g.protected = slices.Clone(protected)
	g.checked = true
	return nil
}

// New builds the client of a grant that passed Check. It reads the CA
// file, the client certificate and key and the credentials once, checked
// again as they are read. The credentials stay in memory for the client's
// life (one flyte command): each call sees the same value, a guest's
// message quoting one can be recognised (Reveals), and a file that stops
// passing the checks fails the plugin's load, in one line, rather than a
// call in the middle of its work.
func New(g *Grant) (*Client, error) {
	if !g.checked {
		return nil, errors.New("http grant of plugin " + g.Plugin + " was not checked")
	}
	c := &Client{g: g, creds: map[string][]byte{}}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var certPEM []byte
	for _, f := range g.files() {
		data, err := grant.ReadFile(f.setting, g.grantee(), f.path, g.protected, f.secret())
		if err != nil {
			return nil, err
		}
		switch f.kind {
		case caFile:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(data) {
				return nil, fmt.Errorf("%s %s: holds no PEM certificate", f.setting, f.path)
			}
			tc.RootCAs = pool
		case clientCert:
			certPEM = data
		case clientKey:
			pair, err := tls.X509KeyPair(certPEM, data)
			if err != nil {
				// The parser's message is not repeated: it could quote the key.
				return nil, fmt.Errorf("%s %s and %s %s are not a PEM certificate and its private key", g.setting("client_cert"), g.ClientCert, g.setting("client_key"), g.ClientKey)
			}
			tc.Certificates = []tls.Certificate{pair}
		default:
			c.creds[f.name] = data
		}
	}
	c.rev = newRevealer(c.creds)
	c.init(tc)
	return c, nil
}
