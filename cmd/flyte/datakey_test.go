package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/config"
	"github.com/flytesecrets/flyte/host/fsgrant"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
	"github.com/flytesecrets/flyte/plugins/filestore"
	"github.com/rogpeppe/go-internal/testscript"
)

// cmdForgekey rewrites the data key of the store at $STORE (meta/datakey)
// as someone who can write the store could, for the user whose identity is
// $HOME/.config/flyte/identity.txt:
//
//	forgekey attacker      a key of the attacker's, wrapped to the user (alice)
//	                       and to the attacker (bob), vouched for by the attacker
//	forgekey bare          a key of the attacker's, wrapped to the user as a bare
//	                       age file, the way flyte kept keys before envelopes
//	forgekey epoch N       the store's own key, re-issued by the user with epoch N
//	forgekey legacystore KEY...
//	                       a new store from before envelopes: a bare key and a
//	                       string secret KEY (value KEY_value_1234) per KEY
//	forgekey plant KEY...  the store emptied, then as legacystore, but with a key
//	                       of the attacker's wrapped to the user's public key,
//	                       and values KEY_forged_1234
func cmdForgekey(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: forgekey attacker|bare|epoch N|legacystore KEY...|plant KEY...")
	}
	store := ts.Getenv("STORE")
	meta := filepath.Join(store, "meta", "datakey")
	idPath := filepath.Join(ts.Getenv("HOME"), ".config", "flyte", "identity.txt")
	switch args[0] {
	case "attacker":
		user := userKey(ts, idPath)
		mallory, err := age.GenerateX25519Identity()
		ts.Check(err)
		mpub, err := seal.IdentityPublicKey(mallory)
		ts.Check(err)
		s, err := seal.NewSealer()
		ts.Check(err)
		env, err := seal.NewEnvelope(mallory, seal.StoreIDFor(s), 1, []seal.Member{{Label: "alice", Public: user}, {Label: "bob", Public: mpub}}, s)
		ts.Check(err)
		ts.Check(os.WriteFile(meta, env.Marshal(), 0o600))
	case "bare":
		user := userKey(ts, idPath)
		r, err := age.ParseX25519Recipient(user.String())
		ts.Check(err)
		wrapped, s, err := seal.NewDataKey(r)
		ts.Check(err)
		s.Destroy()
		ts.Check(os.WriteFile(meta, wrapped, 0o600))
	case "epoch":
		if len(args) != 2 {
			ts.Fatalf("usage: forgekey epoch N")
		}
		n, err := strconv.ParseUint(args[1], 10, 64)
		ts.Check(err)
		id, err := seal.LoadIdentity(idPath)
		ts.Check(err)
		b, err := os.ReadFile(meta)
		ts.Check(err)
		cur, err := seal.ParseEnvelope(b)
		ts.Check(err)
		s, err := cur.Open(id, func(seal.PublicKey) bool { return true })
		ts.Check(err)
		defer s.Destroy()
		env, err := seal.NewEnvelope(id, cur.StoreID, n, cur.Recipients, s)
		ts.Check(err)
		ts.Check(os.WriteFile(meta, env.Marshal(), 0o600))
	case "legacystore", "plant":
		var r age.Recipient
		value := "_value_1234"
		if args[0] == "plant" {
			// The attacker knows only the user's public key.
			rr, err := age.ParseX25519Recipient(userKey(ts, idPath).String())
			ts.Check(err)
			r, value = rr, "_forged_1234"
			entries, err := os.ReadDir(store)
			ts.Check(err)
			for _, e := range entries {
				ts.Check(os.RemoveAll(filepath.Join(store, e.Name())))
			}
		} else {
			id, _, err := seal.LoadOrCreateIdentity(idPath)
			ts.Check(err)
			r = id.Recipient()
		}
		wrapped, s, err := seal.NewDataKey(r)
		ts.Check(err)
		defer s.Destroy()
		dir := fsgrant.New(store)
		defer dir.Close()
		call := dir.Begin(context.Background())
		defer call.End()
		st := filestore.New(call)
		_, err = st.MetaPut("datakey", wrapped, true)
		ts.Check(err)
		for _, key := range args[1:] {
			inc, err := seal.NewIncarnation()
			ts.Check(err)
			now := time.Now().UnixNano()
			sc := abi.Scope{Org: config.DefaultOrganization}
			sealed, err := s.Seal(seal.AAD{Org: sc.Org, Key: key, Kind: secrets.AADKind(abi.SecretString)},
				seal.Meta{Version: 1, Created: now, Updated: now, Incarnation: inc}, []byte(key+value))
			ts.Check(err)
			_, err = st.Create(&abi.Record{Scope: sc, Key: key, Kind: abi.SecretString, Created: now, Updated: now, Sealed: sealed})
			ts.Check(err)
		}
	default:
		ts.Fatalf("forgekey: unknown mode %q", args[0])
	}
}

// userKey is the public key of the user's identity: all an attacker needs.
func userKey(ts *testscript.TestScript, idPath string) seal.PublicKey {
	id, err := seal.LoadIdentity(idPath)
	ts.Check(err)
	pub, err := seal.IdentityPublicKey(id)
	ts.Check(err)
	return pub
}
