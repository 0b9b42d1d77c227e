package dockercfg

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// The layout is flyte-sdk's (Python json.dumps), and the result is valid
// docker config JSON.
func TestFromCredentials(t *testing.T) {
	got := string(FromCredentials("ghcr.io", "octocat", []byte("p@ss:word")))
	want := `{"auths": {"ghcr.io": {"auth": "` + b64("octocat:p@ss:word") + `"}}}`
	if got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	var v struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal([]byte(got), &v); err != nil || v.Auths["ghcr.io"].Auth != b64("octocat:p@ss:word") {
		t.Fatalf("%v %+v", err, v)
	}
}

const sample = `{
	"auths": {
		"ghcr.io": {"auth": "` + "b2N0bzpzM2NyZXQ=" + `"},
		"https://index.docker.io/v1/": {"auth": "` + "aHViOmh1YnB3" + `", "email": "x@y"},
		"quay.io": {},
		"gcr.io": {"auth": ""}
	},
	"credHelpers": {"gcr.io": "gcloud"},
	"HttpHeaders": {"User-Agent": "Docker-Client"}
}`

func TestFromConfig(t *testing.T) {
	got, err := FromConfig([]byte(sample), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"auths": {"ghcr.io": {"auth": "b2N0bzpzM2NyZXQ="}, "https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"}}}`
	if string(got) != want {
		t.Fatalf("all: got %s\nwant %s", got, want)
	}
	got, err = FromConfig([]byte(sample), []string{"ghcr.io", "ghcr.io"})
	if err != nil || string(got) != `{"auths": {"ghcr.io": {"auth": "b2N0bzpzM2NyZXQ="}}}` {
		t.Fatalf("named: %s %v", got, err)
	}
	var me *MissingError
	if _, err := FromConfig([]byte(sample), []string{"ghcr.io", "gcr.io"}); !errors.As(err, &me) || !me.Helper || me.Registry != "gcr.io" {
		t.Fatalf("helper: %v", err)
	}
	if _, err := FromConfig([]byte(sample), []string{"quay.io"}); !errors.As(err, &me) || me.Helper {
		t.Fatalf("missing: %v", err)
	}
	for _, tt := range []struct {
		in   string
		want error
	}{
		{`{"credsStore": "desktop", "auths": {"ghcr.io": {}}}`, ErrHelperOnly},
		{`{"credHelpers": {"gcr.io": "gcloud"}}`, ErrHelperOnly},
		{`{}`, ErrNoAuths},
		{`{"auths": null}`, ErrNoAuths},
		{`{"auths": []}`, ErrBadAuths},
		{`{"auths": {"r": "x"}}`, ErrBadAuths},
		{`{"auths": {"r": {"auth": 5}}}`, ErrBadAuths},
		{`{"auths": {"r": {"auth": "bm9jb2xvbg=="}}}`, ErrBadAuth}, // "nocolon"
		{`{"auths": {"r": {"auth": "!!"}}}`, ErrBadAuth},
		{`[]`, ErrNotObject},
		{`{"auths": {"-x": {"auth": "dTpw"}}}`, ErrBadName},
		{`{"auths": {"a\"b": {"auth": "dTpw"}}}`, ErrBadName},
		{`{"auths": {"": {"auth": "dTpw"}}}`, ErrBadName},
		{`"x"`, ErrNotObject},
	} {
		if _, err := FromConfig([]byte(tt.in), nil); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.in, err, tt.want)
		}
	}
	var se *SyntaxError
	if _, err := FromConfig([]byte(`{"auths": {"SECRETNAME": {"auth": x}}}`), nil); !errors.As(err, &se) || se.Offset == 0 {
		t.Errorf("syntax: %v", err)
	}
	if _, err := FromConfig(make([]byte, MaxFile+1), nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
}

// An auth with CR/LF inside decodes (base64 skips them) and is stored
// re-encoded: the JSON built stays valid and holds no line break.
func TestFromConfigReencodes(t *testing.T) {
	in := `{"auths": {"ghcr.io": {"auth": "b2N0\r\nbzpz\nM2NyZXQ="}}}`
	got, err := FromConfig([]byte(in), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"auths": {"ghcr.io": {"auth": "b2N0bzpzM2NyZXQ="}}}`; string(got) != want || !json.Valid(got) {
		t.Fatalf("got %q", got)
	}
	// A named registry skips the name check (the user's own, validated)
	// but is re-encoded too.
	if got, err := FromConfig([]byte(in), []string{"ghcr.io"}); err != nil || !json.Valid(got) || strings.ContainsAny(string(got), "\r\n") {
		t.Fatalf("named: %q %v", got, err)
	}
}

func TestSensitive(t *testing.T) {
	v := FromCredentials("ghcr.io", "octocat", []byte("hunter2-pass"))
	got := Sensitive(v)
	want := []string{b64("octocat:hunter2-pass"), "octocat:hunter2-pass", "hunter2-pass"}
	if len(got) != len(want) {
		t.Fatalf("got %q", got)
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("%d: got %q, want %q", i, got[i], want[i])
		}
	}
	for _, in := range []string{"", "not json", `{"auths": {"r": {"auth": "!!"}}}`, `{"auths": 1}`} {
		if got := Sensitive([]byte(in)); len(got) > 1 {
			t.Errorf("%q: %q", in, got)
		}
	}
}

// A FIFO is refused at once: the open does not wait for a writer.
func TestReadFileFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "config.json")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skip(err)
	}
	if _, err := ReadFile(p); err == nil || err.Error() != "cannot read the docker config: it is a named pipe, not a regular file" {
		t.Fatalf("fifo: %v", err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	if data, err := ReadFile(p); err != nil || string(data) != sample {
		t.Fatalf("%v", err)
	}
	if err := os.WriteFile(p, make([]byte, MaxFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p); !errors.Is(err, ErrTooLarge) {
		t.Errorf("large: %v", err)
	}
	if _, err := ReadFile(dir); err == nil || err.Error() != "cannot read the docker config: it is a directory, not a regular file" {
		t.Errorf("dir: %v", err)
	}
	if _, err := ReadFile(filepath.Join(dir, "nope")); err == nil || strings.Contains(err.Error(), dir) {
		t.Errorf("missing: %v", err)
	}
}

func TestDefaultPath(t *testing.T) {
	env := map[string]string{"HOME": "/home/u"}
	if got := DefaultPath(func(k string) string { return env[k] }); got != "/home/u/.docker/config.json" {
		t.Error(got)
	}
	env["DOCKER_CONFIG"] = "/etc/dk"
	if got := DefaultPath(func(k string) string { return env[k] }); got != "/etc/dk/config.json" {
		t.Error(got)
	}
}

func TestValidate(t *testing.T) {
	for _, r := range []string{"ghcr.io", "localhost:5000", "gcr.io/project", "https://index.docker.io/v1/", "registry-1.docker.io", "a"} {
		if err := ValidateRegistry(r); err != nil {
			t.Errorf("%q: %v", r, err)
		}
	}
	for _, r := range []string{"", "-x", "https://", "a b", "a\nb", "ghcr.io?x", "é.io", "Hunter2Pass!", strings.Repeat("a", 256)} {
		if err := ValidateRegistry(r); err == nil || len(r) > 8 && strings.Contains(err.Error(), r) {
			t.Errorf("%q: %v", r, err)
		}
	}
	for _, u := range []string{"", "a:b", "a\tb", strings.Repeat("u", 256)} {
		if err := ValidateUsername(u); err == nil {
			t.Errorf("username %q accepted", u)
		}
	}
	if err := ValidateUsername("octo-cat@example.com"); err != nil {
		t.Error(err)
	}
	for _, p := range []string{"", "a\nb", "a\r"} {
		if err := ValidatePassword([]byte(p)); err == nil {
			t.Errorf("password %q accepted", p)
		}
	}
}

// fixedError matches every message FromConfig may return for a file alone
// (no registry named): fixed words, and byte offsets.
var fixedError = regexp.MustCompile(`^(` + strings.Join([]string{
	regexp.QuoteMeta(ErrTooLarge.Error()), regexp.QuoteMeta(ErrNotObject.Error()), regexp.QuoteMeta(ErrBadAuths.Error()),
	regexp.QuoteMeta(ErrNoAuths.Error()), regexp.QuoteMeta(ErrBadAuth.Error()), regexp.QuoteMeta(ErrHelperOnly.Error()),
	regexp.QuoteMeta(ErrBadName.Error()),
	`the docker config is not valid JSON \(at byte [0-9]+\)`,
}, "|") + `)$`)

// FuzzFromConfig: a hostile docker config never panics, never yields
// anything but docker config JSON with base64 USER:PASSWORD auths, and its
// errors are fixed sentences that quote nothing from it.
func FuzzFromConfig(f *testing.F) {
	f.Add([]byte(sample), "ghcr.io")
	f.Add([]byte(`{"auths": {"r": {"auth": "dTpw"}}}`), "")
	f.Add([]byte(`{"credsStore": "desktop"}`), "r")
	f.Add([]byte(`{"auths": {"r": {"auth": "dTpw"}}, "auths": 1}`), "")
	f.Add([]byte(`{"auths": {"\u0000\n": {"auth": "dTpw"}}}`), "")
	f.Add([]byte(`{"auths": {"r": {"auth": "dTpw"`), "")
	f.Add([]byte("\xff\xfe{}"), "")
	f.Add([]byte(`{"auths": {"r": {"auth": "dT\r\npw"}}}`), "")
	f.Add([]byte(`{"auths": {"r": {"auth": "dT\r\npw"}}}`), "r")
	f.Add([]byte(`{"auths": {"-r\u2028": {"auth": "dTpw"}}}`), "")
	f.Fuzz(func(t *testing.T, data []byte, registry string) {
		var regs []string
		if registry != "" && ValidateRegistry(registry) == nil {
			regs = []string{registry}
		}
		out, err := FromConfig(data, regs)
		if err != nil {
			var me *MissingError
			if errors.As(err, &me) {
				if me.Registry != registry {
					t.Fatalf("names %q, not the registry asked for", me.Registry)
				}
				return
			}
			if !fixedError.MatchString(err.Error()) {
				t.Fatalf("error quotes something: %q", err)
			}
			return
		}
		var v struct {
			Auths map[string]struct {
				Auth string `json:"auth"`
			} `json:"auths"`
		}
		if err := json.Unmarshal(out, &v); err != nil || len(v.Auths) == 0 {
			t.Fatalf("output %q: %v", out, err)
		}
		for r, e := range v.Auths {
			d, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil || !strings.Contains(string(d), ":") || base64.StdEncoding.EncodeToString(d) != e.Auth {
				t.Fatalf("auth %q", e.Auth)
			}
			if ValidateRegistry(r) != nil {
				t.Fatalf("registry name %q", r)
			}
		}
		if regs != nil && (len(v.Auths) != 1 || v.Auths[registry].Auth == "") {
			t.Fatalf("asked for %q, got %s", registry, out)
		}
	})
}
