package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/suggest"
)

// schema lists the settings flyte knows, to reject typos. Each table maps a key to the table below it,
// or to nil for a value whose contents are not checked here; anyKey is the table under every key (names
// chosen by the user, like plugins). A new section, such as [[environments]], is one more entry here plus
// its decoder below, which leaves existing files valid.
type schema struct {
	keys   map[string]*schema
	anyKey *schema
}

var fileSchema = &schema{keys: map[string]*schema{
	"organization": nil,
	"domains":      nil,
	"project":      nil,
	"domain":       nil,
	"store":        storeSchema(),
	"seal":         {keys: map[string]*schema{"identity": nil}},
	"plugins": {anyKey: &schema{keys: map[string]*schema{
		"path": nil, "sha256": nil, "memory_pages": nil, "timeout": nil,
		"config": nil, // free-form: it belongs to the plugin
		"grant":  grantSchema(),
	}}},
	"inject":       {keys: map[string]*schema{"env": nil, "file": nil}},
	"environments": nil, // an array of tables, checked by its decoder
}}

// grantSchema knows one table per capability of the ABI (abi.Capabilities), even one this flyte was built
// without (the plugin host says so when a plugin needs it); what is inside a table belongs to the
// capability's own parser.
func grantSchema() *schema {
	g := &schema{keys: map[string]*schema{}}
	for _, c := range abi.Capabilities {
		g.keys[c.Name] = nil
	}
	return g
}

// parse decodes the contents of the file at path (absolute) over the defaults, as the user's own file.
func parse(path string, data []byte, getenv func(string) string) (*Config, error) {
	f, err := parseFile(path, data)
	if err != nil {
		return nil, err
	}
	return f.Decode(getenv)
}

// parseFile checks the syntax and the setting names of the contents of the file at path (absolute), and
// lists the settings that need the user's trust. It decodes no value and resolves no path.
//
// The file is decoded into a generic tree and checked against fileSchema by hand rather than decoded into
// structs: toml's struct decoding matches names case-insensitively (so "Store.Path" would pass) and stops
// at the first type mismatch in map order (so messages would change from run to run). Walking the tree in
// a fixed order gives one deterministic message that names the setting.
func parseFile(path string, data []byte) (*File, error) {
	text := stripBOM(string(data))
	var tree map[string]any
	md, err := toml.Decode(text, &tree)
	if err != nil {
		return nil, syntaxError(path, text, err)
	}
	if k := unknownKeys(fileSchema, nil, tree); len(k) > 0 {
		d := &decoder{path: path, text: text}
		if i := slices.IndexFunc(k, inlinePassword); i >= 0 {
			return nil, d.passwordSetting(k[i])
		}
		return nil, d.unknownSetting(k[0])
	}
	return &File{Path: path, Real: path, SHA256: sha256.Sum256(data), Restricted: restricted(md), tree: tree, text: text}, nil
}

// Decode turns the file's settings into a Config over the defaults: it validates every value, and
// resolves paths against the directory of the file's real path (Real, so that a file reached through a
// symbolic link means what it means where it lives), a leading "~" or "~/" against $HOME. Nothing is
// decided here about whether the file may use its settings: callers look at Source and Restricted first.
func (f *File) Decode(getenv func(string) string) (*Config, error) {
	getenv = orEmpty(getenv)
	return f.decodeOver(defaults(getenv), getenv)
}

// DecodeOver is Decode over base, the configuration of the user's own file, instead of the defaults:
// what the file does not set keeps base's value. It is meant for a file that sets no Restricted setting,
// so that such a file can add organization, domains and environments but never undo the user's store,
// identity, plugins or injectors. base is not modified.
func (f *File) DecodeOver(base *Config, getenv func(string) string) (*Config, error) {
	c := *base
	c.Store.Endpoints = slices.Clone(base.Store.Endpoints)
	c.Domains = slices.Clone(base.Domains)
	c.Plugins = maps.Clone(base.Plugins)
	c.Environments = slices.Clone(base.Environments)
	return f.decodeOver(&c, orEmpty(getenv))
}

func (f *File) decodeOver(c *Config, getenv func(string) string) (*Config, error) {
	c.Path, c.Dir = f.Path, filepath.Dir(f.Real)
	d := &decoder{path: f.Path, dir: c.Dir, text: f.text}
	if h := getenv("HOME"); filepath.IsAbs(h) {
		d.home = filepath.Clean(h)
	}
	if err := d.file(f.tree, c); err != nil {
		return nil, err
	}
	if err := c.checkPaths(); err != nil {
		return nil, err
	}
	return c, nil
}

// stripBOM removes a byte order mark the way toml does, but before toml sees the text, so that the byte
// offsets in toml's errors are offsets into text.
func stripBOM(text string) string {
	if strings.HasPrefix(text, "\xff\xfe") || strings.HasPrefix(text, "\xfe\xff") {
		return text[2:]
	}
	return strings.TrimPrefix(text, "\xef\xbb\xbf")
}

// syntaxError formats toml's error as PATH:LINE:COL: reason, the form editors and terminals link to. The
// reason is one of fixed phrases (syntaxReason), never toml's own message, which quotes the file: a file
// given by mistake (a .env) may hold secrets.
func syntaxError(path, text string, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("%s: not valid TOML", path)
	}
	reason := syntaxReason(pe.Message)
	line, col := position(text, pe.Position)
	if line < 1 {
		return fmt.Errorf("%s: %s", path, reason)
	}
	return fmt.Errorf("%s:%d:%d: %s", path, line, col, reason)
}

// fixedSyntax are toml's messages that quote nothing from the input; they are shown as they are.
var fixedSyntax = []string{
	"unexpected EOF",
	"unexpected EOF; expected value",
	"unexpected EOF; expected key separator '='",
	`unexpected EOF; expected '"'`,
	`unexpected EOF; expected '"""'`,
	`unexpected EOF; expected "'"`,
	`unexpected EOF; expected "'''"`,
	"unexpected '='",
	"unexpected '=': key name appears blank",
	"unexpected '.'",
	"unexpected '.': keys cannot start with a '.'",
	"unexpected comma",
	"unexpected end of table name (table names cannot be empty)",
	"unexpected table separator (table names cannot be empty)",
	"floats must start with a digit, not '.'",
	"files cannot contain NULL bytes; probably using UTF-16; TOML files must be UTF-8",
	"strings cannot contain newlines",
	"newlines not allowed within inline tables",
}

// syntaxReasons map the start of toml's other messages, which quote the input, to fixed phrases.
var syntaxReasons = []struct{ prefix, reason string }{
	{"expected value but found", "expected a value"},
	{"expected '.' or '=',", "expected '.' or '=' after a key"},
	{"expected '.' or ']' to end table name", "expected '.' or ']' to end the table name"},
	{"expected end of table array name delimiter", "expected ']]' to end the table array name"},
	{"expected a comma (',') or array terminator", "expected ',' or ']' in an array"},
	{"expected a comma or an inline table terminator", "expected ',' or '}' in an inline table"},
	{"expected a top-level item to end", "expected a newline, a comment or the end of the file after the value"},
	{"expected a digit", "expected a digit"},
	{"expected eight hexadecimal digits", "invalid escape sequence"},
	{"expected four hexadecimal digits", "invalid escape sequence"},
	{"expected two hexadecimal digits", "invalid escape sequence"},
	{"invalid escape", "invalid escape sequence"},
	{"Escaped character", "invalid escape sequence"},
	{"Invalid integer", "invalid integer"},
	{"Invalid float", "invalid float"},
	{"invalid float", "invalid float"},
	{"cannot use sign with non-decimal numbers", "invalid number"},
	{"not a binary number", "invalid number"},
	{"not a hexadecimal number", "invalid number"},
	{"not an octal number", "invalid number"},
	{"Key '", "a key is defined twice, or used both as a value and as a table"},
	{"TOML files cannot contain control characters", "control characters are not allowed here"},
	{"invalid UTF-8 byte", "not valid UTF-8"},
	{"invalid datetime", "invalid date or time"},
	{"invalid duration", "invalid duration"},
}

// syntaxReason turns toml's message into a phrase that quotes nothing from the file; a message it does
// not know becomes "not valid TOML".
func syntaxReason(msg string) string {
	if slices.Contains(fixedSyntax, msg) {
		return msg
	}
	for _, r := range syntaxReasons {
		if strings.HasPrefix(msg, r.prefix) {
			return r.reason
		}
	}
	switch {
	case strings.HasSuffix(msg, " is not a table"):
		return "a key is used both as a value and as a table"
	case strings.Contains(msg, " is out of range for "):
		return "number out of range"
	}
	return "not valid TOML"
}

// unknownSetting reports key, which flyte does not know, as PATH:LINE:COL: unknown setting, with a hint
// naming the setting of flyte's own that it is closest to, if any. The key itself is never repeated: it
// failed validation, and it may be anything a file holds.
func (d *decoder) unknownSetting(key toml.Key) error {
	msg := d.at(keyLoc(key), false) + ": unknown setting"
	if s := didYouMean(fileSchema, key); s != "" {
		return &hintError{msg: msg, hint: "did you mean " + s + "?"}
	}
	return errors.New(msg)
}

// didYouMean returns the setting of flyte's own closest to key: the same key with its last part replaced
// by a name the schema knows at that place; "" when none is close. Parts that the file chose (plugin
// names) are written NAME, so nothing from the file is repeated.
func didYouMean(s *schema, key toml.Key) string {
	var known []string
	for _, part := range key[:len(key)-1] {
		if sub, ok := s.keys[part]; ok {
			known, s = append(known, part), sub
		} else if s.anyKey != nil {
			known, s = append(known, "NAME"), s.anyKey
		} else {
			return ""
		}
		if s == nil {
			return ""
		}
	}
	return closest(known, key[len(key)-1], slices.Sorted(maps.Keys(s.keys)))
}

// closest returns prefix and the name of names nearest to word, dotted; "" when none is close.
func closest(prefix []string, word string, names []string) string {
	best := suggest.Closest(word, names)
	if best == "" {
		return ""
	}
	return strings.Join(append(prefix, best), ".")
}

// position returns the line and column (in characters) of an error. Both are derived from the byte offset:
// toml counts columns in bytes, which is off after any non-ASCII character, and its line can be one past
// the offset when the error is the newline that ends a line. It falls back to toml's own figures when
// the offset is outside the text.
func position(text string, pos toml.Position) (line, col int) {
	start := pos.Start
	if start < 0 || start > len(text) {
		return pos.Line, pos.Col
	}
	// An error at the very end of a file that ends with a newline is shown at the end of the last line,
	// not on a line the editor does not have.
	if start == len(text) && strings.HasSuffix(text, "\n") {
		start--
	}
	before := text[:start]
	lineStart := strings.LastIndexByte(before, '\n') + 1
	return strings.Count(before, "\n") + 1, utf8.RuneCountInString(before[lineStart:]) + 1
}

// unknownKeys returns the settings in m that s does not know, sorted. It does not descend into values of
// the wrong type; decoding reports those.
func unknownKeys(s *schema, prefix toml.Key, m map[string]any) []toml.Key {
	var out []toml.Key
	for k, v := range m {
		key := append(prefix[:len(prefix):len(prefix)], k)
		sub, ok := s.keys[k]
		if !ok && s.anyKey != nil {
			sub, ok = s.anyKey, true
		}
		if !ok {
			out = append(out, key)
			continue
		}
		if t, isTable := v.(map[string]any); isTable && sub != nil {
			out = append(out, unknownKeys(sub, key, t)...)
		}
	}
	slices.SortFunc(out, func(a, b toml.Key) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// decoder turns the checked tree into a Config, one setting at a time in a fixed order.
type decoder struct {
	path string // the file, for messages
	dir  string // what relative paths are relative to
	home string // what "~" stands for; "" when $HOME is not an absolute path
	text string // the file's text, to find where an error is

	places map[loc]where // locate(text), on the first error

	// sites, when set, place what a task file declares (DeclaredEnvironment): the longest loc of it
	// that starts p is where p is ("FILE:LINE").
	sites map[loc]string
	// sdk is set for a task file's declarations: as_env_var and mount both given is the variable, as
	// the SDK has it, with a warning (appended to warnings) instead of an error.
	sdk      bool
	warnings []string
}

// at is where p is, for a message: PATH:LINE:COL of p's value (or of its key when value is false), or
// PATH alone when the place is not found.
func (d *decoder) at(p loc, value bool) string {
	if d.sites != nil {
		best, site := -1, d.path
		for l, s := range d.sites {
			if strings.HasPrefix(string(p), string(l)) && len(l) > best {
				best, site = len(l), s
			}
		}
		return site
	}
	if d.places == nil {
		d.places = locate(d.text)
	}
	w, ok := d.places[p]
	if !ok {
		return d.path
	}
	off := w.key
	if value {
		off = w.value
	}
	line, col := position(d.text, toml.Position{Start: off})
	return fmt.Sprintf("%s:%d:%d", d.path, line, col)
}

// valueErrorf is an error about the value at p; keyErrorf about the key or table at p.
func (d *decoder) valueErrorf(p loc, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{d.at(p, true)}, args...)...)
}

func (d *decoder) keyErrorf(p loc, format string, args ...any) error {
	return fmt.Errorf("%s: "+format, append([]any{d.at(p, false)}, args...)...)
}

// wrap prefixes err, a value's error, with where the value at p is.
func (d *decoder) wrap(p loc, err error) error {
	return fmt.Errorf("%s: %w", d.at(p, true), err)
}

// file decodes the top-level table.
func (d *decoder) file(tree map[string]any, c *Config) error {
	if org, ok, err := d.str(tree, toml.Key{"organization"}); err != nil {
		return err
	} else if ok {
		if err := scope.ValidateOrg(org); err != nil {
			return d.wrap(at("organization"), err)
		}
		c.Organization = org
	}
	if err := d.domains(tree, c); err != nil {
		return err
	}
	if err := d.defaultScope(tree, c); err != nil {
		return err
	}
	if t, ok, err := d.table(tree, toml.Key{"store"}); err != nil {
		return err
	} else if ok {
		if err := d.store(t, c); err != nil {
			return err
		}
	}
	if t, ok, err := d.table(tree, toml.Key{"seal"}); err != nil {
		return err
	} else if ok {
		if p, ok, err := d.pathSetting(t, toml.Key{"seal", "identity"}); err != nil {
			return err
		} else if ok {
			c.Seal.Identity = p
		}
	}
	if t, ok, err := d.table(tree, toml.Key{"plugins"}); err != nil {
		return err
	} else if ok {
		for _, name := range slices.Sorted(maps.Keys(t)) {
			p, err := d.plugin(t, name)
			if err != nil {
				return err
			}
			if err := d.etcdPlugin(t, name, p, c); err != nil {
				return err
			}
			if _, fs := p.Grants["fs"]; fs && name == c.Store.Plugin {
				err := d.keyErrorf(keyLoc(toml.Key{"plugins", name, "grant", "fs"}), "plugin %s is the store plugin: its directory is store.path, not a grant", name)
				return &hintError{msg: err.Error(), hint: "move the directory to store.path and remove [plugins." + name + ".grant.fs]"}
			}
			c.Plugins[name] = p
		}
	}
	if t, ok, err := d.table(tree, toml.Key{"inject"}); err != nil {
		return err
	} else if ok {
		if err := d.inject(t, c); err != nil {
			return err
		}
	}
	return d.environments(tree, c)
}

// defaultScope decodes the top-level project and domain, where a task of a Python file runs unless
// -p/-d say otherwise (after domains, which domain is checked against).
func (d *decoder) defaultScope(tree map[string]any, c *Config) error {
	if p, ok, err := d.str(tree, toml.Key{"project"}); err != nil {
		return err
	} else if ok {
		if err := scope.ValidateProject(p); err != nil {
			return d.wrap(at("project"), err)
		}
		c.Project = p
	}
	if v, ok, err := d.str(tree, toml.Key{"domain"}); err != nil {
		return err
	} else if ok {
		if err := scope.ValidateDomain(v, c.Domains); err != nil {
			return d.wrap(at("domain"), err)
		}
		c.Domain = v
	}
	if c.Domain != "" && !slices.Contains(c.Domains, c.Domain) {
		// A file's domains replace those the default domain was checked against.
		return d.valueErrorf(at("domains"), "setting \"domains\" leaves out the default domain set by setting \"domain\"")
	}
	return nil
}

func (d *decoder) domains(tree map[string]any, c *Config) error {
	v, ok := tree["domains"]
	if !ok {
		return nil
	}
	const key = `"domains"`
	list, isList := v.([]any)
	if !isList {
		return d.valueErrorf(at("domains"), "setting %s must be an array of strings, not %s", key, TypeName(v))
	}
	if len(list) == 0 {
		return d.valueErrorf(at("domains"), "setting %s must list at least one domain", key)
	}
	domains := make([]string, 0, len(list))
	for i, item := range list {
		s, isStr := item.(string)
		if !isStr {
			return d.valueErrorf(at("domains", i), "item %d of setting %s must be a string, not %s", i+1, key, TypeName(item))
		}
		if err := scope.ValidateName("domain name", s); err != nil {
			return d.wrap(at("domains", i), err)
		}
		if slices.Contains(domains, s) {
			return d.valueErrorf(at("domains", i), "setting %s lists %q twice", key, s)
		}
		domains = append(domains, s)
	}
	c.Domains = domains
	return nil
}

func (d *decoder) store(t map[string]any, c *Config) error {
	key := toml.Key{"store", "plugin"}
	if name, ok, err := d.str(t, key); err != nil {
		return err
	} else if ok {
		if err := scope.ValidateName("plugin name", name); err != nil {
			return d.valueErrorf(keyLoc(key), "setting %q: %w", key.String(), err)
		}
		c.Store.Plugin = name
	}
	if c.Store.Plugin == EtcdStore {
		return d.etcdStore(t, c)
	}
	if err := d.onlyEtcd(t, c); err != nil {
		return err
	}
	if p, ok, err := d.pathSetting(t, toml.Key{"store", "path"}); err != nil {
		return err
	} else if ok {
		c.Store.Path = p
	}
	return nil
}

// plugin decodes [plugins.NAME]. A name that is also a built-in is allowed: it replaces the built-in.
func (d *decoder) plugin(plugins map[string]any, name string) (PluginConfig, error) {
	p := PluginConfig{MemoryPages: DefaultMemoryPages, Timeout: DefaultTimeout}
	base := toml.Key{"plugins", name}
	if err := scope.ValidateName("plugin name", name); err != nil {
		return p, fmt.Errorf("%s: %w", d.at(keyLoc(base), false), err)
	}
	t, _, err := d.table(plugins, base)
	if err != nil {
		return p, err
	}
	sub := func(k string) toml.Key { return append(base[:2:2], k) }

	// Required: a plugin table without a file has nothing to load. (Settings for a built-in without
	// replacing it would be a new feature; requiring path now keeps that open.)
	key := sub("path")
	if path, ok, err := d.pathSetting(t, key); err != nil {
		return p, err
	} else if !ok {
		return p, d.keyErrorf(keyLoc(base), "setting %q is missing", key.String())
	} else {
		p.Path = path
	}

	key = sub("sha256")
	if sum, ok, err := d.str(t, key); err != nil {
		return p, err
	} else if ok {
		if _, err := hex.DecodeString(sum); err != nil || len(sum) != 64 {
			return p, d.valueErrorf(keyLoc(key), "setting %q must be 64 hexadecimal digits", key.String())
		}
		// Lower case, so that comparing with a computed digest is a plain string comparison.
		p.SHA256 = strings.ToLower(sum)
	}

	key = sub("memory_pages")
	if v, ok := t["memory_pages"]; ok {
		n, isInt := v.(int64)
		if !isInt {
			return p, d.valueErrorf(keyLoc(key), "setting %q must be an integer, not %s", key.String(), TypeName(v))
		}
		if n < 1 || n > MaxMemoryPages {
			return p, d.valueErrorf(keyLoc(key), "setting %q is %d, must be from 1 to %d (64 KiB pages)", key.String(), n, MaxMemoryPages)
		}
		p.MemoryPages = uint32(n)
	}

	key = sub("timeout")
	if s, ok, err := d.str(t, key); err != nil {
		return p, err
	} else if ok {
		dur, err := time.ParseDuration(s)
		if err != nil {
			return p, d.valueErrorf(keyLoc(key), "setting %q is not a duration (write it like \"5s\" or \"1m30s\")", key.String())
		}
		if dur <= 0 || dur > MaxTimeout {
			return p, d.valueErrorf(keyLoc(key), "setting %q must be more than 0 and at most %s", key.String(), MaxTimeout)
		}
		p.Timeout = dur
	}

	key = sub("config")
	if cfg, ok, err := d.table(t, key); err != nil {
		return p, err
	} else if ok {
		p.Config = make(map[string]string, len(cfg))
		for _, k := range slices.Sorted(maps.Keys(cfg)) {
			s, isStr := cfg[k].(string)
			if !isStr {
				// The value is not echoed: plugin settings may hold credentials.
				ck := append(key[:3:3], k)
				return p, d.valueErrorf(keyLoc(ck), "setting %q must be a string, not %s", ck.String(), TypeName(cfg[k]))
			}
			p.Config[k] = s
		}
	}

	key = sub("grant")
	if grants, ok, err := d.table(t, key); err != nil {
		return p, err
	} else if ok {
		p.Grants = make(map[string]map[string]any, len(grants))
		for _, capName := range slices.Sorted(maps.Keys(grants)) {
			ck := append(key[:3:3], capName)
			g, _, err := d.table(grants, ck)
			if err != nil {
				return p, err
			}
			if g, err = d.grantPaths(ck, g); err != nil {
				return p, err
			}
			p.Grants[capName] = g
		}
	}
	return p, nil
}

// grantPathKeys are the settings of a grant table that name files or directories, whatever the
// capability: they are resolved as every path in the file is (pathSetting), so that a capability's parser
// gets absolute paths. Every string of a table named credentials is a path too (a file per credential).
var grantPathKeys = []string{"path", "ca_file", "client_cert", "client_key"}

// grantPaths returns a copy of g, the grant table at key, with its paths resolved.
func (d *decoder) grantPaths(key toml.Key, g map[string]any) (map[string]any, error) {
	out := maps.Clone(g)
	for _, k := range slices.Sorted(maps.Keys(g)) {
		sk := append(key[:len(key):len(key)], k)
		switch _, isStr := g[k].(string); {
		case slices.Contains(grantPathKeys, k) && isStr:
			p, _, err := d.pathSetting(g, sk)
			if err != nil {
				return nil, err
			}
			out[k] = p
		case k == "credentials":
			creds, _, err := d.table(g, sk)
			if err != nil {
				return nil, err
			}
			resolved := make(map[string]any, len(creds))
			for _, name := range slices.Sorted(maps.Keys(creds)) {
				if _, isStr := creds[name].(string); !isStr {
					resolved[name] = creds[name] // the capability's parser names the wrong type
					continue
				}
				p, _, err := d.pathSetting(creds, append(sk[:len(sk):len(sk)], name))
				if err != nil {
					return nil, err
				}
				resolved[name] = p
			}
			out[k] = resolved
		}
	}
	return out, nil
}

// str returns the string at the last element of key in t; ok is false when it is absent.
func (d *decoder) str(t map[string]any, key toml.Key) (s string, ok bool, err error) {
	v, ok := t[key[len(key)-1]]
	if !ok {
		return "", false, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", false, d.valueErrorf(keyLoc(key), "setting %q must be a string, not %s", key.String(), TypeName(v))
	}
	return s, true, nil
}

// pathSetting returns the path at key resolved against the file's directory, or against $HOME when it is
// "~" or starts with "~/" (as a shell would; "~user" is not expanded). An empty path is an error rather
// than a silent "current directory".
func (d *decoder) pathSetting(t map[string]any, key toml.Key) (string, bool, error) {
	s, ok, err := d.str(t, key)
	if err != nil || !ok {
		return "", ok, err
	}
	if s == "" {
		return "", false, d.valueErrorf(keyLoc(key), "setting %q is empty", key.String())
	}
	if s == "~" || strings.HasPrefix(s, "~/") {
		if d.home == "" {
			return "", false, d.valueErrorf(keyLoc(key), "setting %q starts with ~, but HOME is not set to an absolute path", key.String())
		}
		return filepath.Join(d.home, s[1:]), true, nil
	}
	return abs(d.dir, s), true, nil
}

// table returns the table at the last element of key in t; ok is false when it is absent.
func (d *decoder) table(t map[string]any, key toml.Key) (map[string]any, bool, error) {
	v, ok := t[key[len(key)-1]]
	if !ok {
		return nil, false, nil
	}
	m, isTable := v.(map[string]any)
	if !isTable {
		return nil, false, d.valueErrorf(keyLoc(key), "setting %q must be a table, not %s", key.String(), TypeName(v))
	}
	return m, true, nil
}

// TypeName names a decoded TOML value's type for messages, with its article
// ("a string", "an array", "a table"), for every parser of a TOML table.
func TypeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return fmt.Sprintf("%T", v)
	}
}
