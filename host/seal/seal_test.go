package seal

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
)

// testSealer returns a Sealer with a fresh random data key.
func testSealer(t testing.TB) *Sealer {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	_, s, err := NewDataKey(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var baseAAD = AAD{Org: "acme", Project: "web", Domain: "prod", Key: "DB_PASSWORD", Kind: "env"}

var testMeta = Meta{Version: 3, Created: 1_700_000_000_000_000_000, Updated: 1_700_000_100_000_000_000, Incarnation: Incarnation{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}}

func TestRoundTrip(t *testing.T) {
	s := testSealer(t)
	for _, tc := range []struct {
		name string
		aad  AAD
		pt   []byte
	}{
		{"simple", baseAAD, []byte("hunter2")},
		{"empty plaintext", baseAAD, []byte{}},
		{"empty aad", AAD{}, []byte("x")},
		{"binary", baseAAD, bytes.Repeat([]byte{0, 0xff, 0x80}, 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := s.Seal(tc.aad, testMeta, tc.pt)
			if err != nil {
				t.Fatal(err)
			}
			if len(blob) != headerSize+len(tc.pt)+tagSize {
				t.Fatalf("blob length %d, want %d", len(blob), headerSize+len(tc.pt)+tagSize)
			}
			if blob[0] != blobVersion {
				t.Fatalf("version byte %d", blob[0])
			}
			got, err := s.Open(tc.aad, blob)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.pt) {
				t.Fatalf("got %q, want %q", got, tc.pt)
			}
		})
	}
}

func TestAADBinding(t *testing.T) {
	s := testSealer(t)
	for _, tc := range []struct {
		name       string
		seal, open AAD
	}{
		{"org", baseAAD, AAD{"acme2", "web", "prod", "DB_PASSWORD", "env"}},
		{"project", baseAAD, AAD{"acme", "api", "prod", "DB_PASSWORD", "env"}},
		{"domain", baseAAD, AAD{"acme", "web", "staging", "DB_PASSWORD", "env"}},
		{"key", baseAAD, AAD{"acme", "web", "prod", "DB_USER", "env"}},
		{"kind", baseAAD, AAD{"acme", "web", "prod", "DB_PASSWORD", "file"}},
		{"boundary org/project", AAD{"ab", "c", "d", "k", "env"}, AAD{"a", "bc", "d", "k", "env"}},
		{"boundary key/kind", AAD{"o", "p", "d", "KEYe", "nv"}, AAD{"o", "p", "d", "KEY", "env"}},
		{"empty vs nonempty", AAD{"", "x", "", "", ""}, AAD{"x", "", "", "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blob, err := s.Seal(tc.seal, testMeta, []byte("secret"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Open(tc.open, blob); !errors.Is(err, ErrTampered) {
				t.Fatalf("Open with moved AAD: err = %v, want ErrTampered", err)
			}
			// Check injectivity of the encoding directly, too.
			h := make([]byte, headerSize)
			if bytes.Equal(appendAAD(nil, h, tc.seal), appendAAD(nil, h, tc.open)) {
				t.Fatal("distinct AADs encode to the same bytes")
			}
		})
	}
}

func TestBitFlips(t *testing.T) {
	s := testSealer(t)
	blob, err := s.Seal(baseAAD, testMeta, []byte("the plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range blob {
		for bit := range 8 {
			mod := bytes.Clone(blob)
			mod[i] ^= 1 << bit
			if pt, err := s.Open(baseAAD, mod); !errors.Is(err, ErrTampered) {
				t.Fatalf("byte %d bit %d flipped: Open = %q, %v; want ErrTampered", i, bit, pt, err)
			}
		}
	}
}

func TestTruncated(t *testing.T) {
	s := testSealer(t)
	blob, err := s.Seal(baseAAD, testMeta, []byte("the plaintext"))
	if err != nil {
		t.Fatal(err)
	}
	for n := range len(blob) {
		if _, err := s.Open(baseAAD, blob[:n]); !errors.Is(err, ErrTampered) {
			t.Fatalf("truncated to %d: err = %v, want ErrTampered", n, err)
		}
	}
	// Extra trailing bytes are tampering too.
	if _, err := s.Open(baseAAD, append(bytes.Clone(blob), 0)); !errors.Is(err, ErrTampered) {
		t.Fatalf("extended blob: err = %v, want ErrTampered", err)
	}
	if _, err := s.Open(baseAAD, nil); !errors.Is(err, ErrTampered) {
		t.Fatalf("nil blob: err = %v, want ErrTampered", err)
	}
}

func TestWrongDataKey(t *testing.T) {
	s1, s2 := testSealer(t), testSealer(t)
	if s1.KeyID() == s2.KeyID() {
		t.Fatal("two random keys share a key id")
	}
	blob, err := s1.Seal(baseAAD, testMeta, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s2.Open(baseAAD, blob)
	if !errors.Is(err, ErrTampered) {
		t.Fatalf("err = %v, want ErrTampered", err)
	}
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	// Forge the header's key id: GCM must still reject it, as plain tampering.
	forged := bytes.Clone(blob)
	copy(forged[1:1+keyIDSize], s2.id[:])
	_, err = s2.Open(baseAAD, forged)
	if !errors.Is(err, ErrTampered) || errors.Is(err, ErrWrongKey) {
		t.Fatalf("forged key id: err = %v, want ErrTampered only", err)
	}
	// A genuinely altered blob is not reported as wrong key.
	if _, err := s1.Open(AAD{}, blob); errors.Is(err, ErrWrongKey) {
		t.Fatalf("moved blob reported as wrong key: %v", err)
	}
}

func TestNonceRandomAndNoPlaintext(t *testing.T) {
	s := testSealer(t)
	pt := []byte("a very recognisable plaintext value")
	a, err := s.Seal(baseAAD, testMeta, pt)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Seal(baseAAD, testMeta, pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are identical")
	}
	if bytes.Equal(a[1+keyIDSize:headerV1], b[1+keyIDSize:headerV1]) {
		t.Fatal("nonce reused")
	}
	for _, blob := range [][]byte{a, b} {
		if bytes.Contains(blob, pt) || bytes.Contains(blob, pt[:8]) {
			t.Fatal("sealed output contains the plaintext")
		}
	}
}

func TestKeyID(t *testing.T) {
	s := testSealer(t)
	id := s.KeyID()
	if len(id) != 2*keyIDSize || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("KeyID %q is not %d hex digits", id, 2*keyIDSize)
	}
	if id != s.KeyID() {
		t.Fatal("KeyID not stable")
	}
	if bytes.Contains(s.key[:], s.id[:]) {
		t.Fatal("KeyID reveals key bytes")
	}
}

func TestDestroy(t *testing.T) {
	s := testSealer(t)
	blob, err := s.Seal(baseAAD, testMeta, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	if s.key != ([keySize]byte{}) {
		t.Fatal("key not zeroed")
	}
	if _, err := s.Seal(baseAAD, testMeta, []byte("x")); err == nil {
		t.Fatal("Seal after Destroy succeeded")
	}
	if _, err := s.Open(baseAAD, blob); err == nil {
		t.Fatal("Open after Destroy succeeded")
	}
}

func TestWrapUnwrap(t *testing.T) {
	id1, _ := age.GenerateX25519Identity()
	id2, _ := age.GenerateX25519Identity()
	wrapped, s, err := NewDataKey(id1.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, s.key[:]) {
		t.Fatal("wrapped key contains the raw key")
	}
	if bytes.HasPrefix(wrapped, []byte("-----BEGIN")) {
		t.Fatal("wrapped key is armored")
	}
	blob, err := s.Seal(baseAAD, testMeta, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		id      age.Identity
		wantErr string
	}{
		{"right identity", id1, ""},
		{"other identity", id2, "wrapped to a different identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s2, err := UnwrapDataKey(wrapped, tc.id)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tc.wantErr)
				}
				if !errors.Is(err, age.ErrIncorrectIdentity) {
					t.Fatalf("err = %v does not wrap age.ErrIncorrectIdentity", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s2.KeyID() != s.KeyID() {
				t.Fatal("unwrapped key id differs")
			}
			if pt, err := s2.Open(baseAAD, blob); err != nil || string(pt) != "secret" {
				t.Fatalf("Open with unwrapped key = %q, %v", pt, err)
			}
		})
	}

	// Garbage and truncated wrapped keys fail without panicking.
	for _, bad := range [][]byte{nil, []byte("garbage"), wrapped[:len(wrapped)-1]} {
		if _, err := UnwrapDataKey(bad, id1); err == nil {
			t.Fatalf("UnwrapDataKey(%q) succeeded", bad)
		}
	}
}

func TestIdentityCreateAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "identity.txt")
	id, created, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("created = false on a fresh path")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %04o, want 0600", fi.Mode().Perm())
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		di, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if di.Mode().Perm() != 0o700 {
			t.Fatalf("dir %s mode %04o, want 0700", d, di.Mode().Perm())
		}
	}
	id2, created, err := LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	if created {
		t.Fatal("created = true on second call")
	}
	if id2.String() != id.String() {
		t.Fatal("second call loaded a different identity")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftover files in %s: %v", dir, entries)
	}
}

func TestIdentityRefused(t *testing.T) {
	good, _ := age.GenerateX25519Identity()
	for _, tc := range []struct {
		name    string
		setup   func(t *testing.T, path string)
		wantErr []string
	}{
		{"group readable", func(t *testing.T, path string) {
			writeFile(t, path, good.String()+"\n", 0o640)
		}, []string{"group or others", "chmod 600 "}},
		{"world readable", func(t *testing.T, path string) {
			writeFile(t, path, good.String()+"\n", 0o604)
		}, []string{"group or others", "chmod 600 "}},
		{"symlink", func(t *testing.T, path string) {
			target := path + ".real"
			writeFile(t, target, good.String()+"\n", 0o600)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, []string{"symlink"}},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, []string{"not a regular file"}},
		{"malformed", func(t *testing.T, path string) {
			writeFile(t, path, "# comment\nAGE-SECRET-KEY-1NOTAKEYTOPSECRET\n", 0o600)
		}, []string{"malformed", "line 2"}},
		{"empty", func(t *testing.T, path string) {
			writeFile(t, path, "", 0o600)
		}, []string{"malformed"}},
		{"two keys", func(t *testing.T, path string) {
			writeFile(t, path, good.String()+"\n"+good.String()+"\n", 0o600)
		}, []string{"malformed", "more than one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "identity.txt")
			tc.setup(t, path)
			_, _, err := LoadOrCreateIdentity(path)
			if err == nil {
				t.Fatal("identity accepted")
			}
			msg := err.Error()
			want := append(tc.wantErr, path)
			for _, w := range want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if strings.Contains(msg, "TOPSECRET") || strings.Contains(msg, good.String()) {
				t.Errorf("error %q leaks file contents", msg)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode is filtered by the umask; set it exactly.
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func TestIdentityConcurrentCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	path := filepath.Join(dir, "identity.txt")
	const n = 16
	var (
		wg      sync.WaitGroup
		ids     [n]string
		created [n]bool
		errs    [n]error
		start   = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			id, c, err := LoadOrCreateIdentity(path)
			errs[i], created[i] = err, c
			if err == nil {
				ids[i] = id.String()
			}
		})
	}
	close(start)
	wg.Wait()
	nCreated := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("goroutine %d got a different identity", i)
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Fatalf("%d callers report created=true, want 1", nCreated)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("leftover temp files: %v", entries)
	}
	id, created1, err := LoadOrCreateIdentity(path)
	if err != nil || created1 || id.String() != ids[0] {
		t.Fatalf("reload: %v, created=%v, same=%v", err, created1, err == nil && id.String() == ids[0])
	}
}

// FuzzOpen checks that Open never panics on arbitrary input and never accepts
// anything but an exact blob produced by Seal (version 2) or by flyte
// before it (version 1) under the same AAD, and that the meta it returns is
// exactly the one sealed.
func FuzzOpen(f *testing.F) {
	s, err := newSealer(bytes.Repeat([]byte{0x42}, keySize))
	if err != nil {
		f.Fatal(err)
	}
	// Fixed key and nonces: the fuzzing engine runs this setup in every
	// worker process, and all of them must agree on which blobs are genuine.
	type sealed struct {
		pt   string
		meta *Meta
	}
	valid := map[string]sealed{} // blob -> what it seals
	for i, pt := range []string{"", "x", "hunter2", strings.Repeat("secret", 20)} {
		m := testMeta
		m.Version = uint64(i + 1)
		m.Incarnation[0] = byte(i)
		blob := s.sealWithNonce(baseAAD, m, []byte(pt), [nonceSize]byte{byte(i)})
		valid[string(blob)] = sealed{pt, &m}
		f.Add(blob)
		f.Add(blob[:len(blob)/2])
		f.Add(blob[:headerSize])
		v1 := s.sealV1WithNonce(baseAAD, []byte(pt), [nonceSize]byte{byte(i), 1})
		valid[string(v1)] = sealed{pt, nil}
		f.Add(v1)
		f.Add(v1[:headerV1])
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte{2})
	f.Add(bytes.Repeat([]byte{0}, headerSize+tagSize))
	f.Fuzz(func(t *testing.T, blob []byte) {
		pt, meta, err := s.OpenRecord(baseAAD, blob)
		if err != nil {
			if !errors.Is(err, ErrTampered) {
				t.Fatalf("error %v does not match ErrTampered", err)
			}
			return
		}
		want, ok := valid[string(blob)]
		if !ok {
			t.Fatalf("Open accepted a blob Seal never produced: %x", blob)
		}
		if string(pt) != want.pt {
			t.Fatalf("Open = %q, want %q", pt, want.pt)
		}
		if (meta == nil) != (want.meta == nil) || meta != nil && *meta != *want.meta {
			t.Fatalf("meta = %+v, want %+v", meta, want.meta)
		}
	})
}

// sealV1WithNonce writes a version-1 blob, as flyte did before version 2,
// so tests can check that such blobs still open. Production code never
// writes one.
func (s *Sealer) sealV1WithNonce(aad AAD, plaintext []byte, nonce [nonceSize]byte) []byte {
	out := make([]byte, headerV1, headerV1+len(plaintext)+tagSize)
	out[0] = blobV1
	copy(out[1:1+keyIDSize], s.id[:])
	copy(out[1+keyIDSize:headerV1], nonce[:])
	ad := appendAAD(nil, out, aad)
	return s.aead.Seal(out, nonce[:], plaintext, ad)
}

// A version-2 blob seals the record's version, times and incarnation:
// OpenRecord returns them, and changing any of them in the header (or
// resealing under other meta and swapping headers) fails authentication.
func TestSealedMeta(t *testing.T) {
	s := testSealer(t)
	blob, err := s.Seal(baseAAD, testMeta, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	pt, meta, err := s.OpenRecord(baseAAD, blob)
	if err != nil || string(pt) != "value" || meta == nil || *meta != testMeta {
		t.Fatalf("OpenRecord = %q, %+v, %v", pt, meta, err)
	}
	for _, f := range []struct {
		name     string
		off, len int
	}{
		{"version", headerV1, 8},
		{"created", headerV1 + 8, 8},
		{"updated", headerV1 + 16, 8},
		{"incarnation", headerV1 + 24, IncarnationSize},
	} {
		t.Run(f.name, func(t *testing.T) {
			// Every byte of the field, and a plausible edit (+1 on the last byte).
			for i := f.off; i < f.off+f.len; i++ {
				mod := bytes.Clone(blob)
				mod[i]++
				if pt, m, err := s.OpenRecord(baseAAD, mod); !errors.Is(err, ErrTampered) || pt != nil || m != nil {
					t.Fatalf("byte %d of %s altered: OpenRecord = %q, %+v, %v; want ErrTampered", i, f.name, pt, m, err)
				}
			}
		})
	}
	// The header of another genuine blob does not fit this ciphertext.
	other := testMeta
	other.Version++
	blob2, err := s.Seal(baseAAD, other, []byte("value"))
	if err != nil {
		t.Fatal(err)
	}
	mixed := append(bytes.Clone(blob2[:headerSize]), blob[headerSize:]...)
	copy(mixed[1+keyIDSize:headerV1], blob[1+keyIDSize:headerV1]) // keep this blob's nonce
	if _, _, err := s.OpenRecord(baseAAD, mixed); !errors.Is(err, ErrTampered) {
		t.Fatalf("swapped meta: err = %v, want ErrTampered", err)
	}
	if _, err := s.Seal(baseAAD, Meta{}, []byte("value")); err == nil {
		t.Fatal("Seal accepted version 0")
	}
}

// Blobs from before version 2 still open, with no sealed meta, and are held
// to the same checks: another AAD, a bit flip or a truncation fails.
func TestVersion1StillOpens(t *testing.T) {
	s := testSealer(t)
	blob := s.sealV1WithNonce(baseAAD, []byte("old value"), [nonceSize]byte{7})
	pt, meta, err := s.OpenRecord(baseAAD, blob)
	if err != nil || string(pt) != "old value" || meta != nil {
		t.Fatalf("OpenRecord(v1) = %q, %+v, %v", pt, meta, err)
	}
	if pt, err := s.Open(baseAAD, blob); err != nil || string(pt) != "old value" {
		t.Fatalf("Open(v1) = %q, %v", pt, err)
	}
	moved := baseAAD
	moved.Key = "OTHER"
	if _, err := s.Open(moved, blob); !errors.Is(err, ErrTampered) {
		t.Fatalf("moved v1 blob: %v", err)
	}
	for i := range blob {
		mod := bytes.Clone(blob)
		mod[i] ^= 0x01
		if _, _, err := s.OpenRecord(baseAAD, mod); !errors.Is(err, ErrTampered) {
			t.Fatalf("v1 byte %d flipped: %v", i, err)
		}
	}
	// A v1 blob relabelled as v2 (or the reverse) does not authenticate:
	// the AAD domains differ and the headers have different lengths.
	relabel := bytes.Clone(blob)
	relabel[0] = blobVersion
	if _, _, err := s.OpenRecord(baseAAD, relabel); !errors.Is(err, ErrTampered) {
		t.Fatalf("v1 relabelled v2: %v", err)
	}
	v2, err := s.Seal(baseAAD, testMeta, []byte("old value"))
	if err != nil {
		t.Fatal(err)
	}
	v2[0] = blobV1
	if _, _, err := s.OpenRecord(baseAAD, v2); !errors.Is(err, ErrTampered) {
		t.Fatalf("v2 relabelled v1: %v", err)
	}
}

func TestIncarnation(t *testing.T) {
	a, err := NewIncarnation()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewIncarnation()
	if a == b || a == (Incarnation{}) || len(a.String()) != 2*IncarnationSize {
		t.Fatalf("incarnations %s %s", a, b)
	}
}
