package origin

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"https://Etcd.Example:2379/", "https://etcd.example:2379", ""},
		{"HTTP://localhost", "http://localhost:80", ""},
		{"https://[::1]", "https://[::1]:443", ""},
		{"https://[::ffff:127.0.0.1]:1", "https://127.0.0.1:1", ""},
		{"https://u:pw@a:1", "", "holds a user name or password; they do not belong in an origin"},
		{"https://a:1/x", "", "has a path, query or fragment; an origin is only scheme://host:port"},
		{"https://a:1?", "", "has a path, query or fragment; an origin is only scheme://host:port"},
		{"https://a:1#f", "", "has a path, query or fragment; an origin is only scheme://host:port"},
		{"a:1", "", "is not scheme://host:port"},
		{"ftp://a:1", "", "must start with https:// or http://"},
		{"https://a:", "", "has an empty port"},
		{"https://a:65536", "", "has a port that is not from 1 to 65535"},
		{"https://a:080", "", "has a port that is not from 1 to 65535"},
		{"https://[fe80::1%25eth0]:1", "", "has an IPv6 zone"},
		{"https://12345:1", "", "has a host that is not an ASCII host name (write an international name in its xn-- form)"},
		{"https://-a:1", "", "has a host that is not an ASCII host name (write an international name in its xn-- form)"},
	} {
		got, err := Parse(tt.in)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("Parse(%q) = %q, %v; want %q, %s", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestLoopback(t *testing.T) {
	for o, want := range map[string]bool{
		"http://localhost:80": true, "http://a.localhost:1": true, "http://127.0.0.2:1": true, "http://[::1]:1": true,
		"http://10.0.0.1:1": false, "http://localhost.example:1": false, "http://[::2]:1": false,
	} {
		if Loopback(o) != want {
			t.Errorf("Loopback(%s) = %v", o, !want)
		}
	}
	if !Plain("http://a:1") || Plain("https://a:1") {
		t.Error("Plain")
	}
}

// A canonical origin parses to itself, and no error repeats what it was given.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"https://a:1", "http://[::1]:2379/", "https://U:SECRET@a:1", "https://a:1/SECRET", "SECRET", "https://A.b.:443"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := Parse(s)
		if err != nil {
			if len(s) > 3 && strings.Contains(err.Error(), s) {
				t.Fatalf("error repeats the input: %v", err)
			}
			return
		}
		if again, err := Parse(o); err != nil || again != o {
			t.Fatalf("Parse(%q) = %q, but Parse(%q) = %q, %v", s, o, o, again, err)
		}
	})
}
