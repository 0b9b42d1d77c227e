//go:build !wasip1

package dirstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/plugins/examples/dirstore"
)

// The store logic runs natively here, over the same fs capability the wasm
// host gives it; `flyte plugin test` runs it as wasm.
func newStore(t *testing.T) (*dirstore.Store, string) {
	dir := t.TempDir()
	call := fsgrant.New(dir).Begin(context.Background())
	t.Cleanup(call.End)
	return dirstore.New(call), dir
}

func write(t *testing.T, dir, name, value string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(value), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestGet(t *testing.T) {
	s, dir := newStore(t)
	write(t, dir, "db_password", "hunter2")
	r, err := s.Get(abi.Scope{Org: "acme"}, "db_password")
	if err != nil || r.Version != 1 || string(r.Sealed) != "hunter2" || r.Scope.Org != "acme" || r.Key != "db_password" {
		t.Fatalf("get: %+v, %v", r, err)
	}
	for _, c := range []struct {
		s   abi.Scope
		key string
	}{{abi.Scope{Org: "acme"}, "missing"}, {abi.Scope{Org: "acme", Project: "p"}, "db_password"}, {abi.Scope{Org: "acme"}, "../x"}} {
		if _, err := s.Get(c.s, c.key); abi.StatusOf(err) != abi.NotFound {
			t.Errorf("get %+v %q: %v, want not found", c.s, c.key, err)
		}
	}
}

func TestReadOnly(t *testing.T) {
	s, dir := newStore(t)
	r := &abi.Record{Scope: abi.Scope{Org: "acme"}, Key: "k", Sealed: []byte("v")}
	_, e1 := s.Create(r)
	_, e2 := s.Update(r, 0)
	e3 := s.Delete(r.Scope, "k", 0)
	_, e4 := s.MetaPut("datakey", []byte("x"), true)
	for i, err := range []error{e1, e2, e3, e4} {
		if abi.StatusOf(err) != abi.PermissionDenied {
			t.Errorf("write %d: %v, want permission denied", i, err)
		}
	}
	if _, err := s.MetaGet("datakey"); abi.StatusOf(err) != abi.NotFound {
		t.Errorf("meta get: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a read-only store wrote %d files", len(ents))
	}
}

func TestList(t *testing.T) {
	s, dir := newStore(t)
	for _, k := range []string{"c", "a", "B", "d-1", "e_2"} {
		write(t, dir, k, "value of "+k)
	}
	write(t, dir, "not a key.txt", "x")
	write(t, dir, ".hidden", "x")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "c"), filepath.Join(dir, "c2")); err != nil {
		t.Fatal(err)
	}
	var keys, damaged []string
	req := abi.ListRequest{Org: "acme", Limit: 2}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("listing does not end")
		}
		resp, err := s.List(&req)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(resp.Records) + len(resp.Damaged); n > 2 {
			t.Fatalf("page of %d over limit 2", n)
		}
		for _, r := range resp.Records {
			if r.Scope != (abi.Scope{Org: "acme"}) || string(r.Sealed) != "value of "+r.Key {
				t.Errorf("record %+v", r)
			}
			keys = append(keys, r.Key)
		}
		for _, d := range resp.Damaged {
			damaged = append(damaged, d.Key)
		}
		if resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	// c and c2 are one file with two links, which the host refuses to read.
	if want := "[B a d-1 e_2]"; fmt.Sprint(keys) != want {
		t.Errorf("records %v, want %s", keys, want)
	}
	if want := "[c c2]"; fmt.Sprint(damaged) != want {
		t.Errorf("damaged %v, want %s", damaged, want)
	}
	for _, req := range []abi.ListRequest{{Org: "acme", HasProject: true, Project: "p"}, {Org: "acme", Key: "zzz"}, {Org: "acme", HasDomain: true, Domain: "d"}} {
		resp, err := s.List(&req)
		if err != nil || len(resp.Records)+len(resp.Damaged) != 0 {
			t.Errorf("list %+v: %+v, %v", req, resp, err)
		}
	}
	resp, err := s.List(&abi.ListRequest{Org: "other", HasProject: true, Key: "a"})
	if err != nil || len(resp.Records) != 1 || resp.Records[0].Key != "a" || resp.Records[0].Scope.Org != "other" {
		t.Errorf("list key a: %+v, %v", resp, err)
	}
}
