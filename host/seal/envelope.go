package seal

import (
	"bytes"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

// # Data-key envelope (version 1)
//
// A store's data key is kept in an envelope that says who vouches for it.
// Anyone who can write the store and knows a user's recipient (it is
// public) could otherwise wrap a key of their own to that user and have
// flyte seal new secrets under it. age cannot sign, so each recipient gets
// a tag that only the envelope's creator and that recipient can compute:
//
//	tag_i = HMAC-SHA256(K_i, SHA-256(envelopeDomain || canonical))
//	K_i   = HKDF-SHA256(secret = X25519(creator_secret, recipient_i_public),
//	                    salt = nil,
//	                    info = tagDomain || creator_public || recipient_i_public ||
//	                           uint8(len(label_i)) || label_i, 32 bytes)
//
// where canonical is the whole encoding below up to, not including, the
// tags. The recipient checks its own tag with X25519(its secret, creator
// public), which is the same shared secret, and then decides whether it
// trusts the creator (see host/secrets). A tag convinces only its
// recipient: the recipient could have made it too, so an envelope proves
// nothing to a third party, which flyte never needs.
//
// Encoding (all integers big-endian, every variable part length-prefixed,
// nothing after the tags):
//
//	size   field
//	8      magic "flyte-dk"
//	1      version, 0x01
//	16     store id: stays the same for the life of the store, across epochs
//	8      epoch: 1 for a new store, +1 each time the key or recipients change
//	8      key id of the data key (as in a sealed blob's header)
//	32     creator's X25519 public key
//	1      n, the number of recipients, 1..MaxRecipients
//	n *    1 label length (1..64), label, 32 recipient's X25519 public key
//	4      length of the wrapped key, 1..maxWrapped
//	...    the data key, age-encrypted (binary) to all n recipients
//	n * 32 tags, in recipient order
const (
	envelopeMagic   = "flyte-dk"
	envelopeVersion = 1
	// MaxRecipients bounds an envelope's recipient list.
	MaxRecipients = 64
	// MaxLabel is the longest recipient label, in bytes.
	MaxLabel = 64
	// StoreIDSize is the length of a store id.
	StoreIDSize = 16

	maxWrapped     = 64 << 10
	pubSize        = 32
	envTagSize     = sha256.Size
	envelopeDomain = "flyte/data-key-envelope/v1\x00"
	tagDomain      = "flyte/data-key-envelope/tag/v1\x00"
	storeIDDomain  = "flyte/store-id/v1\x00"
	// MaxEnvelope bounds an encoded envelope.
	MaxEnvelope = 8 + 1 + StoreIDSize + 8 + keyIDSize + pubSize + 1 +
		MaxRecipients*(1+MaxLabel+pubSize) + 4 + maxWrapped + MaxRecipients*envTagSize
)

// Member is one recipient of an envelope: a label people recognise and
// the X25519 public key of the member's age identity.
type Member struct {
	Label  string
	Public PublicKey
}

// Envelope is a parsed data-key envelope. A parsed envelope is only well
// formed: nothing in it is trusted until [Envelope.Open] succeeds.
type Envelope struct {
	StoreID    [StoreIDSize]byte
	Epoch      uint64
	KeyID      [keyIDSize]byte
	Creator    PublicKey
	Recipients []Member
	Wrapped    []byte
	Tags       [][envTagSize]byte
}

// IsEnvelope reports whether b starts like an envelope (rather than like
// the bare age file flyte wrote before envelopes).
func IsEnvelope(b []byte) bool { return bytes.HasPrefix(b, []byte(envelopeMagic)) }

// ValidLabel reports whether s may label a recipient: 1 to 64 bytes of
// letters, digits and . _ @ + -.
func ValidLabel(s string) bool {
	if len(s) == 0 || len(s) > MaxLabel {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._@+-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// StoreIDFor derives a store id from a store's first data key, so that two
// processes that upgrade the same old store at once agree on it.
func StoreIDFor(s *Sealer) [StoreIDSize]byte {
	h := sha256.New()
	h.Write([]byte(storeIDDomain))
	h.Write(s.key[:])
	var id [StoreIDSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// NewSealer returns a Sealer holding a fresh random data key, to be put in
// an envelope with [NewEnvelope].
func NewSealer() (*Sealer, error) {
	var key [keySize]byte
	defer clear(key[:])
	if _, err := rand.Read(key[:]); err != nil {
		return nil, fmt.Errorf("generate data key: %w", err)
	}
	return newSealer(key[:])
}

// KeyIDBytes returns the key id that a blob header and an envelope carry.
func (s *Sealer) KeyIDBytes() [keyIDSize]byte { return s.id }

// NewEnvelope wraps the data key of s to every member and vouches for it as
// creator: one tag per member.
func NewEnvelope(creator *age.X25519Identity, storeID [StoreIDSize]byte, epoch uint64, members []Member, s *Sealer) (*Envelope, error) {
	if s == nil || s.aead == nil {
		return nil, errDestroyed
	}
	if epoch == 0 {
		return nil, errors.New("envelope: epoch 0")
	}
	priv, err := privateKey(creator)
	if err != nil {
		return nil, err
	}
	e := &Envelope{StoreID: storeID, Epoch: epoch, KeyID: s.id, Creator: PublicKey(priv.PublicKey().Bytes())}
	e.Recipients = append([]Member(nil), members...)
	if err := e.checkMembers(); err != nil {
		return nil, err
	}
	rs := make([]age.Recipient, len(members))
	for i, m := range members {
		r, err := age.ParseX25519Recipient(m.Public.String())
		if err != nil {
			return nil, fmt.Errorf("envelope: recipient %s: not a usable X25519 key", m.Label)
		}
		rs[i] = r
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, rs...)
	if err == nil {
		_, err = w.Write(s.key[:])
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("wrap data key: %w", err)
	}
	if buf.Len() > maxWrapped {
		return nil, errors.New("envelope: wrapped key too large")
	}
	e.Wrapped = buf.Bytes()
	digest := e.digest()
	e.Tags = make([][envTagSize]byte, len(members))
	for i, m := range members {
		t, err := tag(priv, m.Public, e.Creator, m, digest)
		if err != nil {
			return nil, fmt.Errorf("envelope: recipient %s: %w", m.Label, err)
		}
		e.Tags[i] = t
	}
	return e, nil
}

func (e *Envelope) checkMembers() error {
	if len(e.Recipients) == 0 || len(e.Recipients) > MaxRecipients {
		return fmt.Errorf("envelope: %d recipients (1 to %d)", len(e.Recipients), MaxRecipients)
	}
	seen := make(map[PublicKey]bool, len(e.Recipients))
	for _, m := range e.Recipients {
		if !ValidLabel(m.Label) {
			return errors.New("envelope: invalid recipient label")
		}
		if seen[m.Public] {
			return errors.New("envelope: a recipient is listed twice")
		}
		seen[m.Public] = true
	}
	return nil
}

// tag computes the tag for member m of an envelope made by creator whose
// canonical digest is digest. Making it, priv is the creator's key and other
// the member's; checking it, priv is the member's and other the creator's:
// X25519 gives both the same shared secret.
func tag(priv *ecdh.PrivateKey, other, creator PublicKey, m Member, digest [sha256.Size]byte) ([envTagSize]byte, error) {
	var out [envTagSize]byte
	pub, err := ecdh.X25519().NewPublicKey(other[:])
	if err != nil {
		return out, errors.New("not a usable X25519 key")
	}
	shared, err := priv.ECDH(pub)
	defer clear(shared)
	if err != nil {
		return out, errors.New("a low-order X25519 key") // crypto/ecdh refuses an all-zero secret
	}
	info := make([]byte, 0, len(tagDomain)+2*pubSize+1+len(m.Label))
	info = append(info, tagDomain...)
	info = append(info, creator[:]...)
	info = append(info, m.Public[:]...)
	info = append(info, byte(len(m.Label)))
	info = append(info, m.Label...)
	key, err := hkdf.Key(sha256.New, shared, nil, string(info), 32)
	defer clear(key)
	if err != nil {
		return out, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(digest[:])
	copy(out[:], mac.Sum(nil))
	return out, nil
}

// canonical is the encoding up to the tags.
func (e *Envelope) canonical() []byte {
	b := make([]byte, 0, 128+len(e.Recipients)*(1+MaxLabel+pubSize)+len(e.Wrapped))
	b = append(b, envelopeMagic...)
	b = append(b, envelopeVersion)
	b = append(b, e.StoreID[:]...)
	b = binary.BigEndian.AppendUint64(b, e.Epoch)
	b = append(b, e.KeyID[:]...)
	b = append(b, e.Creator[:]...)
	b = append(b, byte(len(e.Recipients)))
	for _, m := range e.Recipients {
		b = append(b, byte(len(m.Label)))
		b = append(b, m.Label...)
		b = append(b, m.Public[:]...)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Wrapped)))
	return append(b, e.Wrapped...)
}

func (e *Envelope) digest() [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(envelopeDomain))
	h.Write(e.canonical())
	var d [sha256.Size]byte
	copy(d[:], h.Sum(nil))
	return d
}

// Marshal encodes the envelope.
func (e *Envelope) Marshal() []byte {
	b := e.canonical()
	for _, t := range e.Tags {
		b = append(b, t[:]...)
	}
	return b
}

// errEnvelope is the cause of every parse error; the messages say which
// part is wrong and never quote the input.
var errEnvelope = errors.New("malformed data-key envelope")

// ParseEnvelope decodes an envelope strictly: the exact version, every
// length in range, valid and distinct recipients, one tag per recipient and
// nothing after them. It checks form only, not tags (see [Envelope.Open]).
func ParseEnvelope(b []byte) (*Envelope, error) {
	if len(b) > MaxEnvelope {
		return nil, fmt.Errorf("%w: larger than %d bytes", errEnvelope, MaxEnvelope)
	}
	r := envReader{b: b, ok: true}
	if string(r.take(len(envelopeMagic))) != envelopeMagic {
		return nil, fmt.Errorf("%w: not an envelope", errEnvelope)
	}
	if v := r.byte(); r.ok && v != envelopeVersion {
		return nil, fmt.Errorf("%w: unknown version %d (a newer flyte wrote it)", errEnvelope, v)
	}
	e := &Envelope{}
	copy(e.StoreID[:], r.take(StoreIDSize))
	e.Epoch = binary.BigEndian.Uint64(r.take(8))
	copy(e.KeyID[:], r.take(keyIDSize))
	copy(e.Creator[:], r.take(pubSize))
	n := int(r.byte())
	if r.ok && (n == 0 || n > MaxRecipients) {
		return nil, fmt.Errorf("%w: %d recipients", errEnvelope, n)
	}
	for i := 0; i < n && r.ok; i++ {
		l := int(r.byte())
		m := Member{Label: string(r.take(l))}
		copy(m.Public[:], r.take(pubSize))
		e.Recipients = append(e.Recipients, m)
	}
	w := binary.BigEndian.Uint32(r.take(4))
	if r.ok && (w == 0 || w > maxWrapped) {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes", errEnvelope, w)
	}
	e.Wrapped = append([]byte(nil), r.take(int(w))...)
	for i := 0; i < n && r.ok; i++ {
		var t [envTagSize]byte
		copy(t[:], r.take(envTagSize))
		e.Tags = append(e.Tags, t)
	}
	switch {
	case !r.ok:
		return nil, fmt.Errorf("%w: truncated", errEnvelope)
	case len(r.b) != 0:
		return nil, fmt.Errorf("%w: %d bytes after the tags", errEnvelope, len(r.b))
	case e.Epoch == 0:
		return nil, fmt.Errorf("%w: epoch 0", errEnvelope)
	}
	if err := e.checkMembers(); err != nil {
		return nil, fmt.Errorf("%w: %s", errEnvelope, strings.TrimPrefix(err.Error(), "envelope: "))
	}
	return e, nil
}

// envReader consumes b; after the first short read ok is false and every
// later read returns zeros, so a parser checks ok once per decision.
type envReader struct {
	b  []byte
	ok bool
}

func (r *envReader) take(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.ok, r.b = false, nil
		return make([]byte, max(n, 0))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *envReader) byte() byte { return r.take(1)[0] }

// Envelope errors callers branch on.
var (
	// ErrNotRecipient: the identity is not among the envelope's recipients.
	ErrNotRecipient = errors.New("the data key is wrapped to a different identity")
	// ErrBadTag: the tag for this identity does not verify, so nobody this
	// identity could trust made the envelope.
	ErrBadTag = errors.New("the data key's envelope is not vouched for by its creator (its tag does not verify): it was altered or forged")
	// ErrCreatorNotRecipient: the envelope's creator is not one of its
	// recipients, which flyte never makes.
	ErrCreatorNotRecipient = errors.New("the store's data key is vouched for by someone who is not one of its recipients: flyte never makes such a key; flyte will not use it")
)

// UntrustedError says an envelope verifies, but was made by a creator the
// caller does not trust.
type UntrustedError struct {
	Creator PublicKey
	// Label is what the envelope calls the creator when the creator is one
	// of its recipients ("" otherwise). The store wrote it: it is a claim.
	Label string
}

func (e *UntrustedError) Error() string {
	return "the store's data key is vouched for by " + e.Creator.String() + ", which this machine does not trust"
}

// Open checks the envelope for identity id and returns the data key. It
// fails unless id is a recipient, id's tag verifies for the envelope's
// creator, the creator is a recipient too, trusts(creator) holds, and the
// unwrapped key matches the key id.
func (e *Envelope) Open(id *age.X25519Identity, trusts func(PublicKey) bool) (*Sealer, error) {
	priv, err := privateKey(id)
	if err != nil {
		return nil, err
	}
	self := PublicKey(priv.PublicKey().Bytes())
	idx := -1
	for i, m := range e.Recipients {
		if m.Public == self {
			idx = i
		}
	}
	if idx < 0 || len(e.Tags) != len(e.Recipients) {
		return nil, ErrNotRecipient
	}
	want, err := tag(priv, e.Creator, e.Creator, e.Recipients[idx], e.digest())
	if err != nil || !hmac.Equal(want[:], e.Tags[idx][:]) {
		return nil, ErrBadTag
	}
	if !slices.ContainsFunc(e.Recipients, func(m Member) bool { return m.Public == e.Creator }) {
		return nil, ErrCreatorNotRecipient
	}
	if trusts == nil || !trusts(e.Creator) {
		ue := &UntrustedError{Creator: e.Creator}
		for _, m := range e.Recipients {
			if m.Public == e.Creator {
				ue.Label = m.Label
			}
		}
		return nil, ue
	}
	rd, err := age.Decrypt(bytes.NewReader(e.Wrapped), id)
	if err != nil {
		return nil, &quietError{"the data key's envelope is damaged (its age file does not open)", err}
	}
	key, err := io.ReadAll(io.LimitReader(rd, keySize+1))
	defer clear(key)
	if err != nil || len(key) != keySize {
		return nil, errors.New("the data key's envelope is damaged (it does not hold a data key)")
	}
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if s.id != e.KeyID {
		s.Destroy()
		return nil, errors.New("the data key's envelope is damaged (the key does not match its key id)")
	}
	return s, nil
}
