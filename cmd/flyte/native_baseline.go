//go:build flytenative

// This file exists for benchmarks only. Built with -tags flytenative
// (`go build -tags flytenative -o bin/flyte-native ./cmd/flyte`, which
// `make bench` does itself), flyte links the filestore plugin's Go code
// natively instead of loading its WebAssembly module: the same store code,
// the same ABI codec and the same dispatch (guest.Dispatch) over the same
// fs capability (fsgrant.Call, with locks held until the call returns), only
// without Wasm. It is the baseline the Wasm host is measured against, and
// it reads and writes the same on-disk store as a normal flyte. Never ship
// it: it bypasses the plugin sandbox.
//
// It differs from flyte only where Wasm is involved: no "compiling plugin"
// line on a cold cache, and the configured store plugin (store.plugin,
// [plugins.NAME]) is not consulted, since core.Options.NativeStore replaces
// whatever store the configuration names. The testscript suite passes with
// -tags flytenative except for the two scripts that check exactly that.

package main

import (
	"context"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/core"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

func init() {
	nativeStore = func(dir string) core.Store { return &nativeFileStore{dir: fsgrant.New(dir)} }
}

// nativeFileStore is a core.Store that runs the filestore plugin's
// dispatch in-process.
type nativeFileStore struct {
	dir *fsgrant.Dir
}

// Call runs one operation as the Wasm host would: the request and the
// answer are bounded alike, the store sees the directory through the same
// per-call view (fsgrant.Call, whose locks are released when the call
// returns), and a non-OK status comes back as an *abi.StatusError with the
// plugin's sanitized message.
func (s *nativeFileStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if len(in) > abi.MaxMessage {
		return nil, &plugin.Error{Plugin: filestore.Info.Name, Msg: "request too large"}
	}
	ctx, cancel := context.WithTimeout(ctx, plugin.DefaultTimeout)
	defer cancel()
	fs := s.dir.Begin(ctx) // the fsAdapter: guest.FS over the directory for this call
	defer fs.End()
	st, out := guest.Dispatch(guest.StoreHandler(filestore.Info, filestore.New(fs)), op, in)
	if len(out) > abi.MaxMessage {
		return nil, &plugin.Error{Plugin: filestore.Info.Name, Msg: "answer larger than the limit"}
	}
	if st == abi.OK {
		return out, nil
	}
	var m abi.ErrorMessage
	_ = abi.Unmarshal(out, &m)
	return nil, &abi.StatusError{Code: st, Message: sanitize.Text(m.Message)}
}
