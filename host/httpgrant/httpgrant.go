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
	"context"
	"errors"
	"time"

	"github.com/flytesecrets/flyte/abi"
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

	protected []grant.Protected
	checked   bool
}

// Denial is why the host refused or gave up on a request: one line for the
// user, naming the origin at most, never a value.
type Denial struct{ Msg string }

// Client sends the requests of one plugin within its grant.
type Client struct {
	g *Grant
}

// Call is one guest call's use of the client: it counts the requests and
// response bytes of that call and remembers the last denial.
type Call struct {
	c *Client
}

var errUnfinished = errors.New("http capability: not implemented yet")

// Parse reads a [plugins.NAME.grant.http] table.
func Parse(plugin string, t map[string]any) (*Grant, error) { return nil, errUnfinished }

// Check refuses a grant whose files reach what flyte protects.
func (g *Grant) Check(p []grant.Protected) error { return errUnfinished }

// New builds the client of a checked grant, reading its files once.
func New(g *Grant) (*Client, error) { return nil, errUnfinished }

// Begin starts the counting of one guest call.
func (c *Client) Begin() *Call { return &Call{c: c} }

// Do sends r as a call of its own.
func (c *Client) Do(ctx context.Context, r *abi.HTTPRequest) (*abi.HTTPResponse, *Denial, abi.Status) {
	return c.Begin().Do(ctx, r)
}

// Credential returns the granted credential called name.
func (c *Client) Credential(name string) ([]byte, abi.Status) { return nil, abi.Unimplemented }

// Do sends r within the call's limits.
func (k *Call) Do(ctx context.Context, r *abi.HTTPRequest) (*abi.HTTPResponse, *Denial, abi.Status) {
	return nil, &Denial{Msg: errUnfinished.Error()}, abi.Unimplemented
}

// Credential returns the granted credential called name.
func (k *Call) Credential(name string) ([]byte, abi.Status) { return k.c.Credential(name) }

// Failure returns the last denial of the call.
func (k *Call) Failure() (string, bool) { return "", false }

// Reveals reports whether b holds one of the granted credentials, so that a
// guest's error message quoting one can be withheld.
func (c *Client) Reveals(b []byte) bool { return false }
