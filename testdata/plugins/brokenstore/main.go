//go:build wasip1

// Command brokenstore is a test store that keeps secrets like the built-in
// filestore but breaks two rules of abi/SPEC.md section 6, for `flyte plugin
// test` to find and name:
//
//   - UPDATE keeps the record's version instead of adding 1 (so the host's
//     compare-and-set could never see a concurrent change);
//   - LIST answers each page backwards.
//
// It speaks ABI 1.3 (the filestore's guards, META_DELETE and all_orgs
// listings), and the 1.3 checks that update or list fail for the same two
// faults. Everything else passes. See
// cmd/flyte/testdata/script/plugin_test.txt.
package main

import (
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

type broken struct{ *filestore.Store }

// Update replaces the record but keeps its version (for a record at
// version 1, which is what the suite updates).
func (b broken) Update(r *abi.Record, expected uint64) (*abi.Record, error) {
	old, err := b.Store.Get(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	if expected != 0 && old.Version != expected {
		return nil, abi.Errorf(abi.Conflict, "secret was changed")
	}
	if err := b.Store.Delete(r.Scope, r.Key, 0); err != nil {
		return nil, err
	}
	rec := *r
	rec.Created = old.Created
	return b.Store.Create(&rec)
}

func (b broken) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	resp, err := b.Store.List(req)
	if err != nil {
		return nil, err
	}
	rs := resp.Records
	for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
		rs[i], rs[j] = rs[j], rs[i]
	}
	return resp, nil
}

var info = guest.Info{Name: "brokenstore", Version: "0.0.1", Summary: "a store that breaks the contract (test)", Capabilities: []string{"fs"}}

func init() { guest.ServeStore(info, broken{filestore.New(guest.HostFS())}) }

func main() {}
