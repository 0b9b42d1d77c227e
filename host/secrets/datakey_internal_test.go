package secrets

import (
	"bytes"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/host/seal"
)

func TestKeyStatesRoundTrip(t *testing.T) {
	rec := testRecipient(t)
	ks := &keyStates{
		epoch:   map[string]uint64{strings.Repeat("ab", 16): 3, strings.Repeat("01", 16): 1},
		at:      map[string]string{strings.Repeat("cd", 32): strings.Repeat("ab", 16)},
		members: map[string][]seal.PublicKey{strings.Repeat("ab", 16): {rec}},
	}
	b := ks.encode()
	got, err := parseKeyStates(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.encode(), b) {
		t.Fatalf("%s", got.encode())
	}
	for name, in := range map[string]string{
		"header":      "flyte-stores 2\n",
		"no newline":  storesHeader + "store " + strings.Repeat("ab", 16) + " 3",
		"epoch 0":     storesHeader + "store " + strings.Repeat("ab", 16) + " 0\n",
		"epoch +1":    storesHeader + "store " + strings.Repeat("ab", 16) + " +1\n",
		"epoch 01":    storesHeader + "store " + strings.Repeat("ab", 16) + " 01\n",
		"upper hex":   storesHeader + "store " + strings.Repeat("AB", 16) + " 1\n",
		"short id":    storesHeader + "store abab 1\n",
		"twice":       storesHeader + "store " + strings.Repeat("ab", 16) + " 1\nstore " + strings.Repeat("ab", 16) + " 2\n",
		"unknown":     storesHeader + "other x y\n",
		"empty line":  storesHeader + "\n",
		"extra field": storesHeader + "at " + strings.Repeat("cd", 32) + " " + strings.Repeat("ab", 16) + " x\n",
		"member twice": storesHeader + "member " + strings.Repeat("ab", 16) + " " + rec.String() + "\nmember " +
			strings.Repeat("ab", 16) + " " + rec.String() + "\n",
		"member upper":  storesHeader + "member " + strings.Repeat("ab", 16) + " " + strings.ToUpper(rec.String()) + "\n",
		"member secret": storesHeader + "member " + strings.Repeat("ab", 16) + " AGE-SECRET-KEY-1X\n",
		"member short":  storesHeader + "member abab " + rec.String() + "\n",
	} {
		if _, err := parseKeyStates([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func testRecipient(t testing.TB) seal.PublicKey {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	k, err := seal.ParsePublicKey(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseVouchers(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	rec := id.Recipient().String()
	v, err := parseVouchers([]byte("# teammates\n\n  " + rec + "  bob@laptop \n"))
	if err != nil || len(v) != 1 {
		t.Fatalf("%v %v", v, err)
	}
	for name, in := range map[string]string{
		"no label":     rec + "\n",
		"bad label":    rec + " b\x1bob\n",
		"secret key":   id.String() + " me\n",
		"three fields": rec + " bob extra\n",
	} {
		_, err := parseVouchers([]byte(in))
		if err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Contains(err.Error(), "AGE-SECRET-KEY") || strings.Contains(err.Error(), rec[4:20]) {
			t.Errorf("%s: error quotes the file: %v", name, err)
		}
	}
}

func FuzzParseKeyStates(f *testing.F) {
	f.Add([]byte(storesHeader + "store " + strings.Repeat("ab", 16) + " 3\nat " + strings.Repeat("cd", 32) + " " + strings.Repeat("ab", 16) + "\n"))
	f.Add([]byte(storesHeader))
	f.Add([]byte{})
	f.Add([]byte(storesHeader + "store " + strings.Repeat("ab", 16) + " 3\nmember " + strings.Repeat("ab", 16) + " " + testRecipient(f).String() + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := parseKeyStates(b)
		if err != nil {
			return
		}
		// What parses re-encodes to something that parses the same.
		again, err := parseKeyStates(ks.encode())
		if err != nil || !bytes.Equal(again.encode(), ks.encode()) {
			t.Fatalf("re-encoding: %v", err)
		}
	})
}

func FuzzParseVouchers(f *testing.F) {
	id, _ := age.GenerateX25519Identity()
	f.Add([]byte("# teammates\n" + id.Recipient().String() + " bob\n"))
	f.Add([]byte(id.String() + " me\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVouchers(b)
		if err == nil {
			for k := range v {
				_ = k.String()
			}
		} else if bytes.Contains(b, []byte(err.Error())) && len(err.Error()) > 20 {
			t.Fatalf("error quotes the input: %v", err)
		}
	})
}
