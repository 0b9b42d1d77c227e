package secrets_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// fencedMachine is one flyte process on one machine: its own Manager,
// store instance and state directory, over a shared filestore directory
// (ABI 1.3, fenced), with a shared identity file.
func fencedMachine(t *testing.T, storeDir, identity string) *secrets.Manager {
	st := &nativeStore{dir: fsgrant.New(storeDir)}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: identity, StateDir: filepath.Join(t.TempDir(), "state"),
		Location: storeDir, StoreMinor: abi.MinorFence})
	t.Cleanup(m.Close)
	return m
}

func valueOf(t *testing.T, m *secrets.Manager, key string) string {
	t.Helper()
	r, err := m.Resolve(ctx, "", "", []string{key})
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return string(r[0].Value)
}

// A writer updating every secret while a re-key runs: every update either
// lands (and is read back) or is sealed again under the new key; afterwards
// every value opens under the new key alone and the retired key is gone.
func TestRekeyWithConcurrentWriter(t *testing.T) {
	dir := t.TempDir()
	storeDir, id := filepath.Join(dir, "store"), filepath.Join(dir, "identity.txt")
	m := fencedMachine(t, storeDir, id)
	const n = 12
	for i := range n {
		if _, err := m.Create(ctx, scope.Scope{}, fmt.Sprintf("K%d", i), abi.SecretString, []byte("v0")); err != nil {
			t.Fatal(err)
		}
	}
	rekeyer, writer := fencedMachine(t, storeDir, id), fencedMachine(t, storeDir, id)
	var wg sync.WaitGroup
	var rekeyErr error
	var res *secrets.Rekeyed
	wg.Go(func() { res, rekeyErr = rekeyer.Rekey(ctx) })
	writeErrs := make([]error, n)
	wg.Go(func() {
		for i := range n {
			_, writeErrs[i] = writer.Update(ctx, scope.Scope{}, fmt.Sprintf("K%d", i), abi.SecretString, []byte("v1"), 0)
		}
	})
	wg.Wait()
	if rekeyErr != nil {
		t.Fatalf("rekey: %v", rekeyErr)
	}
	if len(res.Damaged) != 0 || res.Epoch != 2 {
		t.Fatalf("rekey: %+v", res)
	}
	for i, err := range writeErrs {
		if err != nil {
			t.Fatalf("update K%d: %v", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(storeDir, "meta", "datakey-retired")); !os.IsNotExist(err) {
		t.Fatalf("retired key left: %v", err)
	}
	fresh := fencedMachine(t, storeDir, id)
	for i := range n {
		if v := valueOf(t, fresh, fmt.Sprintf("K%d", i)); v != "v1" {
			t.Fatalf("K%d = %q", i, v)
		}
	}
	if l, err := fresh.List(ctx, secrets.Filter{}); err != nil || len(l.Damaged) != 0 || len(l.Secrets) != n {
		t.Fatalf("%+v %v", l, err)
	}
}

// Two re-keys at once: one makes the new key; the other finishes it, or
// is told to run again. Nothing is left under a key nobody holds.
func TestConcurrentRekeys(t *testing.T) {
	dir := t.TempDir()
	storeDir, id := filepath.Join(dir, "store"), filepath.Join(dir, "identity.txt")
	m := fencedMachine(t, storeDir, id)
	for i := range 8 {
		if _, err := m.Create(ctx, scope.Scope{Project: "p"}, fmt.Sprintf("K%d", i), abi.SecretString, []byte(fmt.Sprintf("value-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	ms := []*secrets.Manager{fencedMachine(t, storeDir, id), fencedMachine(t, storeDir, id), fencedMachine(t, storeDir, id)}
	errs := make([]error, len(ms))
	var wg sync.WaitGroup
	for i, x := range ms {
		wg.Go(func() { _, errs[i] = x.Rekey(ctx) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, secrets.ErrUnfinished), errors.Is(err, secrets.ErrTeamChanged):
		default:
			t.Fatalf("rekey: %v", err)
		}
	}
	if ok == 0 {
		t.Fatalf("no rekey succeeded: %v", errs)
	}
	// Whatever was left unfinished, one more run finishes.
	last := fencedMachine(t, storeDir, id)
	if _, err := last.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	fresh := fencedMachine(t, storeDir, id)
	for i := range 8 {
		r, err := fresh.Resolve(ctx, "p", "", []string{fmt.Sprintf("K%d", i)})
		if err != nil || string(r[0].Value) != fmt.Sprintf("value-%d", i) {
			t.Fatalf("K%d: %v", i, err)
		}
	}
}

// A store below ABI 1.3 cannot fence writes: team-key commands refuse it.
func TestTeamNeedsFence(t *testing.T) {
	m, _ := newManager(t)
	if _, err := m.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("x")); err != nil {
		t.Fatal(err)
	}
	var fe *secrets.FenceError
	if _, err := m.Rekey(ctx); !errors.As(err, &fe) {
		t.Fatalf("%v", err)
	}
}
