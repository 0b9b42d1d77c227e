//go:build !wasip1

package dirstore_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/plugins/examples/dirstore"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// The store logic runs natively here, over the same fs capability the wasm
// host gives it; `flyte plugin test` and the example_dirstore script run
// it as wasm. The directory is filled by the filestore, the writer whose
// layout dirstore serves.
func open(t testing.TB, dir string) (*dirstore.Store, *filestore.Store) {
	call := fsgrant.New(dir).Begin(context.Background())
	t.Cleanup(call.End)
	return dirstore.New(call), filestore.New(call)
}

func rec(org, project, domain, key string, kind abi.SecretKind) abi.Record {
	return abi.Record{Scope: abi.Scope{Org: org, Project: project, Domain: domain}, Key: key, Kind: kind,
		Created: 10, Updated: 20, Sealed: []byte("sealed " + org + "/" + project + "/" + domain + "/" + key)}
}

// fill writes records in several scopes, and a data key, with the filestore.
func fill(t *testing.T, w *filestore.Store) []abi.Record {
	t.Helper()
	var recs []abi.Record
	for _, r := range []abi.Record{
		rec("acme", "", "", "db_password", abi.SecretString),
		rec("acme", "", "", "tls_key", abi.SecretFile),
		rec("acme", "web", "", "api_token", abi.SecretString),
		rec("acme", "web", "production", "api_token", abi.SecretString),
		rec("acme", "web", "development", "api_token", abi.SecretString),
		rec("acme", "batch", "", "a", abi.SecretString),
		rec("other", "", "", "db_password", abi.SecretString),
	} {
		got, err := w.Create(&r)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, *got)
	}
	if _, err := w.MetaPut("datakey", []byte("envelope\x00bytes"), true); err != nil {
		t.Fatal(err)
	}
	return recs
}

// snapshot returns every file of dir with its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		m[p] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestServesAFilestoreDirectory(t *testing.T) {
	dir := t.TempDir()
	s, w := open(t, dir)
	recs := fill(t, w)
	for _, r := range recs {
		got, err := s.Get(r.Scope, r.Key)
		if err != nil || !reflect.DeepEqual(*got, r) {
			t.Errorf("get %+v %s: %+v, %v", r.Scope, r.Key, got, err)
		}
	}
	for _, c := range []struct {
		s   abi.Scope
		key string
	}{{abi.Scope{Org: "acme"}, "missing"}, {abi.Scope{Org: "acme", Project: "web"}, "db_password"}, {abi.Scope{Org: "third"}, "db_password"}} {
		if _, err := s.Get(c.s, c.key); abi.StatusOf(err) != abi.NotFound {
			t.Errorf("get %+v %q: %v, want not found", c.s, c.key, err)
		}
	}
	if _, err := s.Get(abi.Scope{Org: "acme"}, "../meta/datakey"); abi.StatusOf(err) != abi.InvalidArgument {
		t.Errorf("get of a path: %v, want invalid argument", err)
	}
	v, err := s.MetaGet("datakey")
	if err != nil || string(v) != "envelope\x00bytes" {
		t.Errorf("meta get datakey: %q, %v", v, err)
	}
	if _, err := s.MetaGet("missing"); abi.StatusOf(err) != abi.NotFound {
		t.Errorf("meta get of a missing value: %v, want not found", err)
	}
	// Every listing, at every page size, is the filestore's own.
	for _, req := range []abi.ListRequest{
		{Org: "acme"}, {Org: "other"}, {Org: "none"},
		{Org: "acme", HasProject: true, Project: "web"},
		{Org: "acme", HasProject: true},
		{Org: "acme", HasProject: true, Project: "web", HasDomain: true},
		{Org: "acme", HasDomain: true, Domain: "production"},
		{Org: "acme", Key: "api_token"},
	} {
		want := listAll(t, w.List, req)
		for _, limit := range []uint32{0, 1, 2, 3} {
			req.Limit = limit
			if got := listAll(t, s.List, req); !reflect.DeepEqual(got, want) {
				t.Errorf("list %+v: %v\nwant %v", req, got, want)
			}
		}
	}
	if got := listAll(t, s.List, abi.ListRequest{Org: "acme"}); len(got) != 6 || got[0] != "acme///db_password" || got[5] != "acme/web/production/api_token" {
		t.Errorf("list acme: %v", got)
	}
}

func listAll(t *testing.T, list func(*abi.ListRequest) (*abi.ListResponse, error), req abi.ListRequest) []string {
	t.Helper()
	var out []string
	for range 100 {
		resp, err := list(&req)
		if err != nil {
			t.Fatalf("list %+v: %v", req, err)
		}
		if req.Limit > 0 && len(resp.Records)+len(resp.Damaged) > int(req.Limit) {
			t.Fatalf("a page over its limit %d", req.Limit)
		}
		for _, r := range resp.Records {
			out = append(out, r.Scope.Org+"/"+r.Scope.Project+"/"+r.Scope.Domain+"/"+r.Key)
		}
		for _, d := range resp.Damaged {
			out = append(out, "damaged "+d.Scope.Project+"/"+d.Scope.Domain+"/"+d.Key+": "+d.Reason)
		}
		if resp.NextPageToken == "" {
			return out
		}
		req.PageToken = resp.NextPageToken
	}
	t.Fatal("the listing does not end")
	return nil
}

func TestReadOnly(t *testing.T) {
	dir := t.TempDir()
	s, w := open(t, dir)
	recs := fill(t, w)
	before := snapshot(t, dir)
	r := recs[0]
	_, e1 := s.Create(&abi.Record{Scope: r.Scope, Key: "new", Sealed: []byte("v")})
	_, e2 := s.Update(&r, 0)
	e3 := s.Delete(r.Scope, r.Key, 0)
	_, e4 := s.MetaPut("datakey", []byte("x"), false)
	_, e5 := s.MetaPut("other", []byte("x"), true)
	for i, err := range []error{e1, e2, e3, e4, e5} {
		if abi.StatusOf(err) != abi.PermissionDenied || !strings.Contains(err.Error(), "dirstore is read-only: to change these secrets, use the filestore on the same directory") {
			t.Errorf("write %d: %v, want permission denied", i, err)
		}
	}
	if after := snapshot(t, dir); !reflect.DeepEqual(after, before) {
		t.Errorf("a read-only store changed its directory")
	}
	// An empty directory stays empty.
	empty := t.TempDir()
	s, _ = open(t, empty)
	if _, err := s.MetaPut("datakey", []byte("x"), true); abi.StatusOf(err) != abi.PermissionDenied {
		t.Errorf("meta put: %v", err)
	}
	if resp, err := s.List(&abi.ListRequest{Org: "acme"}); err != nil || len(resp.Records)+len(resp.Damaged) != 0 {
		t.Errorf("list of an empty directory: %+v, %v", resp, err)
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Errorf("a read-only store wrote %d files", len(ents))
	}
}

func TestDamaged(t *testing.T) {
	dir := t.TempDir()
	s, w := open(t, dir)
	fill(t, w)
	base := filepath.Join(dir, "secrets", "acme", "@", "@")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(base, "junk"), []byte("not a record"), 0o600))
	b, err := os.ReadFile(filepath.Join(base, "db_password"))
	must(err)
	must(os.WriteFile(filepath.Join(base, "moved"), b, 0o600))
	must(os.WriteFile(filepath.Join(base, "torn"), b[:len(b)-3], 0o600))
	must(os.Link(filepath.Join(base, "tls_key"), filepath.Join(base, "linked")))
	must(os.WriteFile(filepath.Join(base, "not a key"), b, 0o600))
	must(os.Mkdir(filepath.Join(base, "subdir"), 0o700))
	got := listAll(t, s.List, abi.ListRequest{Org: "acme", Limit: 1})
	want := []string{
		"acme///db_password",
		"damaged //junk: not a record file",
		"damaged //linked: ",
		"damaged //moved: record does not match its location",
		"damaged //tls_key: ",
		"damaged //torn: corrupt record",
	}
	if len(got) != len(want)+4 {
		t.Fatalf("list: %q", got)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("entry %d: %q, want %q...", i, got[i], w)
		}
	}
	for _, k := range []string{"junk", "moved", "torn", "linked"} {
		if _, err := s.Get(abi.Scope{Org: "acme"}, k); err == nil || abi.StatusOf(err) == abi.OK {
			t.Errorf("get %s: no error", k)
		}
	}
}

// FuzzRecordFile: whatever a record file holds, GET and LIST answer a
// status (the filestore's decoder is the parser), never a panic.
func FuzzRecordFile(f *testing.F) {
	var e abi.Encoder
	r := rec("acme", "", "", "k", abi.SecretString)
	r.MarshalTo(&e)
	f.Add(append([]byte("flyterec1\n"), e.Bytes()...))
	f.Add([]byte("flyterec1\n"))
	f.Add([]byte("flyterec1\n\x0a\xff\xff\xff\xff\x0f"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		base := filepath.Join(dir, "secrets", "acme", "@", "@")
		if err := os.MkdirAll(base, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(base, "k"), b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, _ := open(t, dir)
		got, err := s.Get(abi.Scope{Org: "acme"}, "k")
		if err == nil && (got.Key != "k" || got.Scope != (abi.Scope{Org: "acme"})) {
			t.Fatalf("get answered the record of %+v %q", got.Scope, got.Key)
		}
		resp, err := s.List(&abi.ListRequest{Org: "acme", Limit: 1})
		if err != nil || len(resp.Records)+len(resp.Damaged) != 1 {
			t.Fatalf("list: %+v, %v", resp, err)
		}
		if len(resp.Records) == 1 && !bytes.Equal(resp.Records[0].Sealed, got.Sealed) {
			t.Fatal("list and get differ")
		}
	})
}
