//go:build !flytenohttp

package httpgrant_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/httpgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/httpfixture"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// The http capability end to end: testdata/plugins/httpprobe, a real wasm
// store, loaded as flyte loads a configured plugin, against real servers.

var (
	probeOnce sync.Once
	probeWasm []byte
	probeErr  error
)

func buildProbe(t *testing.T) []byte {
	t.Helper()
	probeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flyte-httpprobe")
		if err != nil {
			probeErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "httpprobe.wasm")
		if probeErr = wasmtest.BuildGo("../../testdata/plugins/httpprobe", out); probeErr != nil {
			return
		}
		probeWasm, probeErr = os.ReadFile(out)
	})
	if probeErr != nil {
		t.Fatalf("building httpprobe: %v", probeErr)
	}
	return probeWasm
}

func fixture(t *testing.T, mode string) *httpfixture.Server {
	t.Helper()
	s, err := httpfixture.Start(mode)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// loadProbe loads httpprobe over the store directory dir, with the http
// grant of grantTOML and the plugin config cfg.
func loadProbe(t *testing.T, dir, grantTOML string, cfg map[string]string) *plugin.Plugin {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{CacheDir: filepath.Join(os.TempDir(), "flyte-test-cache-httpprobe")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	var table map[string]any
	if _, err := toml.Decode(grantTOML, &table); err != nil {
		t.Fatal(err)
	}
	c, ok := capability.ByName("http")
	if !ok {
		t.Fatal("no http capability")
	}
	g, err := c.Parse("httpprobe", table)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	var pc abi.PluginConfig
	for _, k := range []string{"url", "url2", "credential", "leak"} {
		if v, ok := cfg[k]; ok {
			pc.Entries = append(pc.Entries, abi.KeyValue{Key: k, Value: v})
		}
	}
	p, err := h.Load(context.Background(), plugin.Spec{
		Name: "httpprobe", Source: "test", Wasm: buildProbe(t), Kind: abi.KindStore,
		Grants: map[string]capability.Grant{"fs": capability.FSGrant(dir), "http": g},
		Config: abi.Marshal(&pc), MemoryPages: 512, Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

var scope = abi.Scope{Org: "acme"}

func create(p *plugin.Plugin) error {
	_, err := p.Call(context.Background(), abi.OpCreate, abi.Marshal(&abi.WriteRequest{
		Record: abi.Record{Scope: scope, Key: "DB_PASSWORD", Kind: abi.SecretString, Sealed: []byte("sealed")}}))
	return err
}

func get(p *plugin.Plugin) error {
	out, err := p.Call(context.Background(), abi.OpGet, abi.Marshal(&abi.KeyRequest{Scope: scope, Key: "DB_PASSWORD"}))
	if err != nil {
		return err
	}
	var r abi.Record
	if err := abi.Unmarshal(out, &r); err != nil || string(r.Sealed) != "sealed" {
		return errors.New("not the record stored")
	}
	return nil
}

func origins(servers ...*httpfixture.Server) string {
	var q []string
	for _, s := range servers {
		q = append(q, `"`+s.URL+`"`)
	}
	return "origins = [" + strings.Join(q, ", ") + "]\n"
}

func wantErr(t *testing.T, what string, err error, want string) {
	t.Helper()
	if err == nil || err.Error() != want {
		t.Errorf("%s: %v\nwant %s", what, err, want)
	}
}

func origin(t *testing.T, s *httpfixture.Server) string {
	o, err := httpgrant.Origin(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// A slow first endpoint costs its request budget only: the probe asks the
// second and the call answers before its deadline. With the slow one
// alone, the probe answers UNAVAILABLE with the host's reason as its own
// text, which the user sees (an unanswered request does not override the
// guest's words; a refusal would).
func TestProbeFailover(t *testing.T) {
	dir := t.TempDir()
	slow, ok := fixture(t, "slow"), fixture(t, "ok")
	p := loadProbe(t, dir, origins(slow, ok), map[string]string{"url": ok.URL})
	if err := create(p); err != nil {
		t.Fatal(err)
	}
	p = loadProbe(t, dir, origins(slow, ok), map[string]string{"url": slow.URL, "url2": ok.URL})
	if err := get(p); err != nil {
		t.Errorf("GET with a slow first endpoint: %v", err)
	}
	if slow.Hits() != 1 || ok.Hits() != 2 {
		t.Errorf("hits: slow %d, ok %d", slow.Hits(), ok.Hits())
	}
	p = loadProbe(t, dir, origins(slow, ok), map[string]string{"url": slow.URL})
	wantErr(t, "GET with a slow endpoint alone", get(p), origin(t, slow)+" did not answer within 2s")
	// The plugin is still there, and so is the record.
	p = loadProbe(t, dir, origins(ok), map[string]string{"url": ok.URL})
	if err := get(p); err != nil {
		t.Errorf("after: %v", err)
	}
}

func TestProbeRefusals(t *testing.T) {
	dir := t.TempDir()
	ok, other, big := fixture(t, "ok"), fixture(t, "ok"), fixture(t, "big:2000")
	untrusted := fixture(t, "tls-untrusted")
	redirect := fixture(t, "redirect:"+other.URL)
	for _, tt := range []struct {
		name, grant, url, want string
	}{
		{"origin not granted", origins(ok), other.URL, origin(t, other) + " is not granted to it (grant it in [plugins.httpprobe.grant.http] origins)"},
		{"redirect to an origin not granted", origins(redirect) + "redirects = true\n", redirect.URL, "redirect from " + origin(t, redirect) + " to " + origin(t, other) + ", which is not granted"},
		{"over the cap", origins(big) + "max_response = 1000\n", big.URL, origin(t, big) + " answered more than 1000 bytes (raise max_response in [plugins.httpprobe.grant.http])"},
		{"untrusted certificate", origins(untrusted), untrusted.URL, origin(t, untrusted) + ": its certificate is not trusted (hint: ca_file)"},
	} {
		p := loadProbe(t, dir, tt.grant, map[string]string{"url": tt.url})
		want := "plugin httpprobe: " + tt.want
		if tt.name == "untrusted certificate" {
			// UNAVAILABLE (another endpoint might be trusted): the
			// probe's own text, which is the host's reason.
			want = tt.want
		}
		wantErr(t, tt.name, create(p), want)
	}
	if other.Hits() != 0 {
		t.Error("the origin not granted was asked")
	}
	// A redirect not granted: the guest sees the 302, which it takes for
	// a backend that is not there.
	p := loadProbe(t, dir, origins(redirect), map[string]string{"url": redirect.URL})
	if err := create(p); abi.StatusOf(err) != abi.Unavailable || other.Hits() != 0 {
		t.Errorf("a redirect not granted: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the store changed: %v", entries)
	}
}

func TestProbeCredential(t *testing.T) {
	dir := t.TempDir()
	secrets := t.TempDir()
	auth := fixture(t, "auth:correct horse \"battery\"")
	write := func(name, v string) string {
		p := filepath.Join(secrets, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("good", "correct horse \"battery\"\n"), write("bad", "wrong\n")
	cred := func(p string) string { return origins(auth) + `credentials = { password = "` + p + `" }` + "\n" }

	p := loadProbe(t, dir, cred(bad), map[string]string{"url": auth.URL})
	if err := create(p); abi.StatusOf(err) != abi.PermissionDenied {
		t.Errorf("a wrong password: %v", err)
	}
	p = loadProbe(t, dir, cred(good), map[string]string{"url": auth.URL})
	if err := create(p); err != nil {
		t.Errorf("the right password: %v", err)
	}
	// A guest that quotes the credential in its error, or makes the host
	// name it in a denial, gets the message withheld.
	// So does one that shows it upper-cased, in a Basic authorization
	// header, URL-escaped or JSON-escaped.
	plain := write("plain", "hunter2-leak\n")
	odd := write("odd", "hunter2 \"l/e&a+k\"\n")
	for _, leak := range []string{"error", "url", "upper", "basic", "urlesc", "json"} {
		for _, c := range []string{plain, odd} {
			if leak == "url" && c == odd {
				continue // not a host name
			}
			p = loadProbe(t, dir, cred(c), map[string]string{"url": auth.URL, "leak": leak})
			err := create(p)
			if err == nil || strings.TrimPrefix(err.Error(), "plugin httpprobe: ") != "(message withheld: it held a credential)" {
				t.Errorf("leak %s of %s: %v", leak, filepath.Base(c), err)
			}
		}
	}
}
