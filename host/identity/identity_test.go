package identity

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func newKey(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func writeKey(t *testing.T, id *age.X25519Identity, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "identity.txt")
	if err := os.WriteFile(p, []byte(id.String()+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// The first variable set wins, in the documented order, over the
// configured file; an empty variable counts as unset.
func TestResolveOrder(t *testing.T) {
	key, file, cmd, conf := newKey(t), newKey(t), newKey(t), newKey(t)
	vars := map[string]string{
		EnvKey:  key.String(),
		EnvFile: writeKey(t, file, 0o600),
		EnvCmd:  "echo " + cmd.String(),
	}
	configured := writeKey(t, conf, 0o600)
	for _, tt := range []struct {
		unset []string
		want  *age.X25519Identity
		name  string
	}{
		{nil, key, "from " + EnvKey},
		{[]string{EnvKey}, file, vars[EnvFile] + " (" + EnvFile + ")"},
		{[]string{EnvKey, EnvFile}, cmd, "from " + EnvCmd},
		{[]string{EnvKey, EnvFile, EnvCmd}, conf, configured},
	} {
		m := map[string]string{}
		for k, v := range vars {
			m[k] = v
		}
		for _, u := range tt.unset {
			m[u] = ""
		}
		src := Resolve(env(m), configured)
		id, err := src.Load()
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if id.String() != tt.want.String() || src.String() != tt.name {
			t.Errorf("unset %v: got source %q, a different key: %v", tt.unset, src, id.String() != tt.want.String())
		}
	}
}

// Each bad input gets one line that names the variable and quotes nothing
// of the key, the file or the command's output; nothing is created.
func TestErrors(t *testing.T) {
	key := newKey(t).String()
	dir := t.TempDir()
	configured := filepath.Join(dir, "identity.txt")
	for _, tt := range []struct {
		name, val, want string
	}{
		{EnvKey, key[:len(key)-2] + "QQ", "FLYTE_IDENTITY is malformed at line 1: not an age X25519 secret key (AGE-SECRET-KEY-1...)"},
		{EnvKey, key + "\n" + key, "FLYTE_IDENTITY is malformed: more than one key (line 2); expected exactly one AGE-SECRET-KEY-1 line"},
		{EnvFile, key, "FLYTE_IDENTITY_FILE names a file that does not exist"},
		{EnvFile, "a\nb", "FLYTE_IDENTITY_FILE holds a control character: it must name an identity file"},
		{EnvCmd, "echo " + key + "; exit 3", "FLYTE_IDENTITY_CMD failed with exit status 3"},
		{EnvCmd, "echo " + key[:len(key)-2] + "QQ", "the output of FLYTE_IDENTITY_CMD is malformed at line 1: not an age X25519 secret key (AGE-SECRET-KEY-1...)"},
		{EnvCmd, "head -c 70000 /dev/zero", "the output of FLYTE_IDENTITY_CMD is malformed: larger than 65536 bytes"},
		{EnvCmd, "kill -TERM $$", "FLYTE_IDENTITY_CMD was killed by signal 15 (terminated)"},
	} {
		src := Resolve(env(map[string]string{tt.name: tt.val}), configured)
		id, created, err := src.LoadOrCreate()
		if err == nil || id != nil || created {
			t.Fatalf("%s=%q: got no error", tt.name, tt.val)
		}
		if err.Error() != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, err, tt.want)
		}
		if strings.Contains(err.Error(), key[20:]) {
			t.Errorf("%s: error quotes the key", tt.name)
		}
		// -v names the source: a value that names no file may be the
		// key in the wrong variable, so it is not repeated.
		if got := src.String(); got != "from "+tt.name {
			t.Errorf("%s=%q: the source is named %q, want %q", tt.name, tt.val, got, "from "+tt.name)
		}
		if _, err := os.Lstat(configured); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("%s: an identity was created", tt.name)
		}
	}
}

// A file named by FLYTE_IDENTITY_FILE gets the default file's checks.
func TestFileChecks(t *testing.T) {
	p := writeKey(t, newKey(t), 0o644)
	_, err := Resolve(env(map[string]string{EnvFile: p}), "").Load()
	want := "FLYTE_IDENTITY_FILE: identity file " + p + " has mode 0644"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want %s...", err, want)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(env(map[string]string{EnvFile: link}), "").Load(); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("a symlink: got %v", err)
	}
}

// A command that never ends is stopped at the timeout, with whatever it
// started, and says so.
func TestCmdTimeout(t *testing.T) {
	src := Resolve(env(map[string]string{EnvCmd: "sleep 1000 & sleep 1000; wait"}), "")
	src.Timeout = 50 * time.Millisecond
	_, err := src.Load()
	want := "FLYTE_IDENTITY_CMD did not finish within 50ms; flyte stopped it"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	// The failure is kept: the command does not run again.
	if _, again := src.Load(); again != err {
		t.Fatalf("second load: %v", again)
	}
}

// The command runs once, its result kept.
func TestCmdOnce(t *testing.T) {
	key := newKey(t)
	count := filepath.Join(t.TempDir(), "count")
	src := Resolve(env(map[string]string{EnvCmd: "echo x >> " + count + "; echo " + key.String()}), "")
	for range 3 {
		if id, err := src.Load(); err != nil || id.String() != key.String() {
			t.Fatalf("load: %v", err)
		}
	}
	if b, _ := os.ReadFile(count); string(b) != "x\n" {
		t.Fatalf("the command ran %d times", strings.Count(string(b), "x"))
	}
}

// Only the configured file is ever created; Undo removes it again.
func TestCreate(t *testing.T) {
	p := filepath.Join(t.TempDir(), "flyte", "identity.txt")
	src := Resolve(env(nil), p)
	if _, err := src.Load(); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("load of a missing file: %v", err)
	}
	id, created, err := src.LoadOrCreate()
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if got, ok := src.Created(); !ok || got != p {
		t.Fatalf("Created: %q %v", got, ok)
	}
	if again, err := src.Load(); err != nil || again.String() != id.String() {
		t.Fatalf("load after create: %v", err)
	}
	src.Undo()
	if _, ok := src.Created(); ok {
		t.Fatal("still created after Undo")
	}
	if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Undo left the file")
	}
}

func TestStrip(t *testing.T) {
	in := []string{"PATH=/bin", "FLYTE_IDENTITY=k", "FLYTE_IDENTITY_FILE=f", "FLYTE_IDENTITY_CMD=c", "FLYTE_CONFIG=x", "FLYTE_IDENTITY_X=y"}
	got := strings.Join(Strip(in), " ")
	if got != "PATH=/bin FLYTE_CONFIG=x FLYTE_IDENTITY_X=y" {
		t.Fatalf("got %s", got)
	}
}

// FuzzVariables feeds each variable arbitrary text: no panic, one line,
// and nothing of the value in the error.
func FuzzVariables(f *testing.F) {
	key := newKey(f).String()
	f.Add(uint8(0), key)
	f.Add(uint8(0), "# c\n"+key+"\n")
	f.Add(uint8(0), strings.ToLower(key))
	f.Add(uint8(1), key)
	f.Add(uint8(1), "/nonexistent/"+key)
	f.Add(uint8(1), "rel\x00ative")
	f.Fuzz(func(t *testing.T, which uint8, val string) {
		v := Variables[int(which)%2] // not the command: fuzzing runs no shell
		if val == "" {
			return // unset
		}
		_, err := Resolve(env(map[string]string{v: val}), "").Load()
		if err == nil {
			return
		}
		msg := err.Error()
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("not one line: %q", msg)
		}
		if !strings.HasPrefix(msg, v) {
			t.Fatalf("does not name %s: %q", v, msg)
		}
		// FLYTE_IDENTITY's errors are seal.ParseIdentity's, which quote
		// nothing (FuzzParseIdentity); a file's may name the file, which
		// exists, so is not a key.
		if v == EnvFile && strings.Contains(val, "SECRET-KEY-1") && strings.Contains(msg, val) {
			t.Fatalf("quotes the value: %q", msg)
		}
	})
}
