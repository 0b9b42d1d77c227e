package httpgrant

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/httpgrant/origin"
	"github.com/flytesecrets/flyte/host/suggest"
)

// Limits of a grant.
const (
	// DefaultMaxResponse is max_response when the grant does not set it:
	// room for a record holding a secret of the largest size (1 MiB),
	// sealed and base64-encoded in a JSON body, as etcd's gateway sends it.
	DefaultMaxResponse = 4 << 20
	// MaxMaxResponse is the largest max_response: a response must fit in
	// the guest's result with room for its headers.
	MaxMaxResponse = 8<<20 - 64<<10
	// DefaultRequestTimeout is request_timeout when the grant does not
	// set it.
	DefaultRequestTimeout = 2 * time.Second
	// MaxOrigins and MaxCredentials bound the lists of one grant.
	MaxOrigins     = 64
	MaxCredentials = 16
)

// keys are the settings of [plugins.NAME.grant.http].
var keys = []string{"ca_file", "client_cert", "client_key", "credentials", "insecure_http",
	"max_response", "origins", "proxy", "redirects", "request_timeout"}

// hintError is a one-line error with a hint line, which the command line
// prints as "flyte: hint: ...".
type hintError struct{ msg, hint string }

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Hint() string  { return e.hint }

// Parse reads the [plugins.NAME.grant.http] table t of plugin, as the TOML
// decoder gave it. Paths must be absolute or start with "~/" (the home
// directory, $HOME). Each error is one line naming the setting (and which
// entry of a list, "origin #2"); it may name a path, never a value that
// failed validation (which could be a secret pasted in the wrong place). Unknown settings are
// refused, with a "did you mean" hint.
func Parse(plugin string, t map[string]any) (*Grant, error) {
	g := &Grant{Plugin: plugin, MaxResponse: DefaultMaxResponse, RequestTimeout: DefaultRequestTimeout}
	p := parser{table: "plugins." + plugin + ".grant.http"}
	for _, k := range slices.Sorted(maps.Keys(t)) {
		if !slices.Contains(keys, k) {
			return nil, p.unknown(k)
		}
	}
	var err error
	if g.Redirects, err = p.boolean(t, "redirects"); err != nil {
		return nil, err
	}
	if g.InsecureHTTP, err = p.boolean(t, "insecure_http"); err != nil {
		return nil, err
	}
	if g.Origins, err = p.origins(t, g.InsecureHTTP); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		to  *string
	}{{"ca_file", &g.CAFile}, {"client_cert", &g.ClientCert}, {"client_key", &g.ClientKey}} {
		if v, ok := t[f.key]; ok {
			if *f.to, err = p.path(f.key, v); err != nil {
				return nil, err
			}
		}
	}
	if (g.ClientCert == "") != (g.ClientKey == "") {
		return nil, fmt.Errorf("settings %q and %q go together: set both or neither", p.key("client_cert"), p.key("client_key"))
	}
	if g.Proxy, err = p.proxy(t); err != nil {
		return nil, err
	}
	if v, ok := t["max_response"]; ok {
		n, isInt := v.(int64)
		if !isInt {
			return nil, p.typeErr("max_response", "an integer", v)
		}
		if n < 1 || n > MaxMaxResponse {
			return nil, fmt.Errorf("setting %q must be from 1 to %d (bytes)", p.key("max_response"), MaxMaxResponse)
		}
		g.MaxResponse = n
	}
	if v, ok := t["request_timeout"]; ok {
		s, isStr := v.(string)
		if !isStr {
			return nil, p.typeErr("request_timeout", "a string", v)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("setting %q is not a duration (write it like \"2s\" or \"500ms\")", p.key("request_timeout"))
		}
		if d < time.Millisecond || d > config.MaxTimeout {
			return nil, fmt.Errorf("setting %q must be at least 1ms and at most %s", p.key("request_timeout"), config.MaxTimeout)
		}
		g.RequestTimeout = d
	}
	if g.Credentials, err = p.credentials(t); err != nil {
		return nil, err
	}
	return g, nil
}

type parser struct{ table string }

func (p parser) key(k string) string { return p.table + "." + k }

// unknown refuses setting k. A key that looks like a setting's name is
// named; anything else is not repeated.
func (p parser) unknown(k string) error {
	msg := p.table + " has a setting flyte does not know"
	if isWord(k) {
		msg = fmt.Sprintf("unknown setting %q", p.key(k))
	}
	if s := suggest.Closest(k, keys); s != "" {
		return &hintError{msg: msg, hint: "did you mean " + p.key(s) + "?"}
	}
	return &hintError{msg: msg, hint: "its settings are " + strings.Join(keys, ", ")}
}

// isWord reports whether s is short and made only of lower-case letters,
// digits, '_' and '-': a mistyped name, safe to repeat.
func isWord(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func (p parser) typeErr(k, want string, v any) error {
	return fmt.Errorf("setting %q must be %s, not %s", p.key(k), want, config.TypeName(v))
}

func (p parser) boolean(t map[string]any, k string) (bool, error) {
	v, ok := t[k]
	if !ok {
		return false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, p.typeErr(k, "true or false", v)
	}
	return b, nil
}

func (p parser) origins(t map[string]any, insecure bool) ([]string, error) {
	v, ok := t["origins"]
	if !ok {
		return nil, &hintError{
			msg:  fmt.Sprintf("setting %q is missing", p.key("origins")),
			hint: `list what the plugin may reach: origins = ["https://HOST:PORT"]`}
	}
	if ss, ok := v.([]string); ok { // a table built by a command, not decoded
		v = anys(ss)
	}
	list, isList := v.([]any)
	if !isList {
		return nil, p.typeErr("origins", "a list of strings", v)
	}
	if len(list) == 0 || len(list) > MaxOrigins {
		return nil, fmt.Errorf("setting %q must list from 1 to %d origins", p.key("origins"), MaxOrigins)
	}
	var out []string
	for i, item := range list {
		s, isStr := item.(string)
		if !isStr {
			return nil, fmt.Errorf("origin #%d of %q must be a string, not %s", i+1, p.key("origins"), config.TypeName(item))
		}
		o, err := Origin(s)
		if err != nil {
			return nil, fmt.Errorf("origin #%d of %q %v", i+1, p.key("origins"), err)
		}
		if origin.Plain(o) && !insecure && !origin.Loopback(o) {
			return nil, &hintError{
				msg:  fmt.Sprintf("origin #%d of %q is plain http to a host that is not loopback", i+1, p.key("origins")),
				hint: "use https, or set insecure_http = true in [" + p.table + "] if the network is trusted"}
		}
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// path reads a file setting: absolute, or "~/..." under $HOME.
func (p parser) path(k string, v any) (string, error) {
	s, isStr := v.(string)
	if !isStr {
		return "", p.typeErr(k, "a string", v)
	}
	return p.pathValue(p.key(k), s)
}

func (p parser) pathValue(setting, s string) (string, error) {
	switch {
	case s == "":
		return "", fmt.Errorf("setting %q is empty", setting)
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", fmt.Errorf("setting %q holds a control character; it must be a file's path", setting)
	case s == "~" || strings.HasPrefix(s, "~/"):
		home := os.Getenv("HOME")
		if !filepath.IsAbs(home) {
			return "", fmt.Errorf("setting %q starts with ~, but HOME is not set to an absolute path", setting)
		}
		return filepath.Join(home, s[1:]), nil
	case !filepath.IsAbs(s):
		return "", fmt.Errorf("setting %q must be an absolute path or start with ~/", setting)
	}
	return filepath.Clean(s), nil
}

func (p parser) proxy(t map[string]any) (string, error) {
	v, ok := t["proxy"]
	if !ok {
		return "", nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", p.typeErr("proxy", "a string", v)
	}
	if s == "" || s == "env" {
		return s, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" || (u.Scheme != "http" && u.Scheme != "https") ||
		u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", &hintError{
			msg:  fmt.Sprintf("setting %q must be \"\", \"env\" or a proxy's http://HOST:PORT", p.key("proxy")),
			hint: "a proxy password does not belong in flyte.toml"}
	}
	o, err := Origin(u.Scheme + "://" + u.Host)
	if err != nil {
		return "", fmt.Errorf("setting %q %v", p.key("proxy"), err)
	}
	return o, nil
}

func (p parser) credentials(t map[string]any) (map[string]string, error) {
	v, ok := t["credentials"]
	if !ok {
		return nil, nil
	}
	if ms, ok := v.(map[string]string); ok { // a table built by a command
		m := make(map[string]any, len(ms))
		for k, s := range ms {
			m[k] = s
		}
		v = m
	}
	m, isTable := v.(map[string]any)
	if !isTable {
		return nil, p.typeErr("credentials", "a table of names and file paths", v)
	}
	if len(m) > MaxCredentials {
		return nil, fmt.Errorf("setting %q names more than %d credentials", p.key("credentials"), MaxCredentials)
	}
	out := make(map[string]string, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		if !validName(name) {
			return nil, fmt.Errorf("setting %q: a credential's name must be 1 to 64 letters, digits, '_', '-' or '.'", p.key("credentials"))
		}
		setting := p.key("credentials." + name)
		s, isStr := m[name].(string)
		if !isStr {
			return nil, fmt.Errorf("setting %q must be a file's path, not %s (a credential is never written in flyte.toml)", setting, config.TypeName(m[name]))
		}
		path, err := p.pathValue(setting, s)
		if err != nil {
			return nil, err
		}
		out[name] = path
	}
	return out, nil
}

// validName reports whether s may name a credential.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// Origin returns the canonical origin of s (origin.Parse): the error does
// not repeat s; it completes a sentence that names it ("origin #2 ...").
func Origin(s string) (string, error) { return origin.Parse(s) }
