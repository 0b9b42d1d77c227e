package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"filippo.io/age"
)

func newID(t testing.TB) (*age.X25519Identity, PublicKey) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	pub, err := IdentityPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return id, pub
}

func only(keys ...PublicKey) func(PublicKey) bool {
	return func(k PublicKey) bool {
		for _, x := range keys {
			if x == k {
				return true
			}
		}
		return false
	}
}

func newTestEnvelope(t testing.TB, creator *age.X25519Identity, epoch uint64, members ...Member) (*Envelope, *Sealer) {
	t.Helper()
	s, err := NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnvelope(creator, StoreIDFor(s), epoch, members, s)
	if err != nil {
		t.Fatal(err)
	}
	return e, s
}

func TestEnvelopeRoundTrip(t *testing.T) {
	alice, alicePub := newID(t)
	bob, bobPub := newID(t)
	e, s := newTestEnvelope(t, alice, 7, Member{"alice", alicePub}, Member{"bob@ci", bobPub})
	b := e.Marshal()
	if !IsEnvelope(b) {
		t.Fatal("IsEnvelope false")
	}
	p, err := ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.Marshal(), b) {
		t.Fatal("re-encoding differs")
	}
	if p.Epoch != 7 || p.StoreID != StoreIDFor(s) || p.Creator != alicePub || len(p.Recipients) != 2 || p.Recipients[1].Label != "bob@ci" {
		t.Fatalf("parsed %+v", p)
	}
	// Alice trusts herself; Bob trusts Alice once he accepted her.
	for _, c := range []struct {
		id    *age.X25519Identity
		trust func(PublicKey) bool
	}{{alice, only(alicePub)}, {bob, only(alicePub, bobPub)}} {
		got, err := p.Open(c.id, c.trust)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeyID() != s.KeyID() {
			t.Fatal("opened another key")
		}
		blob, err := s.Seal(AAD{Key: "K"}, Meta{Version: 1}, []byte("value"))
		if err != nil {
			t.Fatal(err)
		}
		if v, err := got.Open(AAD{Key: "K"}, blob); err != nil || string(v) != "value" {
			t.Fatalf("open: %q %v", v, err)
		}
	}
}

// A teammate not yet accepted is named, with the label the envelope gives.
func TestEnvelopeUntrustedCreator(t *testing.T) {
	user, userPub := newID(t)
	mallory, malPub := newID(t)
	e, _ := newTestEnvelope(t, mallory, 1, Member{"user", userPub}, Member{"mallory", malPub})
	_, err := e.Open(user, only(userPub))
	var ue *UntrustedError
	if !errors.As(err, &ue) || ue.Creator != malPub || ue.Label != "mallory" {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), malPub.String()) {
		t.Fatalf("error does not name the key: %v", err)
	}
	// A creator who is not a recipient of the envelope: refused, even
	// when trusted (a member removed from the store making a key of hers).
	e, _ = newTestEnvelope(t, mallory, 1, Member{"user", userPub})
	if _, err := e.Open(user, func(PublicKey) bool { return true }); !errors.Is(err, ErrCreatorNotRecipient) {
		t.Fatalf("got %v", err)
	}
}

// Claiming to be the user without the user's key: the tag does not verify.
func TestEnvelopeForgedCreator(t *testing.T) {
	user, userPub := newID(t)
	mallory, _ := newID(t)
	e, _ := newTestEnvelope(t, mallory, 1, Member{"user", userPub})
	e.Creator = userPub
	p, err := ParseEnvelope(e.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Open(user, only(userPub)); !errors.Is(err, ErrBadTag) {
		t.Fatalf("got %v", err)
	}
}

func TestEnvelopeWrongRecipient(t *testing.T) {
	alice, alicePub := newID(t)
	carol, carolPub := newID(t)
	e, _ := newTestEnvelope(t, alice, 1, Member{"alice", alicePub})
	if _, err := e.Open(carol, only(alicePub, carolPub)); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("got %v", err)
	}
	// Listing carol without a tag she can verify does not help.
	e.Recipients = append(e.Recipients, Member{"carol", carolPub})
	e.Tags = append(e.Tags, e.Tags[0])
	if _, err := e.Open(carol, only(alicePub, carolPub)); !errors.Is(err, ErrBadTag) {
		t.Fatalf("got %v", err)
	}
}

// Every byte of the envelope matters: changing any one makes it malformed,
// or its tag fail. Only the other recipient's tag is not the user's to
// check.
func TestEnvelopeEachByteTampered(t *testing.T) {
	user, userPub := newID(t)
	_, bobPub := newID(t)
	e, _ := newTestEnvelope(t, user, 3, Member{"user", userPub}, Member{"bob", bobPub})
	b := e.Marshal()
	for i := range b[:len(b)-envTagSize] {
		for _, x := range []byte{0x01, 0x80} {
			c := bytes.Clone(b)
			c[i] ^= x
			p, err := ParseEnvelope(c)
			if err != nil {
				continue
			}
			if s, err := p.Open(user, only(userPub, bobPub)); err == nil {
				s.Destroy()
				t.Fatalf("byte %d ^ %#x: accepted", i, x)
			}
		}
	}
}

// Named fields tampered, re-encoded: each is caught.
func TestEnvelopeFieldsTampered(t *testing.T) {
	user, userPub := newID(t)
	_, bobPub := newID(t)
	other, _ := NewSealer()
	otherEnv, err := NewEnvelope(user, StoreIDFor(other), 1, []Member{{"user", userPub}}, other)
	if err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(e *Envelope){
		"epoch":    func(e *Envelope) { e.Epoch++ },
		"store id": func(e *Envelope) { e.StoreID[0] ^= 1 },
		"key id":   func(e *Envelope) { e.KeyID[0] ^= 1 },
		"creator":  func(e *Envelope) { e.Creator = bobPub },
		"label":    func(e *Envelope) { e.Recipients[0].Label = "someone" },
		"recipient": func(e *Envelope) {
			e.Recipients = append(e.Recipients, Member{"eve", bobPub})
			e.Tags = append(e.Tags, e.Tags[0])
		},
		"order":     func(e *Envelope) { e.Recipients[0], e.Recipients[1] = e.Recipients[1], e.Recipients[0] },
		"wrapped":   func(e *Envelope) { e.Wrapped = otherEnv.Wrapped },
		"tag":       func(e *Envelope) { e.Tags[0][5] ^= 1 },
		"tags swap": func(e *Envelope) { e.Tags[0], e.Tags[1] = e.Tags[1], e.Tags[0] },
	}
	for name, edit := range edits {
		e, _ := newTestEnvelope(t, user, 2, Member{"user", userPub}, Member{"bob", bobPub})
		if name == "recipient" {
			e.Recipients = e.Recipients[:1]
			e.Tags = e.Tags[:1]
		}
		edit(e)
		p, err := ParseEnvelope(e.Marshal())
		if err != nil {
			continue
		}
		if _, err := p.Open(user, only(userPub)); err == nil {
			t.Errorf("%s tampered: accepted", name)
		}
	}
}

func TestParseEnvelopeRefusals(t *testing.T) {
	user, userPub := newID(t)
	e, _ := newTestEnvelope(t, user, 1, Member{"user", userPub})
	good := e.Marshal()
	cases := map[string][]byte{
		"empty":     nil,
		"legacy":    []byte("age-encryption.org/v1\n"),
		"truncated": good[:len(good)-1],
		"trailing":  append(bytes.Clone(good), 0),
		"version":   append(append([]byte(envelopeMagic), 2), good[9:]...),
		"huge":      make([]byte, MaxEnvelope+1),
	}
	zeroEpoch := *e
	zeroEpoch.Epoch = 0
	cases["epoch 0"] = zeroEpoch.Marshal()
	noRecipients := *e
	noRecipients.Recipients, noRecipients.Tags = nil, nil
	cases["no recipients"] = noRecipients.Marshal()
	twice := *e
	twice.Recipients = []Member{e.Recipients[0], {"again", userPub}}
	twice.Tags = append(e.Tags, e.Tags[0])
	cases["recipient twice"] = twice.Marshal()
	badLabel := *e
	badLabel.Recipients = []Member{{"a b\x1b", userPub}}
	cases["bad label"] = badLabel.Marshal()
	for name, b := range cases {
		if _, err := ParseEnvelope(b); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, errEnvelope) {
			t.Errorf("%s: %v does not match errEnvelope", name, err)
		}
	}
}

func TestNewEnvelopeRefusals(t *testing.T) {
	user, userPub := newID(t)
	s, _ := NewSealer()
	if _, err := NewEnvelope(user, StoreIDFor(s), 0, []Member{{"user", userPub}}, s); err == nil {
		t.Error("epoch 0 accepted")
	}
	if _, err := NewEnvelope(user, StoreIDFor(s), 1, nil, s); err == nil {
		t.Error("no recipients accepted")
	}
	if _, err := NewEnvelope(user, StoreIDFor(s), 1, []Member{{"", userPub}}, s); err == nil {
		t.Error("empty label accepted")
	}
	// A low-order point has no shared secret: refused, not an all-zero key.
	if _, err := NewEnvelope(user, StoreIDFor(s), 1, []Member{{"user", userPub}, {"zero", PublicKey{}}}, s); err == nil {
		t.Error("low-order recipient accepted")
	}
	s.Destroy()
	if _, err := NewEnvelope(user, StoreIDFor(s), 1, []Member{{"user", userPub}}, s); err == nil {
		t.Error("destroyed sealer accepted")
	}
}

func FuzzParseEnvelope(f *testing.F) {
	user, userPub := newID(f)
	_, bobPub := newID(f)
	e, _ := newTestEnvelope(f, user, 1, Member{"user", userPub}, Member{"bob", bobPub})
	f.Add(e.Marshal())
	f.Add([]byte(envelopeMagic + "\x01"))
	f.Add([]byte("age-encryption.org/v1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseEnvelope(b)
		if err != nil {
			return
		}
		if !bytes.Equal(p.Marshal(), b) {
			t.Fatal("a parsed envelope re-encodes differently")
		}
		if s, err := p.Open(user, only(userPub)); err == nil {
			s.Destroy()
			if !bytes.Equal(b, e.Marshal()) {
				t.Fatal("an altered envelope opened")
			}
		}
	})
}

// What checking the data key adds to every command: parse, tag, unwrap.
func BenchmarkEnvelopeOpen(b *testing.B) {
	user, userPub := newID(b)
	e, _ := newTestEnvelope(b, user, 1, Member{"user", userPub})
	enc := e.Marshal()
	for b.Loop() {
		p, err := ParseEnvelope(enc)
		if err != nil {
			b.Fatal(err)
		}
		s, err := p.Open(user, only(userPub))
		if err != nil {
			b.Fatal(err)
		}
		s.Destroy()
	}
}
