//go:build !wasip1

package filestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// The store logic runs natively here, over the same fs capability the wasm
// host gives it; the plugin tests in host/plugin run it as wasm.

func newStore(t *testing.T) (*filestore.Store, string, func()) {
	dir := t.TempDir()
	call := fsgrant.New(dir).Begin(context.Background())
	return filestore.New(call), dir, call.End
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
			resp, err := s.List(&req)
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
	resp, err := s.List(&abi.ListRequest{Org: "acme", HasProject: true, Project: "", HasDomain: true, Domain: "dev"})
	if err != nil || len(resp.Records) != 3 || resp.Records[0].Scope.Project != "" {
		t.Fatalf("filter: %+v %v", resp, err)
	}
	resp, err = s.List(&abi.ListRequest{Org: "acme", Key: "K1"})
	if err != nil || len(resp.Records) != 9 {
		t.Fatalf("key filter: %d %v", len(resp.Records), err)
	}
	resp, err = s.List(&abi.ListRequest{Org: "other"})
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
	resp, err := s.List(&abi.ListRequest{Org: "acme"})
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
		resp, err := s.List(&req)
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
		resp, err := s.List(&req)
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
