package secrets_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
)

// dkMachine is a machine (identity and state directory) over one store.
type dkMachine struct {
	identity, state, store string
}

func newDKMachine(t *testing.T, store string) dkMachine {
	d := t.TempDir()
	if store == "" {
		store = filepath.Join(t.TempDir(), "store")
	}
	return dkMachine{identity: filepath.Join(d, "identity.txt"), state: filepath.Join(d, "state"), store: store}
}

func (mc dkMachine) manager(t *testing.T) (*secrets.Manager, *nativeStore) {
	st := &nativeStore{dir: fsgrant.New(mc.store)}
	m := secrets.New(st, secrets.Options{Org: "acme", Identity: mc.identity, StateDir: mc.state, Location: "filestore\x00" + mc.store})
	t.Cleanup(m.Close)
	return m, st
}

func (mc dkMachine) id(t *testing.T) (*age.X25519Identity, seal.PublicKey) {
	id, err := seal.LoadIdentity(mc.identity)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := seal.IdentityPublicKey(id)
	if err != nil {
		t.Fatal(err)
	}
	return id, pub
}

func (mc dkMachine) metaPath() string { return filepath.Join(mc.store, "meta", "datakey") }

func (mc dkMachine) readMeta(t *testing.T) []byte {
	b, err := os.ReadFile(mc.metaPath())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (mc dkMachine) writeMeta(t *testing.T, b []byte) {
	if err := os.WriteFile(mc.metaPath(), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// attackerEnvelope is a data key of the attacker's, wrapped to victim and
// to the attacker (who calls himself bob), vouched for by the attacker.
func attackerEnvelope(t *testing.T, victim seal.PublicKey, epoch uint64) []byte {
	mallory, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.NewSealer()
	if err != nil {
		t.Fatal(err)
	}
	mpub, err := seal.IdentityPublicKey(mallory)
	if err != nil {
		t.Fatal(err)
	}
	env, err := seal.NewEnvelope(mallory, seal.StoreIDFor(s), epoch, []seal.Member{{Label: "alice", Public: victim}, {Label: "bob", Public: mpub}}, s)
	if err != nil {
		t.Fatal(err)
	}
	return env.Marshal()
}

func dkCreate(t *testing.T, m *secrets.Manager, key string) {
	t.Helper()
	if _, err := m.Create(ctx, scope.Scope{}, key, abi.SecretString, []byte("value-of-"+key)); err != nil {
		t.Fatal(err)
	}
}

// Every way to use the store fails the same way, and nothing is written.
func assertRefused(t *testing.T, mc dkMachine, check func(error) bool) {
	t.Helper()
	before := mc.readMeta(t)
	m, _ := mc.manager(t)
	if _, err := m.List(ctx, secrets.Filter{}); !check(err) {
		t.Fatalf("list: %v", err)
	}
	m, _ = mc.manager(t)
	if _, err := m.Resolve(ctx, "", "", []string{"A"}); !check(err) {
		t.Fatalf("resolve: %v", err)
	}
	m, _ = mc.manager(t)
	if _, err := m.Create(ctx, scope.Scope{}, "NEW", abi.SecretString, []byte("new-value")); !check(err) {
		t.Fatalf("create: %v", err)
	}
	m, _ = mc.manager(t)
	if _, err := m.Update(ctx, scope.Scope{}, "A", abi.SecretString, []byte("new-value"), 0); !check(err) {
		t.Fatalf("update: %v", err)
	}
	m, _ = mc.manager(t)
	if err := m.Delete(ctx, scope.Scope{}, "A"); !check(err) {
		t.Fatalf("delete: %v", err)
	}
	if !bytes.Equal(mc.readMeta(t), before) {
		t.Fatal("the data key changed")
	}
	if _, err := os.Stat(filepath.Join(mc.store, "secrets", "acme", "@", "@", "NEW")); err == nil {
		t.Fatal("a secret was created")
	}
}

func TestNewStoreGetsAnEnvelope(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	b := mc.readMeta(t)
	env, err := seal.ParseEnvelope(b)
	if err != nil {
		t.Fatal(err)
	}
	_, pub := mc.id(t)
	if env.Epoch != 1 || env.Creator != pub || len(env.Recipients) != 1 || env.Recipients[0].Public != pub || !seal.ValidLabel(env.Recipients[0].Label) {
		t.Fatalf("%+v", env)
	}
	st, err := os.ReadFile(filepath.Join(mc.state, "keys", "stores"))
	if err != nil || !strings.Contains(string(st), " 1\n") {
		t.Fatalf("state: %q %v", st, err)
	}
	// A CI runner with the same identity and no history accepts it.
	ci := newDKMachine(t, mc.store)
	ci.identity = mc.identity
	m2, _ := ci.manager(t)
	if r, err := m2.Resolve(ctx, "", "", []string{"A"}); err != nil || string(r[0].Value) != "value-of-A" {
		t.Fatalf("%v", err)
	}
}

// A data key an attacker wrapped to the user and vouched for himself is
// refused until the user accepts the attacker as a teammate.
func TestSwappedDataKey(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	_, pub := mc.id(t)
	forged := attackerEnvelope(t, pub, 9)
	mc.writeMeta(t, forged)
	var ue *secrets.UntrustedVoucherError
	assertRefused(t, mc, func(err error) bool { return errors.As(err, &ue) })
	if ue.Label != "bob" || !strings.Contains(ue.Error(), "flyte store accept "+ue.Creator.String()+" --label bob;") {
		t.Fatalf("%v", ue)
	}
	// A new machine of the user (no history) refuses it just the same.
	fresh := newDKMachine(t, mc.store)
	fresh.identity = mc.identity
	m, _ = fresh.manager(t)
	if _, err := m.List(ctx, secrets.Filter{}); !errors.As(err, &ue) {
		t.Fatalf("%v", err)
	}
	// Accepting the creator (a teammate, say) makes it open on a machine
	// that had not seen another store there.
	line := ue.Creator.String() + " bob\n"
	for _, dir := range []string{mc.state, fresh.state} {
		if err := os.MkdirAll(filepath.Join(dir, "keys"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "keys", "vouchers"), []byte("# teammates\n"+line), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	m, _ = fresh.manager(t)
	if res, err := m.List(ctx, secrets.Filter{}); err != nil || len(res.Damaged) != 1 {
		t.Fatalf("%+v %v", res, err) // A was sealed under the user's own key
	}
	// This machine saw the user's own store there: another one is refused.
	var sc *secrets.StoreChangedError
	m, _ = mc.manager(t)
	if _, err := m.List(ctx, secrets.Filter{}); !errors.As(err, &sc) {
		t.Fatalf("%v", err)
	}
}

// An envelope that names the user as creator, without the user's key to
// make the tag, does not verify.
func TestForgedCreator(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	_, pub := mc.id(t)
	env, err := seal.ParseEnvelope(attackerEnvelope(t, pub, 2))
	if err != nil {
		t.Fatal(err)
	}
	env.Creator = pub
	mc.writeMeta(t, env.Marshal())
	assertRefused(t, mc, func(err error) bool { return errors.Is(err, secrets.ErrNotVouched) })
}

// A bare age file of another key where this machine saw an envelope is
// another store: refused, with the line to remove if that was deliberate.
func TestLegacyKeyWhereAnEnvelopeWas(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	id, _ := mc.id(t)
	wrapped, s, err := seal.NewDataKey(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	s.Destroy()
	mc.writeMeta(t, wrapped)
	var sc *secrets.StoreChangedError
	assertRefused(t, mc, func(err error) bool { return errors.As(err, &sc) })
	stores, err := os.ReadFile(filepath.Join(mc.state, "keys", "stores"))
	if err != nil || !strings.Contains(string(stores), "\n"+sc.Line+"\n") {
		t.Fatalf("%q does not hold %q (%v)", stores, sc.Line, err)
	}
	if want := "if it was re-created deliberately, remove the line \"" + sc.Line + "\" from " + filepath.Join(mc.state, "keys", "stores"); sc.Hint() != want {
		t.Fatalf("%s", sc.Hint())
	}
}

// The reviewer's scenario: a store emptied and planted with a bare key of
// the attacker's, wrapped to the user's public recipient, and a record
// sealed under it. A fresh CI runner with the user's identity reads it (it
// cannot tell it from an old store) and writes to it, but never vouches for
// it; the user's own machine, which saw the real store there, refuses it.
func TestPlantedBareKey(t *testing.T) {
	laptop := newDKMachine(t, "")
	m, _ := laptop.manager(t)
	dkCreate(t, m, "A")
	if err := os.RemoveAll(laptop.store); err != nil {
		t.Fatal(err)
	}
	ci := newDKMachine(t, laptop.store)
	ci.identity = laptop.identity
	legacyStore(t, ci, "API")
	planted := laptop.readMeta(t)
	m, _ = ci.manager(t)
	if r, err := m.Resolve(ctx, "", "", []string{"API"}); err != nil || string(r[0].Value) != "value-of-API" {
		t.Fatalf("%v", err)
	}
	dkCreate(t, m, "CI")
	if !bytes.Equal(laptop.readMeta(t), planted) {
		t.Fatal("the first contact vouched for the planted key")
	}
	var sc *secrets.StoreChangedError
	assertRefused(t, laptop, func(err error) bool { return errors.As(err, &sc) })
}

// A store this machine deletes and re-creates (empty) works: the new key
// is recorded. The old store put back afterwards is refused.
func TestRecreatedStore(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	old := t.TempDir()
	if err := os.CopyFS(old, os.DirFS(mc.store)); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(mc.store); err != nil {
		t.Fatal(err)
	}
	m, _ = mc.manager(t)
	dkCreate(t, m, "B")
	m, _ = mc.manager(t)
	if r, err := m.Resolve(ctx, "", "", []string{"B"}); err != nil || string(r[0].Value) != "value-of-B" {
		t.Fatalf("%v", err)
	}
	if err := os.RemoveAll(mc.store); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(mc.store, os.DirFS(old)); err != nil {
		t.Fatal(err)
	}
	var sc *secrets.StoreChangedError
	assertRefused(t, mc, func(err error) bool { return errors.As(err, &sc) })
}

func TestMissingDataKey(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	dkCreate(t, m, "B")
	if err := os.Remove(mc.metaPath()); err != nil {
		t.Fatal(err)
	}
	var me *secrets.MissingKeyError
	for _, f := range []func(*secrets.Manager) error{
		func(m *secrets.Manager) error { _, err := m.List(ctx, secrets.Filter{}); return err },
		func(m *secrets.Manager) error { _, err := m.Resolve(ctx, "", "", []string{"A"}); return err },
		func(m *secrets.Manager) error {
			_, err := m.Create(ctx, scope.Scope{}, "NEW", abi.SecretString, []byte("new-value"))
			return err
		},
		func(m *secrets.Manager) error {
			_, err := m.Update(ctx, scope.Scope{}, "A", abi.SecretString, []byte("new-value"), 0)
			return err
		},
		func(m *secrets.Manager) error { return m.Delete(ctx, scope.Scope{}, "A") },
	} {
		m, _ := mc.manager(t)
		if err := f(m); !errors.As(err, &me) || me.Count != 2 || me.More {
			t.Fatalf("%v", err)
		}
	}
	want := "the store's data key is missing but it holds 2 secrets: it was removed or lost; flyte will not create a new key, which could never open them (restore meta/datakey from a backup)"
	if me.Error() != want {
		t.Fatalf("%s", me)
	}
	if _, err := os.Stat(mc.metaPath()); err == nil {
		t.Fatal("a new data key was created")
	}
}

// An envelope the user made with a higher epoch is accepted and
// remembered; a lower one after it is refused.
func TestOlderEpochRefused(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	id, pub := mc.id(t)
	cur, err := seal.ParseEnvelope(mc.readMeta(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := cur.Open(id, func(seal.PublicKey) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	reissue := func(epoch uint64) []byte {
		env, err := seal.NewEnvelope(id, cur.StoreID, epoch, []seal.Member{{Label: "me", Public: pub}}, s)
		if err != nil {
			t.Fatal(err)
		}
		return env.Marshal()
	}
	mc.writeMeta(t, reissue(5))
	m, _ = mc.manager(t)
	if r, err := m.Resolve(ctx, "", "", []string{"A"}); err != nil || string(r[0].Value) != "value-of-A" {
		t.Fatalf("%v", err)
	}
	mc.writeMeta(t, reissue(4))
	var oe *secrets.OldEpochError
	assertRefused(t, mc, func(err error) bool { return errors.As(err, &oe) && oe.Epoch == 4 && oe.Seen == 5 })
}

// legacyStore writes a store from before envelopes: a bare age-wrapped key
// and records sealed under it, written through the store itself.
func legacyStore(t *testing.T, mc dkMachine, keys ...string) {
	id, _, err := seal.LoadOrCreateIdentity(mc.identity)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, s, err := seal.NewDataKey(id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	st := &nativeStore{dir: fsgrant.New(mc.store)}
	if _, err := st.Call(ctx, abi.OpMetaPut, abi.Marshal(&abi.MetaRequest{Name: "datakey", Value: wrapped, CreateOnly: true})); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		sealed, err := s.Seal(seal.AAD{Org: "acme", Key: k, Kind: secrets.AADKind(abi.SecretString)}, seal.Meta{Version: 1}, []byte("value-of-"+k))
		if err != nil {
			t.Fatal(err)
		}
		rec := abi.Record{Scope: abi.Scope{Org: "acme"}, Key: k, Kind: abi.SecretString, Sealed: sealed}
		if _, err := st.Call(ctx, abi.OpCreate, abi.Marshal(&abi.WriteRequest{Record: rec})); err != nil {
			t.Fatal(err)
		}
	}
}

// An old store keeps working; reads leave it as it is, and its next write
// puts its key in an envelope. A bare key put back afterwards is refused.
func TestLegacyStoreUpgraded(t *testing.T) {
	mc := newDKMachine(t, "")
	legacyStore(t, mc, "A", "B")
	legacy := mc.readMeta(t)
	m, _ := mc.manager(t)
	if res, err := m.List(ctx, secrets.Filter{}); err != nil || len(res.Secrets) != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	if !bytes.Equal(mc.readMeta(t), legacy) {
		t.Fatal("a read changed the data key")
	}
	if st, err := os.ReadFile(filepath.Join(mc.state, "keys", "stores")); err != nil || !strings.Contains(string(st), "\nat ") || strings.Contains(string(st), "\nstore ") {
		t.Fatalf("reading a legacy store recorded %q (%v)", st, err)
	}
	// The write of the command that met the store first leaves it as it
	// is; the next command's write vouches for it.
	if err := m.Delete(ctx, scope.Scope{}, "B"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(mc.readMeta(t), legacy) {
		t.Fatal("the first contact vouched for the key")
	}
	m, _ = mc.manager(t)
	dkCreate(t, m, "C")
	env, err := seal.ParseEnvelope(mc.readMeta(t))
	if err != nil {
		t.Fatal(err)
	}
	if env.Epoch != 1 {
		t.Fatalf("epoch %d", env.Epoch)
	}
	m, _ = mc.manager(t)
	if r, err := m.Resolve(ctx, "", "", []string{"A"}); err != nil || string(r[0].Value) != "value-of-A" {
		t.Fatalf("%v", err)
	}
	mc.writeMeta(t, legacy)
	assertRefused(t, mc, func(err error) bool { return errors.Is(err, secrets.ErrDowngrade) })
}

// A bare key under which the store's secrets do not open is not vouched
// for by an upgrade, even on a machine that recorded the store before: an
// attacker could have replaced the records.
func TestLegacyKeyNotUpgradedBlindly(t *testing.T) {
	mc := newDKMachine(t, "")
	legacyStore(t, mc, "A")
	m, _ := mc.manager(t)
	if _, err := m.List(ctx, secrets.Filter{}); err != nil {
		t.Fatal(err)
	}
	// The record replaced by one sealed under another key.
	other := newDKMachine(t, "")
	other.identity = mc.identity
	legacyStore(t, other, "A")
	rec := func(mc dkMachine) string { return filepath.Join(mc.store, "secrets", "acme", "@", "@", "A") }
	b, err := os.ReadFile(rec(other))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rec(mc), b, 0o600); err != nil {
		t.Fatal(err)
	}
	bare := mc.readMeta(t)
	m, _ = mc.manager(t)
	_, err = m.Create(ctx, scope.Scope{}, "NEW", abi.SecretString, []byte("new-value"))
	if err == nil || !strings.Contains(err.Error(), "opens 0 of the 1 secrets") {
		t.Fatalf("%v", err)
	}
	if !bytes.Equal(mc.readMeta(t), bare) {
		t.Fatal("the data key changed")
	}
}

// The marks of a store are named after its store id, not its data key's
// id, so that a re-key keeps them.
func TestMarksNamedByStoreID(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	env, err := seal.ParseEnvelope(mc.readMeta(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mc.state, "versions", hex.EncodeToString(env.StoreID[:]))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(mc.state, "versions", hex.EncodeToString(env.KeyID[:]))); err == nil {
		t.Fatal("marks named by the key id")
	}
}

// A store plugin that alters the envelope on its way out is caught.
func TestTamperingStoreEnvelope(t *testing.T) {
	mc := newDKMachine(t, "")
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	for i := 9; i < 60; i += 7 {
		m, st := mc.manager(t)
		st.tamper = func(op abi.Op, out []byte) []byte {
			if op != abi.OpMetaGet {
				return out
			}
			var r abi.MetaResponse
			if abi.Unmarshal(out, &r) != nil {
				t.Fatal("meta response")
			}
			r.Value[i] ^= 1
			return abi.Marshal(&r)
		}
		if _, err := m.Resolve(ctx, "", "", []string{"A"}); err == nil {
			t.Fatalf("byte %d altered: accepted", i)
		}
	}
}

// Without a state directory (no HOME) the own key still vouches; nothing
// is remembered.
func TestNoStateDir(t *testing.T) {
	mc := newDKMachine(t, "")
	mc.state = ""
	m, _ := mc.manager(t)
	dkCreate(t, m, "A")
	_, pub := mc.id(t)
	mc.writeMeta(t, attackerEnvelope(t, pub, 1))
	m, _ = mc.manager(t)
	var ue *secrets.UntrustedVoucherError
	if _, err := m.List(ctx, secrets.Filter{}); !errors.As(err, &ue) {
		t.Fatalf("%v", err)
	}
}
