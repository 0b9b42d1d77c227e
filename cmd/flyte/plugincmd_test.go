package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every misuse of the plugin commands is one line (and hints), exit 2; a
// failure exit 1. Nothing is written.
func TestPluginCommandExitCodes(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, "flyte.toml")
	if err := os.WriteFile(cfg, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home, "FLYTE_CACHE_DIR": testCache, "FLYTE_CONFIG": cfg}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"plugin", "test"}, 2, "flyte: missing FILE.wasm or NAME\n"},
		{[]string{"plugin", "test", "a", "b"}, 2, "flyte: too many arguments (2)\n"},
		{[]string{"plugin", "test", "Bad Name"}, 2, "flyte: invalid plugin name (argument FILE.wasm|NAME): must match ^[a-z0-9][-a-z0-9_]{0,62}$\n"},
		{[]string{"plugin", "test", "filestore", "--grant", "fs=/tmp"}, 2, "flyte: plugin test grants a store a fresh temporary directory of its own; --grant fs is for plugin install\n"},
		{[]string{"plugin", "test", "filestore", "--grant", "http"}, 2, "flyte: --grant needs CAPABILITY=VALUE, such as http=https://HOST:PORT\n"},
		{[]string{"plugin", "test", "filestore", "--grant", "http=ftp://x"}, 2, "flyte: origin #1 of "},
		{[]string{"plugin", "test", "nosuch"}, 1, "flyte: unknown plugin \"nosuch\": it is neither built in nor configured in [plugins.nosuch]\n"},
		{[]string{"plugin", "inspect", "./nosuch.wasm"}, 1, "flyte: plugin file given as FILE.wasm: no such file\n"},
		{[]string{"plugin", "install", "filestore"}, 2, "flyte: plugin install takes a module file, FILE.wasm\n"},
		{[]string{"plugin", "install", "./x.wasm", "--name", "Bad"}, 2, "flyte: invalid plugin name (--name): must match ^[a-z0-9][-a-z0-9_]{0,62}$\n"},
		{[]string{"plugin", "remove"}, 2, "flyte: missing NAME\n"},
		{[]string{"plugin", "remove", "X"}, 2, "flyte: invalid plugin name (argument NAME): must match ^[a-z0-9][-a-z0-9_]{0,62}$\n"},
		{[]string{"plugin", "remove", "envinject"}, 1, "flyte: plugin envinject is built in; there is nothing to remove\n"},
		{[]string{"plugin", "remove", "mine"}, 1, "flyte: plugin mine is not configured in " + cfg + "\n"},
	} {
		var out, errb bytes.Buffer
		code := run(c.args, nil, &out, &errb, func(k string) string { return env[k] })
		first, _, _ := strings.Cut(errb.String(), "flyte: hint:")
		if code != c.code || !strings.HasPrefix(first, c.want) || out.Len() > 0 {
			t.Errorf("flyte %s: exit %d, stdout %q, stderr %q; want exit %d and %q", strings.Join(c.args, " "), code, out.String(), errb.String(), c.code, c.want)
		}
	}
	if ents, _ := os.ReadDir(home); len(ents) != 1 {
		t.Errorf("the refused commands wrote to %s: %v", home, ents)
	}
}

// cutBlock removes only an intact block that holds nothing but the
// plugin's own tables; what it keeps is the rest of the file, byte for
// byte.
func TestCutBlock(t *testing.T) {
	block := string(installBlock("p", "/x/p.wasm", strings.Repeat("a", 64), nil))
	granted := string(installBlock("p", "/x/p.wasm", strings.Repeat("a", 64), map[string]map[string]any{
		"fs": {"path": "/d"}, "http": {"origins": []any{"https://a:443"}, "credentials": map[string]any{"t": "/c"}}}))
	user := "# mine\norganization = \"acme\"\n"
	beforeEnd := func(b, extra string) string { return strings.Replace(b, "# END", extra+"# END", 1) }
	for _, c := range []struct {
		in, want string
		err      error
	}{
		{user + "\n" + block, user, nil},
		{user + "\n" + block + "# after\n", user + "# after\n", nil},
		{block, "", nil},
		{user + "\n" + granted, user, nil},
		{user + "\n" + beforeEnd(granted, "# a comment of mine\n\n[plugins.p.grant.fs]\n"), "", errForeign}, // a table twice: does not decode
		{user + "\n" + beforeEnd(block, "timeout = \"5s\"\n\n[plugins.p.grant.fs]\npath = \"/e\"\n# mine\n"), user, nil},
		{user + "\n" + block + block, "", errNoBlock},
		{user + strings.Replace(block, "# END", "# end", 1), "", errNoBlock},
		{user + "x" + block, "", errNoBlock},
		{strings.Replace(block, "# BEGIN flyte plugin install p\n", "", 1), "", errNoBlock},
		// The user's own settings inside the block are theirs.
		{user + "\n" + beforeEnd(block, "[[environments]]\nname = \"prod\"\n"), "", errForeign},
		{user + "\n" + beforeEnd(block, "[store]\npath = \"~/prod-store\"\n"), "", errForeign},
		{user + "\n" + beforeEnd(block, "[plugins.q]\npath = \"/x/q.wasm\"\n"), "", errForeign},
		{user + "\n" + beforeEnd(block, "[plugins]\n"), "", errForeign},
		{user + "\n" + strings.Replace(block, "[plugins.p]", "organization = \"x\"\n[plugins.p]", 1), "", errForeign},
		{user + "\n" + beforeEnd(block, "[plugins.pp]\n"), "", errForeign},
		{user + "\n" + beforeEnd(block, "x = \"\"\"\n"), "", errForeign},
	} {
		got, err := cutBlock([]byte(c.in), "p")
		if err != c.err || (err == nil && string(got) != c.want) {
			t.Errorf("cutBlock(%q) = %q, %v; want %q, %v", c.in, got, err, c.want, c.err)
		}
	}
}

func FuzzCutBlock(f *testing.F) {
	block := installBlock("p", "/x/p.wasm", strings.Repeat("a", 64), map[string]map[string]any{"fs": {"path": "/d"}})
	f.Add([]byte("# mine\n\n" + string(block)))
	f.Add(block)
	f.Add([]byte(strings.Replace(string(block), "# END", "[[environments]]\nname = \"prod\"\n# END", 1)))
	f.Add([]byte("# END flyte plugin install p\n# BEGIN flyte plugin install p\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := cutBlock(data, "p")
		if err != nil {
			return
		}
		begin, end := markers("p")
		if bytes.Contains(out, []byte(begin)) || bytes.Contains(out, []byte(end)) || len(out) >= len(data) {
			t.Fatalf("cutBlock(%q) = %q", data, out)
		}
	})
}
