package builtin_test

import (
	"context"
	"testing"

	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/plugin"
)

// Every built-in carries a flyte.describe section (make plugins writes it),
// and says in it what it says when loaded (Load refuses a difference).
func TestBuiltinsDescribeThemselves(t *testing.T) {
	ctx := context.Background()
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for _, n := range builtin.Names() {
		wasm, err := builtin.Module(n)
		if err != nil {
			t.Fatal(err)
		}
		in, err := h.Inspect(ctx, n, wasm)
		if err != nil {
			t.Fatal(err)
		}
		if in.Describe == nil || in.Describe.Name != n {
			t.Fatalf("%s: no flyte.describe section (run make plugins): %+v", n, in.Describe)
		}
		p, err := h.Load(ctx, plugin.Spec{Name: n, Wasm: wasm, DescribeOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		p.Close(ctx)
	}
}
