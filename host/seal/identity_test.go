package seal

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

var parseErrorRE = regexp.MustCompile(`^FLYTE_IDENTITY is malformed(: larger than \d+ bytes| at line \d+: not an age X25519 secret key \(AGE-SECRET-KEY-1\.\.\.\)|: more than one key \(line \d+\); expected exactly one AGE-SECRET-KEY-1 line|: line too long|: no AGE-SECRET-KEY-1 line found)$`)

// FuzzParseIdentity feeds ParseIdentity what an identity file, FLYTE_IDENTITY
// or FLYTE_IDENTITY_CMD's output may hold: it must never panic, never quote
// the input in an error, and accept only what parses back to the same key.
func FuzzParseIdentity(f *testing.F) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	key := id.String()
	f.Add([]byte(key))
	f.Add([]byte("# created: 2026-01-01T00:00:00Z\n# public key: " + id.Recipient().String() + "\n" + key + "\n"))
	f.Add([]byte(key + "\n" + key + "\n"))
	f.Add([]byte(strings.ToLower(key)))
	f.Add([]byte(key[:len(key)-1] + "Q"))
	f.Add([]byte(id.Recipient().String()))
	f.Add([]byte("\r\n\t# only comments\n"))
	f.Add([]byte{})
	f.Add([]byte(strings.Repeat("A", MaxIdentitySize+1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseIdentity("FLYTE_IDENTITY", data)
		if err != nil {
			// Every message is one of these, so it quotes nothing of the input.
			if !parseErrorRE.MatchString(err.Error()) {
				t.Fatalf("unexpected error: %q", err)
			}
			return
		}
		again, err := ParseIdentity("FLYTE_IDENTITY", []byte(got.String()))
		if err != nil || again.String() != got.String() {
			t.Fatalf("accepted key does not parse back: %v", err)
		}
	})
}

// An identity file owned by someone else is refused, even when this user
// (root) can read it: its owner could swap in a key of their own.
func TestIdentityOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a file away")
	}
	p := filepath.Join(t.TempDir(), "identity.txt")
	if _, _, err := LoadOrCreateIdentity(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err := LoadIdentity(p)
	want := "identity file " + p + " is owned by uid 65534, not by you (uid 0): its owner could replace it with an identity of their own; use a copy you own (mode 0600)"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
