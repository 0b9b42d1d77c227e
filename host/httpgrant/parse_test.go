package httpgrant

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// decode parses TOML text as the configuration decoder gives a grant table.
func decode(t testing.TB, text string) map[string]any {
	t.Helper()
	var m map[string]any
	if _, err := toml.Decode(text, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParse(t *testing.T) {
	g, err := Parse("etcd", decode(t, `
origins = ["https://Etcd.Example:2379", "http://localhost", "https://[::1]:8443/", "https://etcd.example:2379"]
redirects = true
ca_file = "/etc/etcd/ca.pem"
client_cert = "/etc/etcd/c.pem"
client_key = "/etc/etcd/c.key"
proxy = "http://proxy.example:3128"
max_response = 4096
request_timeout = "750ms"
credentials = { password = "/home/u/.config/etcd/pw" }
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Grant{Plugin: "etcd", Origins: []string{"https://etcd.example:2379", "http://localhost:80", "https://[::1]:8443"},
		Redirects: true, CAFile: "/etc/etcd/ca.pem", ClientCert: "/etc/etcd/c.pem", ClientKey: "/etc/etcd/c.key",
		Proxy: "http://proxy.example:3128", MaxResponse: 4096, RequestTimeout: 750 * time.Millisecond,
		Credentials: map[string]string{"password": "/home/u/.config/etcd/pw"}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("Parse =\n%#v\nwant\n%#v", g, want)
	}
	g, err = Parse("p", decode(t, `origins = ["http://10.0.0.1:80"]`+"\ninsecure_http = true\n"))
	if err != nil || g.MaxResponse != DefaultMaxResponse || g.RequestTimeout != DefaultRequestTimeout || !g.InsecureHTTP {
		t.Errorf("defaults: %#v, %v", g, err)
	}
	// A table a command builds (flyte plugin install --grant) holds Go types.
	g, err = Parse("p", map[string]any{"origins": []string{"https://a:1"}, "credentials": map[string]string{"pw": "/pw"}})
	if err != nil || g.Origins[0] != "https://a:1" || g.Credentials["pw"] != "/pw" {
		t.Errorf("Go types: %#v, %v", g, err)
	}
	t.Setenv("HOME", "/home/v")
	g, err = Parse("p", decode(t, `origins = ["https://a:1"]`+"\ncredentials = { token = \"~/tok\" }\n"))
	if err != nil || g.Credentials["token"] != "/home/v/tok" {
		t.Errorf("~/: %#v, %v", g, err)
	}
}

func TestParseErrors(t *testing.T) {
	const o = `origins = ["https://a.example:443"]` + "\n"
	const k = `"plugins.p.grant.http.`
	for _, tt := range []struct{ toml, want, hint string }{
		{``, `setting ` + k + `origins" is missing`, `list what the plugin may reach: origins = ["https://HOST:PORT"]`},
		{`origins = "https://a:1"`, `setting ` + k + `origins" must be a list of strings, not a string`, ""},
		{`origins = []`, `setting ` + k + `origins" must list from 1 to 64 origins`, ""},
		{`origins = [1]`, `origin #1 of ` + k + `origins" must be a string, not an integer`, ""},
		{`origins = ["https://user:hunter2@a:1"]`, `origin #1 of ` + k + `origins" holds a user name or password; they do not belong in an origin`, ""},
		{`origins = ["https://a:1/v3/kv"]`, `origin #1 of ` + k + `origins" has a path, query or fragment; an origin is only scheme://host:port`, ""},
		{`origins = ["https://a:1?token=hunter2"]`, `origin #1 of ` + k + `origins" has a path, query or fragment; an origin is only scheme://host:port`, ""},
		{`origins = ["ftp://a:1"]`, `origin #1 of ` + k + `origins" must start with https:// or http://`, ""},
		{`origins = ["hunter2"]`, `origin #1 of ` + k + `origins" is not scheme://host:port`, ""},
		{`origins = ["https://a:0"]`, `origin #1 of ` + k + `origins" has a port that is not from 1 to 65535`, ""},
		{`origins = ["https://a:"]`, `origin #1 of ` + k + `origins" has an empty port`, ""},
		{`origins = ["https://bücher.example:443"]`, `origin #1 of ` + k + `origins" has a host that is not an ASCII host name (write an international name in its xn-- form)`, ""},
		{`origins = ["https://1234:443"]`, `origin #1 of ` + k + `origins" has a host that is not an ASCII host name (write an international name in its xn-- form)`, ""},
		{`origins = ["http://etcd.example:2379"]`, `origin #1 of ` + k + `origins" is plain http to a host that is not loopback`,
			"use https, or set insecure_http = true in [plugins.p.grant.http] if the network is trusted"},
		{o + `orgins = ["x"]`, `unknown setting ` + k + `orgins"`, "did you mean plugins.p.grant.http.origins?"},
		{o + `"hunter2 is my password" = 1`, `plugins.p.grant.http has a setting flyte does not know`, "its settings are " + strings.Join(keys, ", ")},
		{o + `redirects = "yes"`, `setting ` + k + `redirects" must be true or false, not a string`, ""},
		{o + `ca_file = 1`, `setting ` + k + `ca_file" must be a string, not an integer`, ""},
		{o + `ca_file = ""`, `setting ` + k + `ca_file" is empty`, ""},
		{o + `ca_file = "ca.pem"`, `setting ` + k + `ca_file" must be an absolute path or start with ~/`, ""},
		{o + `ca_file = "/a\nb"`, `setting ` + k + `ca_file" holds a control character; it must be a file's path`, ""},
		{o + `client_cert = "/c.pem"`, `settings ` + k + `client_cert" and ` + k + `client_key" go together: set both or neither`, ""},
		{o + `proxy = "http://u:hunter2@p:1"`, `setting ` + k + `proxy" must be "", "env" or a proxy's http://HOST:PORT`, "a proxy password does not belong in flyte.toml"},
		{o + `proxy = "socks5://p:1"`, `setting ` + k + `proxy" must be "", "env" or a proxy's http://HOST:PORT`, "a proxy password does not belong in flyte.toml"},
		{o + `max_response = 0`, `setting ` + k + `max_response" must be from 1 to 8323072 (bytes)`, ""},
		{o + `max_response = 8388608`, `setting ` + k + `max_response" must be from 1 to 8323072 (bytes)`, ""},
		{o + `max_response = "1MiB"`, `setting ` + k + `max_response" must be an integer, not a string`, ""},
		{o + `request_timeout = "2"`, `setting ` + k + `request_timeout" is not a duration (write it like "2s" or "500ms")`, ""},
		{o + `request_timeout = "1h"`, `setting ` + k + `request_timeout" must be at least 1ms and at most 5m0s`, ""},
		{o + `credentials = "hunter2"`, `setting ` + k + `credentials" must be a table of names and file paths, not a string`, ""},
		{o + `credentials = { password = 12345 }`, `setting ` + k + `credentials.password" must be a file's path, not an integer (a credential is never written in flyte.toml)`, ""},
		{o + `credentials = { "pass word" = "/pw" }`, `setting ` + k + `credentials": a credential's name must be 1 to 64 letters, digits, '_', '-' or '.'`, ""},
		{o + `credentials = { password = "hunter2" }`, `setting ` + k + `credentials.password" must be an absolute path or start with ~/`, ""},
	} {
		_, err := Parse("p", decode(t, tt.toml))
		if err == nil {
			t.Errorf("%s: no error", tt.toml)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.toml, err, tt.want)
		}
		if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: the message repeats a value or is not one line: %q", tt.toml, err)
		}
		var h interface{ Hint() string }
		hint := ""
		if errors.As(err, &h) {
			hint = h.Hint()
		}
		if hint != tt.hint {
			t.Errorf("%s: hint %q, want %q", tt.toml, hint, tt.hint)
		}
	}
}

func TestOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"https://A.example":           "https://a.example:443",
		"HTTPS://a.example:8443/":     "https://a.example:8443",
		"http://127.0.0.1":            "http://127.0.0.1:80",
		"http://[::ffff:127.0.0.1]:1": "http://127.0.0.1:1",
		"https://[0:0::1]:2":          "https://[::1]:2",
	} {
		if got, err := Origin(in); err != nil || got != want {
			t.Errorf("Origin(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"https://[fe80::1%25eth0]:1", "https://a:65536", "https://a:01", "//a:1", "https:a", "https://a..b:1", "https://-a:1"} {
		if got, err := Origin(in); err == nil {
			t.Errorf("Origin(%q) = %q", in, got)
		}
	}
}

// FuzzParseGrant: any table either parses into canonical origins and
// absolute paths, or fails with one line that does not repeat a string
// value of the table.
func FuzzParseGrant(f *testing.F) {
	for _, s := range []string{
		`origins = ["https://a:1"]`,
		`origins = ["https://a:1", "http://localhost"]` + "\nredirects = true\nmax_response = 10\nrequest_timeout = \"1s\"",
		`origins = ["http://x:1"]` + "\ninsecure_http = true\nproxy = \"env\"",
		`origins = ["https://a:1"]` + "\ncredentials = { p = \"/pw\", q = \"~/q\" }\nca_file = \"/ca\"",
		`origins = ["https://u:SECRETVALUE@a:1"]`,
		`origins = ["https://a:1"]` + "\nproxy = \"http://SECRETVALUE:SECRETVALUE@p:1\"",
		`origins = ["https://a:1"]` + "\nSECRETVALUE = 1",
		`origins = ["https://[::1]:1/"]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var m map[string]any
		if _, err := toml.Decode(text, &m); err != nil {
			return
		}
		g, err := Parse("p", m)
		if err != nil {
			msg := err.Error()
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("two lines: %q", msg)
			}
			if strings.Contains(msg, "SECRETVALUE") {
				t.Fatalf("repeats a value: %q", msg)
			}
			return
		}
		for _, o := range g.Origins {
			if c, err := Origin(o); err != nil || c != o {
				t.Fatalf("origin %q is not canonical (%q, %v)", o, c, err)
			}
		}
		for _, p := range append([]string{g.CAFile, g.ClientCert, g.ClientKey}, valuesOf(g.Credentials)...) {
			if p != "" && !strings.HasPrefix(p, "/") {
				t.Fatalf("path %q is not absolute", p)
			}
		}
		if g.MaxResponse < 1 || g.MaxResponse > MaxMaxResponse || g.RequestTimeout <= 0 {
			t.Fatalf("limits out of range: %#v", g)
		}
	})
}

func valuesOf(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
