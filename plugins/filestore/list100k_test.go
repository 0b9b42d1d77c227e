//go:build !wasip1

package filestore

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/builtin"
	"github.com/flytesecrets/flyte/host/capability"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/plugin"
)

// bulkStore writes n records of one scope straight to disk, as the store
// would (one file each, no fsync: a fixture, not a store write), and
// returns the directory.
func bulkStore(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	s := abi.Scope{Org: "acme", Project: "big"}
	base := filepath.Join(dir, secretsDir, s.Org, s.Project, empty)
	if err := os.MkdirAll(base, 0o700); err != nil {
		t.Fatal(err)
	}
	sealed := make([]byte, 120) // about a small secret's sealed size
	for i := range n {
		key := fmt.Sprintf("KEY_%06d", i)
		r := abi.Record{Scope: s, Key: key, Kind: abi.SecretString, Version: 1, Created: 1, Updated: 1, Sealed: sealed}
		if err := os.WriteFile(filepath.Join(base, key), encode(&r), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadWasm loads the built-in filestore's wasm module on dir, with the
// default memory cap.
func loadWasm(t testing.TB, dir string) *plugin.Plugin {
	t.Helper()
	wasm, err := builtin.Module("filestore")
	if err != nil {
		t.Fatal(err)
	}
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// The default memory cap is what the test is about; the call timeout
	// is raised so that a loaded machine cannot fail it (nothing is timed).
	p, err := h.Load(context.Background(), plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Timeout: time.Minute,
		Grants: map[string]capability.Grant{"fs": capability.FSGrant(dir)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	return p
}

// listWasm lists org through p page by page, as the host does, and
// returns how many records came back, checking their order.
func listWasm(t testing.TB, p *plugin.Plugin, org string) (records, pages int) {
	t.Helper()
	req := abi.ListRequest{Org: org}
	last := ""
	for {
		out, err := p.Call(context.Background(), abi.OpList, abi.Marshal(&req))
		if err != nil {
			t.Fatalf("page %d (after %d records): %v", pages, records, err)
		}
		var resp abi.ListResponse
		if err := abi.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		if len(resp.Damaged) > 0 {
			t.Fatalf("damaged: %+v", resp.Damaged[0])
		}
		for _, r := range resp.Records {
			k := r.Scope.Project + "/" + r.Scope.Domain + "/" + r.Key
			if k <= last {
				t.Fatalf("%q listed after %q", k, last)
			}
			last = k
		}
		records += len(resp.Records)
		pages++
		if resp.NextPageToken == "" {
			return records, pages
		}
		req.PageToken = resp.NextPageToken
	}
}

// A listing of 100,000 records through the real wasm filestore, with the
// default memory cap, completes: it used to end in "crashed: wasm error:
// unreachable" after the guest's memory reached the cap, since every page
// read and sorted the whole directory again. (Untimed; skipped by -short.)
func TestList100kWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100,000 files (-short)")
	}
	const n = 100_000
	dir := bulkStore(t, n)
	p := loadWasm(t, dir)
	start := time.Now()
	got, pages := listWasm(t, p, "acme")
	t.Logf("listed %d records in %d pages in %v", got, pages, time.Since(start).Round(time.Millisecond))
	if got != n {
		t.Fatalf("listed %d records, want %d", got, n)
	}
}

// BenchmarkList measures a whole listing per record at 10k and 100k
// records, through the wasm module and natively (the same store code
// linked in, each call's Store made with On from one kept Store):
//
//	go test ./plugins/filestore -run XXX -bench List -benchtime 3x
func BenchmarkList(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		// Made by the first sub-benchmark that runs: -bench may skip both.
		// In the parent's temporary directory, which outlives them.
		var dir string
		parent := b
		fixture := func(*testing.B) string {
			if dir == "" {
				dir = bulkStore(parent, n)
			}
			return dir
		}
		b.Run(fmt.Sprintf("wasm/%dk", n/1000), func(b *testing.B) {
			p := loadWasm(b, fixture(b))
			for b.Loop() {
				if got, _ := listWasm(b, p, "acme"); got != n {
					b.Fatalf("listed %d", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/record")
		})
		b.Run(fmt.Sprintf("native/%dk", n/1000), func(b *testing.B) {
			for b.Loop() {
				if got := listNative(b, fixture(b), "acme"); got != n {
					b.Fatalf("listed %d", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/record")
		})
	}
}

// listNative lists org as flyte's native baseline can: each page one call
// of the store's dispatch over a fresh fsgrant.Call, with a store made by
// On from one kept Store (sharing its listing cache).
func listNative(t testing.TB, dir, org string) int {
	t.Helper()
	d := fsgrant.New(dir)
	defer d.Close()
	kept := New(nil)
	req := abi.ListRequest{Org: org}
	n := 0
	for {
		c := d.Begin(context.Background())
		st, out := guest.Dispatch(guest.StoreHandler(Info, kept.On(c)), abi.OpList, abi.Marshal(&req))
		c.End()
		if st != abi.OK {
			t.Fatalf("list: status %v", st)
		}
		var resp abi.ListResponse
		if err := abi.Unmarshal(out, &resp); err != nil {
			t.Fatal(err)
		}
		n += len(resp.Records)
		if resp.NextPageToken == "" {
			return n
		}
		req.PageToken = resp.NextPageToken
	}
}
