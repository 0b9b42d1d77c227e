package httpgrant

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/httpgrant/origin"
)

// Limits of the requests of one plugin.
const (
	// MaxURL bounds a request's URL, in bytes.
	MaxURL = 8 << 10
	// MaxHeaders bounds the header lines of a request.
	MaxHeaders = 64
	// MaxResponseHeaderBytes bounds the headers of a response.
	MaxResponseHeaderBytes = 64 << 10
	// MaxRedirects bounds the redirects followed for one request, when the
	// grant allows them.
	MaxRedirects = 5
	// MaxCallRequests bounds the requests of one plugin call.
	MaxCallRequests = 64
	// MaxCallBytes bounds the response bodies read in one plugin call.
	MaxCallBytes = 16 << 20
	// maxMargin is the most a request's budget keeps back from the call's
	// deadline, for the guest to try elsewhere and answer.
	maxMargin = time.Second
)

// methods a guest may send.
var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"}

// forbidden headers are the host's to set: the transport frames the
// message and chooses the connection.
var forbidden = []string{"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"}

// Denial is why the host refused or gave up on a request: one line for the
// user that names the origin at most, never a value.
type Denial struct{ Msg string }

// Client sends the requests of one plugin within its grant. It is safe for
// concurrent use; each plugin call uses it through a Call of its own.
type Client struct {
	g     *Grant
	creds map[string][]byte
	rev   revealer // recognises creds in a message
	hc    *http.Client
	// plain carries http:// requests when the grant does not allow plain
	// http beyond loopback: it dials loopback addresses only, without a
	// proxy. net carries the rest.
	plain, net *http.Transport
}

// denied is an error the client's own hooks return, carrying the status
// and message the guest and the user get.
type denied struct {
	status abi.Status
	msg    string
}

func (d *denied) Error() string { return d.msg }

func (c *Client) init(tc *tls.Config) {
	loopback := &net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return &denied{abi.CapabilityDenied, "plain http reaches only loopback addresses"}
		}
		return nil
	}}
	transport := func(d *net.Dialer, proxy func(*http.Request) (*url.URL, error)) *http.Transport {
		return &http.Transport{
			Proxy:                  proxy,
			DialContext:            d.DialContext,
			TLSClientConfig:        tc.Clone(),
			DisableCompression:     true,
			MaxResponseHeaderBytes: MaxResponseHeaderBytes,
			MaxIdleConns:           16,
			IdleConnTimeout:        30 * time.Second,
		}
	}
	var proxy func(*http.Request) (*url.URL, error)
	switch c.g.Proxy {
	case "":
	case "env":
		proxy = http.ProxyFromEnvironment
	default:
		u, _ := url.Parse(c.g.Proxy) // canonical: Parse checked it
		proxy = http.ProxyURL(u)
	}
	c.plain = transport(loopback, nil)
	c.net = transport(&net.Dialer{}, proxy)
	c.hc = &http.Client{Transport: router{c}, CheckRedirect: c.checkRedirect}
}

// router sends a request through the transport its scheme calls for, on
// every hop of a redirect too.
type router struct{ c *Client }

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !r.c.g.InsecureHTTP {
		return r.c.plain.RoundTrip(req)
	}
	return r.c.net.RoundTrip(req)
}

func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if !c.g.Redirects {
		return http.ErrUseLastResponse // the guest sees the 3xx
	}
	from, _ := origin.OfURL(via[len(via)-1].URL)
	if len(via) > MaxRedirects {
		return &denied{abi.CapabilityDenied, fmt.Sprintf("%s redirected more than %d times", from, MaxRedirects)}
	}
	if req.URL.User != nil {
		return &denied{abi.CapabilityDenied, fmt.Sprintf("redirect from %s to a URL with a user name or password, which is refused", from)}
	}
	to, err := origin.OfURL(req.URL)
	if err != nil {
		return &denied{abi.CapabilityDenied, fmt.Sprintf("redirect from %s to a URL that is not valid", from)}
	}
	if !slices.Contains(c.g.Origins, to) {
		return &denied{abi.CapabilityDenied, fmt.Sprintf("redirect from %s to %s, which is not granted", from, to)}
	}
	return nil
}

// Close closes the client's idle connections.
func (c *Client) Close() {
	c.plain.CloseIdleConnections()
	c.net.CloseIdleConnections()
}

// Credential returns a copy of the credential the grant calls name, as its
// file holds it (a trailing newline included); NotFound when the grant
// names no such credential.
func (c *Client) Credential(name string) ([]byte, abi.Status) {
	v, ok := c.creds[name]
	if !ok {
		return nil, abi.NotFound
	}
	return bytes.Clone(v), abi.OK
}

// Reveals reports whether b shows one of the granted credentials, in any
// letter case, raw or encoded (see revealer), so that a message that does
// can be withheld.
func (c *Client) Reveals(b []byte) bool { return c.rev.reveals(b) }

// Withheld replaces a message that would show a credential.
const Withheld = "(message withheld: it held a credential)"

// Begin starts one plugin call's use of the client.
func (c *Client) Begin() *Call { return &Call{c: c} }

// Do sends r as a call of its own.
func (c *Client) Do(ctx context.Context, r *abi.HTTPRequest) (*abi.HTTPResponse, *Denial, abi.Status) {
	return c.Begin().Do(ctx, r)
}

// Call is one plugin call's use of a Client: it counts the call's requests
// (at most MaxCallRequests) and response bytes (at most MaxCallBytes) and
// keeps the denial of its last request, the host's reason to show when the
// call fails (a request answered since, the next endpoint, clears it).
// A Call belongs to one guest call, which makes one request at a time.
type Call struct {
	c        *Client
	requests int
	bytes    int64
	last     *Denial
	lastSt   abi.Status
}

// Credential returns the granted credential called name (Client.Credential).
func (k *Call) Credential(name string) ([]byte, abi.Status) { return k.c.Credential(name) }

// Failure returns the denial of the call's last request, if it had one,
// and its status.
func (k *Call) Failure() (string, abi.Status, bool) {
	if k.last == nil {
		return "", abi.OK, false
	}
	return k.last.Msg, k.lastSt, true
}

// Do sends r, within the grant and the call's limits, with the deadline of
// ctx (the plugin call's). On OK the response is the server's, whatever
// its HTTP status; otherwise the Denial says why, and the status is
// CapabilityDenied (not granted), InvalidArgument (malformed request),
// TooLarge (over a limit) or Unavailable (not reached or not answered in
// time: a store may try another endpoint).
//
// A request's time budget is its timeout (the guest's, at most the grant's
// request_timeout) but never more than the time left in the call minus a
// margin of half of it, at most 1s, so that after a server that does not
// answer the guest still has time to ask another and return.
func (k *Call) Do(ctx context.Context, r *abi.HTTPRequest) (*abi.HTTPResponse, *Denial, abi.Status) {
	resp, d, st := k.do(ctx, r)
	if d != nil && k.c.Reveals([]byte(d.Msg)) {
		d.Msg = Withheld
	}
	k.last, k.lastSt = d, st
	return resp, d, st
}

func deny(st abi.Status, format string, args ...any) (*abi.HTTPResponse, *Denial, abi.Status) {
	return nil, &Denial{Msg: fmt.Sprintf(format, args...)}, st
}

func (k *Call) do(ctx context.Context, r *abi.HTTPRequest) (*abi.HTTPResponse, *Denial, abi.Status) {
	g := k.c.g
	k.requests++
	if k.requests > MaxCallRequests {
		return deny(abi.TooLarge, "made more than %d http requests in one call", MaxCallRequests)
	}
	if !slices.Contains(methods, r.Method) {
		return deny(abi.InvalidArgument, "sent an http request whose method is not %s", strings.Join(methods, ", "))
	}
	if len(r.URL) > MaxURL {
		return deny(abi.InvalidArgument, "sent an http request whose URL is longer than %d bytes", MaxURL)
	}
	u, err := url.Parse(r.URL)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return deny(abi.InvalidArgument, "sent an http request whose URL is not valid")
	}
	if u.User != nil {
		return deny(abi.InvalidArgument, "sent an http request whose URL holds a user name or password")
	}
	o, err := origin.OfURL(u)
	if err != nil {
		return deny(abi.InvalidArgument, "sent an http request whose URL %v", err)
	}
	if !slices.Contains(g.Origins, o) {
		return deny(abi.CapabilityDenied, "%s is not granted to it (grant it in %s)", o, g.originsSetting())
	}
	u.Fragment, u.RawFragment = "", ""
	if len(r.Headers) > MaxHeaders {
		return deny(abi.InvalidArgument, "sent an http request with more than %d headers", MaxHeaders)
	}
	for i, h := range r.Headers {
		if err := checkHeader(h); err != nil {
			return deny(abi.InvalidArgument, "sent an http request whose header #%d %v", i+1, err)
		}
	}

	budget := g.RequestTimeout
	if r.TimeoutMS > 0 {
		budget = min(budget, time.Duration(r.TimeoutMS)*time.Millisecond)
	}
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		budget = min(budget, left-min(left/2, maxMargin))
	}
	if budget < time.Millisecond || ctx.Err() != nil {
		return deny(abi.Unavailable, "no time was left in its call for a request to %s", o)
	}
	limit := g.MaxResponse
	if r.MaxResponse > 0 {
		limit = min(limit, int64(r.MaxResponse))
	}
	room := MaxCallBytes - k.bytes
	if room <= 0 {
		return deny(abi.TooLarge, "read more than %d bytes over http in one call", MaxCallBytes)
	}

	rctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	var body io.Reader = http.NoBody
	if len(r.Body) > 0 {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(rctx, r.Method, u.String(), body)
	if err != nil {
		return deny(abi.InvalidArgument, "sent an http request that is not valid")
	}
	for _, h := range r.Headers {
		req.Header.Add(h.Name, string(h.Value))
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "flyte-plugin/"+g.Plugin)
	}
	resp, err := k.c.hc.Do(req)
	if err != nil {
		return k.failed(err, o, budget)
	}
	defer resp.Body.Close()
	n := min(limit, room)
	data, err := io.ReadAll(io.LimitReader(resp.Body, n+1))
	k.bytes += int64(len(data))
	if err != nil {
		return k.failed(err, o, budget)
	}
	if int64(len(data)) > n {
		if n == limit {
			what := "raise max_response in [plugins." + g.Plugin + ".grant.http]"
			switch {
			case limit < g.MaxResponse:
				what = "the request's max_response"
			case g.MaxResponse >= MaxMaxResponse:
				what = "the most flyte reads of one response"
			}
			return deny(abi.TooLarge, "%s answered more than %d bytes (%s)", o, limit, what)
		}
		return deny(abi.TooLarge, "read more than %d bytes over http in one call", MaxCallBytes)
	}
	out := &abi.HTTPResponse{Status: uint32(resp.StatusCode), Body: data, URL: resp.Request.URL.String(), TimeLeftMS: timeLeft(ctx)}
	names := make([]string, 0, len(resp.Header))
	for name := range resp.Header {
		names = append(names, name)
	}
	slices.Sort(names)
	size := len(out.Body) + len(out.URL) + 32 // at least the encoded size
	for _, name := range names {
		for _, v := range resp.Header[name] {
			out.Headers = append(out.Headers, abi.HTTPHeader{Name: name, Value: []byte(v)})
			size += len(name) + len(v) + 16
		}
	}
	// Only a body near MaxMaxResponse with thousands of headers can be
	// over; then the exact size decides.
	if size > abi.MaxMessage && len(abi.Marshal(out)) > abi.MaxMessage {
		return deny(abi.TooLarge, "%s answered more than a plugin's message may hold", o)
	}
	return out, nil, abi.OK
}

// failed turns an error of the transport into a denial that names the
// origin o only: the error's own text may quote the URL, which may hold
// anything the guest put in it.
func (k *Call) failed(err error, o string, budget time.Duration) (*abi.HTTPResponse, *Denial, abi.Status) {
	var d *denied
	var netErr net.Error
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostErr x509.HostnameError
	var verify *tls.CertificateVerificationError
	var dns *net.DNSError
	switch {
	case errors.As(err, &d):
		if d.status == abi.CapabilityDenied && strings.HasPrefix(d.msg, "plain http") {
			return deny(d.status, "%s does not lead to a loopback address, and plain http reaches only loopback (unless insecure_http is granted)", o)
		}
		return deny(d.status, "%s", d.msg)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), errors.As(err, &netErr) && netErr.Timeout():
		return deny(abi.Unavailable, "%s did not answer within %s", o, budget.Round(time.Millisecond))
	case errors.As(err, &unknown), errors.As(err, &invalid), errors.As(err, &hostErr), errors.As(err, &verify):
		return deny(abi.Unavailable, "%s: its certificate is not trusted (hint: ca_file)", o)
	case strings.Contains(err.Error(), "remote error: tls: "): // an alert from the server (its type is unexported)
		return deny(abi.Unavailable, "%s refused the TLS handshake (does it want client_cert?)", o)
	case strings.Contains(err.Error(), "server response headers exceeded"):
		return deny(abi.TooLarge, "%s answered with more than %d bytes of headers", o, MaxResponseHeaderBytes)
	case errors.Is(err, syscall.ECONNREFUSED):
		return deny(abi.Unavailable, "%s refused the connection", o)
	case errors.As(err, &dns) && dns.IsNotFound:
		return deny(abi.Unavailable, "%s: no such host", o)
	}
	return deny(abi.Unavailable, "%s could not be reached", o)
}

// timeLeft is what is left of ctx's deadline in milliseconds: 0 when it
// has passed, the most a uint32 holds when there is none.
func timeLeft(ctx context.Context) uint32 {
	dl, ok := ctx.Deadline()
	if !ok {
		return math.MaxUint32
	}
	ms := time.Until(dl).Milliseconds()
	return uint32(max(0, min(ms, math.MaxUint32)))
}

// checkHeader checks a header a guest sends; the error completes a
// sentence and repeats neither name nor value unless the name is one the
// host keeps.
func checkHeader(h abi.HTTPHeader) error {
	if !token(h.Name) {
		return errors.New("has a name that is not an HTTP token")
	}
	lower := strings.ToLower(h.Name)
	if slices.Contains(forbidden, lower) || strings.HasPrefix(lower, "proxy-") {
		return fmt.Errorf("is %s, which the host sets", http.CanonicalHeaderKey(lower))
	}
	if bytes.ContainsFunc(h.Value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
		return errors.New("has a value that holds a control character (CR, LF, NUL, ...)")
	}
	return nil
}

// token reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func token(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
