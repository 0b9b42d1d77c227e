package secrets_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
)

// fencedMachine is one flyte process on one machine: its own Manager,
// store instance and state directory, over a shared filestore directory
// (ABI 1.3, fenced), with a shared identity file.
func fencedMachine(t *testing.T, storeDir, identity string) *secrets.Manager {
	return fencedProcess(t, storeDir, identity, filepath.Join(t.TempDir(), "state"))
}

// fencedProcess is one flyte process on a machine whose state directory
// is stateDir.
func fencedProcess(t *testing.T, storeDir, identity, stateDir string) *secrets.Manager {
	st := &nativeStore{dir: fsgrant.New(storeDir)}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: identity, StateDir: stateDir,
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
	if len(res.Damaged) != 0 || res.Epoch != 3 {
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

// member is one person with their own identity and machine over a shared
// fenced store.
func member(t *testing.T, storeDir string) (*secrets.Manager, *age.X25519Identity, seal.PublicKey, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "identity.txt")
	id, _, err := seal.LoadOrCreateIdentity(path)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.IdentityPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return fencedMachine(t, storeDir, path), id, pub, path
}

// A removed member keeps the retired-key envelope she could read while
// the re-seal ran, and the old key she held. Writing both back after the
// re-seal finished gets her nothing: the re-seal raised the epoch, and a
// retired key of an older epoch is never read with.
func TestReplayedRetiredKeyIgnored(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	alice, _, alicePub, alicePath := member(t, storeDir)
	if _, err := alice.Create(ctx, scope.Scope{}, "DB_PASSWORD", abi.SecretString, []byte("good")); err != nil {
		t.Fatal(err)
	}
	mallory, _, malloryPub, _ := member(t, storeDir)
	if _, err := alice.AddRecipient(ctx, malloryPub, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Accept(alicePub, "alice"); err != nil {
		t.Fatal(err)
	}
	// While still a member, Mallory seals a value of hers under the key,
	// keeps the record and deletes the secret.
	if _, err := mallory.Create(ctx, scope.Scope{}, "API_TOKEN", abi.SecretString, []byte("evil")); err != nil {
		t.Fatal(err)
	}
	recPath := filepath.Join(storeDir, "secrets", "acme", "@", "@", "API_TOKEN")
	rec, err := os.ReadFile(recPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := mallory.Delete(ctx, scope.Scope{}, "API_TOKEN"); err != nil {
		t.Fatal(err)
	}
	retiredPath := filepath.Join(storeDir, "meta", "datakey-retired")
	var retired []byte
	secrets.TestHookReseal = func(int) error {
		retired, err = os.ReadFile(retiredPath)
		return err
	}
	defer func() { secrets.TestHookReseal = nil }()
	if _, err := alice.RemoveRecipient(ctx, malloryPub); err != nil {
		t.Fatal(err)
	}
	secrets.TestHookReseal = nil
	if retired == nil {
		t.Fatal("no retired key seen during the re-seal")
	}
	if err := os.WriteFile(retiredPath, retired, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recPath, rec, 0o600); err != nil {
		t.Fatal(err)
	}
	fresh := fencedMachine(t, storeDir, alicePath)
	if r, err := fresh.Resolve(ctx, "", "", []string{"API_TOKEN"}); err == nil {
		t.Fatalf("a value sealed under the retired key was read after its re-seal finished (%d bytes)", len(r[0].Value))
	}
	if v := valueOf(t, fresh, "DB_PASSWORD"); v != "good" {
		t.Fatalf("DB_PASSWORD = %q", v)
	}
	// A re-key drops the stale retired key.
	if _, err := fresh.Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(retiredPath); !os.IsNotExist(err) {
		t.Fatalf("stale retired key left: %v", err)
	}
}

// A re-key interrupted after it put the retired key and before it swapped
// the data key leaves the old key at the next epoch with the data key
// unchanged: the next re-key withdraws it and goes on.
func TestRekeyInterruptedBeforeSwap(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	alice, id, _, alicePath := member(t, storeDir)
	if _, err := alice.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(storeDir, "meta", "datakey"))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := seal.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := cur.Open(id, func(seal.PublicKey) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	r, err := seal.NewEnvelope(id, cur.StoreID, cur.Epoch+1, cur.Recipients, s)
	s.Destroy()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(storeDir, "meta", "datakey-retired"), r.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	m := fencedMachine(t, storeDir, alicePath)
	if team, err := m.Recipients(ctx); err != nil || !team.Unfinished {
		t.Fatalf("%+v %v", team, err)
	}
	// The rekey withdraws it and makes its new key.
	res, err := m.Rekey(ctx)
	if err != nil {
		t.Fatalf("rekey: %v", err)
	}
	if res.Finished || res.Resealed != 1 || res.Epoch != cur.Epoch+2 {
		t.Fatalf("%+v", res)
	}
	if team, err := m.Recipients(ctx); err != nil || team.Unfinished {
		t.Fatalf("%+v %v", team, err)
	}
	if v := valueOf(t, fencedMachine(t, storeDir, alicePath), "A"); v != "value-a" {
		t.Fatalf("A = %q", v)
	}
}

// A removed member who can still write the store puts in a data key of
// hers, at the next epoch, vouched for by herself (a voucher on Bob's
// machine, since Bob accepted her): Bob's machine, which saw the removal,
// accepts a new envelope only from a recipient of the last one it
// accepted, so it refuses hers and writes nothing under it; Alice's
// machine no longer trusts her at all.
func TestRemovedMemberCannotReplaceDataKey(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	_, _, alicePub, alicePath := member(t, storeDir)
	aliceState := filepath.Join(t.TempDir(), "state")
	alice := fencedProcess(t, storeDir, alicePath, aliceState)
	if _, err := alice.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	mallory, malloryID, malloryPub, _ := member(t, storeDir)
	if _, err := alice.AddRecipient(ctx, malloryPub, "mallory"); err != nil {
		t.Fatal(err)
	}
	if err := mallory.Accept(alicePub, "alice"); err != nil {
		t.Fatal(err)
	}
	_, _, bobPub, bobPath := member(t, storeDir)
	bobState := filepath.Join(t.TempDir(), "state")
	bob := func() *secrets.Manager { return fencedProcess(t, storeDir, bobPath, bobState) }
	if _, err := mallory.AddRecipient(ctx, bobPub, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"mallory", "alice"} {
		if err := bob().Accept(map[string]seal.PublicKey{"mallory": malloryPub, "alice": alicePub}[who], who); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.Accept(malloryPub, "mallory"); err != nil {
		t.Fatal(err)
	}
	if v := valueOf(t, bob(), "A"); v != "value-a" {
		t.Fatalf("bob reads %q", v)
	}
	if _, err := alice.RemoveRecipient(ctx, malloryPub); err != nil {
		t.Fatal(err)
	}
	if v := valueOf(t, bob(), "A"); v != "value-a" {
		t.Fatalf("bob reads %q", v)
	}
	// Mallory's key, wrapped to everyone and herself, vouched by herself.
	meta := filepath.Join(storeDir, "meta", "datakey")
	b, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := seal.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	forged, err := seal.NewEnvelope(malloryID, cur.StoreID, cur.Epoch+1,
		append(append([]seal.Member(nil), cur.Recipients...), seal.Member{Label: "alice-backup", Public: malloryPub}), s)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, forged.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	var fe *secrets.FormerMemberError
	if _, err := bob().Create(ctx, scope.Scope{}, "NEW", abi.SecretString, []byte("bob-secret")); !errors.As(err, &fe) || fe.Creator != malloryPub {
		t.Fatalf("bob's create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "secrets", "acme", "@", "@", "NEW")); err == nil {
		t.Fatal("a secret was created under the forged key")
	}
	var ue *secrets.UntrustedVoucherError
	if _, err := fencedProcess(t, storeDir, alicePath, aliceState).Resolve(ctx, "", "", []string{"A"}); !errors.As(err, &ue) {
		t.Fatalf("alice: %v", err)
	}
}

// A machine that has not used the store since a re-key can be handed the
// old envelope back (its epoch check cannot tell: it saw that epoch): it
// refuses to write under a key that none of the store's secrets is sealed
// under.
func TestRolledBackKeyNotWritten(t *testing.T) {
	storeDir := filepath.Join(t.TempDir(), "store")
	_, _, _, path := member(t, storeDir)
	state := filepath.Join(t.TempDir(), "state")
	away := fencedProcess(t, storeDir, path, state)
	if _, err := away.Create(ctx, scope.Scope{}, "A", abi.SecretString, []byte("value-a")); err != nil {
		t.Fatal(err)
	}
	meta := filepath.Join(storeDir, "meta", "datakey")
	old, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fencedMachine(t, storeDir, path).Rekey(ctx); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(meta, old, 0o600); err != nil {
		t.Fatal(err)
	}
	back := fencedProcess(t, storeDir, path, state)
	if _, err := back.Create(ctx, scope.Scope{}, "NEW", abi.SecretString, []byte("new-value")); !errors.Is(err, secrets.ErrKeyOlderThanSecrets) {
		t.Fatalf("create: %v", err)
	}
	if _, err := os.Stat(filepath.Join(storeDir, "secrets", "acme", "@", "@", "NEW")); err == nil {
		t.Fatal("a secret was written under the rolled-back key")
	}
}
