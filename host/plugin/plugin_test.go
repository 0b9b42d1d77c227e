package plugin_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/plugin"
)

func loadStore(t *testing.T, cache string) *plugin.Plugin {
	t.Helper()
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	h, err := plugin.NewHost(plugin.Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	p, err := h.Load(context.Background(), plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Grants: fsGrant(t.TempDir())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

func TestStoreRoundTrip(t *testing.T) {
	p := loadStore(t, t.TempDir())
	ctx := context.Background()
	if p.Info.Name != "filestore" || p.Info.Kind != abi.KindStore {
		t.Fatalf("describe: %+v", p.Info)
	}
	rec := abi.Record{Scope: abi.Scope{Org: "acme", Project: "p1"}, Key: "K", Kind: abi.SecretString, Created: 5, Updated: 5, Sealed: []byte("ciphertext")}
	out, err := p.Call(ctx, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec}))
	if err != nil {
		t.Fatal(err)
	}
	var got abi.Record
	if err := abi.Unmarshal(out, &got); err != nil || got.Version != 1 {
		t.Fatalf("create: %+v %v", got, err)
	}
	_, err = p.Call(ctx, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec}))
	var se *abi.StatusError
	if !errors.As(err, &se) || se.Code != abi.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	out, err = p.Call(ctx, abi.OpList, abi.Marshal(&abi.ListRequest{Org: "acme"}))
	if err != nil {
		t.Fatal(err)
	}
	var l abi.ListResponse
	if err := abi.Unmarshal(out, &l); err != nil || len(l.Records) != 1 || string(l.Records[0].Sealed) != "ciphertext" {
		t.Fatalf("list: %+v %v", l, err)
	}
}
