package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/plugins/filestore"
)

// nativeStore runs the real filestore code in-process; tamper, when set,
// rewrites its answers the way a hostile store plugin could.
type nativeStore struct {
	dir    *fsgrant.Dir
	tamper func(op abi.Op, out []byte) []byte
	inputs [][]byte // every request the store received
}

func (s *nativeStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	s.inputs = append(s.inputs, append([]byte(nil), in...))
	call := s.dir.Begin(ctx)
	defer call.End()
	st, out := guest.Dispatch(guest.StoreHandler(filestore.Info, filestore.New(call)), op, in)
	if st != abi.OK {
		var m abi.ErrorMessage
		_ = abi.Unmarshal(out, &m)
		return nil, &abi.StatusError{Code: st, Message: m.Message}
	}
	if s.tamper != nil {
		out = s.tamper(op, out)
	}
	return out, nil
}

func newManager(t *testing.T) (*secrets.Manager, *nativeStore) {
	dir := t.TempDir()
	st := &nativeStore{dir: fsgrant.New(filepath.Join(dir, "store"))}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: filepath.Join(dir, "identity.txt")})
	t.Cleanup(m.Close)
	return m, st
}

var ctx = context.Background()

func TestResolveOrder(t *testing.T) {
	m, _ := newManager(t)
	for _, c := range []struct{ p, d, v string }{{"", "", "org"}, {"", "dev", "domain"}, {"proj", "", "project"}, {"proj", "dev", "both"}} {
		if _, err := m.Create(ctx, scope.Scope{Project: c.p, Domain: c.d}, "K", abi.SecretString, []byte(c.v+"-value")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ p, d, want string }{
		{"proj", "dev", "both"}, {"proj", "prod", "project"}, {"other", "dev", "domain"}, {"other", "prod", "org"}, {"", "", "org"},
	} {
		r, err := m.Resolve(ctx, c.p, c.d, []string{"K"})
		if err != nil || string(r[0].Value) != c.want+"-value" {
			t.Errorf("task in (%q,%q): got %v %v, want %s", c.p, c.d, r, err, c.want)
		}
	}
	_, err := m.Resolve(ctx, "proj", "dev", []string{"K", "MISSING", "ALSO"})
	var me *secrets.MissingError
	if !errors.As(err, &me) || len(me.Keys) != 2 || len(me.Tried) != 4 {
		t.Fatalf("missing: %v", err)
	}
}

// A store that answers a Get with another key's record is caught by the
// associated data, and the task gets nothing.
func TestResolveCatchesSwappedRecord(t *testing.T) {
	m, st := newManager(t)
	if _, err := m.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, scope.Scope{}, "B", abi.SecretString, []byte("value-b")); err != nil {
		t.Fatal(err)
	}
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op != abi.OpGet {
			return out
		}
		var r abi.Record
		_ = abi.Unmarshal(out, &r)
		if r.Key == "A" { // answer with B's sealed value under A's name
			b, _ := st.Call(ctx, abi.OpGet, abi.Marshal(&abi.KeyRequest{Scope: r.Scope, Key: "B"}))
			var rb abi.Record
			_ = abi.Unmarshal(b, &rb)
			r.Sealed = rb.Sealed
		}
		return abi.Marshal(&r)
	}
	_, err := m.Resolve(ctx, "", "", []string{"A"})
	var de *secrets.DamagedError
	if !errors.As(err, &de) || de.Key != "A" {
		t.Fatalf("got %v", err)
	}
}

// Records a store slips into a listing from another organization, or
// with their sealed value moved, are not listed as genuine.
func TestListFiltersAndVerifies(t *testing.T) {
	m, st := newManager(t)
	for _, k := range []string{"A", "B"} {
		if _, err := m.Create(ctx, scope.Scope{}, k, abi.SecretString, []byte("value-"+k)); err != nil {
			t.Fatal(err)
		}
	}
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op != abi.OpList {
			return out
		}
		var l abi.ListResponse
		_ = abi.Unmarshal(out, &l)
		foreign := l.Records[0]
		foreign.Scope.Org = "evil"
		l.Records = append(l.Records, foreign)
		l.Records[1].Sealed = l.Records[0].Sealed // B now carries A's value
		return abi.Marshal(&l)
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Secrets) != 1 || res.Secrets[0].Key != "A" || len(res.Damaged) != 1 || res.Damaged[0].Key != "B" {
		t.Fatalf("secrets %+v damaged %+v", res.Secrets, res.Damaged)
	}
}

// The store only ever holds ciphertext.
func TestStoreSeesNoPlaintext(t *testing.T) {
	m, st := newManager(t)
	secret := []byte("plaintext-canary-0123456789")
	var seen [][]byte
	inner := st.tamper
	st.tamper = func(op abi.Op, out []byte) []byte {
		seen = append(seen, append([]byte(nil), out...))
		if inner != nil {
			return inner(op, out)
		}
		return out
	}
	if _, err := m.Create(ctx, scope.Scope{Project: "p"}, "K", abi.SecretString, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Update(ctx, scope.Scope{Project: "p"}, "K", abi.SecretString, secret, 0); err != nil {
		t.Fatal(err)
	}
	for _, b := range append(seen, st.inputs...) {
		if bytes.Contains(b, secret) {
			t.Fatal("the store handled a plaintext value")
		}
	}
	if len(st.inputs) < 3 {
		t.Fatalf("only %d requests recorded", len(st.inputs))
	}
}

// Names and reasons a store puts in a listing's damaged entries reach the
// terminal: control characters never get through.
func TestDamagedEntriesSanitised(t *testing.T) {
	m, st := newManager(t)
	if _, err := m.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	st.tamper = func(op abi.Op, out []byte) []byte {
		if op != abi.OpList {
			return out
		}
		var l abi.ListResponse
		_ = abi.Unmarshal(out, &l)
		l.Damaged = append(l.Damaged, abi.Damaged{Scope: abi.Scope{Org: "acme", Project: "p\x1b[2J"}, Key: "K\x1b[1A\r", Reason: "all good\x1b[8m"})
		return abi.Marshal(&l)
	}
	res, err := m.List(ctx, secrets.Filter{})
	if err != nil || len(res.Damaged) != 1 {
		t.Fatalf("%+v %v", res, err)
	}
	d := res.Damaged[0]
	for _, s := range []string{d.Key, d.Reason, d.Scope.String()} {
		if strings.ContainsAny(s, "\x1b\r\n") {
			t.Fatalf("control characters in %q", s)
		}
	}
}
