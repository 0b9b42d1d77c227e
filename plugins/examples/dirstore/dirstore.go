// Package dirstore is an example store: read-only, over a granted
// directory of plain files, one per secret, named by its key.
//
// It shows the store side of the kit (guest.Store, guest.HostFS, paging,
// records it cannot read) in a few lines, and it is what `flyte plugin
// test` runs as a read-only store. It cannot serve flyte's own commands:
// flyte seals every value before a store sees it and opens every record it
// gets back with the store's data key (the meta value "datakey"), and a
// plain file is neither sealed nor accompanied by a data key. README.md
// says what that means and what a usable read-only store would keep.
//
// Every file directly in the directory whose name is a valid key (letters,
// digits, - and _, at most 128 bytes) is a secret of the organization-wide
// scope of whatever organization asks: GET answers it for a scope without
// project and domain, LIST lists it for any organization. Its content is
// the record's sealed bytes, as is. Other names and subdirectories are
// ignored; a file the host will not read (a hard link, over 8 MiB) is
// listed as damaged. Writes and META_PUT fail with PERMISSION_DENIED,
// META_GET with NOT_FOUND.
package dirstore

import (
	"sort"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{
	Name:         "dirstore",
	Version:      "1.0.0",
	Summary:      "read-only example store: one plain file per secret in a granted directory",
	Capabilities: []string{"fs"},
}

const (
	defaultLimit = 500
	maxLimit     = 5000
	// pageBytes bounds one page's values, under abi.MaxMessage.
	pageBytes = abi.MaxMessage / 2
)

// Store implements guest.Store over an FS.
type Store struct{ fs guest.FS }

// New returns a store over fs.
func New(fs guest.FS) *Store { return &Store{fs: fs} }

func readOnly() error {
	return abi.Errorf(abi.PermissionDenied, "dirstore is read-only: it serves the files of its directory")
}

// Create implements guest.Store.
func (*Store) Create(*abi.Record) (*abi.Record, error) { return nil, readOnly() }

// Update implements guest.Store.
func (*Store) Update(*abi.Record, uint64) (*abi.Record, error) { return nil, readOnly() }

// Delete implements guest.Store.
func (*Store) Delete(abi.Scope, string, uint64) error { return readOnly() }

// MetaPut implements guest.Store.
func (*Store) MetaPut(string, []byte, bool) ([]byte, error) { return nil, readOnly() }

// MetaGet implements guest.Store: a directory of plain files has no
// store-wide values.
func (*Store) MetaGet(string) ([]byte, error) {
	return nil, abi.Errorf(abi.NotFound, "dirstore keeps no meta values")
}

// Get implements guest.Store.
func (st *Store) Get(s abi.Scope, key string) (*abi.Record, error) {
	if s.Project != "" || s.Domain != "" || !validKey(key) {
		return nil, abi.Errorf(abi.NotFound, "secret not found")
	}
	b, err := st.fs.ReadFile(key)
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return nil, abi.Errorf(abi.NotFound, "secret not found")
		}
		return nil, err
	}
	return record(s, key, b), nil
}

func record(s abi.Scope, key string, value []byte) *abi.Record {
	return &abi.Record{Scope: s, Key: key, Kind: abi.SecretString, Version: 1, Sealed: value}
}

// List implements guest.Store. Records are ordered by key (project and
// domain are always ""); the page token is the last key sent.
func (st *Store) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	resp := new(abi.ListResponse)
	scope := abi.Scope{Org: req.Org}
	if (req.HasProject && req.Project != "") || (req.HasDomain && req.Domain != "") {
		return resp, nil
	}
	ents, err := st.fs.ReadDir(".")
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return resp, nil
		}
		return nil, err
	}
	var keys []string
	for _, e := range ents {
		if !e.Dir && validKey(e.Name) && e.Name > req.PageToken && req.Matches(scope, e.Name) {
			keys = append(keys, e.Name)
		}
	}
	sort.Strings(keys)
	limit := int(req.Limit)
	if limit == 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	size := 0
	for i, k := range keys {
		if i == limit || (i > 0 && size >= pageBytes) {
			resp.NextPageToken = keys[i-1]
			break
		}
		b, err := st.fs.ReadFile(k)
		switch abi.StatusOf(err) {
		case abi.OK:
			size += len(b)
			resp.Records = append(resp.Records, *record(scope, k, b))
		case abi.NotFound: // removed since the listing
		default:
			resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: scope, Key: k, Reason: err.Error()})
		}
	}
	return resp, nil
}

func validKey(k string) bool {
	if k == "" || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
