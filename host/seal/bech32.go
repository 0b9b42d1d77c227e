package seal

import (
	"crypto/ecdh"
	"errors"
	"strings"

	"filippo.io/age"
)

// age writes X25519 keys in Bech32 (BIP 173, not Bech32m): the public key as
// "age1..." and the secret key as "AGE-SECRET-KEY-1...". age cannot sign and
// does not hand out the secret scalar, so flyte decodes these strings itself
// to make the envelope's tags (see envelope.go).
//
// None of these functions ever puts the input, or any part of it, in an
// error: a secret key must not reach a terminal or a log.

const (
	bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

	recipientHRP = "age"
	identityHRP  = "age-secret-key-"

	// maxBech32 bounds what is decoded: an age X25519 key is 62 or 74
	// characters; age's own limit-free variant need not be followed here.
	maxBech32 = 128
)

var errBech32 = errors.New("not a valid Bech32 string")

func bech32Polymod(values []byte) uint32 {
	gen := [5]uint32{0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3}
	chk := uint32(1)
	for _, v := range values {
		top := chk >> 25
		chk = (chk&0x1ffffff)<<5 ^ uint32(v)
		for i := range 5 {
			if (top>>i)&1 == 1 {
				chk ^= gen[i]
			}
		}
	}
	return chk
}

func hrpExpand(hrp string) []byte {
	out := make([]byte, 0, 2*len(hrp)+1)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]>>5)
	}
	out = append(out, 0)
	for i := 0; i < len(hrp); i++ {
		out = append(out, hrp[i]&31)
	}
	return out
}

// convertBits regroups a bit stream from groups of from bits into groups of
// to bits. Decoding (pad false) refuses leftover bits that are not zero or
// that make a whole group, as BIP 173 requires.
func convertBits(data []byte, from, to uint, pad bool) ([]byte, error) {
	var acc uint32
	var bits uint
	maxv := uint32(1)<<to - 1
	out := make([]byte, 0, len(data)*int(from)/int(to)+1)
	for _, b := range data {
		if uint32(b)>>from != 0 {
			return nil, errBech32
		}
		acc = acc<<from | uint32(b)
		bits += from
		for bits >= to {
			bits -= to
			out = append(out, byte(acc>>bits&maxv))
		}
	}
	if pad {
		if bits > 0 {
			out = append(out, byte(acc<<(to-bits)&maxv))
		}
	} else if bits >= from || acc<<(to-bits)&maxv != 0 {
		return nil, errBech32
	}
	return out, nil
}

// bech32Decode returns the human-readable part (lower case) and the data
// bytes of a Bech32 string. Mixed case, characters outside the charset, a
// missing or empty part, a bad checksum and bad padding are errors.
func bech32Decode(s string) (string, []byte, error) {
	hrp, values, err := bech32Values(s)
	if err != nil {
		return "", nil, err
	}
	b, err := convertBits(values, 5, 8, false)
	if err != nil {
		return "", nil, err
	}
	return hrp, b, nil
}

// bech32Values checks a Bech32 string and returns its human-readable part
// in lower case and its 5-bit data values without the checksum.
func bech32Values(s string) (string, []byte, error) {
	if len(s) > maxBech32 || len(s) < 8 {
		return "", nil, errBech32
	}
	lower, upper := strings.ToLower(s), strings.ToUpper(s)
	if s != lower && s != upper {
		return "", nil, errBech32
	}
	s = lower
	pos := strings.LastIndexByte(s, '1')
	if pos < 1 || pos+7 > len(s) {
		return "", nil, errBech32
	}
	hrp := s[:pos]
	for i := 0; i < len(hrp); i++ {
		if hrp[i] < 33 || hrp[i] > 126 {
			return "", nil, errBech32
		}
	}
	data := make([]byte, 0, len(s)-pos-1)
	for i := pos + 1; i < len(s); i++ {
		v := strings.IndexByte(bech32Charset, s[i])
		if v < 0 {
			return "", nil, errBech32
		}
		data = append(data, byte(v))
	}
	if bech32Polymod(append(hrpExpand(hrp), data...)) != 1 {
		return "", nil, errBech32
	}
	return hrp, data[:len(data)-6], nil
}

// bech32Encode is the inverse of bech32Decode, in lower case.
func bech32Encode(hrp string, data []byte) string {
	values, _ := convertBits(data, 8, 5, true) // 8-bit input never fails
	values = append(values, make([]byte, 6)...)
	mod := bech32Polymod(append(hrpExpand(hrp), values...)) ^ 1
	var sb strings.Builder
	sb.WriteString(hrp)
	sb.WriteByte('1')
	for _, v := range values[:len(values)-6] {
		sb.WriteByte(bech32Charset[v])
	}
	for i := range 6 {
		sb.WriteByte(bech32Charset[(mod>>(5*(5-i)))&31])
	}
	return sb.String()
}

// decodeKey decodes a 32-byte key with the given human-readable part.
func decodeKey(s, hrp string) ([32]byte, error) {
	var k [32]byte
	got, b, err := bech32Decode(s)
	if err != nil {
		return k, err
	}
	if got != hrp || len(b) != len(k) {
		clear(b)
		return k, errBech32
	}
	copy(k[:], b)
	clear(b)
	return k, nil
}

// PublicKey is an X25519 public key: what an age recipient "age1..." encodes.
type PublicKey [32]byte

// ParsePublicKey decodes an age X25519 recipient ("age1..."). The error
// never quotes the input.
func ParsePublicKey(s string) (PublicKey, error) {
	k, err := decodeKey(s, recipientHRP)
	if err != nil {
		return PublicKey{}, errors.New("not an age X25519 recipient (age1...)")
	}
	return PublicKey(k), nil
}

// String is the key as an age recipient, "age1...".
func (p PublicKey) String() string { return bech32Encode(recipientHRP, p[:]) }

// privateKey returns the X25519 private key of an age identity, decoded
// from its AGE-SECRET-KEY-1 string. The result holds the secret scalar.
func privateKey(id *age.X25519Identity) (*ecdh.PrivateKey, error) {
	if id == nil {
		return nil, errors.New("no identity")
	}
	k, err := decodeKey(id.String(), identityHRP)
	defer clear(k[:])
	if err != nil {
		return nil, errors.New("the identity is not an age X25519 secret key (AGE-SECRET-KEY-1...)")
	}
	priv, err := ecdh.X25519().NewPrivateKey(k[:])
	if err != nil {
		return nil, errors.New("the identity is not a usable X25519 key")
	}
	return priv, nil
}

// IdentityPublicKey returns the public key of an age identity (the key its
// recipient "age1..." names).
func IdentityPublicKey(id *age.X25519Identity) (PublicKey, error) {
	priv, err := privateKey(id)
	if err != nil {
		return PublicKey{}, err
	}
	return PublicKey(priv.PublicKey().Bytes()), nil
}
