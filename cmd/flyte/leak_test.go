package main

// TestNoValueLeaks: secret values never show up in anything flyte prints,
// nor in any file it writes, in plaintext or in an obvious encoding.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
)

// leakForms returns the ways a value could be spelled out: raw, hex (both
// cases) and base64 (standard and URL alphabets). A value embedded in a
// longer base64 stream is encoded differently depending on its offset, so
// each of the three alignments is searched for, without padding.
func leakForms(v string) map[string]string {
	forms := map[string]string{
		"raw": v,
		"hex": hex.EncodeToString([]byte(v)),
		"HEX": strings.ToUpper(hex.EncodeToString([]byte(v))),
	}
	for s := range 3 {
		chunk := []byte(v[s : s+3*((len(v)-s)/3)])
		forms[fmt.Sprintf("base64@%d", s)] = base64.RawStdEncoding.EncodeToString(chunk)
		forms[fmt.Sprintf("base64url@%d", s)] = base64.RawURLEncoding.EncodeToString(chunk)
	}
	return forms
}

// findLeaks reports each value found in b, and in which form.
func findLeaks(b []byte, values []string) []string {
	var found []string
	for _, v := range values {
		for form, needle := range leakForms(v) {
			if bytes.Contains(b, []byte(needle)) {
				found = append(found, fmt.Sprintf("value %.6s... (%s)", v, form))
			}
		}
	}
	return found
}

// leakRun is the command runner of a leak test: it records every value and
// every command's output for the final search.
type leakRun struct {
	t       *testing.T
	e       *isoEnv
	values  []string
	results []isoResult
	files   int
}

// value returns a new random 32-character value, remembered for the search.
func (l *leakRun) value() string {
	v := randText(l.t, 32)
	l.values = append(l.values, v)
	return v
}

// file writes v to a new file outside HOME and returns its path.
func (l *leakRun) file(v string) string {
	l.files++
	p := filepath.Join(l.e.work, fmt.Sprintf("value%d", l.files))
	if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// run runs a command that must exit with code want; with want 0 its stderr
// must also be empty.
func (l *leakRun) run(want int, stdin []byte, args ...string) isoResult {
	l.t.Helper()
	r := l.e.run(stdin, args...)
	l.results = append(l.results, r)
	if want == 0 {
		mustOK(l.t, r)
	} else if r.code != want {
		l.t.Errorf("want exit %d, got %s", want, r)
	}
	return r
}

// TestLeakForms checks the search itself: each value is found raw, in hex
// and in base64 at any offset of a longer stream.
func TestLeakForms(t *testing.T) {
	v := randText(t, 32)
	for off := range 3 {
		stream := append(bytes.Repeat([]byte{'#'}, off), v...)
		for name, enc := range map[string]string{
			"raw":       string(stream),
			"hex":       hex.EncodeToString(stream),
			"HEX":       strings.ToUpper(hex.EncodeToString(stream)),
			"base64":    base64.StdEncoding.EncodeToString(stream),
			"base64url": base64.URLEncoding.EncodeToString(stream),
		} {
			if len(findLeaks([]byte("<"+enc+">"), []string{v})) == 0 {
				t.Errorf("%s of a value at offset %d is not found", name, off)
			}
		}
	}
	if leaks := findLeaks([]byte(randText(t, 4096)), []string{v}); len(leaks) > 0 {
		t.Errorf("found %v in unrelated text", leaks)
	}
}

func TestNoValueLeaks(t *testing.T) {
	e := newIsoEnv(t)
	l := &leakRun{t: t, e: e}
	scopes := []struct {
		name  string
		flags []string
	}{
		{"organization", nil},
		{"project", []string{"-p", "leak_proj"}},
		{"domain", []string{"-d", "staging"}},
		{"project+domain", []string{"-p", "leak_proj", "-d", "production"}},
	}
	with := func(flags []string, args ...string) []string { return append(args, flags...) }

	// Create: one secret per input in every scope.
	for _, s := range scopes {
		l.run(0, nil, with(s.flags, "create", "secret", "ARG_KEY", l.value())...)
		l.run(0, nil, with(s.flags, "create", "secret", "FILE_KEY", "--from-file", l.file(l.value()))...)
		l.run(0, []byte(l.value()+"\n"), with(s.flags, "create", "secret", "STDIN_KEY")...)
		l.run(0, []byte(l.value()), with(s.flags, "create", "secret", "STDIN_FILE_KEY", "--from-file", "-")...)
	}

	// Update some, each way.
	l.run(0, nil, "update", "secret", "ARG_KEY", l.value())
	l.run(0, nil, "update", "secret", "FILE_KEY", "-p", "leak_proj", "--from-file", l.file(l.value()))
	l.run(0, []byte(l.value()+"\n"), "update", "secret", "STDIN_KEY", "-d", "staging")
	l.run(0, nil, "update", "secret", "ARG_KEY", "-p", "leak_proj", "-d", "production", "--if-version", "1", l.value())
	l.run(1, nil, "update", "secret", "ARG_KEY", "-p", "leak_proj", "-d", "production", "--if-version", "1", l.value())

	// List and get, every way.
	l.run(0, nil, "get", "secret")
	l.run(0, nil, "get", "secret", "-o", "json")
	l.run(0, nil, "get", "secret", "-p", "leak_proj")
	l.run(0, nil, "get", "secret", "-d", "staging", "-o", "json")
	l.run(0, nil, "get", "secret", "-p", "", "-d", "")
	l.run(0, nil, "get", "secret", "ARG_KEY")
	l.run(0, nil, "get", "secret", "FILE_KEY", "-o", "json")
	l.run(0, nil, "get", "secret", "STDIN_KEY", "-p", "leak_proj", "-d", "production")

	// Delete one.
	l.run(0, nil, "delete", "secret", "STDIN_KEY", "-p", "leak_proj", "-d", "production")

	// Failed commands, each with a value that must not be echoed.
	l.run(1, nil, "create", "secret", "ARG_KEY", l.value())                                             // exists
	l.run(1, []byte(l.value()+"\n"), "create", "secret", "FILE_KEY", "-d", "staging")                   // exists, stdin
	l.run(1, nil, "create", "secret", "STDIN_KEY", "-p", "leak_proj", "--from-file", l.file(l.value())) // exists, file
	l.run(1, nil, "update", "secret", "MISSING_KEY", l.value())                                         // missing
	l.run(1, nil, "update", "secret", "ARG_KEY", "-d", "development", l.value())                        // missing in this scope
	l.run(1, nil, "update", "secret", "MISSING_KEY", "-p", "leak_proj", "--from-file", l.file(l.value()))
	l.run(1, nil, "delete", "secret", "ARG_KEY", "-d", "development")                     // wrong scope
	l.run(1, nil, "delete", "secret", "STDIN_KEY", "-p", "leak_proj", "-d", "production") // deleted above
	l.run(2, nil, "create", "secret", "NEW_KEY", l.value(), "-d", "bogus")                // bad domain
	l.run(2, []byte(l.value()+"\n"), "update", "secret", "ARG_KEY", "-d", "bogus")
	l.run(2, nil, "create", "secret", "NEW_KEY", l.value(), "-p", "Bad!Project")
	l.run(2, nil, "create", "secret", "NEW_KEY", l.value(), "--from-file", l.file(l.value())) // both
	l.run(2, nil, "create", "secret", "NEW_KEY", l.value(), l.value())                        // too many
	l.run(2, nil, "create", "secret", "bad key!", l.value())
	l.run(2, nil, "update", "secret", "ARG_KEY", l.value(), "--if-version", "x")
	l.run(2, nil, "create", "secret", "NEW_KEY", l.value(), "--no-such-flag")

	// Plugins and version.
	l.run(0, nil, "plugin", "list")
	l.run(0, nil, "version")

	// Four secrets per scope, one deleted.
	got := e.list()
	if len(got) != 4*len(scopes)-1 {
		t.Errorf("listing has %d secrets, want %d: %+v", len(got), 4*len(scopes)-1, got)
	}

	// Nothing printed shows a value.
	for _, r := range l.results {
		if r.code != 0 {
			args := strings.Join(r.args, " ")
			for _, v := range l.values {
				args = strings.ReplaceAll(args, v, "<value>")
			}
			t.Logf("flyte %s: exit %d: %s", args, r.code, strings.TrimSpace(r.stderr))
		}
		for stream, b := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
			if leaks := findLeaks([]byte(b), l.values); len(leaks) > 0 {
				t.Errorf("flyte %s: %s shows %v", strings.Join(r.args, " "), stream, leaks)
			}
		}
	}

	// No file flyte wrote holds a value: HOME (store, identity, config)
	// and the plugin cache.
	n := 0
	for _, root := range []string{e.home, testCache} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p != root {
					return nil // another test's cache entry, replaced meanwhile
				}
				return err
			}
			if !d.Type().IsRegular() {
				return nil
			}
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			n++
			if leaks := findLeaks(b, l.values); len(leaks) > 0 {
				t.Errorf("%s holds %v", p, leaks)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("walk %s: %v", root, err)
		}
	}
	t.Logf("searched %d command outputs and %d files for %d values in %d forms each",
		len(l.results), n, len(l.values), len(leakForms(l.values[0])))

	// Permissions: the identity is the user's alone, and so is the store.
	checkMode := func(p string, want fs.FileMode) {
		t.Helper()
		fi, err := os.Lstat(p)
		if err != nil {
			t.Error(err)
			return
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s has mode %#o, want %#o", p, got, want)
		}
	}
	checkMode(e.identityPath(), 0o600)
	checkMode(filepath.Dir(e.identityPath()), 0o700)
	records := 0
	err := filepath.WalkDir(e.storeDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			checkMode(p, 0o700)
		case d.Type().IsRegular():
			checkMode(p, 0o600)
			switch slash := filepath.ToSlash(p); {
			case strings.Contains(slash, "/secrets/"):
				records++ // format 1: a file per record
			case strings.Contains(slash, "/log/") && !strings.HasSuffix(slash, ".lock"):
				records += liveLogRecords(t, p) // format 2: a log per organization
			}
		default:
			t.Errorf("%s: unexpected file type %v in the store", p, d.Type())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if records != len(got) {
		t.Errorf("the store holds %d records; %d secrets are listed", records, len(got))
	}
}

// liveLogRecords counts the records that the log at p holds: keys whose
// latest good frame is not a deletion.
func liveLogRecords(t *testing.T, p string) int {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := parseLog(b)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	live := map[abi.Scope]map[string]bool{}
	for _, f := range frames {
		if live[f.rec.Scope] == nil {
			live[f.rec.Scope] = map[string]bool{}
		}
		live[f.rec.Scope][f.rec.Key] = f.op == logOpPut || f.op == logOpLegacy
	}
	n := 0
	for _, keys := range live {
		for _, ok := range keys {
			if ok {
				n++
			}
		}
	}
	return n
}

// TestNoValueLeaksDashValue passes a value that starts with '-' on the
// command line, as a user who forgets '--' would, also glued to a real
// flag (-p, -d, -c, --project=): flag parsing or validation fails, and the
// error must name the flag or the argument's position, never the value
// (terminal scrollback, CI logs).
func TestNoValueLeaksDashValue(t *testing.T) {
	e := newIsoEnv(t)
	for _, flag := range []string{"-x", "--", "-p", "-d", "-c", "--project=", "--domain=", "--config="} {
		secret := randText(t, 30)
		for _, verb := range []string{"create", "update"} {
			r := e.run(nil, verb, "secret", "DASH_KEY", flag+secret)
			if r.code == 0 {
				t.Errorf("want a failure, got %s", r)
			}
			if leaks := findLeaks([]byte(r.stdout+r.stderr), []string{secret}); len(leaks) > 0 {
				t.Errorf("flyte %s secret DASH_KEY %s<value> shows the value: %q", verb, flag, r.stderr)
			}
		}
	}
}
