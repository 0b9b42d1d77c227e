package config

import (
	"testing"

	"github.com/BurntSushi/toml"
)

// lineCol is where the decoder's messages put p of text.
func lineCol(t *testing.T, text string, p loc, value bool) (int, int) {
	t.Helper()
	w, ok := locate(text)[p]
	if !ok {
		return 0, 0
	}
	off := w.key
	if value {
		off = w.value
	}
	return position(text, toml.Position{Start: off})
}

func TestLocate(t *testing.T) {
	const text = `# comment
organization = "acme" # trailing
"quoted key" = 'x'
store.path = """
multi "" line
"""
[seal]
  identity = "i"
[[environments]]
name = "a"
secrets = ["K", { key = "X", as_env_var = "PATH" }]
[[environments]]
name = "b"
when = 1979-05-27 07:32:00
secrets = [
  # comment ]
  "é", { key = 'Y', "as_env_var" = "LD_X" },
]
[[environments.extra]]
x.y = [[1, 2], [3]]
[plugins."a.b"]
path = '''x'''
"\u00e9" = 1
`
	for _, tt := range []struct {
		p         loc
		value     bool
		line, col int
	}{
		{at("organization"), false, 2, 1},
		{at("organization"), true, 2, 16},
		{at("quoted key"), false, 3, 1},
		{at("store"), false, 4, 1},
		{at("store", "path"), false, 4, 7},
		{at("seal"), false, 7, 2},
		{at("seal", "identity"), false, 8, 3},
		{at("environments", 0), false, 9, 3},
		{at("environments", 0, "name"), true, 10, 8},
		{at("environments", 0, "secrets", 0), false, 11, 12},
		{at("environments", 0, "secrets", 1), false, 11, 17},
		{at("environments", 0, "secrets", 1, "as_env_var"), false, 11, 30},
		{at("environments", 0, "secrets", 1, "as_env_var"), true, 11, 43},
		{at("environments", 1), false, 12, 3},
		{at("environments", 1, "name"), false, 13, 1},
		{at("environments", 1, "secrets", 0), false, 17, 3},
		{at("environments", 1, "secrets", 1, "key"), true, 17, 16},
		{at("environments", 1, "secrets", 1, "as_env_var"), false, 17, 21},
		{at("environments", 1, "extra", 0), false, 19, 16},
		{at("environments", 1, "extra", 0, "x", "y", 1, 0), false, 20, 17},
		{at("plugins", "a.b"), false, 21, 10},
		{at("plugins", "a.b", "path"), false, 22, 1},
		{at("plugins", "a.b", "é"), false, 23, 1},
	} {
		line, col := lineCol(t, text, tt.p, tt.value)
		if line != tt.line || col != tt.col {
			t.Errorf("%s (value %v) at %d:%d, want %d:%d", tt.p, tt.value, line, col, tt.line, tt.col)
		}
	}
	var tree map[string]any
	if _, err := toml.Decode(text, &tree); err != nil {
		t.Fatalf("the test's text is not TOML: %v", err)
	}
}

// FuzzLocate: any text, TOML or not, gives offsets inside it, and the scan ends.
func FuzzLocate(f *testing.F) {
	for _, s := range []string{
		"", "a = 1", "[[a]]\n[[a.b]]\nc = [1, {d = 2}]\n", "x = \"\\u00e9\"\n'k' = '''\n'''''\n",
		"[", "[[", "a = [", "a = {", "a = \"\\", "a = \"\"\"", "a = [[[[[[[[[[", "a.b.c = 1979-05-27 07:32:00 #",
		"\"\\U0010FFFF\" = 1", "a = [1 2 3]", "=", "...", "a = { b = [ { c = 1 } ] }",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for p, w := range locate(text) {
			if w.key < 0 || w.key > len(text) || w.value < 0 || w.value > len(text) {
				t.Fatalf("%s: %+v outside the text (%d bytes)", p, w, len(text))
			}
		}
	})
}
