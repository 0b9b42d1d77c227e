package httpgrant

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/grant"
)

// The grant of the etcd store: its endpoints, files and request timeout
// from [store], the largest responses, no redirects, no proxy, plain http
// to loopback only; messages name the settings of [store].
func TestStore(t *testing.T) {
	s := StoreSettings{Endpoints: []string{"https://etcd.example:2379", "http://127.0.0.1:23791"},
		CAFile: "/ca.pem", ClientCert: "/c.pem", ClientKey: "/c.key", PasswordFile: "/pw", RequestTimeout: 3 * time.Second}
	g, err := Store("etcd", s)
	if err != nil {
		t.Fatal(err)
	}
	want := &Grant{Plugin: "etcd", Origins: s.Endpoints, CAFile: "/ca.pem", ClientCert: "/c.pem", ClientKey: "/c.key",
		MaxResponse: MaxMaxResponse, RequestTimeout: 3 * time.Second, Credentials: map[string]string{"password": "/pw"}, settings: storeSettings}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Store =\n%#v\nwant\n%#v", g, want)
	}
	var names []string
	for _, f := range g.files() {
		names = append(names, f.setting)
	}
	if got := strings.Join(names, " "); got != "store.ca_file store.client_cert store.client_key store.password_file" {
		t.Errorf("settings: %s", got)
	}
	if g.Redirects || g.InsecureHTTP || g.Proxy != "" {
		t.Errorf("redirects, insecure http or a proxy: %#v", g)
	}
	if g, err := Store("etcd", StoreSettings{Endpoints: []string{"http://localhost:2379"}, RequestTimeout: time.Second}); err != nil || g.Credentials != nil || g.CAFile != "" {
		t.Errorf("no files: %#v, %v", g, err)
	}

	ep := []string{"https://a.example:2379"}
	for _, tt := range []struct {
		s    StoreSettings
		want string
	}{
		{StoreSettings{RequestTimeout: time.Second}, `setting "store.endpoints" must list from 1 to 64 endpoints`},
		{StoreSettings{Endpoints: []string{"https://A.example:2379"}, RequestTimeout: time.Second}, `endpoint #1 of "store.endpoints" is not a canonical origin`},
		{StoreSettings{Endpoints: []string{"https://u:SECRETVALUE@a:1"}, RequestTimeout: time.Second}, `endpoint #1 of "store.endpoints" is not a canonical origin`},
		{StoreSettings{Endpoints: []string{"http://10.0.0.1:2379"}, RequestTimeout: time.Second}, `endpoint #1 of "store.endpoints" is plain http to a host that is not loopback`},
		{StoreSettings{Endpoints: []string{ep[0], ep[0]}, RequestTimeout: time.Second}, `setting "store.endpoints" lists an endpoint twice`},
		{StoreSettings{Endpoints: ep}, `setting "store.request_timeout" must be at least 1ms`},
		{StoreSettings{Endpoints: ep, RequestTimeout: time.Second, ClientCert: "/c"}, `settings "store.client_cert" and "store.client_key" go together: set both or neither`},
		{StoreSettings{Endpoints: ep, RequestTimeout: time.Second, PasswordFile: "pw"}, `setting "store.password_file" must be an absolute path or start with ~/`},
	} {
		if _, err := Store("etcd", tt.s); err == nil || err.Error() != tt.want {
			t.Errorf("%+v: %v, want %s", tt.s, err, tt.want)
		}
	}
}

// A store grant's files are checked as every granted file is, against what
// flyte protects after resolving symlinks, and the messages name [store]'s
// settings.
func TestStoreCheck(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "etcd-password")
	if err := os.WriteFile(pw, []byte("SECRETVALUE\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Store("etcd", StoreSettings{Endpoints: []string{"http://127.0.0.1:2379"}, PasswordFile: pw, RequestTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = g.Check(nil)
	var h interface{ Hint() string }
	if err == nil || err.Error() != "store.password_file "+pw+": others may read it (mode 0644)" || !errors.As(err, &h) || h.Hint() != "chmod 600 "+pw {
		t.Errorf("a password file others may read: %v", err)
	}
	if err := os.Chmod(pw, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(nil); err != nil {
		t.Fatal(err)
	}
	// A link to a file inside what flyte protects is refused.
	conf := filepath.Join(dir, "conf")
	if err := os.Mkdir(conf, 0o700); err != nil {
		t.Fatal(err)
	}
	id := filepath.Join(conf, "identity.txt")
	if err := os.WriteFile(id, []byte("AGE-SECRET-KEY-1SECRETVALUE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "innocent")
	if err := os.Symlink(id, link); err != nil {
		t.Fatal(err)
	}
	g, _ = Store("etcd", StoreSettings{Endpoints: []string{"http://127.0.0.1:2379"}, PasswordFile: link, RequestTimeout: time.Second})
	err = g.Check([]grant.Protected{{What: "flyte's configuration directory", Path: conf}})
	if want := "store.password_file " + link + " would give plugin etcd flyte's configuration directory (" + conf + "); choose a file outside it"; err == nil || err.Error() != want {
		t.Errorf("a link into a protected directory: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "SECRETVALUE") {
		t.Error("the message shows the file")
	}
}

// The client of a store grant: the endpoints and nothing else, the
// password as the credential "password", TLS with the CA file and the
// client certificate; a refusal sends the user to store.endpoints.
func TestStoreClient(t *testing.T) {
	okS, tlsS, auth, big := start(t, "ok"), start(t, "tls-client"), start(t, "auth"), start(t, "big:8323073")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte(auth.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	g, err := Store("etcd", StoreSettings{Endpoints: []string{originOf(t, tlsS), originOf(t, auth), originOf(t, big)},
		CAFile: tlsS.CAFile, ClientCert: tlsS.ClientCert, ClientKey: tlsS.ClientKey, PasswordFile: pw, RequestTimeout: time.Second})
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
	defer c.Close()
	if resp, d, st := c.Do(context.Background(), get(tlsS.URL)); st != abi.OK || string(resp.Body) != "ok" {
		t.Errorf("the TLS endpoint: %v %v", st, d)
	}
	if v, st := c.Credential("password"); st != abi.OK || string(v) != auth.Password {
		t.Errorf("credential password: %v", st)
	}
	req := &abi.HTTPRequest{Method: "POST", URL: auth.URL + "/v3/auth/authenticate", Body: []byte(`{"name":"flyte","password":"` + auth.Password + `"}`)}
	if resp, d, st := c.Do(context.Background(), req); st != abi.OK || resp.Status != 200 {
		t.Errorf("authenticate: %v %v %+v", st, d, resp)
	}
	resp, d, st := c.Do(context.Background(), get(big.URL))
	want(t, "over the largest response", resp, d, st, abi.TooLarge, originOf(t, big)+" answered more than 8323072 bytes (the most flyte reads of one response)")
	resp, d, st = c.Do(context.Background(), get(okS.URL))
	want(t, "another origin", resp, d, st, abi.CapabilityDenied, originOf(t, okS)+" is not granted to it (grant it in store.endpoints)")
}
