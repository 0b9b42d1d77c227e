//go:build !wasip1

package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// The store logic runs natively here, over the same fs capability the wasm
// host gives it; the plugin tests in host/plugin run it as wasm.

func newStore(t *testing.T) (*filestore.Store, string, func()) {
	dir := t.TempDir()
	call := fsgrant.New(dir).Begin(context.Background())
	return newOn(call), dir, call.End
}

// logLayout makes newOn's stores write format 2 (TestLogLayout).
var logLayout bool

// newOn returns a store over fs, of the layout the test runs on.
func newOn(fs guest.FS) *filestore.Store {
	s := filestore.New(fs)
	if logLayout {
		s.ConvertOnWrite()
	}
	return s
}

func code(err error) abi.Status { return abi.StatusOf(err) }

func rec(p, d, k string) *abi.Record {
	return &abi.Record{Scope: abi.Scope{Org: "acme", Project: p, Domain: d}, Key: k, Kind: abi.SecretString, Created: 1, Updated: 1, Sealed: []byte("x")}
}

func TestCreateUpdateDelete(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	r, err := s.Create(rec("", "", "K"))
	if err != nil || r.Version != 1 {
		t.Fatalf("create: %v %v", r, err)
	}
	if _, err := s.Create(rec("", "", "K")); code(err) != abi.AlreadyExists {
		t.Fatalf("second create: %v", err)
	}
	u := rec("", "", "K")
	u.Created, u.Updated, u.Sealed = 99, 99, []byte("y")
	r, err = s.Update(u, 0)
	if err != nil || r.Version != 2 || r.Created != 1 || r.Updated != 99 {
		t.Fatalf("update: %+v %v", r, err)
	}
	if _, err := s.Update(u, 1); code(err) != abi.Conflict {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := s.Update(rec("p", "", "K"), 0); code(err) != abi.NotFound {
		t.Fatalf("update missing: %v", err)
	}
	if err := s.Delete(abi.Scope{Org: "acme"}, "K", 1); code(err) != abi.Conflict {
		t.Fatalf("stale delete: %v", err)
	}
	if err := s.Delete(abi.Scope{Org: "acme"}, "K", 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(abi.Scope{Org: "acme"}, "K", 0); code(err) != abi.NotFound {
		t.Fatalf("delete again: %v", err)
	}
}

func TestRejectsBadNames(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	for _, r := range []*abi.Record{rec("..", "", "K"), rec("", "", "../K"), rec("", "", ".hidden"), rec("a/b", "", "K"), rec("", "", "")} {
		if _, err := s.Create(r); code(err) != abi.InvalidArgument {
			t.Errorf("%+v: got %v", r.Scope, err)
		}
	}
}

func TestListOrderFiltersAndPages(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	var want []string
	for _, p := range []string{"", "a", "b"} {
		for _, d := range []string{"", "dev", "prod"} {
			for i := range 3 {
				k := fmt.Sprintf("K%d", i)
				if _, err := s.Create(rec(p, d, k)); err != nil {
					t.Fatal(err)
				}
				want = append(want, p+"/"+d+"/"+k)
			}
		}
	}
	for _, limit := range []uint32{0, 1, 2, 5, 27, 100} {
		var got []string
		req := abi.ListRequest{Org: "acme", Limit: limit}
		for {
			resp, err := filestore.DecodedList(s, &req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Records {
				got = append(got, r.Scope.Project+"/"+r.Scope.Domain+"/"+r.Key)
			}
			if resp.NextPageToken == "" {
				break
			}
			req.PageToken = resp.NextPageToken
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: got %v", limit, got)
		}
	}
	resp, err := filestore.DecodedList(s, &abi.ListRequest{Org: "acme", HasProject: true, Project: "", HasDomain: true, Domain: "dev"})
	if err != nil || len(resp.Records) != 3 || resp.Records[0].Scope.Project != "" {
		t.Fatalf("filter: %+v %v", resp, err)
	}
	resp, err = filestore.DecodedList(s, &abi.ListRequest{Org: "acme", Key: "K1"})
	if err != nil || len(resp.Records) != 9 {
		t.Fatalf("key filter: %d %v", len(resp.Records), err)
	}
	resp, err = filestore.DecodedList(s, &abi.ListRequest{Org: "other"})
	if err != nil || len(resp.Records) != 0 {
		t.Fatalf("other org: %+v %v", resp, err)
	}
}

func TestDamagedRecordsDoNotHideOthers(t *testing.T) {
	s, dir, end := newStore(t)
	defer end()
	for _, k := range []string{"A", "B", "C", "D"} {
		if _, err := s.Create(rec("", "", k)); err != nil {
			t.Fatal(err)
		}
	}
	base := filepath.Join(dir, "secrets", "acme", "@", "@")
	if err := os.WriteFile(filepath.Join(base, "B"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	// A record copied under another key is refused by its location check.
	b, _ := os.ReadFile(filepath.Join(base, "A"))
	if err := os.WriteFile(filepath.Join(base, "D"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := filestore.DecodedList(s, &abi.ListRequest{Org: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Records) != 2 || resp.Records[0].Key != "A" || resp.Records[1].Key != "C" {
		t.Fatalf("records: %+v", resp.Records)
	}
	if len(resp.Damaged) != 2 || resp.Damaged[0].Key != "B" || resp.Damaged[1].Key != "D" {
		t.Fatalf("damaged: %+v", resp.Damaged)
	}
	if _, err := s.Get(abi.Scope{Org: "acme"}, "B"); code(err) != abi.Internal {
		t.Fatalf("get damaged: %v", err)
	}
}

func TestMeta(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	if _, err := s.MetaGet("datakey"); code(err) != abi.NotFound {
		t.Fatalf("missing meta: %v", err)
	}
	v, err := s.MetaPut("datakey", []byte("one"), true)
	if err != nil || string(v) != "one" {
		t.Fatal(v, err)
	}
	v, err = s.MetaPut("datakey", []byte("two"), true)
	if err != nil || string(v) != "one" {
		t.Fatalf("create-only put kept %q, %v", v, err)
	}
	if _, err := s.MetaGet("../x"); !errors.Is(err, err) || code(err) != abi.InvalidArgument {
		t.Fatalf("bad meta name: %v", err)
	}
}

// Pages stay under the ABI's message limit however large the values are.
func TestListPagesBySize(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	big := make([]byte, 1<<20+64)
	for i := range 20 {
		r := rec("", "", fmt.Sprintf("K%02d", i))
		r.Sealed = big
		if _, err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	}
	req := abi.ListRequest{Org: "acme"}
	total, pages := 0, 0
	for {
		resp, err := filestore.DecodedList(s, &req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(abi.Marshal(resp)); n > abi.MaxMessage {
			t.Fatalf("page of %d bytes", n)
		}
		total += len(resp.Records)
		pages++
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if total != 20 || pages < 5 {
		t.Fatalf("%d records in %d pages", total, pages)
	}
}

// A page that ends on a damaged record continues after it: the position is
// compared in listing order ("" first), not as the "@" of a path.
func TestPageEndsOnDamaged(t *testing.T) {
	s, dir, end := newStore(t)
	defer end()
	if _, err := s.Create(rec("", "", "A")); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"B", "C"} {
		if _, err := s.Create(rec("0p", "", k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "acme", "0p", "@", "B"), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	req := abi.ListRequest{Org: "acme", Limit: 2}
	for range 5 {
		resp, err := filestore.DecodedList(s, &req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Records {
			seen[r.Key]++
		}
		for _, d := range resp.Damaged {
			seen[d.Key]++
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if seen["A"] != 1 || seen["B"] != 1 || seen["C"] != 1 {
		t.Fatalf("entries seen %v, want each once", seen)
	}
}

// meta puts a meta value or fails the test.
func meta(t *testing.T, s *filestore.Store, name, v string) {
	t.Helper()
	if _, err := s.MetaPut(name, []byte(v), false); err != nil {
		t.Fatal(err)
	}
}

func sealed(t *testing.T, s *filestore.Store, p, d, k string) string {
	t.Helper()
	r, err := s.Get(abi.Scope{Org: "acme", Project: p, Domain: d}, k)
	if err != nil {
		t.Fatal(err)
	}
	return string(r.Sealed)
}

// A guarded write is applied only while the meta value holds exactly the
// guard's value; otherwise CONFLICT and nothing is written.
func TestGuardedWrites(t *testing.T) {
	s, dir, end := newStore(t)
	defer end()
	g := abi.Guard{Name: "datakey", Value: []byte("E1")}
	if _, err := s.CreateIf(rec("", "", "A"), g); code(err) != abi.Conflict {
		t.Fatalf("create with absent meta: %v", err)
	}
	meta(t, s, "datakey", "E2")
	if _, err := s.CreateIf(rec("", "", "A"), g); code(err) != abi.Conflict {
		t.Fatalf("create with other meta: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secrets", "acme", "@", "@", "A")); !os.IsNotExist(err) {
		t.Fatalf("a refused create wrote: %v", err)
	}
	meta(t, s, "datakey", "E1")
	r, err := s.CreateIf(rec("", "", "A"), g)
	if err != nil || r.Version != 1 {
		t.Fatalf("create with matching meta: %+v %v", r, err)
	}
	if _, err := s.CreateIf(rec("", "", "A"), g); code(err) != abi.AlreadyExists {
		t.Fatalf("guarded create of an existing key: %v", err)
	}
	u := rec("", "", "A")
	u.Sealed = []byte("y")
	for _, bad := range []abi.Guard{{Name: "datakey", Value: []byte("E2")}, {Name: "datakey", Value: nil}, {Name: "other", Value: []byte("E1")}} {
		if _, err := s.UpdateIf(u, 1, bad); code(err) != abi.Conflict {
			t.Fatalf("update guarded by %s=%q: %v", bad.Name, bad.Value, err)
		}
	}
	if got := sealed(t, s, "", "", "A"); got != "x" {
		t.Fatalf("a refused update wrote %q", got)
	}
	if _, err := s.UpdateIf(rec("", "", "B"), 0, g); code(err) != abi.NotFound {
		t.Fatalf("guarded update of a missing key: %v", err)
	}
	if _, err := s.UpdateIf(u, 2, g); code(err) != abi.Conflict {
		t.Fatalf("guarded update at a stale version: %v", err)
	}
	r, err = s.UpdateIf(u, 1, g)
	if err != nil || r.Version != 2 || string(r.Sealed) != "y" {
		t.Fatalf("update with matching meta: %+v %v", r, err)
	}
	for _, bad := range []string{"", "../datakey", ".x"} {
		if _, err := s.CreateIf(rec("", "", "C"), abi.Guard{Name: bad}); code(err) != abi.InvalidArgument {
			t.Fatalf("guard name %q: %v", bad, err)
		}
		if _, err := s.UpdateIf(u, 0, abi.Guard{Name: bad}); code(err) != abi.InvalidArgument {
			t.Fatalf("guard name %q: %v", bad, err)
		}
	}
	// An empty meta value is a value: it guards like any other.
	meta(t, s, "empty", "")
	if _, err := s.CreateIf(rec("", "", "C"), abi.Guard{Name: "empty"}); err != nil {
		t.Fatalf("guard by an empty value: %v", err)
	}
}

func TestMetaSwapAndDelete(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	if _, err := s.MetaSwap("datakey", []byte("two"), []byte("one")); code(err) != abi.NotFound {
		t.Fatalf("swap of an absent value: %v", err)
	}
	if _, err := s.MetaGet("datakey"); code(err) != abi.NotFound {
		t.Fatalf("a refused swap wrote: %v", err)
	}
	meta(t, s, "datakey", "one")
	if _, err := s.MetaSwap("datakey", []byte("three"), []byte("two")); code(err) != abi.Conflict {
		t.Fatalf("swap from another value: %v", err)
	}
	if v, _ := s.MetaGet("datakey"); string(v) != "one" {
		t.Fatalf("a refused swap wrote %q", v)
	}
	v, err := s.MetaSwap("datakey", []byte("two"), []byte("one"))
	if err != nil || string(v) != "two" {
		t.Fatalf("swap: %q %v", v, err)
	}
	if v, _ := s.MetaGet("datakey"); string(v) != "two" {
		t.Fatalf("after swap: %q", v)
	}
	if _, err := s.MetaSwap("../x", nil, nil); code(err) != abi.InvalidArgument {
		t.Fatalf("bad name: %v", err)
	}

	if err := s.MetaDelete("nope", nil, false); code(err) != abi.NotFound {
		t.Fatalf("delete of an absent value: %v", err)
	}
	if err := s.MetaDelete("datakey", []byte("one"), true); code(err) != abi.Conflict {
		t.Fatalf("delete of another value: %v", err)
	}
	if v, _ := s.MetaGet("datakey"); string(v) != "two" {
		t.Fatalf("a refused delete changed it: %q", v)
	}
	if err := s.MetaDelete("datakey", []byte("two"), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MetaGet("datakey"); code(err) != abi.NotFound {
		t.Fatalf("after delete: %v", err)
	}
	meta(t, s, "other", "x")
	if err := s.MetaDelete("other", nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.MetaDelete("other", nil, false); code(err) != abi.NotFound {
		t.Fatalf("delete again: %v", err)
	}
	if err := s.MetaDelete("../x", nil, false); code(err) != abi.InvalidArgument {
		t.Fatalf("bad name: %v", err)
	}
}

// AllOrgs lists every organization in (org, project, domain, key) order,
// across pages, with the other filters applied and Org ignored.
func TestListAllOrgs(t *testing.T) {
	s, _, end := newStore(t)
	defer end()
	var want, wantK1 []string
	for _, o := range []string{"acme", "b0", "beta", "zeta"} {
		for _, p := range []string{"", "a"} {
			for _, d := range []string{"", "dev"} {
				for _, k := range []string{"K0", "K1"} {
					r := rec(p, d, k)
					r.Scope.Org = o
					if _, err := s.Create(r); err != nil {
						t.Fatal(err)
					}
					e := o + "/" + p + "/" + d + "/" + k
					want = append(want, e)
					if k == "K1" && p == "a" {
						wantK1 = append(wantK1, e)
					}
				}
			}
		}
	}
	all := func(req abi.ListRequest) []string {
		t.Helper()
		var got []string
		for range 100 {
			resp, err := filestore.DecodedList(s, &req)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Records {
				got = append(got, r.Scope.Org+"/"+r.Scope.Project+"/"+r.Scope.Domain+"/"+r.Key)
			}
			if resp.NextPageToken == "" {
				return got
			}
			req.PageToken = resp.NextPageToken
		}
		t.Fatal("listing did not end")
		return nil
	}
	for _, limit := range []uint32{0, 1, 3, 8, 31, 32, 33} {
		if got := all(abi.ListRequest{AllOrgs: true, Org: "ignored", Limit: limit}); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("limit %d: got %v", limit, got)
		}
	}
	if got := all(abi.ListRequest{AllOrgs: true, HasProject: true, Project: "a", Key: "K1", Limit: 2}); fmt.Sprint(got) != fmt.Sprint(wantK1) {
		t.Fatalf("filtered: got %v", got)
	}
	// A one-organization listing is unchanged.
	if got := all(abi.ListRequest{Org: "beta", Limit: 3}); len(got) != 8 || got[0] != "beta///K0" {
		t.Fatalf("one org: %v", got)
	}
	for _, tok := range []string{"@/@/K0", "acme/@/@/K0/x"} {
		if _, err := filestore.DecodedList(s, &abi.ListRequest{AllOrgs: true, PageToken: tok}); code(err) != abi.InvalidArgument {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
	if _, err := filestore.DecodedList(s, &abi.ListRequest{Org: "acme", PageToken: "acme/@/@/K0"}); code(err) != abi.InvalidArgument {
		t.Fatalf("all-orgs token in a one-org listing: %v", err)
	}
}

// call runs f as one plugin call on d: its locks are held until it returns.
func call(d *fsgrant.Dir, f func(s *filestore.Store)) {
	c := d.Begin(context.Background())
	defer c.End()
	f(newOn(c))
}

// Two instances on one directory race guarded writes against meta swaps,
// as a process still holding a retired data key races `recipients remove`.
// After every swap the swapper re-seals what it finds under the old value;
// a write guarded by an old value must never land after that, so every
// record then holds the current value.
func TestGuardedWritesRaceMetaSwap(t *testing.T) {
	dir := t.TempDir()
	a, b := fsgrant.New(dir), fsgrant.New(dir)
	call(a, func(s *filestore.Store) {
		meta(t, s, "datakey", "E0")
		r := rec("", "", "U")
		r.Sealed = []byte("E0")
		if _, err := s.Create(r); err != nil {
			t.Fatal(err)
		}
	})
	done := make(chan struct{})
	stop := sync.OnceFunc(func() { close(done) })
	var wg sync.WaitGroup
	// The writer's guarded writes applied and refused.
	var applied, refused atomic.Int64
	wg.Add(1)
	// Also on a failure: the writer stops before the test ends.
	defer func() { stop(); wg.Wait() }()
	go func() {
		defer wg.Done()
		n := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			call(b, func(s *filestore.Store) {
				v, err := s.MetaGet("datakey")
				if err != nil {
					t.Error(err)
					return
				}
				g := abi.Guard{Name: "datakey", Value: v}
				// Updates of one record, and creates of at most 10
				// (each swap re-seals them all).
				create := n%2 == 1 && n < 20
				r := rec("", "", "U")
				if create {
					r = rec("", "", fmt.Sprintf("C%d", n))
				}
				r.Sealed = v
				if create {
					_, err = s.CreateIf(r, g)
				} else {
					_, err = s.UpdateIf(r, 0, g)
				}
				switch code(err) {
				case abi.OK:
					applied.Add(1)
				case abi.Conflict:
					refused.Add(1)
				default:
					t.Errorf("guarded write: %v", err)
				}
			})
			n++
		}
	}()
	// Swap until the writer has had writes applied and refused, since
	// goroutines are scheduled as they are (bounded by a count).
	for i := 0; i < 25 || applied.Load() < 20 || refused.Load() == 0; i++ {
		if i == 5000 {
			t.Fatalf("after %d swaps, %d guarded writes applied and %d refused", i, applied.Load(), refused.Load())
		}
		cur, next := fmt.Sprintf("E%d", i), fmt.Sprintf("E%d", i+1)
		call(a, func(s *filestore.Store) {
			if _, err := s.MetaSwap("datakey", []byte(next), []byte(cur)); err != nil {
				t.Fatal(err)
			}
		})
		// Re-seal, guarded by the new value.
		var stale []abi.Record
		call(a, func(s *filestore.Store) {
			resp, err := filestore.DecodedList(s, &abi.ListRequest{AllOrgs: true, Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Records {
				if string(r.Sealed) != next {
					stale = append(stale, r)
				}
			}
		})
		call(a, func(s *filestore.Store) {
			for _, r := range stale {
				r.Sealed = []byte(next)
				if _, err := s.UpdateIf(&r, 0, abi.Guard{Name: "datakey", Value: []byte(next)}); err != nil {
					t.Fatal(err)
				}
			}
		})
		call(a, func(s *filestore.Store) {
			resp, err := filestore.DecodedList(s, &abi.ListRequest{AllOrgs: true, Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range resp.Records {
				if string(r.Sealed) != next {
					t.Fatalf("swap %d: %s holds %q after the re-seal, want %q: a write guarded by a replaced value landed", i, r.Key, r.Sealed, next)
				}
			}
		})
	}
	stop()
	wg.Wait()
}

// countingFS counts the directory listings a store makes.
type countingFS struct {
	*fsgrant.Call
	readDirs int
}

func (c *countingFS) ReadDir(p string) ([]abi.DirEntry, error) {
	c.readDirs++
	return c.Call.ReadDir(p)
}

// A paged listing reads each directory once: the page that continues a
// listing (the same request with the token its last page returned) uses
// the names its first page read; any other request reads afresh.
func TestListReadsEachDirectoryOnce(t *testing.T) {
	dir := t.TempDir()
	c := &countingFS{Call: fsgrant.New(dir).Begin(context.Background())}
	defer c.End()
	s := filestore.New(c)
	for i := range 10 {
		if _, err := s.Create(rec("p", "", fmt.Sprintf("K%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	c.readDirs = 0 // the first create looked for legacy trees in the new store
	req := abi.ListRequest{Org: "acme", Limit: 3}
	var keys []string
	for {
		resp, err := filestore.DecodedList(s, &req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Records {
			keys = append(keys, r.Key)
		}
		if len(keys) == 3 {
			// Created after the listing read its directory: not listed
			// by this listing.
			if _, err := s.Create(rec("p", "", "K99")); err != nil {
				t.Fatal(err)
			}
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if len(keys) != 10 || c.readDirs != 3 { // the organization, its project, its domain
		t.Fatalf("listed %v with %d directory reads, want K0..K9 with 3", keys, c.readDirs)
	}
	// A new listing reads afresh, and sees K99.
	c.readDirs = 0
	resp, err := filestore.DecodedList(s, &abi.ListRequest{Org: "acme", Limit: 20})
	if err != nil || len(resp.Records) != 11 || c.readDirs != 3 {
		t.Fatalf("new listing: %d records, %d directory reads, %v", len(resp.Records), c.readDirs, err)
	}
	// A token with another request is not the cached listing's.
	c.readDirs = 0
	resp, err = filestore.DecodedList(s, &abi.ListRequest{Org: "acme", Limit: 3, Key: "K5", PageToken: "p/@/K0"})
	if err != nil || len(resp.Records) != 1 || c.readDirs != 3 {
		t.Fatalf("other request: %+v, %d directory reads, %v", resp.Records, c.readDirs, err)
	}
}

// Stores made with On share the listing cache: a native link that gets a
// new fs for every call still reads each directory once per listing.
func TestOnSharesListings(t *testing.T) {
	dir := t.TempDir()
	d := fsgrant.New(dir)
	kept := filestore.New(nil)
	reads := 0
	page := func(req *abi.ListRequest) *abi.ListResponse {
		c := &countingFS{Call: d.Begin(context.Background())}
		defer c.End()
		resp, err := filestore.DecodedList(kept.On(c), req)
		if err != nil {
			t.Fatal(err)
		}
		reads += c.readDirs
		return resp
	}
	call(d, func(s *filestore.Store) {
		for i := range 6 {
			if _, err := s.Create(rec("", "", fmt.Sprintf("K%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	})
	req := abi.ListRequest{Org: "acme", Limit: 2}
	n := 0
	for {
		resp := page(&req)
		n += len(resp.Records)
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	if n != 6 || reads != 3 {
		t.Fatalf("%d records with %d directory reads, want 6 with 3", n, reads)
	}
}

// keysOf lists req to its end on the stores given, one page each in turn
// (the last one serving the rest), and returns the keys and tokens.
func keysOf(t *testing.T, req abi.ListRequest, stores ...*filestore.Store) (keys, tokens []string) {
	t.Helper()
	for i := 0; ; i++ {
		resp, err := filestore.DecodedList(stores[min(i, len(stores)-1)], &req)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Records {
			keys = append(keys, r.Key)
		}
		if resp.NextPageToken == "" {
			return keys, tokens
		}
		tokens = append(tokens, resp.NextPageToken)
		req.PageToken = resp.NextPageToken
	}
}

// Two pooled instances of the store, X and Y: X served page 1 of a listing
// that was then abandoned; a later listing's page 1 goes to Y and reaches
// the same position, and its page 2 goes to X. X must not continue it
// from the names the abandoned listing read (which lack K9).
func TestListCacheIsPerListing(t *testing.T) {
	dir := t.TempDir()
	c := fsgrant.New(dir).Begin(context.Background())
	defer c.End()
	x, y := filestore.New(c), filestore.New(c)
	for i := range 6 {
		if _, err := x.Create(rec("p", "", fmt.Sprintf("K%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	req := abi.ListRequest{Org: "acme", Limit: 3}
	old, err := filestore.DecodedList(x, &req) // abandoned: X keeps its names
	if err != nil || old.NextPageToken == "" {
		t.Fatalf("page 1: %v, token %t", err, old.NextPageToken != "")
	}
	if _, err := y.Create(rec("p", "", "K9")); err != nil {
		t.Fatal(err)
	}
	keys, tokens := keysOf(t, req, y, x)
	if want := "[K0 K1 K2 K3 K4 K5 K9]"; fmt.Sprint(keys) != want {
		t.Fatalf("a listing started after K9 was created listed %v, want %s", keys, want)
	}
	if tokens[0] == old.NextPageToken {
		t.Fatalf("two listings reached the same position with the same token %q", old.NextPageToken)
	}
	// Each token of one listing carries its id: the same prefix.
	id, _, _ := strings.Cut(tokens[0], "/")
	for _, tok := range tokens {
		if !strings.HasPrefix(tok, id+"/") {
			t.Fatalf("tokens %q do not share the listing id", tokens)
		}
	}
}

// A token from before listing ids (a bare position) still continues a
// listing, reading afresh even where a cached listing stands at that
// position; and its next token carries an id again.
func TestListTokenWithoutID(t *testing.T) {
	dir := t.TempDir()
	c := &countingFS{Call: fsgrant.New(dir).Begin(context.Background())}
	defer c.End()
	s := filestore.New(c)
	for i := range 6 {
		if _, err := s.Create(rec("p", "", fmt.Sprintf("K%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	req := abi.ListRequest{Org: "acme", Limit: 2}
	if _, err := filestore.DecodedList(s, &req); err != nil { // cached, at K1
		t.Fatal(err)
	}
	if _, err := s.Create(rec("p", "", "K2a")); err != nil {
		t.Fatal(err)
	}
	c.readDirs = 0
	req.PageToken = "p/@/K1"
	resp, err := filestore.DecodedList(s, &req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Records[0].Key + " " + resp.Records[1].Key; got != "K2 K2a" || c.readDirs != 3 {
		t.Fatalf("old token: %s with %d directory reads, want K2 K2a with 3", got, c.readDirs)
	}
	if !strings.HasPrefix(resp.NextPageToken, "~") {
		t.Fatal("the page after an old token has a token without a listing id")
	}
	// The listing goes on from the names that page read.
	c.readDirs = 0
	req.PageToken = resp.NextPageToken
	keys, _ := keysOf(t, req, s)
	if fmt.Sprint(keys) != "[K3 K4 K5]" || c.readDirs != 0 {
		t.Fatalf("rest: %v with %d directory reads, want [K3 K4 K5] with 0", keys, c.readDirs)
	}
	// All-organizations tokens without an id still work too.
	keys, _ = keysOf(t, abi.ListRequest{AllOrgs: true, Limit: 2, PageToken: "acme/p/@/K4"}, s)
	if fmt.Sprint(keys) != "[K5]" {
		t.Fatalf("old all-organizations token: %v", keys)
	}
	for _, tok := range []string{"~", "~/p/@/K1", "~x!/p/@/K1", "~abc", "~abc/p/@", "~abc/~def/p/@/K1"} {
		if _, err := filestore.DecodedList(s, &abi.ListRequest{Org: "acme", PageToken: tok}); code(err) != abi.InvalidArgument {
			t.Fatalf("token %q: %v", tok, err)
		}
	}
}

// A page token is whatever the host sends back: any string is a page or
// INVALID_ARGUMENT, and no page answers with its own token.
func TestListAnyPageToken(t *testing.T) {
	d := fsgrant.New(t.TempDir())
	call(d, func(s *filestore.Store) {
		for i := range 4 {
			if _, err := s.Create(rec("p", "", fmt.Sprintf("K%d", i))); err != nil {
				t.Fatal(err)
			}
		}
	})
	kept := filestore.New(nil)
	for _, tok := range []string{"", "p/@/K1", "acme/p/@/K1", "~ABC/p/@/K1", "~ABC/acme/p/@/K1", "~", "~/", "~A/~B/p/@/K", "@/@/", "p/@/K1/", "~A//@/", "/", "~A/acme//@/K3"} {
		for _, allOrgs := range []bool{false, true} {
			c := d.Begin(context.Background())
			req := &abi.ListRequest{Org: "acme", AllOrgs: allOrgs, Limit: 2, PageToken: tok}
			resp, err := filestore.DecodedList(kept.On(c), req)
			c.End()
			if err != nil && code(err) != abi.InvalidArgument || err == nil && resp.NextPageToken != "" && resp.NextPageToken == tok {
				t.Fatalf("token %q (all organizations %t): %v", tok, allOrgs, err)
			}
		}
	}
}
