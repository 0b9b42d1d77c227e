package seal

import (
	"bytes"
	"crypto/ecdh"
	"strings"
	"testing"

	"filippo.io/age"
)

// BIP 173's test vectors for the checksum (those that fit maxBech32).
func TestBech32Vectors(t *testing.T) {
	valid := []string{
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	}
	for _, s := range valid {
		if _, _, err := bech32Values(s); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	invalid := []string{
		"\x201nwldj5",   // HRP character out of range
		"\x7f1axkwrx",   // HRP character out of range
		"\x801eym55h",   // HRP character out of range
		"pzry9x0s0muk",  // no separator
		"1pzry9x0s0muk", // empty HRP
		"x1b4n0q5v",     // invalid data character
		"li1dgmt3",      // checksum too short
		"de1lg7wt\xff",  // invalid character in checksum
		"A1G7SGD8",      // checksum made with the upper-case HRP
		"10a06t8",       // empty HRP
		"1qzzfhee",      // empty HRP
		"A12uEL5L",      // mixed case
		"a12uel5m",      // one character changed
		strings.Repeat("a", maxBech32+1),
	}
	for _, s := range invalid {
		if _, _, err := bech32Values(s); err == nil {
			t.Errorf("%q: accepted", s)
		}
	}
	// Data that does not end on a byte boundary with zero padding.
	for _, v := range [][]byte{{31}, {0, 1}, {0, 0, 0, 0, 0, 0, 1}} {
		if _, err := convertBits(v, 5, 8, false); err == nil {
			t.Errorf("padding %v accepted", v)
		}
	}
}

// age's own test identity: 32 bytes of 0x42.
func TestAgeKnownKey(t *testing.T) {
	const sk = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
	k, err := decodeKey(sk, identityHRP)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k[:], bytes.Repeat([]byte{0x42}, 32)) {
		t.Fatalf("decoded %x", k)
	}
	id, err := age.ParseX25519Identity(sk)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := IdentityPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	if pub.String() != id.Recipient().String() {
		t.Fatalf("public key %s, age says %s", pub, id.Recipient())
	}
	if got := strings.ToUpper(bech32Encode(identityHRP, k[:])); got != sk {
		t.Fatalf("re-encoded %s", got)
	}
}

// Real keys from age-keygen's generator: the decoded scalar times the base
// point is the decoded recipient, and both re-encode to what age wrote.
func TestAgeGeneratedKeys(t *testing.T) {
	for range 50 {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		scalar, err := decodeKey(id.String(), identityHRP)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(scalar[:])
		if err != nil {
			t.Fatal(err)
		}
		rec, err := ParsePublicKey(id.Recipient().String())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(priv.PublicKey().Bytes(), rec[:]) {
			t.Fatal("X25519(scalar, basepoint) differs from the recipient")
		}
		if rec.String() != id.Recipient().String() {
			t.Fatalf("recipient re-encodes as %s, age wrote %s", rec, id.Recipient())
		}
		if got := strings.ToUpper(bech32Encode(identityHRP, scalar[:])); got != id.String() {
			t.Fatal("identity does not re-encode as age wrote it")
		}
	}
}

// A key of the wrong kind, length or checksum is refused, and the error
// never quotes the key.
func TestDecodeKeyRefusals(t *testing.T) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	sk, rec := id.String(), id.Recipient().String()
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'q' || b[i] == 'Q' {
			b[i]++
		} else {
			b[i] = map[bool]byte{true: 'Q', false: 'q'}[b[i] >= 'A' && b[i] <= 'Z']
		}
		return string(b)
	}
	cases := map[string]string{
		"secret as recipient":  sk,
		"recipient flipped":    flip(rec, len(rec)-10),
		"recipient short":      rec[:len(rec)-1],
		"other hrp":            bech32Encode("agx", make([]byte, 32)),
		"31 bytes":             bech32Encode(recipientHRP, make([]byte, 31)),
		"33 bytes":             bech32Encode(recipientHRP, make([]byte, 33)),
		"empty":                "",
		"secret flipped":       flip(sk, 20),
		"secret mixed case":    strings.ToLower(sk[:20]) + sk[20:],
		"recipient with space": rec + " ",
	}
	for name, s := range cases {
		_, err := ParsePublicKey(s)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if len(s) > 10 && strings.Contains(err.Error(), s[4:12]) {
			t.Errorf("%s: error quotes the input: %v", name, err)
		}
	}
	if _, err := decodeKey(flip(sk, 20), identityHRP); err == nil {
		t.Error("flipped secret key accepted")
	}
	if _, err := decodeKey(rec, identityHRP); err == nil {
		t.Error("recipient accepted as a secret key")
	}
}

func FuzzBech32(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	for _, s := range []string{id.String(), id.Recipient().String(), "A12UEL5L", "a12uel5l", "1qzzfhee", "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hrp, b, err := bech32Decode(s)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same string, in lower case.
		if got := bech32Encode(hrp, b); got != strings.ToLower(s) {
			t.Fatalf("%q re-encodes as %q", s, got)
		}
	})
}
