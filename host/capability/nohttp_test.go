//go:build flytenohttp

package capability_test

import (
	"context"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/internal/wasmtest"
)

// A flyte built with flytenohttp has no http, and says which minor
// version brought it.
func TestBuiltWithoutHTTP(t *testing.T) {
	if _, ok := capability.ByName("http"); ok {
		t.Fatal("http registered")
	}
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	m := wasmtest.Guest().Import(abi.HTTPModule, "request", []byte{wasmtest.I32, wasmtest.I32}, []byte{wasmtest.I32})
	_, err = h.Load(context.Background(), plugin.Spec{Name: "x", Wasm: m.Encode()})
	if err == nil || err.Error() != `plugin x: needs capability "http" (ABI 1.2), which this flyte does not have` {
		t.Fatalf("got %v", err)
	}
}
