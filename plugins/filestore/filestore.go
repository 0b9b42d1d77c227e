// Package filestore is the embedded secret store: one file per secret in a
// directory the host grants. It is the logic of the built-in "filestore"
// plugin (built from ./wasm) and has no wasm-specific code, so tests and
// the native benchmark baseline link it directly.
//
// Layout inside the granted directory:
//
//	secrets/ORG/PROJECT/DOMAIN/KEY   one record (abi.Record, wire-encoded)
//	meta/NAME                        store-wide values (the wrapped data key)
//	lock                             the writers' lock
//
// An empty project or domain is stored as "@", which no valid name can be.
//
// Create is a single exclusive write, so it needs no lock and costs the
// same however many secrets exist. Update and delete read, compare the
// version and write under the store-wide lock, which the host releases when
// the call ends (also when the process dies, as it is an flock). Every
// write is atomic, so a killed writer leaves either the old or the new
// record, never a torn one.
package filestore

import (
	"sort"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{
	Name:         "filestore",
	Version:      "1.0.0",
	Summary:      "embedded store: one file per secret in a granted directory",
	Capabilities: []string{"fs"},
}

// magic prefixes every record file, so that a stray file is recognised as
// not being a record.
const magic = "flyterec1\n"

const (
	secretsDir   = "secrets"
	metaDir      = "meta"
	lockName     = "lock"
	empty        = "@"
	defaultLimit = 500
	maxLimit     = 5000
	// pageBytes bounds a page's sealed values, well under abi.MaxMessage:
	// eight 1 MiB secrets would otherwise overflow one answer.
	pageBytes = abi.MaxMessage / 2
)

// Store implements guest.Store over an FS.
type Store struct {
	fs guest.FS
}

// New returns a store over fs.
func New(fs guest.FS) *Store { return &Store{fs: fs} }

func part(s string) string {
	if s == "" {
		return empty
	}
	return s
}

func unpart(s string) string {
	if s == empty {
		return ""
	}
	return s
}

// validName guards path components: the host validates names, but a store
// does not trust its input to stay inside its directory.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func recordPath(s abi.Scope, key string) (string, error) {
	if !validName(s.Org) || !validName(key) ||
		(s.Project != "" && !validName(s.Project)) || (s.Domain != "" && !validName(s.Domain)) {
		return "", abi.Errorf(abi.InvalidArgument, "invalid scope or key")
	}
	return secretsDir + "/" + s.Org + "/" + part(s.Project) + "/" + part(s.Domain) + "/" + key, nil
}

func encode(r *abi.Record) []byte {
	var e abi.Encoder
	r.MarshalTo(&e)
	b := e.Bytes()
	out := make([]byte, 0, len(magic)+len(b))
	return append(append(out, magic...), b...)
}

func decode(b []byte, s abi.Scope, key string) (*abi.Record, error) {
	if !strings.HasPrefix(string(b[:min(len(b), len(magic))]), magic) {
		return nil, abi.Errorf(abi.Internal, "not a record file")
	}
	r := new(abi.Record)
	if err := abi.Unmarshal(b[len(magic):], r); err != nil {
		return nil, abi.Errorf(abi.Internal, "corrupt record")
	}
	if r.Scope != s || r.Key != key {
		return nil, abi.Errorf(abi.Internal, "record does not match its location")
	}
	return r, nil
}

// Create implements guest.Store.
func (st *Store) Create(r *abi.Record) (*abi.Record, error) {
	p, err := recordPath(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	rec := *r
	rec.Version = 1
	if err := st.fs.WriteFile(p, encode(&rec), true); err != nil {
		if abi.StatusOf(err) == abi.AlreadyExists {
			return nil, abi.Errorf(abi.AlreadyExists, "secret already exists")
		}
		return nil, err
	}
	return &rec, nil
}

// Update implements guest.Store.
func (st *Store) Update(r *abi.Record, expected uint64) (*abi.Record, error) {
	p, err := recordPath(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	// Look before locking: a missing record needs no lock, and taking one
	// would create the store on a read-only failure.
	if _, err := st.read(p, r.Scope, r.Key); err != nil {
		return nil, err
	}
	if err := st.fs.Lock(lockName); err != nil {
		return nil, err
	}
	old, err := st.read(p, r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	if expected != 0 && old.Version != expected {
		return nil, abi.Errorf(abi.Conflict, "secret was changed since version ", strconv.FormatUint(expected, 10), " (now version ", strconv.FormatUint(old.Version, 10), ")")
	}
	rec := *r
	rec.Version = old.Version + 1
	rec.Created = old.Created
	if err := st.fs.WriteFile(p, encode(&rec), false); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (st *Store) read(p string, s abi.Scope, key string) (*abi.Record, error) {
	b, err := st.fs.ReadFile(p)
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return nil, abi.Errorf(abi.NotFound, "secret not found")
		}
		return nil, err
	}
	return decode(b, s, key)
}

// Get implements guest.Store.
func (st *Store) Get(s abi.Scope, key string) (*abi.Record, error) {
	p, err := recordPath(s, key)
	if err != nil {
		return nil, err
	}
	return st.read(p, s, key)
}

// Delete implements guest.Store.
func (st *Store) Delete(s abi.Scope, key string, expected uint64) error {
	p, err := recordPath(s, key)
	if err != nil {
		return err
	}
	if _, err := st.read(p, s, key); abi.StatusOf(err) == abi.NotFound {
		return err
	}
	if err := st.fs.Lock(lockName); err != nil {
		return err
	}
	if expected != 0 {
		old, err := st.read(p, s, key)
		if err != nil {
			return err
		}
		if old.Version != expected {
			return abi.Errorf(abi.Conflict, "secret was changed since version ", strconv.FormatUint(expected, 10), " (now version ", strconv.FormatUint(old.Version, 10), ")")
		}
	}
	if err := st.fs.Remove(p); err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return abi.Errorf(abi.NotFound, "secret not found")
		}
		return err
	}
	return nil
}

// names lists the valid entries of dir (directories when dirs is true),
// sorted by their decoded value; a missing dir is empty.
func (st *Store) names(dir string, dirs bool) ([]string, error) {
	ents, err := st.fs.ReadDir(dir)
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return nil, nil
		}
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Dir == dirs && (e.Name == empty || validName(e.Name)) {
			out = append(out, unpart(e.Name))
		}
	}
	sort.Strings(out)
	return out, nil
}

// pageToken encodes a position; names never contain '/'.
func pageToken(p, d, k string) string { return part(p) + "/" + part(d) + "/" + k }

// List implements guest.Store.
func (st *Store) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	if !validName(req.Org) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid organization")
	}
	limit := int(req.Limit)
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	var after [3]string
	hasAfter := req.PageToken != ""
	if hasAfter {
		t := strings.Split(req.PageToken, "/")
		if len(t) != 3 {
			return nil, abi.Errorf(abi.InvalidArgument, "bad page token")
		}
		after = [3]string{unpart(t[0]), unpart(t[1]), t[2]}
	}
	resp := new(abi.ListResponse)
	size := 0
	base := secretsDir + "/" + req.Org
	projects, err := st.names(base, true)
	if err != nil {
		return nil, err
	}
	for _, p := range projects {
		if req.HasProject && p != req.Project || hasAfter && p < after[0] {
			continue
		}
		domains, err := st.names(base+"/"+part(p), true)
		if err != nil {
			return nil, err
		}
		for _, d := range domains {
			if req.HasDomain && d != req.Domain || hasAfter && p == after[0] && d < after[1] {
				continue
			}
			dir := base + "/" + part(p) + "/" + part(d)
			keys, err := st.names(dir, false)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				if req.Key != "" && k != req.Key || hasAfter && p == after[0] && d == after[1] && k <= after[2] {
					continue
				}
				if len(resp.Records)+len(resp.Damaged) == limit {
					resp.NextPageToken = pageToken(last(resp))
					return resp, nil
				}
				s := abi.Scope{Org: req.Org, Project: p, Domain: d}
				r, err := st.read(dir+"/"+k, s, k)
				switch {
				case err == nil:
					n := len(r.Sealed) + 256
					if size+n > pageBytes && len(resp.Records)+len(resp.Damaged) > 0 {
						resp.NextPageToken = pageToken(last(resp))
						return resp, nil
					}
					size += n
					resp.Records = append(resp.Records, *r)
				case abi.StatusOf(err) == abi.NotFound:
					// Deleted while we listed.
				default:
					resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: s, Key: k, Reason: err.Error()})
				}
			}
		}
	}
	return resp, nil
}

// last returns the position of the last entry of a page.
func last(r *abi.ListResponse) (string, string, string) {
	var s abi.Scope
	var k string
	nr, nd := len(r.Records), len(r.Damaged)
	if nr > 0 {
		s, k = r.Records[nr-1].Scope, r.Records[nr-1].Key
	}
	if nd > 0 {
		d := r.Damaged[nd-1]
		if nr == 0 || after(d.Scope, d.Key, s, k) {
			s, k = d.Scope, d.Key
		}
	}
	return s.Project, s.Domain, k
}

// after reports whether (a, ak) comes after (b, bk) in listing order:
// project, domain, key, with "" first (which "@" in a token would not give).
func after(a abi.Scope, ak string, b abi.Scope, bk string) bool {
	if a.Project != b.Project {
		return a.Project > b.Project
	}
	if a.Domain != b.Domain {
		return a.Domain > b.Domain
	}
	return ak > bk
}

// MetaGet implements guest.Store.
func (st *Store) MetaGet(name string) ([]byte, error) {
	if !validName(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	return st.fs.ReadFile(metaDir + "/" + name)
}

// MetaPut implements guest.Store.
func (st *Store) MetaPut(name string, value []byte, createOnly bool) ([]byte, error) {
	if !validName(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	p := metaDir + "/" + name
	err := st.fs.WriteFile(p, value, createOnly)
	if createOnly && abi.StatusOf(err) == abi.AlreadyExists {
		return st.fs.ReadFile(p)
	}
	if err != nil {
		return nil, err
	}
	return value, nil
}
