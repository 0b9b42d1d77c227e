package secrets_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
)

type hookStore struct {
	inner *nativeStore
	hook  func(op abi.Op, in []byte)
}

func (h *hookStore) Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error) {
	if h.hook != nil {
		h.hook(op, in)
	}
	return h.inner.Call(ctx, op, in)
}

func pubOf(t *testing.T) seal.PublicKey {
	id, _ := age.GenerateX25519Identity()
	p, err := seal.ParsePublicKey(id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Two removals at once: B puts its retired key first (create-only), and A,
// whose create-only put answers B's key, stops there (unfinished) instead
// of swapping and later deleting B's retired key, on which B's interrupted
// re-seal depends. Afterwards every value opens, and a re-key finishes.
func TestTwoRemovalsKeepRetiredKey(t *testing.T) {
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	opts := secrets.Options{Org: "acme", Identity: filepath.Join(dir, "id.txt"), StateDir: filepath.Join(dir, "state"),
		Location: "filestore\x00" + storeDir, StoreMinor: abi.MinorFence}
	mk := func() (*secrets.Manager, *hookStore) {
		st := &hookStore{inner: &nativeStore{dir: fsgrant.New(storeDir)}}
		m := secrets.New(st, opts)
		t.Cleanup(m.Close)
		return m, st
	}
	m0, _ := mk()
	org := scope.Scope{Org: "acme"}
	if _, err := m0.Create(ctx, org, "S1", abi.SecretString, []byte("value-one")); err != nil {
		t.Fatal(err)
	}
	x, y := pubOf(t), pubOf(t)
	if _, err := m0.AddRecipient(ctx, x, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := m0.AddRecipient(ctx, y, "y"); err != nil {
		t.Fatal(err)
	}
	mA, stA := mk()
	mB, stB := mk()
	aAtSwap, releaseA, aDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	isMeta := func(op abi.Op, in []byte, name string, expected bool) bool {
		if op != abi.OpMetaPut {
			return false
		}
		var r abi.MetaRequest
		return abi.Unmarshal(in, &r) == nil && r.Name == name && r.HasExpected == expected
	}
	stA.hook = func(op abi.Op, in []byte) {
		if isMeta(op, in, "datakey", true) {
			close(aAtSwap)
			<-releaseA
		}
	}
	started := false
	var errA error
	stB.hook = func(op abi.Op, in []byte) {
		if !started && isMeta(op, in, "datakey-retired", false) {
			started = true
			go func() { _, err := mA.RemoveRecipient(context.Background(), x); aDone <- err }()
			select {
			case <-aAtSwap:
			case errA = <-aDone:
				aDone <- errA
			}
		}
	}
	secrets.TestHookReseal = func(int) error { return errors.New("interrupted (Ctrl-C)") }
	defer func() { secrets.TestHookReseal = nil }()
	_, errB := mB.RemoveRecipient(ctx, y)
	close(releaseA)
	errA = <-aDone
	secrets.TestHookReseal = nil
	// One of them put its retired key first and was interrupted; the
	// other stopped before changing anything.
	if errA == nil || errB == nil || !errors.Is(errA, secrets.ErrUnfinished) && !errors.Is(errB, secrets.ErrUnfinished) {
		t.Fatalf("B: %v; A: %v", errB, errA)
	}

	m1, _ := mk()
	if v := valueOf(t, m1, "S1"); v != "value-one" {
		t.Fatalf("S1 = %q", v)
	}
	if _, err := m1.Rekey(ctx); err != nil {
		t.Fatalf("rekey: %v", err)
	}
	if v := valueOf(t, m1, "S1"); v != "value-one" {
		t.Fatalf("S1 after rekey = %q", v)
	}
}
