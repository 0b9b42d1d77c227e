//go:build !flytenohttp

package capability_test

import (
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

const (
	outAt    = 4096  // where result_read writes
	statusAt = 60000 // the capability call's status, then the result's length
)

// probe is a hand-made store whose every call calls module.fn(arg) once and
// then, by how:
//   - "answer": answers OK with the status (4 bytes) and the result;
//   - "fail": returns the status, with the result as its output;
//   - "quote": fails INVALID_ARGUMENT with the result as its error message.
func probe(module, fn string, arg []byte, how string) []byte {
	d := wasmtest.Describe()
	m := wasmtest.GuestDescribing(d)
	m.Data = append(d, arg...)
	m.Import(module, fn, []byte{wasmtest.I32, wasmtest.I32}, []byte{wasmtest.I32})
	m.Import(abi.HostModule, "result_read", []byte{wasmtest.I32, wasmtest.I32}, []byte{wasmtest.I32})
	c := wasmtest.I32Const
	var b []byte
	add := func(parts ...[]byte) {
		for _, p := range parts {
			b = append(b, p...)
		}
	}
	store, load, store8, drop := []byte{0x36, 0x02, 0x00}, []byte{0x28, 0x02, 0x00}, []byte{0x3a, 0x00, 0x00}, []byte{0x1a}
	add(c(statusAt), c(int32(len(d))), c(int32(len(arg))), wasmtest.Call(1), store)
	add(c(statusAt+4), c(outAt), c(50000), wasmtest.Call(2), store)
	switch how {
	case "answer":
		add(c(statusAt), c(4), wasmtest.Call(0), drop)
		add(c(outAt), c(statusAt+4), load, wasmtest.Call(0), drop, wasmtest.ReturnOK)
	case "fail":
		add(c(outAt), c(statusAt+4), load, wasmtest.Call(0), drop, c(statusAt), load)
	case "quote": // ErrorMessage{1: result}, for a result under 128 bytes
		add(c(outAt-2), c(0x0a), store8, c(outAt-1), c(statusAt+4), load, store8)
		add(c(outAt-2), c(statusAt+4), load, c(2), []byte{0x6a}, wasmtest.Call(0), drop, c(int32(abi.InvalidArgument)))
	}
	m.Func(abi.HandleExport).Body = b
	return m.Encode()
}

func httpGrant(t *testing.T, table map[string]any) map[string]capability.Grant {
	t.Helper()
	c, ok := capability.ByName("http")
	if !ok {
		t.Fatal("no http capability")
	}
	g, err := c.Parse("x", table)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	return map[string]capability.Grant{"http": g}
}

func load(t *testing.T, opts plugin.Options, s plugin.Spec) (*plugin.Plugin, error) {
	t.Helper()
	h, err := plugin.NewHost(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	s.Name = "x"
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Second
	}
	p, err := h.Load(context.Background(), s)
	if p != nil {
		t.Cleanup(func() { p.Close(context.Background()) })
	}
	return p, err
}

// answer calls the probe and splits its answer.
func answer(t *testing.T, p *plugin.Plugin) (abi.Status, []byte) {
	t.Helper()
	out, err := p.Call(context.Background(), abi.OpGet, nil)
	if err != nil || len(out) < 4 {
		t.Fatalf("call: %q %v", out, err)
	}
	return abi.Status(binary.LittleEndian.Uint32(out)), out[4:]
}

func TestHTTPRequest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello " + r.URL.Path))
	}))
	defer srv.Close()
	grants := httpGrant(t, map[string]any{"origins": []any{srv.URL}})
	req := func(url string) []byte { return abi.Marshal(&abi.HTTPRequest{Method: "GET", URL: url}) }

	p, err := load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "request", req(srv.URL+"/k"), "answer"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	st, res := answer(t, p)
	var r abi.HTTPResponse
	if st != abi.OK || abi.Unmarshal(res, &r) != nil || r.Status != 200 || string(r.Body) != "hello /k" {
		t.Fatalf("request: %v %+v", st, r)
	}

	// An origin not granted: the guest gets CAPABILITY_DENIED and why.
	p, err = load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "request", req("http://127.0.0.1:1/"), "answer"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	st, res = answer(t, p)
	var m abi.ErrorMessage
	if st != abi.CapabilityDenied || abi.Unmarshal(res, &m) != nil || !strings.HasPrefix(m.Message, "http://127.0.0.1:1 is not granted") {
		t.Fatalf("ungranted: %v %q", st, m.Message)
	}
	// ... and when the call fails, the user gets the host's reason, not
	// whatever the guest made of it.
	p, err = load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "request", req("http://127.0.0.1:1/"), "fail"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Call(context.Background(), abi.OpGet, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "plugin x: http://127.0.0.1:1 is not granted") {
		t.Fatalf("failure: %v", err)
	}
	// Without a grant, the request is not even loaded.
	_, err = load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "request", req(srv.URL), "answer")})
	if err == nil || err.Error() != `plugin x: needs capability "http" (it imports flyte_http_v1.request), which is not granted to it` {
		t.Fatalf("ungranted capability: %v", err)
	}
	var ce *plugin.CapabilityError
	if !errors.As(err, &ce) || strings.Join(ce.Hints(), "|") != `grant it in your own flyte.toml:|  [plugins.x.grant.http]|  origins = ["https://HOST:PORT"]` {
		t.Fatalf("hints: %v", err)
	}
}

// A host without http (Options.Without, or a build with flytenohttp)
// names the minor version that brought it.
func TestHostWithoutHTTP(t *testing.T) {
	wasm := probe(abi.HTTPModule, "request", nil, "answer")
	for _, s := range []plugin.Spec{{Wasm: wasm}, {Wasm: wasm, DescribeOnly: true}} {
		_, err := load(t, plugin.Options{Without: []string{"http"}}, s)
		if err == nil || err.Error() != `plugin x: needs capability "http" (ABI 1.2), which this flyte does not have` {
			t.Fatalf("got %v", err)
		}
	}
}

func TestHTTPCredential(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("s3cret-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	grants := httpGrant(t, map[string]any{"origins": []any{"https://etcd.example:2379"}, "credentials": map[string]any{"password": pw}})
	p, err := load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "credential", []byte("password"), "answer"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	if st, res := answer(t, p); st != abi.OK || string(res) != "s3cret-value\n" {
		t.Fatalf("credential: %v %q", st, res)
	}
	p, err = load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "credential", []byte("nope"), "answer"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := answer(t, p); st != abi.NotFound {
		t.Fatalf("unknown credential: %v", st)
	}
	// A guest that quotes the credential in its error gets it withheld.
	p, err = load(t, plugin.Options{}, plugin.Spec{Wasm: probe(abi.HTTPModule, "credential", []byte("password"), "quote"), Grants: grants})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Call(context.Background(), abi.OpGet, nil)
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.InvalidArgument || se.Message != "(message withheld: it held a credential)" || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("quoted credential: %v", err)
	}
}
