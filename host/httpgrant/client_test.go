package httpgrant

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/internal/httpfixture"
)

func start(t *testing.T, mode string) *httpfixture.Server {
	t.Helper()
	s, err := httpfixture.Start(mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// origin is a fixture's canonical origin.
func originOf(t *testing.T, s *httpfixture.Server) string {
	t.Helper()
	o, err := Origin(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// client parses a grant of toml for plugin p, checks it and builds its
// client.
func client(t *testing.T, text string) *Client {
	t.Helper()
	g, err := Parse("p", decode(t, text))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func origins(list ...string) string {
	q := make([]string, len(list))
	for i, o := range list {
		q[i] = strconv.Quote(o)
	}
	return "origins = [" + strings.Join(q, ", ") + "]\n"
}

func get(u string) *abi.HTTPRequest { return &abi.HTTPRequest{Method: "GET", URL: u} }

// want checks a refusal: its status and exact message.
func want(t *testing.T, what string, resp *abi.HTTPResponse, d *Denial, st abi.Status, wantSt abi.Status, wantMsg string) {
	t.Helper()
	if st != wantSt || resp != nil || d == nil || d.Msg != wantMsg {
		msg := "<no denial>"
		if d != nil {
			msg = d.Msg
		}
		t.Errorf("%s: %v %q, want %v %q", what, st, msg, wantSt, wantMsg)
	}
}

func TestDo(t *testing.T) {
	okS, echoS := start(t, "ok"), start(t, "echo")
	c := client(t, origins(okS.URL, echoS.URL))
	resp, d, st := c.Do(context.Background(), get(okS.URL+"/v3/kv?x=1#frag"))
	if st != abi.OK || d != nil || resp.Status != 200 || string(resp.Body) != "ok" || resp.URL != okS.URL+"/v3/kv?x=1" || resp.TimeLeftMS != ^uint32(0) {
		t.Fatalf("GET ok = %+v, %v, %v", resp, d, st)
	}
	req := &abi.HTTPRequest{Method: "PUT", URL: echoS.URL + "/k", Body: []byte("\x00body"),
		Headers: []abi.HTTPHeader{{Name: "Authorization", Value: []byte("Bearer t\tk\xff")}, {Name: "x-a", Value: []byte("1")}, {Name: "X-A", Value: []byte("2")}}}
	resp, _, st = c.Do(context.Background(), req)
	var e httpfixture.Echoed
	if st != abi.OK || json.Unmarshal(resp.Body, &e) != nil {
		t.Fatalf("PUT echo = %v %+v", st, resp)
	}
	if e.Method != "PUT" || e.Path != "/k" || e.Body != "\x00body" || e.Headers["Authorization"][0] != "Bearer t\tk\ufffd" ||
		strings.Join(e.Headers["X-A"], ",") != "1,2" || e.Headers["User-Agent"][0] != "flyte-plugin/p" || e.Headers["Accept-Encoding"] != nil {
		t.Errorf("the server saw %+v", e)
	}
	if string(resp.Header("content-type")) != "application/json" {
		t.Errorf("response headers %+v", resp.Headers)
	}
}

func TestRefusals(t *testing.T) {
	okS := start(t, "ok")
	o := originOf(t, okS)
	c := client(t, origins(okS.URL))
	bad := func(what string, r *abi.HTTPRequest, st abi.Status, msg string) {
		t.Helper()
		resp, d, got := c.Do(context.Background(), r)
		want(t, what, resp, d, got, st, msg)
	}
	bad("another port", get("http://127.0.0.1:1/"), abi.CapabilityDenied, "http://127.0.0.1:1 is not granted to it (grant it in [plugins.p.grant.http] origins)")
	bad("https for http", get(strings.Replace(okS.URL, "http:", "https:", 1)), abi.CapabilityDenied, strings.Replace(o, "http:", "https:", 1)+" is not granted to it (grant it in [plugins.p.grant.http] origins)")
	bad("userinfo", get("http://u:hunter2@"+strings.TrimPrefix(okS.URL, "http://")), abi.InvalidArgument, "sent an http request whose URL holds a user name or password")
	bad("not a URL", get("hunter2"), abi.InvalidArgument, "sent an http request whose URL is not valid")
	bad("a scheme", get("file:///etc/passwd"), abi.InvalidArgument, "sent an http request whose URL is not valid")
	bad("long URL", get(okS.URL+"/"+strings.Repeat("a", MaxURL)), abi.InvalidArgument, "sent an http request whose URL is longer than 8192 bytes")
	bad("method", &abi.HTTPRequest{Method: "CONNECT", URL: okS.URL}, abi.InvalidArgument, "sent an http request whose method is not GET, HEAD, POST, PUT, PATCH, DELETE")
	bad("lower-case method", &abi.HTTPRequest{Method: "get", URL: okS.URL}, abi.InvalidArgument, "sent an http request whose method is not GET, HEAD, POST, PUT, PATCH, DELETE")
	for name, msg := range map[string]string{
		"Host": "is Host, which the host sets", "content-length": "is Content-Length, which the host sets",
		"Transfer-Encoding": "is Transfer-Encoding, which the host sets", "Proxy-Authorization": "is Proxy-Authorization, which the host sets",
		"TE": "is Te, which the host sets", "X A": "has a name that is not an HTTP token", "": "has a name that is not an HTTP token",
	} {
		bad("header "+name, &abi.HTTPRequest{Method: "GET", URL: okS.URL, Headers: []abi.HTTPHeader{{Name: "A", Value: []byte("1")}, {Name: name}}},
			abi.InvalidArgument, "sent an http request whose header #2 "+msg)
	}
	for _, v := range []string{"a\r\nX-Injected: 1", "a\nb", "a\x00", "\x01", "\x7f"} {
		bad("header value", &abi.HTTPRequest{Method: "GET", URL: okS.URL, Headers: []abi.HTTPHeader{{Name: "A", Value: []byte(v)}}},
			abi.InvalidArgument, "sent an http request whose header #1 has a value that holds a control character (CR, LF, NUL, ...)")
	}
	many := &abi.HTTPRequest{Method: "GET", URL: okS.URL, Headers: make([]abi.HTTPHeader, MaxHeaders+1)}
	for i := range many.Headers {
		many.Headers[i] = abi.HTTPHeader{Name: "X-" + strconv.Itoa(i)}
	}
	bad("65 headers", many, abi.InvalidArgument, "sent an http request with more than 64 headers")
	if n := okS.Hits(); n != 0 {
		t.Errorf("the server got %d refused requests", n)
	}
}

// A plain http origin that does not lead to loopback is refused at dial,
// before a connection: here a grant made by hand, as Parse refuses it.
func TestPlainHTTPLoopbackAtDial(t *testing.T) {
	g := &Grant{Plugin: "p", Origins: []string{"http://192.0.2.1:80"}, MaxResponse: 10, RequestTimeout: time.Minute}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	c, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	resp, d, st := c.Do(context.Background(), get("http://192.0.2.1/"))
	want(t, "plain http to 192.0.2.1", resp, d, st, abi.CapabilityDenied,
		"http://192.0.2.1:80 does not lead to a loopback address, and plain http reaches only loopback (unless insecure_http is granted)")
}

func TestRedirects(t *testing.T) {
	okS, other := start(t, "ok"), start(t, "ok")
	toOK := start(t, "redirect:"+okS.URL+"/there")
	toOther := start(t, "redirect:"+other.URL)
	loop := start(t, "redirect:/again")
	all := origins(okS.URL, toOK.URL, toOther.URL, loop.URL)

	// Not granted: the guest sees the 3xx, and its target is not asked.
	c := client(t, all)
	resp, d, st := c.Do(context.Background(), get(toOK.URL))
	if st != abi.OK || d != nil || resp.Status != 302 || string(resp.Header("Location")) != okS.URL+"/there" || okS.Hits() != 0 {
		t.Errorf("a redirect without redirects = true: %+v %v %v, target hits %d", resp, d, st, okS.Hits())
	}

	c = client(t, all+"redirects = true\n")
	resp, d, st = c.Do(context.Background(), get(toOK.URL))
	if st != abi.OK || d != nil || resp.Status != 200 || resp.URL != okS.URL+"/there" {
		t.Errorf("a granted redirect to a granted origin: %+v %v %v", resp, d, st)
	}
	resp, d, st = c.Do(context.Background(), get(toOther.URL))
	want(t, "a redirect to an origin not granted", resp, d, st, abi.CapabilityDenied,
		"redirect from "+originOf(t, toOther)+" to "+originOf(t, other)+", which is not granted")
	if other.Hits() != 0 {
		t.Error("the origin not granted was asked")
	}
	resp, d, st = c.Do(context.Background(), get(loop.URL))
	want(t, "a redirect loop", resp, d, st, abi.CapabilityDenied, originOf(t, loop)+" redirected more than 5 times")
	if n := loop.Hits(); n != MaxRedirects+1 {
		t.Errorf("the loop was asked %d times, want %d", n, MaxRedirects+1)
	}
}

func TestResponseCap(t *testing.T) {
	exact, over := start(t, "big:1000"), start(t, "big:1001")
	c := client(t, origins(exact.URL, over.URL)+"max_response = 1000\n")
	if resp, d, st := c.Do(context.Background(), get(exact.URL)); st != abi.OK || len(resp.Body) != 1000 {
		t.Errorf("a response of max_response bytes: %v %v", d, st)
	}
	resp, d, st := c.Do(context.Background(), get(over.URL))
	want(t, "one byte over", resp, d, st, abi.TooLarge, originOf(t, over)+" answered more than 1000 bytes (raise max_response in [plugins.p.grant.http])")
	resp, d, st = c.Do(context.Background(), &abi.HTTPRequest{Method: "GET", URL: exact.URL, MaxResponse: 10})
	want(t, "over the request's own cap", resp, d, st, abi.TooLarge, originOf(t, exact)+" answered more than 10 bytes (the request's max_response)")
	if resp, _, st := c.Do(context.Background(), &abi.HTTPRequest{Method: "GET", URL: exact.URL, MaxResponse: 1 << 30}); st != abi.OK || len(resp.Body) != 1000 {
		t.Errorf("a request cap above the grant's: %v", st)
	}

	// Headers are capped too.
	heads := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := range 100 {
			w.Header().Set("X-"+strconv.Itoa(i), strings.Repeat("h", 1000))
		}
	}))
	defer heads.Close()
	c = client(t, origins(heads.URL))
	resp, d, st = c.Do(context.Background(), get(heads.URL))
	want(t, "headers over 64 KiB", resp, d, st, abi.TooLarge, originOf(t, &httpfixture.Server{URL: heads.URL})+" answered with more than 65536 bytes of headers")

	// A body of max_response's most and many small headers would not fit
	// in the guest's message.
	full := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for range 10000 {
			w.Header().Add("X", "v") // 6 bytes a line, 8 encoded
		}
		w.Write(make([]byte, MaxMaxResponse))
	}))
	defer full.Close()
	c = client(t, origins(full.URL)+"max_response = "+strconv.Itoa(MaxMaxResponse)+"\n")
	resp, d, st = c.Do(context.Background(), get(full.URL))
	want(t, "a response over a message", resp, d, st, abi.TooLarge, originOf(t, &httpfixture.Server{URL: full.URL})+" answered more than a plugin's message may hold")
}

// A call's totals: at most 64 requests, and MaxCallBytes of responses.
func TestCallLimits(t *testing.T) {
	okS := start(t, "ok")
	c := client(t, origins(okS.URL))
	k := c.Begin()
	for i := range MaxCallRequests {
		if _, d, st := k.Do(context.Background(), get(okS.URL)); st != abi.OK {
			t.Fatalf("request %d: %v %v", i+1, st, d)
		}
	}
	resp, d, st := k.Do(context.Background(), get(okS.URL))
	want(t, "request 65", resp, d, st, abi.TooLarge, "made more than 64 http requests in one call")
	if msg, _, ok := k.Failure(); !ok || msg != "made more than 64 http requests in one call" {
		t.Errorf("Failure = %q, %v", msg, ok)
	}
	if _, _, st := k.Do(context.Background(), get(okS.URL)); st != abi.TooLarge {
		t.Errorf("request 66: %v", st)
	}
	if _, _, st := c.Begin().Do(context.Background(), get(okS.URL)); st != abi.OK {
		t.Errorf("the next call was refused: %v", st)
	}

	big := start(t, "big:"+strconv.Itoa(MaxMaxResponse))
	c = client(t, origins(big.URL)+"max_response = "+strconv.Itoa(MaxMaxResponse)+"\n")
	k = c.Begin()
	for range MaxCallBytes / MaxMaxResponse {
		if _, d, st := k.Do(context.Background(), get(big.URL)); st != abi.OK {
			t.Fatalf("%v %v", st, d)
		}
	}
	resp, d, st = k.Do(context.Background(), get(big.URL))
	want(t, "over the call's bytes", resp, d, st, abi.TooLarge, "read more than 16777216 bytes over http in one call")
}

// The deadline rule: a server that does not answer costs the request's
// budget, never the whole call, and the next endpoint is still asked and
// answers before the call's deadline.
func TestSlowServerFailover(t *testing.T) {
	slow, okS := start(t, "slow"), start(t, "ok")
	for _, tt := range []struct {
		name, grant string
		call        time.Duration
	}{
		{"request_timeout", "request_timeout = \"1s\"\n", time.Minute},
		// A request_timeout longer than the call: the margin rule alone
		// leaves the call its last second.
		{"margin", "request_timeout = \"5m\"\n", 4 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := client(t, origins(slow.URL, okS.URL)+tt.grant)
			ctx, cancel := context.WithTimeout(context.Background(), tt.call)
			defer cancel()
			k := c.Begin()
			resp, d, st := k.Do(ctx, get(slow.URL))
			if st != abi.Unavailable || resp != nil || d == nil || !strings.HasPrefix(d.Msg, originOf(t, slow)+" did not answer within ") {
				t.Fatalf("slow: %v %+v", st, d)
			}
			if ctx.Err() != nil {
				t.Fatal("the slow request used up the whole call")
			}
			if _, _, ok := k.Failure(); !ok {
				t.Error("no Failure after a denial")
			}
			resp, d, st = k.Do(ctx, get(okS.URL))
			if st != abi.OK || string(resp.Body) != "ok" || resp.TimeLeftMS == 0 {
				t.Fatalf("the next endpoint: %v %v", st, d)
			}
			if msg, _, ok := k.Failure(); ok {
				t.Errorf("Failure after an answer: %q", msg)
			}
			if ctx.Err() != nil {
				t.Error("the answer came after the call's deadline")
			}
		})
	}
	// No time left: refused at once, without asking.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := client(t, origins(okS.URL))
	before := okS.Hits()
	resp, d, st := c.Do(ctx, get(okS.URL))
	want(t, "a call past its deadline", resp, d, st, abi.Unavailable, "no time was left in its call for a request to "+originOf(t, okS))
	if okS.Hits() != before {
		t.Error("the server was asked")
	}
}

func TestTLS(t *testing.T) {
	untrusted, trusted := start(t, "tls-untrusted"), start(t, "tls-ca")
	c := client(t, origins(untrusted.URL))
	resp, d, st := c.Do(context.Background(), get(untrusted.URL))
	want(t, "an untrusted certificate", resp, d, st, abi.Unavailable, originOf(t, untrusted)+": its certificate is not trusted (hint: ca_file)")

	c = client(t, origins(trusted.URL)+"ca_file = "+strconv.Quote(trusted.CAFile)+"\n")
	if resp, d, st := c.Do(context.Background(), get(trusted.URL)); st != abi.OK || string(resp.Body) != "ok" {
		t.Errorf("with ca_file: %v %v", st, d)
	}
	// The CA file is the only root: another server's certificate is not
	// trusted through it.
	c = client(t, origins(untrusted.URL)+"ca_file = "+strconv.Quote(trusted.CAFile)+"\n")
	if _, _, st := c.Do(context.Background(), get(untrusted.URL)); st != abi.Unavailable {
		t.Errorf("ca_file trusted another certificate: %v", st)
	}
}

// A client certificate from the grant: a server that requires one is
// answered only with it, and a certificate and key that do not match fail
// in one line that quotes neither.
func TestClientCert(t *testing.T) {
	s := start(t, "tls-client")
	base := origins(s.URL) + "ca_file = " + strconv.Quote(s.CAFile) + "\n"
	c := client(t, base)
	resp, d, st := c.Do(context.Background(), get(s.URL))
	want(t, "without a client certificate", resp, d, st, abi.Unavailable, originOf(t, s)+" refused the TLS handshake (does it want client_cert?)")
	c = client(t, base+"client_cert = "+strconv.Quote(s.ClientCert)+"\nclient_key = "+strconv.Quote(s.ClientKey)+"\n")
	if resp, d, st := c.Do(context.Background(), get(s.URL)); st != abi.OK || string(resp.Body) != "ok" {
		t.Errorf("with the client certificate: %v %v", st, d)
	}
	g, err := Parse("p", decode(t, base+"client_cert = "+strconv.Quote(s.CAFile)+"\nclient_key = "+strconv.Quote(s.ClientKey)+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	_, err = New(g)
	if want := "plugins.p.grant.http.client_cert " + s.CAFile + " and plugins.p.grant.http.client_key " + s.ClientKey + " are not a PEM certificate and its private key"; err == nil || err.Error() != want {
		t.Errorf("a mismatched pair: %v", err)
	}
}

// No proxy unless granted: the environment's proxy is not used, a granted
// one is.
func TestProxy(t *testing.T) {
	proxy := start(t, "ok")
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("HTTP_PROXY", proxy.URL)
	const far = "https://flyte-test.invalid:443"
	c := client(t, origins(far))
	if _, _, st := c.Do(context.Background(), get(far)); st != abi.Unavailable || proxy.Hits() != 0 {
		t.Errorf("without a proxy grant: %v, proxy hits %d", st, proxy.Hits())
	}
	c = client(t, origins(far)+"proxy = "+strconv.Quote(proxy.URL)+"\n")
	c.Do(context.Background(), get(far))
	if proxy.Hits() != 1 {
		t.Errorf("a granted proxy was asked %d times", proxy.Hits())
	}
}

func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("fixture-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth := start(t, "auth")
	c := client(t, origins(auth.URL)+"credentials = { password = "+strconv.Quote(pw)+" }\n")
	v, st := c.Credential("password")
	if st != abi.OK || string(v) != "fixture-password\n" {
		t.Fatalf("Credential = %q, %v", v, st)
	}
	v[0] = 'X' // a copy
	if _, st := c.Credential("token"); st != abi.NotFound {
		t.Errorf("a credential not granted: %v", st)
	}
	body, _ := json.Marshal(map[string]string{"name": "flyte", "password": strings.TrimSpace(string(mustCred(t, c)))})
	resp, d, st := c.Do(context.Background(), &abi.HTTPRequest{Method: "POST", URL: auth.URL + "/v3/auth/authenticate", Body: body})
	if st != abi.OK || resp.Status != 200 || !strings.Contains(string(resp.Body), "fixture-token") {
		t.Errorf("authenticate: %v %v %+v", st, d, resp)
	}
	if !c.Reveals([]byte("error: fixture-password is wrong")) || c.Reveals([]byte("error: fixture-passwor")) {
		t.Error("Reveals")
	}
	// A guest that puts the credential where a denial would name it gets
	// the message withheld.
	resp, d, st = c.Do(context.Background(), get("https://fixture-password.example/"))
	want(t, "a denial holding the credential", resp, d, st, abi.CapabilityDenied, Withheld)

	// The credential file is checked as it is read.
	g, err := Parse("p", decode(t, origins(auth.URL)+"credentials = { password = "+strconv.Quote(pw)+" }\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(g); err == nil || err.Error() != "http grant of plugin p was not checked" {
		t.Errorf("New before Check: %v", err)
	}
	if err := os.Chmod(pw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err == nil || err.Error() != "plugins.p.grant.http.credentials.password "+pw+": others may read it (mode 0644)" {
		t.Errorf("a 0644 credential: %v", err)
	}
}

func mustCred(t *testing.T, c *Client) []byte {
	v, st := c.Credential("password")
	if st != abi.OK {
		t.Fatal(st)
	}
	return v
}

// FuzzRequest sends whatever a guest could put in a request to a granted
// server: the client never panics, and a denial is one line that repeats
// no header value and nothing of the URL but its origin.
func FuzzRequest(f *testing.F) {
	echoS, err := httpfixture.Start("echo")
	if err != nil {
		f.Fatal(err)
	}
	defer echoS.Close()
	g, err := Parse("p", map[string]any{"origins": []any{echoS.URL}, "max_response": int64(4096), "request_timeout": "2s"})
	if err != nil {
		f.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		f.Fatal(err)
	}
	c, err := New(g)
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	for _, s := range [][4]string{
		{"GET", echoS.URL + "/a?b=c", "X-A", "v"},
		{"POST", echoS.URL, "Authorization", "Bearer SECRETVALUE"},
		{"GET", echoS.URL + "/SECRETVALUE", "Host", "SECRETVALUE"},
		{"GET", "http://SECRETVALUE@127.0.0.1/", "X", "SECRETVALUE\r\nX: 1"},
		{"PUT", "https://secretvalue.example/SECRETVALUE", "X-SECRETVALUE", "x"},
		{"GET", echoS.URL + "/#SECRETVALUE", "Proxy-SECRETVALUE", "x"},
		{"DELETE", "http://[::1]:0/SECRETVALUE", "", ""},
		{"GET", "\x00SECRETVALUE", "X", "\x7f"},
	} {
		f.Add(s[0], s[1], s[2], []byte(s[3]))
	}
	f.Fuzz(func(t *testing.T, method, u, name string, value []byte) {
		r := &abi.HTTPRequest{Method: method, URL: u, Headers: []abi.HTTPHeader{{Name: name, Value: value}}}
		resp, d, st := c.Do(context.Background(), r)
		if st == abi.OK {
			if d != nil || resp == nil {
				t.Fatalf("OK with %v, %v", d, resp)
			}
			return
		}
		if d == nil || resp != nil {
			t.Fatalf("%v without a denial", st)
		}
		if strings.ContainsAny(d.Msg, "\r\n\x00") {
			t.Fatalf("denial is not one line: %q", d.Msg)
		}
		if strings.Contains(d.Msg, "SECRETVALUE") {
			t.Fatalf("denial repeats the request: %q", d.Msg)
		}
	})
}
