// Package dirstore is an example store: a read-only view of a directory
// that holds flyte's records in the built-in filestore's on-disk layout,
// such as a filestore directory copied into a container image, a
// read-only mount or a release artifact.
//
// It serves what flyte needs to read secrets: GET, LIST and META_GET (so
// flyte finds the store's data key, the meta value "datakey"). The records
// stay sealed: the store passes them on as they are, and only an identity
// the data key was wrapped to can open them. CREATE, UPDATE, DELETE and
// META_PUT answer PERMISSION_DENIED: whoever is configured with this store
// can read the secrets but never change them. To write, use the built-in
// filestore on the same directory.
//
// The reading is the filestore's own code (package plugins/filestore, a
// library with no wasm-specific code), so the layout cannot drift: a file
// that is not a record, a record at the wrong place and a file the host
// will not read are listed as damaged, as the filestore lists them. Only
// the read half is reachable, so the module imports fs.read and fs.list
// and nothing that writes.
package dirstore

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// Info describes the plugin.
var Info = guest.Info{
	Name:         "dirstore",
	Version:      "2.0.0",
	Summary:      "read-only example store: serves a copy of a filestore directory (records stay sealed)",
	Capabilities: []string{"fs"},
}

// Store implements guest.Store over an FS, read-only.
//
// It keeps the filestore's three read methods as method values, not the
// *filestore.Store itself: the linker keeps every method of a type
// reachable from the plugin's store type that a guest.Store call could
// reach, so a field of that type would bring the filestore's writes (and
// the fs.write, fs.remove and fs.lock imports) into the module.
type Store struct {
	get  func(abi.Scope, string) (*abi.Record, error)
	list func(*abi.ListRequest) (*abi.ListResponse, error)
	meta func(string) ([]byte, error)
}

// New returns a read-only store over fs.
func New(fs guest.FS) *Store {
	r := filestore.New(fs)
	return &Store{get: r.Get, list: r.List, meta: r.MetaGet}
}

// readOnly is the answer to every write: what the store is and what to
// write with instead.
func readOnly() error {
	return abi.Errorf(abi.PermissionDenied, "dirstore is read-only: to change these secrets, use the filestore on the same directory ([store] plugin = \"filestore\")")
}

// Get implements guest.Store.
func (st *Store) Get(s abi.Scope, key string) (*abi.Record, error) { return st.get(s, key) }

// List implements guest.Store: ordered by project, domain and key, paged
// and filtered as abi/SPEC.md says, with unreadable entries as damaged.
func (st *Store) List(req *abi.ListRequest) (*abi.ListResponse, error) { return st.list(req) }

// MetaGet implements guest.Store.
func (st *Store) MetaGet(name string) ([]byte, error) { return st.meta(name) }

// Create implements guest.Store.
func (*Store) Create(*abi.Record) (*abi.Record, error) { return nil, readOnly() }

// Update implements guest.Store.
func (*Store) Update(*abi.Record, uint64) (*abi.Record, error) { return nil, readOnly() }

// Delete implements guest.Store.
func (*Store) Delete(abi.Scope, string, uint64) error { return readOnly() }

// MetaPut implements guest.Store.
func (*Store) MetaPut(string, []byte, bool) ([]byte, error) { return nil, readOnly() }
