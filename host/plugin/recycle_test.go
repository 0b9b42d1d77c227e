package plugin

import (
	"context"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
)

// An instance whose memory grew past three quarters of the plugin's cap is closed after
// its call instead of going back to the pool (put), so that memory a Go
// guest's collector has not given back cannot add up across calls until a
// call traps at the cap; a small call keeps its instance.
func TestRecycleGrownInstance(t *testing.T) {
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHost(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := context.Background()
	const pages = 512 // 32 MiB: the threshold is 24 MiB
	p, err := h.Load(ctx, Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, MemoryPages: pages,
		Grants: map[string]capability.Grant{"fs": capability.FSGrant(t.TempDir())}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(ctx)
	pooled := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.idle)
	}
	get := abi.Marshal(&abi.KeyRequest{Scope: abi.Scope{Org: "acme"}, Key: "K"})
	if _, err := p.Call(ctx, abi.OpGet, get); abi.StatusOf(err) != abi.NotFound {
		t.Fatalf("get: %v", err)
	}
	if n := pooled(); n != 1 {
		t.Fatalf("after a small call %d instances are pooled, want 1", n)
	}
	rec := abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "K", Kind: abi.SecretString, Sealed: make([]byte, 7<<20+512<<10)}
	if _, err := p.Call(ctx, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec})); err != nil {
		t.Fatal(err)
	}
	if n := pooled(); n != 0 {
		t.Fatalf("after a call that grew the instance past %d pages, %d instances are pooled, want 0", pages/4*3, n)
	}
	// The next call gets a fresh instance, which goes back to the pool.
	if _, err := p.Call(ctx, abi.OpMetaGet, abi.Marshal(&abi.MetaRequest{Name: "datakey"})); abi.StatusOf(err) != abi.NotFound {
		t.Fatalf("meta get: %v", err)
	}
	if n := pooled(); n != 1 {
		t.Fatalf("after a small call on a fresh instance %d are pooled, want 1", n)
	}
}
