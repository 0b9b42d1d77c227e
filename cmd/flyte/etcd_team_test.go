package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/internal/etcdtest"
)

// TestEtcdTeamKeys shares one etcd store between two people, each with a
// HOME and an identity of their own: after `store recipients add` and the
// other side's explicit `store accept`, each opens the other's secrets;
// after `store recipients remove`, the removed identity can open nothing
// stored since, and etcd's history no longer holds the envelope it could
// open (compacted).
func TestEtcdTeamKeys(t *testing.T) {
	c := etcdtest.Start(t, 1)
	const prefix = "/team/"
	base := etcdConfig(c.Endpoints(), "prefix = \""+prefix+"\"\n")
	alice, bob := newIsoEnv(t), newIsoEnv(t)
	writeUserConfig(t, alice.home, base)
	writeUserConfig(t, bob.home, base)
	bobID := writeIdentity(t, bob)

	s1 := randText(t, 24)
	mustOK(t, alice.run(nil, "create", "secret", "S1", s1))
	aliceRecipient := recipient(t, alice)
	bobRecipient := bobID.Recipient().String()

	// Bob is not a recipient yet: he is told so, and what Alice must run.
	r := bob.run(nil, "get", "secret")
	if r.code != 1 || !strings.Contains(r.stderr, bobRecipient) || !strings.Contains(r.stderr, "flyte store recipients add "+bobRecipient) ||
		strings.Contains(r.stderr, s1) {
		t.Fatalf("a stranger's get secret: want exit 1 naming his recipient and the command to add it, got %s", r)
	}

	mustOK(t, alice.run(nil, "store", "recipients", "add", bobRecipient, "--label", "bob"))
	// Bob accepts Alice, who made the envelope, explicitly, once.
	r = bob.run(nil, "get", "secret")
	if r.code != 1 || !strings.Contains(r.stderr, "flyte store accept "+aliceRecipient) {
		t.Fatalf("before accepting Alice, Bob's get secret: want exit 1 naming flyte store accept, got %s", r)
	}
	mustOK(t, bob.run(nil, "store", "accept", aliceRecipient, "--label", "alice"))
	if got := bob.values(base, []string{"S1"}); got["S1"] != s1 {
		t.Fatal("Bob, a recipient, does not open Alice's S1")
	}
	s2 := randText(t, 24)
	mustOK(t, bob.run(nil, "create", "secret", "S2", s2))
	if got := alice.values(base, []string{"S2"}); got["S2"] != s2 {
		t.Fatal("Alice does not open Bob's S2")
	}

	// The envelope Bob can open, and its revision.
	old := datakey(t, c, prefix)
	if err := openEnvelope(old.Value, bobID); err != nil {
		t.Fatalf("Bob cannot open the envelope he was added to: %v", err)
	}

	r = alice.run(nil, "store", "recipients", "remove", bobRecipient)
	if r.code != 0 || !strings.Contains(r.stdout+r.stderr, "S1") || !strings.Contains(r.stdout+r.stderr, "S2") ||
		strings.Contains(r.stdout+r.stderr, s1) || strings.Contains(r.stdout+r.stderr, s2) {
		t.Fatalf("remove: want exit 0 and the secrets to rotate named (never their values), got %s", r)
	}
	t.Logf("what remove says:\n%s%s", r.stdout, r.stderr)
	s3 := randText(t, 24)
	mustOK(t, alice.run(nil, "create", "secret", "S3", s3))
	if got := alice.values(base, []string{"S1", "S2", "S3"}); got["S1"] != s1 || got["S2"] != s2 || got["S3"] != s3 {
		t.Fatal("Alice does not open every secret after the re-seal")
	}

	// Bob opens nothing stored since: not through flyte, and not with his
	// key on the store's data key itself.
	r = bob.run(nil, "get", "secret")
	if r.code != 1 || !strings.Contains(r.stderr, bobRecipient) || strings.Contains(r.stdout+r.stderr, s3) {
		t.Fatalf("removed Bob's get secret: want exit 1 naming his recipient, got %s", r)
	}
	now := datakey(t, c, prefix)
	if bytes.Equal(now.Value, old.Value) {
		t.Fatal("the data key's envelope did not change")
	}
	if err := openEnvelope(now.Value, bobID); !errors.Is(err, seal.ErrNotRecipient) {
		t.Fatalf("Bob's key on the new envelope: %v; want %v", err, seal.ErrNotRecipient)
	}
	kvs, _, err := c.Range(prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if bytes.Contains(kv.Value, old.Value) {
			t.Errorf("%s still holds the old envelope", kv.Key)
		}
		if strings.HasPrefix(string(kv.Key), prefix+"m/") && string(kv.Key) != prefix+"m/datakey" {
			t.Errorf("a meta value is left after the re-seal: %s", kv.Key)
		}
	}
	// etcd's history no longer holds the old envelope: compacted.
	if _, _, err := c.Range(prefix+"m/datakey", old.ModRevision); err == nil || !strings.Contains(err.Error(), "required revision has been compacted") {
		t.Fatalf("reading the data key at its old revision %d: %v; want compacted", old.ModRevision, err)
	}
}

// writeIdentity gives e an identity of its own (as flyte would make it on
// a first create), and returns it.
func writeIdentity(t *testing.T, e *isoEnv) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(e.identityPath()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.identityPath(), []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// recipient is what `flyte identity` prints for e.
func recipient(t *testing.T, e *isoEnv) string {
	t.Helper()
	r := e.run(nil, "identity")
	mustOK(t, r)
	return strings.TrimSpace(r.stdout)
}

// datakey is the store's data key envelope, as etcd holds it now.
func datakey(t *testing.T, c *etcdtest.Cluster, prefix string) etcdtest.KV {
	t.Helper()
	kvs, _, err := c.Range(prefix+"m/datakey", 0)
	if err != nil || len(kvs) != 1 || string(kvs[0].Key) != prefix+"m/datakey" {
		t.Fatalf("reading %sm/datakey: %v, %d keys", prefix, err, len(kvs))
	}
	return kvs[0]
}

// openEnvelope opens an envelope with id, trusting whoever made it: only
// whether id is a recipient matters here.
func openEnvelope(b []byte, id *age.X25519Identity) error {
	env, err := seal.ParseEnvelope(b)
	if err != nil {
		return err
	}
	s, err := env.Open(id, func(seal.PublicKey) bool { return true })
	if err == nil {
		s.Destroy()
	}
	return err
}
