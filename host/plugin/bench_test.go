package plugin_test

// Per-call overhead of the Wasm host, against the same store code linked
// natively (the baseline of `make bench`, see cmd/flyte/native_baseline.go):
//
//	go test -run '^$' -bench . -benchmem ./host/plugin
//
// Both sides run the filestore's dispatch (guest.Dispatch) over the same
// fsgrant directory, so the difference is the Wasm boundary: copying the
// request and answer, host calls for the fs capability, the guest's
// runtime, the per-call deadline. This test links the plugin's Go code into
// a host test binary; the host itself never does.

import (
	"context"
	"strconv"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// nativeCall is one natively linked store call, as flyte-native makes it:
// the store sees the directory through a per-call fsgrant.Call, whose locks
// are released when the call returns.
func nativeCall(dir *fsgrant.Dir, op abi.Op, in []byte) ([]byte, error) {
	fs := dir.Begin(context.Background())
	defer fs.End()
	st, out := guest.Dispatch(guest.StoreHandler(filestore.Info, filestore.New(fs)), op, in)
	if st != abi.OK {
		var m abi.ErrorMessage
		_ = abi.Unmarshal(out, &m)
		return nil, &abi.StatusError{Code: st, Message: plugin.Sanitize(m.Message)}
	}
	return out, nil
}

// benchStore loads the built-in store plugin over a fresh directory holding
// n records, created through the plugin.
func benchStore(b *testing.B, n int) (*plugin.Plugin, *fsgrant.Dir) {
	b.Helper()
	wasm, err := builtin.Module("filestore")
	if err != nil {
		b.Skip("built-in filestore missing (build with make):", err)
	}
	h, err := plugin.NewHost(plugin.Options{CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	dir := b.TempDir()
	p, err := h.Load(context.Background(), plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Grants: fsGrant(dir)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close(context.Background()) })
	for i := 0; i < n; i++ {
		rec := abi.Record{Scope: abi.Scope{Org: "acme", Project: "p" + strconv.Itoa(i%7)}, Key: "K" + strconv.Itoa(i),
			Kind: abi.SecretString, Created: 1, Updated: 1, Sealed: make([]byte, 80)}
		if _, err := p.Call(context.Background(), abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec})); err != nil {
			b.Fatal(err)
		}
	}
	d := fsgrant.New(dir)
	b.Cleanup(func() { d.Close() })
	return p, d
}

func benchBoth(b *testing.B, p *plugin.Plugin, d *fsgrant.Dir, op abi.Op, in []byte) {
	ctx := context.Background()
	b.Run("wasm", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.Call(ctx, op, in); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("native", func(b *testing.B) {
		for b.Loop() {
			if _, err := nativeCall(d, op, in); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallGet is one OpGet of a record: the smallest call that touches
// the store (one file read through the fs capability).
func BenchmarkCallGet(b *testing.B) {
	p, d := benchStore(b, 1)
	in := abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "acme", Project: "p0"}, Key: "K0"})
	benchBoth(b, p, d, abi.OpGet, in)
}

// BenchmarkCallList is one page of OpList over 500 records (the store's
// default page), what `flyte get secret` makes per 500 secrets.
func BenchmarkCallList(b *testing.B) {
	p, d := benchStore(b, 500)
	in := abi.Marshal(&abi.ListRequest{Org: "acme"})
	out, err := p.Call(context.Background(), abi.OpList, in)
	if err != nil {
		b.Fatal(err)
	}
	var l abi.ListResponse
	if err := abi.Unmarshal(out, &l); err != nil || len(l.Records) != 500 {
		b.Fatalf("list: %d records, %v", len(l.Records), err)
	}
	benchBoth(b, p, d, abi.OpList, in)
}

// BenchmarkLoadWarm is what every CLI process pays before its first call:
// Host.Load of the store plugin with a warm compilation cache (cache-hit
// compile, instantiation with the guest's Go runtime start-up, describe).
func BenchmarkLoadWarm(b *testing.B) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		b.Skip("built-in filestore missing (build with make):", err)
	}
	cache, dir, ctx := b.TempDir(), b.TempDir(), context.Background()
	load := func() {
		h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		p, err := h.Load(ctx, plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Grants: fsGrant(dir)})
		if err != nil {
			b.Fatal(err)
		}
		p.Close(ctx)
	}
	load() // fills the cache
	for b.Loop() {
		load()
	}
}
