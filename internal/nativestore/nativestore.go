// Package nativestore links the built-in filestore plugin's Go code into
// the process, for benchmarks only: flyte-native (cmd/flyte built with
// -tags flytenative) and the bench's store fill. It runs the same store
// code, ABI codec and dispatch (guest.Dispatch) over the same fs capability
// (fsgrant.Call, whose locks are released when the call returns) as the
// Wasm host, only without Wasm, and so without the plugin sandbox: never
// ship it.
package nativestore

import (
	"context"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// Store is a secrets.Store (and core.Store) over the store directory.
type Store struct {
	dir *fsgrant.Dir
	// kept is the store whose state (the listing cache) every call's
	// store shares (filestore.Store.On), as a Wasm instance keeps one
	// Store: without it each page of a listing reads its directory again,
	// and the native baseline would be slower than the code it measures.
	kept *filestore.Store
}

// New returns the store of directory dir.
func New(dir string) *Store {
	return &Store{dir: fsgrant.New(dir), kept: filestore.New(nil).ConvertOnWrite()}
}

// Call runs one operation as the Wasm host would: the request and the
// answer are bounded alike, the store sees the directory through a
// per-call view, and a non-OK status comes back as an *abi.StatusError
// with the plugin's sanitized message.
func (s *Store) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if len(in) > abi.MaxMessage {
		return nil, &plugin.Error{Plugin: filestore.Info.Name, Msg: "request too large"}
	}
	ctx, cancel := context.WithTimeout(ctx, plugin.DefaultTimeout)
	defer cancel()
	fs := s.dir.Begin(ctx)
	defer fs.End()
	st, out := guest.Dispatch(guest.StoreHandler(filestore.Info, s.kept.On(fs)), op, in)
	if len(out) > abi.MaxMessage {
		return nil, &plugin.Error{Plugin: filestore.Info.Name, Msg: "answer larger than the limit"}
	}
	if st == abi.OK {
		return out, nil
	}
	var msg abi.ErrorMessage
	_ = abi.Unmarshal(out, &msg)
	return nil, &abi.StatusError{Code: st, Message: sanitize.Text(msg.Message)}
}
