package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

func TestAddReplaces(t *testing.T) {
	ctx := context.Background()
	stale := abi.Marshal(&abi.Describe{Kind: abi.KindInjector, Name: "stale"})
	wasm := wasmtest.Guest().Custom("other", []byte("kept")).Custom(abi.DescribeSection, stale).Encode()
	out, err := Add(ctx, "x", wasm)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, stale) || !bytes.Contains(out, []byte("kept")) {
		t.Fatal("the stale section stayed, or another went")
	}
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	in, err := h.Inspect(ctx, "x", out)
	if err != nil {
		t.Fatal(err)
	}
	if in.Describe == nil || in.Describe.Name != "handmade" || in.Describe.Kind != abi.KindStore {
		t.Fatalf("section %+v", in.Describe)
	}
	// The host accepts its own section, and adding twice changes nothing.
	p, err := h.Load(ctx, plugin.Spec{Name: "x", Wasm: out})
	if err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
	again, err := Add(ctx, "x", out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("second add: %v", err)
	}
	if _, err := Add(ctx, "x", []byte("junk")); err == nil {
		t.Fatal("junk accepted")
	}
}

// FuzzStrip: no input panics it, and what it returns is the input less
// whole sections.
func FuzzStrip(f *testing.F) {
	f.Add(wasmtest.Guest().Encode())
	f.Add(wasmtest.Guest().Custom(abi.DescribeSection, []byte{8, 1}).Encode())
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\xff\xff\xff\xff\x0f"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x00\x02\x05a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := Strip(b)
		if err == nil && (len(out) > len(b) || !bytes.Equal(out[:8], b[:8])) {
			t.Fatalf("strip grew or lost the header")
		}
	})
}
