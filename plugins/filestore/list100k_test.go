//go:build !wasip1

package filestore

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
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
	return loadModule(t, wasm, dir)
}

// loadModule loads the filestore module wasm on dir.
func loadModule(t testing.TB, wasm []byte, dir string) *plugin.Plugin {
	t.Helper()
	h, err := plugin.NewHost(plugin.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	// The default memory cap is what the test is about; the call timeout
	// is raised so that a loaded machine cannot fail it (nothing is timed).
	p, err := h.Load(context.Background(), plugin.Spec{Name: "filestore", Wasm: wasm, Kind: abi.KindStore, Timeout: time.Minute, Builtin: true,
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

// bulkLogStore writes n records of one scope straight to disk in format 2
// (the marker and one log), as the store would (a fixture: one write, no
// fsync), and returns the directory.
func bulkLogStore(t testing.TB, n int) string {
	t.Helper()
	dir := t.TempDir()
	s := abi.Scope{Org: "acme", Project: "big"}
	var gen [genSize]byte
	gen[0] = 42
	log := logHeader(gen)
	sealed := make([]byte, 120)
	for i := range n {
		r := abi.Record{Scope: s, Key: fmt.Sprintf("KEY_%06d", i), Kind: abi.SecretString, Version: 1, Created: 1, Updated: 1, Sealed: sealed}
		log = appendFrame(log, gen, opPut, &r)
	}
	if err := os.MkdirAll(filepath.Join(dir, logDir), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, logDir, s.Org), log, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, secretsDir), []byte(markerDone), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The same through a store of format 2, whose listing is a few ranged
// reads; and a write to it, through the wasm store, goes into its log.
// (Untimed; skipped by -short.)
func TestList100kLogWasm(t *testing.T) {
	if testing.Short() {
		t.Skip("lists 100,000 records through wasm (-short)")
	}
	const n = 100_000
	dir := bulkLogStore(t, n)
	p := loadWasm(t, dir)
	start := time.Now()
	got, pages := listWasm(t, p, "acme")
	t.Logf("listed %d records in %d pages in %v", got, pages, time.Since(start).Round(time.Millisecond))
	if got != n {
		t.Fatalf("listed %d records, want %d", got, n)
	}
	w := abi.WriteRequest{Record: abi.Record{Scope: abi.Scope{Org: "acme", Project: "big"}, Key: "KEY_A", Kind: abi.SecretString, Sealed: []byte("x")}}
	if _, err := p.Call(context.Background(), abi.OpCreate, abi.Marshal(&w)); err != nil {
		t.Fatal(err)
	}
	if got, _ := listWasm(t, p, "acme"); got != n+1 {
		t.Fatalf("listed %d records after a create, want %d", got, n+1)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets", "acme")); err == nil {
		t.Fatal("the create wrote a file of format 1")
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
	for _, c := range []struct {
		n      int
		layout string
		bulk   func(testing.TB, int) string
	}{{10_000, "files", bulkStore}, {100_000, "files", bulkStore}, {10_000, "log", bulkLogStore}, {100_000, "log", bulkLogStore}} {
		n := c.n
		// Made by the first sub-benchmark that runs: -bench may skip both.
		// In the parent's temporary directory, which outlives them.
		var dir string
		parent := b
		fixture := func(*testing.B) string {
			if dir == "" {
				dir = c.bulk(parent, n)
			}
			return dir
		}
		b.Run(fmt.Sprintf("wasm/%s/%dk", c.layout, n/1000), func(b *testing.B) {
			p := loadWasm(b, fixture(b))
			for b.Loop() {
				if got, _ := listWasm(b, p, "acme"); got != n {
					b.Fatalf("listed %d", got)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/record")
		})
		b.Run(fmt.Sprintf("native/%s/%dk", c.layout, n/1000), func(b *testing.B) {
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

// The wasm store on a store of format 2 whose conversion is under way
// (the state after a first write by a converting flyte): its next write
// finishes the conversion (write_at, remove_all), and COMPACT rewrites the
// log (rename), through the real host calls of ABI 1.4; every record stays
// as it was.
func TestLogWasm(t *testing.T) {
	dir := t.TempDir()
	want := oldStore(t, dir, 30)
	if err := os.Rename(filepath.Join(dir, secretsDir), filepath.Join(dir, "legacy-abc")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, secretsDir), []byte(markerConverting), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := listing(t, dir); !slices.Equal(got, want) {
		t.Fatalf("half-converted store lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	p := loadWasm(t, dir)
	ctx := context.Background()
	k := abi.KeyRequest{Scope: abi.Scope{Org: "acme"}, Key: "K0000"}
	if out, err := p.Call(ctx, abi.OpGet, abi.Marshal(&k)); err != nil {
		t.Fatal(err)
	} else if r := new(abi.Record); abi.Unmarshal(out, r) != nil || r.Version != 2 {
		t.Fatalf("get through the legacy tree: %+v", r)
	}
	w := abi.WriteRequest{Record: abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "NEW", Kind: abi.SecretString, Created: 5, Updated: 5, Sealed: []byte("new")}}
	if _, err := p.Call(ctx, abi.OpCreate, abi.Marshal(&w)); err != nil {
		t.Fatal(err)
	}
	if markerOf(t, dir) != markerDone {
		t.Fatalf("marker after the write: %q", markerOf(t, dir))
	}
	if _, err := os.Stat(filepath.Join(dir, "legacy-abc")); !os.IsNotExist(err) {
		t.Fatalf("legacy tree left: %v", err)
	}
	want = sortedWith(want, fmt.Sprintf("acme///NEW v1 kind 1 5 5 %q", "new"))
	if got := listing(t, dir); !slices.Equal(got, want) {
		t.Fatalf("converted store lists\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i := range 20 {
		w.Record.Sealed = []byte(fmt.Sprintf("v%d", i+2))
		if _, err := p.Call(ctx, abi.OpUpdate, abi.Marshal(&w)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.Call(ctx, abi.OpDelete, abi.Marshal(&k)); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(dir, logDir, "acme")
	before, _ := os.Stat(logFile)
	if _, err := p.Call(ctx, abi.OpCompact, nil); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Stat(logFile)
	if after.Size() >= before.Size() {
		t.Fatalf("COMPACT left the log at %d bytes (was %d)", after.Size(), before.Size())
	}
	b, _ := os.ReadFile(logFile)
	for i := range 20 {
		if bytes.Contains(b, []byte(fmt.Sprintf("v%d\x00", i+2))) && i+2 < 21 {
			t.Fatalf("an earlier value is still in the log after COMPACT")
		}
	}
	want = slices.DeleteFunc(want, func(s string) bool { return strings.HasPrefix(s, "acme///K0000 ") })
	for i, s := range want {
		if strings.HasPrefix(s, "acme///NEW ") {
			want[i] = fmt.Sprintf("acme///NEW v21 kind 1 5 5 %q", "v21")
		}
	}
	if got := listing(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after updates, a delete and COMPACT\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
