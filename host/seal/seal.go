// Package seal encrypts secret values on the host before any store plugin
// sees them, so a backend only ever holds ciphertext and cannot move a value
// between scopes, keys or kinds without detection.
//
// # Keys
//
// Each store has one random 256-bit data key. The data key is kept on disk
// only in wrapped form: age-encrypted (binary, not armored) to the user's age
// X25519 identity (see [LoadOrCreateIdentity]). A [Sealer] holds the unwrapped
// data key in memory and seals values with AES-256-GCM.
//
// # Blob format (version 2)
//
//	offset  size  field
//	0       1     version, 0x02
//	1       8     key id: first 8 bytes of SHA-256("flyte/data-key-id/v1\x00" || data key)
//	9       12    nonce, fresh from crypto/rand for every Seal
//	21      8     record version (big-endian): 1 on create, +1 on each update
//	29      8     created time, Unix nanoseconds (big-endian two's complement)
//	37      8     updated time, Unix nanoseconds (big-endian two's complement)
//	45      16    incarnation: random, chosen when the key is created in its
//	              scope, kept by updates; a delete then create starts a new one
//	61      n+16  AES-256-GCM ciphertext of the n-byte plaintext, followed by the 16-byte tag
//
// The GCM associated data is
//
//	"flyte/secret/v2\x00" || header (the 61 bytes above) ||
//	uvarint(len(Org)) || Org || uvarint(len(Project)) || Project ||
//	uvarint(len(Domain)) || Domain || uvarint(len(Key)) || Key ||
//	uvarint(len(Kind)) || Kind
//
// Every field is length-prefixed so that distinct AADs can never encode to the
// same bytes (("ab","c") and ("a","bc") differ), and the header is covered so
// the version, key id, record version, times and incarnation cannot be
// altered either. A blob opened under any other AAD, altered in any bit,
// truncated, or sealed under another data key fails with an error matching
// [ErrTampered]. [Sealer.OpenRecord] returns the sealed [Meta], which the
// caller compares with what the store claims (the store's own version and
// times are not authenticated) and with the highest version it has seen.
//
// # Version 1 (still opened, never written)
//
// Blobs written before version 2 have a 21-byte header (version 0x01, key id,
// nonce) and the associated data "flyte/secret/v1\x00" || header || the same
// fields. They seal no record version, times or incarnation: OpenRecord opens
// them and returns a nil *Meta, so callers can report them as records without
// a sealed version. A record is rewritten as version 2 on its next update.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// AAD is what a sealed value is bound to. Moving a blob to another scope, key
// or kind makes Open fail.
type AAD struct {
	Org, Project, Domain, Key, Kind string
}

// ErrTampered is returned (possibly wrapped) by [Sealer.Open] whenever a blob
// does not authenticate: it was altered or truncated, moved to another
// scope/key/kind, or sealed under another data key. Callers must treat all of
// these alike, so they test with errors.Is(err, ErrTampered).
var ErrTampered = errors.New("sealed value failed authentication (altered, truncated, or moved to another scope, key or kind)")

// ErrWrongKey is returned (wrapped) by [Sealer.Open] when the blob header
// names a different data key than the Sealer's. It wraps [ErrTampered], so
// errors.Is(err, ErrTampered) holds too; it exists only so callers can give a
// better hint (e.g. "this value belongs to another store"). The key id is not
// authenticated until decryption, so this is a hint, not proof of origin.
var ErrWrongKey = fmt.Errorf("%w: sealed under a different data key", ErrTampered)

const (
	blobVersion = 2  // what Seal writes
	blobV1      = 1  // still opened
	keySize     = 32 // AES-256
	keyIDSize   = 8
	nonceSize   = 12 // standard GCM nonce
	tagSize     = 16
	headerV1    = 1 + keyIDSize + nonceSize
	metaSize    = 8 + 8 + 8 + IncarnationSize
	headerSize  = headerV1 + metaSize

	aadDomainV1 = "flyte/secret/v1\x00"
	aadDomain   = "flyte/secret/v2\x00"
	keyIDDomain = "flyte/data-key-id/v1\x00"
)

// IncarnationSize is the length of an [Incarnation] in bytes.
const IncarnationSize = 16

// Incarnation tells apart two lives of one key in one scope: it is chosen at
// random when a secret is created and kept by its updates, so a record from
// before a delete and create is never mistaken for an older version of the
// current secret.
type Incarnation [IncarnationSize]byte

// NewIncarnation returns a fresh random incarnation.
func NewIncarnation() (Incarnation, error) {
	var in Incarnation
	if _, err := rand.Read(in[:]); err != nil {
		return in, fmt.Errorf("incarnation: %w", err)
	}
	return in, nil
}

// String is the incarnation in hex.
func (in Incarnation) String() string { return hex.EncodeToString(in[:]) }

// Meta is what a version-2 blob seals about its record besides the value:
// the record's version, its created and updated times (Unix nanoseconds),
// and its incarnation.
type Meta struct {
	Version     uint64
	Created     int64
	Updated     int64
	Incarnation Incarnation
}

// errDestroyed is returned after Destroy so a use-after-destroy bug fails
// loudly instead of sealing under a zeroed key.
var errDestroyed = errors.New("sealer used after Destroy")

// Sealer holds one unwrapped 256-bit data key and seals and opens values with
// AES-256-GCM. Seal and Open are safe for concurrent use; Destroy must not
// race with them.
type Sealer struct {
	key  [keySize]byte
	id   [keyIDSize]byte
	aead cipher.AEAD
	// retired, when set, is a store's previous data key: OpenRecord opens
	// a blob whose header names it with it (see WithRetired).
	retired *Sealer
}

// WithRetired makes OpenRecord (and Open) of s open blobs sealed under old,
// the key a re-key is retiring, while Seal keeps sealing under s. Destroy
// of s destroys old too.
func (s *Sealer) WithRetired(old *Sealer) { s.retired = old }

// Retired returns the retired key set by WithRetired, or nil.
func (s *Sealer) Retired() *Sealer { return s.retired }

// BlobKeyID returns the key id a sealed blob's header names; false when the
// blob is too short or of an unknown version to have one.
func BlobKeyID(sealed []byte) ([keyIDSize]byte, bool) {
	var id [keyIDSize]byte
	if len(sealed) < 1+keyIDSize || sealed[0] != blobVersion && sealed[0] != blobV1 {
		return id, false
	}
	copy(id[:], sealed[1:1+keyIDSize])
	return id, true
}

// newSealer builds a Sealer from raw key bytes. It copies the key so the
// caller can (and should) zero its own buffer.
func newSealer(key []byte) (*Sealer, error) {
	if len(key) != keySize {
		return nil, fmt.Errorf("data key must be %d bytes, got %d", keySize, len(key))
	}
	s := &Sealer{}
	copy(s.key[:], key)
	block, err := aes.NewCipher(s.key[:])
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	s.aead = aead
	// The id is a domain-separated hash so it can be stored and shown
	// without revealing anything usable about the key.
	h := sha256.New()
	h.Write([]byte(keyIDDomain))
	h.Write(s.key[:])
	copy(s.id[:], h.Sum(nil))
	return s, nil
}

// NewDataKey generates a fresh random data key from crypto/rand and returns it
// wrapped (binary age encryption, not armored) to recipient, along with a
// Sealer holding the unwrapped key. Only the wrapped bytes may be persisted.
func NewDataKey(recipient age.Recipient) (wrapped []byte, s *Sealer, err error) {
	if recipient == nil {
		return nil, nil, errors.New("NewDataKey: nil recipient")
	}
	var key [keySize]byte
	defer clear(key[:])
	if _, err := rand.Read(key[:]); err != nil {
		return nil, nil, fmt.Errorf("generate data key: %w", err)
	}
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, recipient)
	if err != nil {
		return nil, nil, fmt.Errorf("wrap data key: %w", err)
	}
	if _, err := w.Write(key[:]); err != nil {
		return nil, nil, fmt.Errorf("wrap data key: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, nil, fmt.Errorf("wrap data key: %w", err)
	}
	s, err = newSealer(key[:])
	if err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), s, nil
}

// UnwrapDataKey decrypts a wrapped data key (from [NewDataKey]) with id. If id
// is not the identity the key was wrapped to, the error says so (the usual
// cause is pointing flyte at the wrong identity file) and wraps age's error,
// so errors.Is(err, age.ErrIncorrectIdentity) holds.
func UnwrapDataKey(wrapped []byte, id age.Identity) (*Sealer, error) {
	if id == nil {
		return nil, errors.New("UnwrapDataKey: nil identity")
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), id)
	if err != nil {
		var nomatch *age.NoIdentityMatchError
		if errors.As(err, &nomatch) || errors.Is(err, age.ErrIncorrectIdentity) {
			return nil, &quietError{"the data key is wrapped to a different identity", err}
		}
		return nil, &quietError{"the data key is damaged (it is not an age file flyte wrote)", err}
	}
	// Read one byte more than a key so an oversized payload is rejected
	// without reading all of it; reading to EOF makes age check the final tag.
	key, err := io.ReadAll(io.LimitReader(r, keySize+1))
	defer clear(key)
	if err != nil {
		return nil, &quietError{"the data key is damaged (it fails age's integrity check)", err}
	}
	if len(key) != keySize {
		return nil, fmt.Errorf("the data key is damaged (it is not a %d-byte key)", keySize)
	}
	return newSealer(key)
}

// KeyID returns a short, stable hex id of the data key (16 hex digits). It is
// a domain-separated SHA-256 of the key, so it never reveals the key; it is
// what the blob header carries to detect values from another store.
func (s *Sealer) KeyID() string {
	return hex.EncodeToString(s.id[:])
}

// appendAAD appends the GCM associated data for header and aad, in the
// length-prefixed form documented in the package comment. The domain
// follows the header's version.
func appendAAD(dst, header []byte, aad AAD) []byte {
	if header[0] == blobV1 {
		dst = append(dst, aadDomainV1...)
	} else {
		dst = append(dst, aadDomain...)
	}
	dst = append(dst, header...)
	for _, f := range [...]string{aad.Org, aad.Project, aad.Domain, aad.Key, aad.Kind} {
		dst = binary.AppendUvarint(dst, uint64(len(f)))
		dst = append(dst, f...)
	}
	return dst
}

// Seal encrypts plaintext bound to aad and to the record's meta, and returns
// a version-2 blob. meta.Version must be at least 1. Every call uses a fresh
// random nonce, so sealing the same value twice gives different blobs.
func (s *Sealer) Seal(aad AAD, meta Meta, plaintext []byte) ([]byte, error) {
	if s.aead == nil {
		return nil, errDestroyed
	}
	if meta.Version == 0 {
		return nil, errors.New("seal: record version 0")
	}
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("nonce: %w", err)
	}
	return s.sealWithNonce(aad, meta, plaintext, nonce), nil
}

// sealWithNonce is Seal with the nonce supplied. It is split out only so
// tests can produce reproducible blobs; production code must use Seal, since
// reusing a nonce under one key breaks GCM.
func (s *Sealer) sealWithNonce(aad AAD, meta Meta, plaintext []byte, nonce [nonceSize]byte) []byte {
	out := make([]byte, headerSize, headerSize+len(plaintext)+tagSize)
	out[0] = blobVersion
	copy(out[1:1+keyIDSize], s.id[:])
	copy(out[1+keyIDSize:headerV1], nonce[:])
	m := out[headerV1:headerSize]
	binary.BigEndian.PutUint64(m[0:8], meta.Version)
	binary.BigEndian.PutUint64(m[8:16], uint64(meta.Created))
	binary.BigEndian.PutUint64(m[16:24], uint64(meta.Updated))
	copy(m[24:], meta.Incarnation[:])
	ad := appendAAD(nil, out, aad)
	return s.aead.Seal(out, nonce[:], plaintext, ad)
}

// Open authenticates and decrypts a blob produced by [Sealer.Seal] (or a
// version-1 blob) under the same aad, and drops what it seals about the
// record; see [Sealer.OpenRecord].
func (s *Sealer) Open(aad AAD, sealed []byte) ([]byte, error) {
	pt, _, err := s.OpenRecord(aad, sealed)
	return pt, err
}

// OpenRecord authenticates and decrypts a blob under aad and returns its
// plaintext and sealed record meta; meta is nil for a version-1 blob, which
// seals none. Any failure (garbage, truncation, bit flips, another AAD,
// another data key) returns an error matching [ErrTampered]; a blob whose
// header names another data key also matches [ErrWrongKey]. OpenRecord never
// panics on input.
func (s *Sealer) OpenRecord(aad AAD, sealed []byte) ([]byte, *Meta, error) {
	if s.aead == nil {
		return nil, nil, errDestroyed
	}
	if len(sealed) == 0 {
		return nil, nil, fmt.Errorf("%w: blob too short (0 bytes)", ErrTampered)
	}
	hsize := headerSize
	switch sealed[0] {
	case blobVersion:
	case blobV1:
		hsize = headerV1
	default:
		return nil, nil, fmt.Errorf("%w: unknown blob version %d", ErrTampered, sealed[0])
	}
	if len(sealed) < hsize+tagSize {
		return nil, nil, fmt.Errorf("%w: blob too short (%d bytes)", ErrTampered, len(sealed))
	}
	blobID := sealed[1 : 1+keyIDSize]
	if r := s.retired; r != nil && r.aead != nil && !bytes.Equal(blobID, s.id[:]) && bytes.Equal(blobID, r.id[:]) {
		return r.OpenRecord(aad, sealed)
	}
	if !bytes.Equal(blobID, s.id[:]) {
		return nil, nil, fmt.Errorf("%w (blob key id %x, this data key %x)", ErrWrongKey, blobID, s.id[:])
	}
	header := sealed[:hsize]
	nonce := sealed[1+keyIDSize : headerV1]
	ad := appendAAD(nil, header, aad)
	pt, err := s.aead.Open(nil, nonce, sealed[hsize:], ad)
	if err != nil {
		return nil, nil, ErrTampered
	}
	if hsize == headerV1 {
		return pt, nil, nil
	}
	m := header[headerV1:]
	meta := &Meta{
		Version: binary.BigEndian.Uint64(m[0:8]),
		Created: int64(binary.BigEndian.Uint64(m[8:16])),
		Updated: int64(binary.BigEndian.Uint64(m[16:24])),
	}
	copy(meta.Incarnation[:], m[24:])
	return pt, meta, nil
}

// Destroy zeroes the Sealer's copy of the data key and disables it; later
// Seal/Open calls return an error. The AES key schedule inside crypto/aes
// cannot be reached, so we drop our reference and leave it to the GC: this
// shortens the key's lifetime in memory, it does not guarantee erasure.
func (s *Sealer) Destroy() {
	clear(s.key[:])
	s.aead = nil
	if s.retired != nil {
		s.retired.Destroy()
	}
}

// quietError keeps the cause for errors.Is and errors.As but shows only its
// own message: age's parser messages mean nothing to a flyte user.
type quietError struct {
	msg string
	err error
}

func (e *quietError) Error() string { return e.msg }
func (e *quietError) Unwrap() error { return e.err }
