package secrets

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"github.com/flytesecrets/flyte/abi"
)

// A listing crosses the agent's socket as JSON (host/agent), and a listing
// of 100,000 secrets as an array of objects cost the client about 0.6 s to
// decode (field names and times as text, by reflection) and the agent
// 0.15 s to encode. Its secrets travel instead as one field of binary
// records in abi's wire format (base64 in the JSON), which both sides
// walk without reflection; damaged entries, few and free text, stay
// objects.

// listJSON is ListResult on the wire.
type listJSON struct {
	Secrets []byte    `json:"secrets,omitempty"` // abi wire: field 1, a listedSecret each
	Damaged []Damaged `json:"damaged,omitempty"`
}

// Fields of a secret in listJSON.Secrets.
const (
	lsOrg = 1 + iota
	lsProject
	lsDomain
	lsKey
	lsKind
	lsVersion
	lsCreated
	lsUpdated
	lsSealedVersion
)

// listedSecret is a Secret as abi encodes it. Decoding, names holds the
// scope names met so far: a listing's scopes repeat from secret to secret,
// and one string each is enough (one allocation per secret, for its key).
type listedSecret struct {
	s     *Secret
	names map[string]string
}

// scopeName returns the name b as a string, one per distinct name.
func (l listedSecret) scopeName(b []byte) string {
	if n, ok := l.names[string(b)]; ok {
		return n
	}
	n := string(b)
	if l.names != nil && len(l.names) < maxScopeNames {
		l.names[n] = n
	}
	return n
}

// maxScopeNames bounds the names a decoding keeps: a listing from a
// hostile agent could name a new scope for every secret.
const maxScopeNames = 4096

func (l listedSecret) MarshalTo(e *abi.Encoder) {
	s := l.s
	e.String(lsOrg, s.Scope.Org)
	e.String(lsProject, s.Scope.Project)
	e.String(lsDomain, s.Scope.Domain)
	e.String(lsKey, s.Key)
	e.Uint(lsKind, uint64(s.Kind))
	e.Uint(lsVersion, s.Version)
	e.Int(lsCreated, s.Created.UnixNano())
	e.Int(lsUpdated, s.Updated.UnixNano())
	e.Bool(lsSealedVersion, s.SealedVersion)
}

func (l listedSecret) UnmarshalFrom(d *abi.Decoder) {
	s := l.s
	// Zero, the Unix epoch, is omitted on the wire.
	s.Created, s.Updated = time.Unix(0, 0).UTC(), time.Unix(0, 0).UTC()
	for d.Next() {
		switch d.Field() {
		case lsOrg:
			s.Scope.Org = l.scopeName(d.Blob())
		case lsProject:
			s.Scope.Project = l.scopeName(d.Blob())
		case lsDomain:
			s.Scope.Domain = l.scopeName(d.Blob())
		case lsKey:
			s.Key = d.String()
		case lsKind:
			s.Kind = abi.SecretKind(d.Uint32())
		case lsVersion:
			s.Version = d.Uint()
		case lsCreated:
			s.Created = time.Unix(0, d.Int()).UTC()
		case lsUpdated:
			s.Updated = time.Unix(0, d.Int()).UTC()
		case lsSealedVersion:
			s.SealedVersion = d.Bool()
		}
	}
}

// MarshalJSON encodes r as listJSON.
func (r ListResult) MarshalJSON() ([]byte, error) {
	var e abi.Encoder
	for i := range r.Secrets {
		e.Message(1, listedSecret{s: &r.Secrets[i]})
	}
	// listJSON, written directly: json.Marshal would encode the base64
	// into a buffer of its own and copy it.
	wire := e.Bytes()
	b := make([]byte, 0, len(listPrefix)+base64.StdEncoding.EncodedLen(len(wire))+2)
	b = base64.StdEncoding.AppendEncode(append(b, listPrefix...), wire)
	b = append(b, '"')
	if len(r.Damaged) > 0 {
		d, err := json.Marshal(r.Damaged)
		if err != nil {
			return nil, err
		}
		b = append(append(b, damagedPrefix...), d...)
	}
	return append(b, '}'), nil
}

// How MarshalJSON starts listJSON, and its damaged entries.
const (
	listPrefix    = `{"secrets":"`
	damagedPrefix = `,"damaged":`
)

// decodeFast decodes b as MarshalJSON writes it, without encoding/json's
// scans of the whole text (it is megabytes for a large store); ok is
// false when b is not in that form, for the general decoder.
func (l *listJSON) decodeFast(b []byte) (ok bool, err error) {
	rest, found := bytes.CutPrefix(b, []byte(listPrefix))
	if !found {
		return false, nil
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return false, nil
	}
	enc, rest := rest[:end], rest[end+1:]
	switch {
	case string(rest) == "}":
	case bytes.HasPrefix(rest, []byte(damagedPrefix)) && bytes.HasSuffix(rest, []byte("}")):
		if err := json.Unmarshal(rest[len(damagedPrefix):len(rest)-1], &l.Damaged); err != nil {
			return true, err
		}
	default:
		return false, nil
	}
	l.Secrets = make([]byte, base64.StdEncoding.DecodedLen(len(enc)))
	n, err := base64.StdEncoding.Decode(l.Secrets, enc)
	l.Secrets = l.Secrets[:n]
	return true, err
}

// errListJSON: a listing on the wire that does not decode.
var errListJSON = errors.New("malformed listing")

// UnmarshalJSON decodes listJSON. Times come back in UTC, as List makes
// them, to the nanosecond.
func (r *ListResult) UnmarshalJSON(b []byte) error {
	var l listJSON
	if ok, err := l.decodeFast(b); !ok {
		l = listJSON{}
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
	} else if err != nil {
		return errListJSON
	}
	// Counted first: the slice is made once, of its length.
	n := 0
	for d := abi.NewDecoder(l.Secrets); d.Next(); {
		n++
	}
	secrets := make([]Secret, 0, min(n, maxListEntries))
	d := abi.NewDecoder(l.Secrets)
	names := map[string]string{}
	for d.Next() {
		if d.Field() != 1 {
			return errListJSON
		}
		secrets = append(secrets, Secret{})
		d.Message(listedSecret{&secrets[len(secrets)-1], names})
	}
	if d.Err() != nil {
		return errListJSON
	}
	if len(secrets) == 0 {
		secrets = nil
	}
	if len(l.Damaged) == 0 {
		l.Damaged = nil
	}
	*r = ListResult{Secrets: secrets, Damaged: l.Damaged}
	return nil
}
