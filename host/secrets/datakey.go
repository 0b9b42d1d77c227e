package secrets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/state"
)

// The data key and who vouches for it.
//
// The store's meta entry "datakey" holds a seal.Envelope: the data key
// wrapped to every recipient, with a tag per recipient made by the
// envelope's creator. This machine accepts an envelope only when the tag for
// its own identity verifies and the creator is a voucher it trusts: its own
// identity (so a CI runner given the user's identity accepts what the user
// made), or a teammate whose key was accepted explicitly, in the state
// directory's keys/vouchers. It remembers the highest epoch seen of each
// store (keys/stores) and refuses an older one. It also remembers the
// recipients of the last envelope it accepted for each store: a teammate's
// envelope is accepted only from one of them, so that a member removed
// from the store (still a voucher here, and perhaps still able to write
// the store) cannot put in a key of hers. An envelope whose creator is not
// one of its own recipients is refused.
//
// Each store has an id (the envelope's; for a bare key, one derived from
// the key). This machine records the store id it saw at each store
// location, and refuses a different one there afterwards: the store was
// replaced, or re-created. The one exception is a new data key this
// machine itself put in an empty store (newDataKey), whose id replaces the
// one recorded.
//
// A store written before envelopes holds the bare age file. It is still
// opened, and recorded; a later write replaces it with an envelope, but
// only on a machine that had recorded this same store at this location
// before the command (so that a machine meeting a bare key for the first
// time, such as an ephemeral CI runner, never vouches for it), and provided
// that the secrets the store holds open under it. A machine that has seen
// an envelope for a store refuses that store's key in the bare format.
//
// A missing data key in a store that holds records is an error, never a
// new key: a new key could never open them.

// State files, under the state directory.
const (
	vouchersFile = "keys/vouchers"
	storesFile   = "keys/stores"
	storesHeader = "flyte-stores 1\n"
	// ageHeader starts every age file: the bare data key before envelopes.
	ageHeader = "age-encryption.org/"
	// maxStores bounds the stores and locations of the stores file.
	maxStores = 10000
	// maxStoreLines bounds the stores file, in lines (with recipients).
	maxStoreLines = 100000
)

// MissingKeyError says the store lost its data key but still holds secrets.
type MissingKeyError struct {
	Count int  // records found on the first page of the listing
	More  bool // the listing had more pages
}

func (e *MissingKeyError) Error() string {
	n := strconv.Itoa(e.Count)
	if e.More {
		n = "at least " + n
	}
	noun := "secrets"
	if e.Count == 1 && !e.More {
		noun = "secret"
	}
	return "the store's data key is missing but it holds " + n + " " + noun +
		": it was removed or lost; flyte will not create a new key, which could never open them (restore meta/datakey from a backup)"
}

// UntrustedVoucherError says the data key's envelope verifies but was made
// by someone this machine has not accepted.
type UntrustedVoucherError struct {
	Creator seal.PublicKey
	Label   string // what the store calls the creator; "" when it does not
	File    string // where accepting the creator would be recorded
}

func (e *UntrustedVoucherError) Error() string {
	label := e.Label
	if label == "" {
		label = "teammate"
	}
	who := e.Creator.String()
	if e.Label != "" {
		who += " (labelled " + strconv.Quote(e.Label) + " in the store)"
	}
	return "the store's data key is vouched for by " + who + ", whom this machine has not accepted: " +
		"if that is a teammate's key (check it with them), accept it with: flyte store accept " +
		e.Creator.String() + " --label " + label + "; otherwise someone replaced the store's data key"
}

// OldEpochError says the store's data key is older than one seen before.
type OldEpochError struct {
	Epoch, Seen uint64
}

func (e *OldEpochError) Error() string {
	return fmt.Sprintf("the store's data key is older than one this machine has seen (epoch %d, seen epoch %d): an old key was put back; flyte will not use it", e.Epoch, e.Seen)
}

// ErrDowngrade says a bare (legacy) data key is where an envelope was seen.
var ErrDowngrade = errors.New("the store's data key is in the old, unvouched format, but this machine has seen a vouched key for this store: it was replaced; flyte will not use it")

// StoreChangedError says the store at this location is not the one this
// machine recorded there.
type StoreChangedError struct {
	Seen, Found string // store ids, in hex
	Line        string // the line of the stores file that records Seen
	File        string // the stores file
}

func (e *StoreChangedError) Error() string {
	return "the store at this location is not the one this machine has seen (store id " + e.Found + ", seen " + e.Seen +
		"): it was replaced or re-created; flyte will not use it"
}

// Hint says how to accept a store re-created deliberately.
func (e *StoreChangedError) Hint() string {
	return "if it was re-created deliberately, remove the line \"" + e.Line + "\" from " + e.File
}

// changed is the StoreChangedError of finding store found where seen was.
func (m *Manager) changed(seen, found string) error {
	return &StoreChangedError{Seen: seen, Found: found, Line: "at " + m.locationID() + " " + seen, File: m.stateFile(storesFile)}
}

// FormerMemberError says the data key's envelope was made by a voucher who
// is not a recipient of the last data key this machine accepted for the
// store: a member removed since, perhaps, putting in a key of hers.
type FormerMemberError struct {
	Creator seal.PublicKey
	Label   string // what the envelope calls the creator
	Epoch   uint64
}

func (e *FormerMemberError) Error() string {
	return fmt.Sprintf("the store's data key (epoch %d) is vouched for by %s (labelled %q in the store), who is not one of the recipients of the data key this machine last accepted for this store: "+
		"a member removed since may have replaced it; flyte will not use it", e.Epoch, e.Creator, e.Label)
}

// Hint says how a legitimate change is accepted.
func (e *FormerMemberError) Hint() string {
	return "if the recipients changed deliberately while this machine did not use the store, ask a recipient you had then to run: flyte store rekey"
}

// ErrNotVouched says the envelope's tag for this identity does not verify.
var ErrNotVouched = errors.New("the store's data key is not vouched for: its tag for your identity does not verify (the envelope was altered or forged); flyte will not use it")

// openDataKey reads, checks and opens the store's data key. With create, a
// store without one, and without records, gets one. m.mu is held.
func (m *Manager) openDataKey(ctx context.Context, create bool) (*seal.Sealer, error) {
	stored, err := m.metaGet(ctx, dataKeyName)
	switch {
	case errors.Is(err, ErrNotFound):
		page, err := m.firstPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("the store has no data key, and listing its secrets failed: %w", err)
		}
		if n, more := len(page.Records)+len(page.Damaged), page.NextPageToken != ""; n > 0 || more {
			// A first flyte create elsewhere may have put its key and
			// its first record between the two reads.
			if again, err := m.metaGet(ctx, dataKeyName); err == nil {
				return m.openStored(again)
			}
			return nil, &MissingKeyError{Count: n, More: more}
		}
		if !create {
			return nil, ErrNotFound
		}
		return m.newDataKey(ctx)
	case err != nil:
		return nil, fmt.Errorf("failed to read the store's data key: %w", err)
	}
	return m.openStored(stored)
}

// openStored checks and opens a stored data key with the user's identity.
func (m *Manager) openStored(stored []byte) (*seal.Sealer, error) {
	id, err := m.loadIdentity()
	if err != nil {
		return nil, err
	}
	return m.acceptDataKey(stored, id)
}

func (m *Manager) loadIdentity() (*age.X25519Identity, error) {
	id, err := m.source.Load()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &LockedError{Identity: m.identity, Err: errors.New("the identity file does not exist"), Missing: true}
	}
	return id, err
}

// loadSelf is loadIdentity with the identity's public key.
func (m *Manager) loadSelf() (*age.X25519Identity, seal.PublicKey, error) {
	id, err := m.loadIdentity()
	if err != nil {
		return nil, seal.PublicKey{}, err
	}
	self, err := seal.IdentityPublicKey(id)
	if err != nil {
		return nil, seal.PublicKey{}, err
	}
	return id, self, nil
}

// firstPage returns the first page of the store's listing of the
// organization (records of other organizations dropped). One call, so
// bounded by the message limit, whatever the store does.
func (m *Manager) firstPage(ctx context.Context) (*abi.ListResponse, error) {
	req := abi.ListRequest{Org: m.org}
	var resp abi.ListResponse
	if err := m.call(ctx, abi.OpList, &req, &resp); err != nil {
		return nil, err
	}
	resp.Records = slices.DeleteFunc(resp.Records, func(r abi.Record) bool { return !req.Matches(r.Scope, r.Key) })
	resp.Damaged = slices.DeleteFunc(resp.Damaged, func(d abi.Damaged) bool { return !req.Matches(d.Scope, d.Key) })
	return &resp, nil
}

// newDataKey makes a data key in an envelope vouched for by the user's
// identity (created if needed) and puts it in the store, create-only: when
// another process got there first, its key is checked and used instead.
func (m *Manager) newDataKey(ctx context.Context) (*seal.Sealer, error) {
	// The state directory must work before the store changes: a key whose
	// epoch this machine cannot remember is not worth making.
	if _, err := m.keyState(); err != nil {
		return nil, err
	}
	id, created, err := m.source.LoadOrCreate()
	if err != nil {
		return nil, err
	}
	s, env, err := m.envelopeFor(id, nil)
	var stored []byte
	if err == nil {
		stored, err = m.metaPut(ctx, dataKeyName, env.Marshal())
	}
	if err != nil {
		if s != nil {
			s.Destroy()
		}
		// A failed command changes nothing: an identity made for a store
		// that could not be set up goes too.
		if created {
			m.source.Undo()
		}
		return nil, fmt.Errorf("failed to store the data key: %w", err)
	}
	if bytes.Equal(stored, env.Marshal()) {
		// This machine made the key of an empty store: a new store here.
		if err := m.remember(hex.EncodeToString(env.StoreID[:]), env.Epoch, true, env.Recipients); err != nil {
			s.Destroy()
			return nil, err
		}
		m.storeID = hex.EncodeToString(env.StoreID[:])
		m.env = stored
		return s, nil
	}
	s.Destroy()
	return m.acceptDataKey(stored, id)
}

// envelopeFor puts the data key of s (a new one when s is nil) in a new
// store's first envelope, vouched for by id and wrapped to it alone.
func (m *Manager) envelopeFor(id *age.X25519Identity, s *seal.Sealer) (*seal.Sealer, *seal.Envelope, error) {
	pub, err := seal.IdentityPublicKey(id)
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		if s, err = seal.NewSealer(); err != nil {
			return nil, nil, err
		}
	}
	env, err := seal.NewEnvelope(id, seal.StoreIDFor(s), 1, []seal.Member{{Label: ownLabel(), Public: pub}}, s)
	if err != nil {
		return s, nil, err
	}
	return s, env, nil
}

// ownLabel names the user in a new envelope: user@host, in the characters
// a label allows.
func ownLabel() string {
	name := "owner"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	b := []byte(name)
	for i, c := range b {
		if !seal.ValidLabel(string(c)) {
			b[i] = '-'
		}
	}
	if len(b) > seal.MaxLabel {
		b = b[:seal.MaxLabel]
	}
	return string(b)
}

// acceptDataKey checks a stored data key (an envelope, or a bare age file
// from before envelopes) and opens it with id.
func (m *Manager) acceptDataKey(stored []byte, id *age.X25519Identity) (*seal.Sealer, error) {
	ks, err := m.readKeyState()
	if err != nil {
		return nil, err
	}
	seen := ks.at[m.locationID()]
	if !seal.IsEnvelope(stored) {
		s, err := seal.UnwrapDataKey(stored, age.Identity(id))
		if err != nil {
			// A bare age file where an envelope was is a downgrade;
			// anything else is damage, reported as before envelopes.
			if bytes.HasPrefix(stored, []byte(ageHeader)) && ks.epoch[seen] > 0 {
				return nil, ErrDowngrade
			}
			return nil, &LockedError{Identity: m.identity, Err: err, WrongIdentity: errors.Is(err, age.ErrIncorrectIdentity)}
		}
		sidb := seal.StoreIDFor(s)
		sid := hex.EncodeToString(sidb[:])
		switch {
		case seen != "" && seen != sid:
			s.Destroy()
			return nil, m.changed(seen, sid)
		case ks.epoch[sid] > 0:
			s.Destroy()
			return nil, ErrDowngrade
		case seen == "":
			// First contact: readable, recorded, never vouched for here.
			if err := m.remember(sid, 0, false, nil); err != nil {
				s.Destroy()
				return nil, err
			}
		}
		m.legacyKey = true
		m.legacyKnown = seen == sid
		m.storeID = sid
		m.env = stored
		return s, nil
	}
	env, err := seal.ParseEnvelope(stored)
	if err != nil {
		return nil, &LockedError{Identity: m.identity, Err: err}
	}
	self, err := seal.IdentityPublicKey(id)
	if err != nil {
		return nil, err
	}
	vouchers, err := m.vouchers()
	if err != nil {
		return nil, err
	}
	s, err := env.Open(id, func(k seal.PublicKey) bool { return k == self || vouchers[k] })
	var ue *seal.UntrustedError
	switch {
	case errors.Is(err, seal.ErrNotRecipient):
		return nil, &NotRecipientError{You: self, Labels: labels(env.Recipients)}
	case errors.Is(err, seal.ErrBadTag):
		return nil, ErrNotVouched
	case errors.As(err, &ue):
		return nil, &UntrustedVoucherError{Creator: ue.Creator, Label: ue.Label, File: m.stateFile(vouchersFile)}
	case errors.Is(err, seal.ErrCreatorNotRecipient):
		return nil, err
	case err != nil:
		return nil, &LockedError{Identity: m.identity, Err: err}
	}
	sid := hex.EncodeToString(env.StoreID[:])
	if seen != "" && seen != sid {
		s.Destroy()
		return nil, m.changed(seen, sid)
	}
	if had := ks.epoch[sid]; env.Epoch < had {
		s.Destroy()
		return nil, &OldEpochError{Epoch: env.Epoch, Seen: had}
	}
	if last := ks.members[sid]; env.Creator != self && len(last) > 0 && !slices.Contains(last, env.Creator) {
		s.Destroy()
		return nil, &FormerMemberError{Creator: env.Creator, Label: memberLabel(env, env.Creator), Epoch: env.Epoch}
	}
	if ks.epoch[sid] != env.Epoch || seen != sid || !slices.Equal(ks.members[sid], publics(env.Recipients)) {
		if err := m.remember(sid, env.Epoch, false, env.Recipients); err != nil {
			s.Destroy()
			return nil, err
		}
	}
	m.legacyKey = false
	m.storeID = sid
	m.env = stored
	return s, nil
}

// publics lists the members' keys, sorted: the form the stores file keeps.
func publics(ms []seal.Member) []seal.PublicKey {
	out := make([]seal.PublicKey, len(ms))
	for i, r := range ms {
		out[i] = r.Public
	}
	slices.SortFunc(out, func(a, b seal.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func memberLabel(env *seal.Envelope, k seal.PublicKey) string {
	for _, r := range env.Recipients {
		if r.Public == k {
			return r.Label
		}
	}
	return ""
}

// unlockToWrite is unlock for a command that changes the store: a data key
// from before envelopes gets one first, when this machine had recorded the
// store before this command; on first contact it is used as it is.
func (m *Manager) unlockToWrite(ctx context.Context, create bool) (*seal.Sealer, error) {
	s, err := m.unlock(ctx, create)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.legacyKey {
		if err := m.checkNotOlder(ctx, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	if !m.legacyKnown {
		return s, nil
	}
	if err := m.upgrade(ctx, s); err != nil {
		return nil, err
	}
	m.legacyKey = false
	return s, nil
}

// ErrKeyOlderThanSecrets says the store's data key seals none of the
// secrets it holds.
var ErrKeyOlderThanSecrets = errors.New("the store's data key is older than the secrets it holds (none of those on the first page of its listing is sealed under it): " +
	"an old key was put back, perhaps by a member removed from the store; flyte will not write under it")

// checkNotOlder refuses, before a write on a store that can change its
// key (minor >= 3), a data key that none of the records on the first page
// of the listing is sealed under while some are sealed under another: the
// store's envelope was rolled back to a key this machine saw before (its
// epoch check cannot tell). Once per sealer; a listing that fails skips
// it. m.mu is held.
func (m *Manager) checkNotOlder(ctx context.Context, s *seal.Sealer) error {
	if !m.fenced() || m.checked == s {
		return nil
	}
	page, err := m.firstPage(ctx)
	if err != nil {
		// Best effort: the write itself reports what is wrong with the
		// store, in its own words.
		return nil
	}
	known, other := 0, 0
	for _, r := range page.Records {
		kid, ok := seal.BlobKeyID(r.Sealed)
		switch {
		case !ok:
		case kid == s.KeyIDBytes(), s.Retired() != nil && kid == s.Retired().KeyIDBytes():
			known++
		default:
			other++
		}
	}
	if known == 0 && other > 0 {
		return ErrKeyOlderThanSecrets
	}
	m.checked = s
	return nil
}

// upgrade replaces a bare data key by an envelope vouched for by the
// user's identity, once the secrets the store holds prove the key is the
// one they were sealed under.
func (m *Manager) upgrade(ctx context.Context, s *seal.Sealer) error {
	page, err := m.firstPage(ctx)
	if err != nil {
		return err
	}
	opened := 0
	for _, r := range page.Records {
		v, err := s.Open(aad(scope.Scope(r.Scope), r.Key, r.Kind), r.Sealed)
		clear(v)
		if err == nil {
			opened++
		}
	}
	if opened == 0 || opened < len(page.Records) {
		return fmt.Errorf("the store's data key is in the old, unvouched format, and it opens %d of the %d secrets on the first page of the store's listing: "+
			"it may have been replaced, and flyte will not vouch for it (if you emptied this store yourself, remove meta/datakey from it and flyte makes a new key)",
			opened, len(page.Records))
	}
	if _, err := m.keyState(); err != nil {
		return err
	}
	id, err := m.loadIdentity()
	if err != nil {
		return err
	}
	_, env, err := m.envelopeFor(id, s)
	if err != nil {
		return err
	}
	want := env.Marshal()
	var put abi.MetaResponse
	if err := m.call(ctx, abi.OpMetaPut, &abi.MetaRequest{Name: dataKeyName, Value: want}, &put); err != nil {
		return fmt.Errorf("failed to store the data key's envelope: %w", err)
	}
	// Two processes upgrading at once write equivalent envelopes (same
	// store id, epoch and key); anything else is not ours to accept here.
	got, err := m.metaGet(ctx, dataKeyName)
	if err != nil {
		return fmt.Errorf("failed to read the store's data key back: %w", err)
	}
	if !bytes.Equal(got, want) {
		other, err := seal.ParseEnvelope(got)
		if err != nil || other.StoreID != env.StoreID || other.KeyID != env.KeyID || other.Epoch != env.Epoch {
			return errors.New("the store's data key changed while flyte put it in an envelope; try again")
		}
	}
	if err := m.remember(hex.EncodeToString(env.StoreID[:]), env.Epoch, false, env.Recipients); err != nil {
		return err
	}
	m.env = got
	return nil
}

// keyStates is what this machine remembers about data keys: the highest
// epoch seen per store id (of envelopes), and which store id was seen at
// each store location (so that another store there is refused).
type keyStates struct {
	epoch   map[string]uint64           // store id (hex) -> highest epoch
	at      map[string]string           // location id (hex) -> store id (hex)
	members map[string][]seal.PublicKey // store id (hex) -> recipients of the last envelope accepted, sorted
}

// parseKeyStates reads the stores file:
//
//	flyte-stores 1
//	store STOREID EPOCH
//	at LOCATION STOREID
//	member STOREID AGE_RECIPIENT
//
// STOREID is 32 hex digits, LOCATION 64, EPOCH a decimal of at least 1,
// AGE_RECIPIENT an age1... recipient (at most seal.MaxRecipients a store,
// each once). Empty input is an empty state; anything else that deviates
// is an error naming the line.
func parseKeyStates(b []byte) (*keyStates, error) {
	ks := &keyStates{epoch: map[string]uint64{}, at: map[string]string{}, members: map[string][]seal.PublicKey{}}
	if len(b) == 0 {
		return ks, nil
	}
	rest, ok := bytes.CutPrefix(b, []byte(storesHeader))
	if !ok {
		return nil, errors.New("line 1: not a stores file")
	}
	if len(rest) > 0 && rest[len(rest)-1] != '\n' {
		return nil, errors.New("no newline at the end")
	}
	lines := strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
	if len(rest) == 0 {
		lines = nil
	}
	if len(lines) > maxStoreLines {
		return nil, fmt.Errorf("more than %d lines", maxStoreLines)
	}
	for i, line := range lines {
		f := strings.Split(line, " ")
		bad := fmt.Errorf("line %d: malformed", i+2)
		if len(f) != 3 {
			return nil, bad
		}
		switch f[0] {
		case "store":
			n, err := strconv.ParseUint(f[2], 10, 64)
			if !isHex(f[1], seal.StoreIDSize) || err != nil || n == 0 || f[2] != strconv.FormatUint(n, 10) {
				return nil, bad
			}
			if _, dup := ks.epoch[f[1]]; dup {
				return nil, fmt.Errorf("line %d: store listed twice", i+2)
			}
			ks.epoch[f[1]] = n
		case "at":
			if !isHex(f[1], sha256.Size) || !isHex(f[2], seal.StoreIDSize) {
				return nil, bad
			}
			if _, dup := ks.at[f[1]]; dup {
				return nil, fmt.Errorf("line %d: location listed twice", i+2)
			}
			ks.at[f[1]] = f[2]
		case "member":
			k, err := seal.ParsePublicKey(f[2])
			if !isHex(f[1], seal.StoreIDSize) || err != nil || k.String() != f[2] {
				return nil, bad
			}
			ms := ks.members[f[1]]
			if slices.Contains(ms, k) {
				return nil, fmt.Errorf("line %d: recipient listed twice", i+2)
			}
			if len(ms) == seal.MaxRecipients {
				return nil, fmt.Errorf("line %d: more than %d recipients of a store", i+2, seal.MaxRecipients)
			}
			ks.members[f[1]] = append(ms, k)
		default:
			return nil, bad
		}
	}
	for _, ms := range ks.members {
		slices.SortFunc(ms, func(a, b seal.PublicKey) int { return bytes.Compare(a[:], b[:]) })
	}
	return ks, nil
}

func (ks *keyStates) encode() []byte {
	var b strings.Builder
	b.WriteString(storesHeader)
	for _, k := range slices.Sorted(maps.Keys(ks.epoch)) {
		fmt.Fprintf(&b, "store %s %d\n", k, ks.epoch[k])
	}
	for _, k := range slices.Sorted(maps.Keys(ks.at)) {
		fmt.Fprintf(&b, "at %s %s\n", k, ks.at[k])
	}
	for _, k := range slices.Sorted(maps.Keys(ks.members)) {
		for _, p := range ks.members[k] {
			fmt.Fprintf(&b, "member %s %s\n", k, p)
		}
	}
	return []byte(b.String())
}

// isHex reports whether s is exactly n bytes in lower-case hex.
func isHex(s string, n int) bool {
	if len(s) != 2*n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'a' && s[i] <= 'f') {
			return false
		}
	}
	return true
}

// locationID names where this Manager's store is (Options.Location),
// hashed: the state file need not show paths or endpoints.
func (m *Manager) locationID() string {
	h := sha256.Sum256([]byte("flyte/store-location/v1\x00" + m.org + "\x00" + m.location))
	return hex.EncodeToString(h[:])
}

// keyState opens the state directory; nil without one (no HOME): such a
// machine remembers nothing, and trusts only its own identity.
func (m *Manager) keyState() (*state.Dir, error) {
	if m.stateDir == "" {
		return nil, nil
	}
	return m.state()
}

// stateFile names a state file for messages.
func (m *Manager) stateFile(name string) string {
	if m.stateDir == "" {
		return "$XDG_STATE_HOME/flyte/" + name
	}
	return m.stateDir + "/" + name
}

// readKeyState reads the stores file without creating anything.
func (m *Manager) readKeyState() (*keyStates, error) {
	b, err := m.readState(storesFile)
	if err != nil {
		return nil, err
	}
	ks, err := parseKeyStates(b)
	if err != nil {
		return nil, fmt.Errorf("the data keys this machine has seen (%s) are damaged: %v; remove the file to start again", m.stateFile(storesFile), err)
	}
	return ks, nil
}

// readState reads a state file; a missing state directory reads as empty
// and is not created.
func (m *Manager) readState(name string) ([]byte, error) {
	if m.stateDir == "" {
		return nil, nil
	}
	if _, err := os.Lstat(m.stateDir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	d, err := m.state()
	if err != nil {
		return nil, err
	}
	return d.Read(name)
}

// remember records store sid at this location and, unless it is 0 (a bare
// key), epoch as seen of it, with the recipients of its envelope (members;
// nil keeps those recorded). A different store recorded at this location
// is an error, unless replace (a new key this machine put in an empty
// store).
func (m *Manager) remember(sid string, epoch uint64, replace bool, members []seal.Member) error {
	d, err := m.keyState()
	if err != nil || d == nil {
		return err
	}
	loc := m.locationID()
	return d.Update(storesFile, func(old []byte) ([]byte, error) {
		ks, err := parseKeyStates(old)
		if err != nil {
			return nil, fmt.Errorf("the data keys this machine has seen (%s) are damaged: %v; remove the file to start again", m.stateFile(storesFile), err)
		}
		if seen := ks.at[loc]; seen != "" && seen != sid && !replace {
			// Another flyte recorded another store here meanwhile.
			return nil, m.changed(seen, sid)
		}
		if had := ks.epoch[sid]; epoch < had {
			if epoch == 0 {
				// A bare key of a store seen in an envelope.
				return nil, ErrDowngrade
			}
			// Another flyte saw a newer epoch meanwhile.
			return nil, &OldEpochError{Epoch: epoch, Seen: had}
		}
		keys := publics(members)
		if ks.epoch[sid] == epoch && ks.at[loc] == sid && (members == nil || slices.Equal(ks.members[sid], keys)) {
			return nil, nil
		}
		_, atOK := ks.at[loc]
		_, storeOK := ks.epoch[sid]
		lines := len(ks.epoch) + len(ks.at)
		for _, ms := range ks.members {
			lines += len(ms)
		}
		if (!atOK || epoch > 0 && !storeOK) && (len(ks.epoch)+len(ks.at) >= maxStores-1 || lines >= maxStoreLines-seal.MaxRecipients-2) {
			return nil, fmt.Errorf("%s holds %d stores, the most flyte keeps; remove stores you no longer use from it", m.stateFile(storesFile), len(ks.at))
		}
		if epoch > 0 {
			ks.epoch[sid] = epoch
			if members != nil {
				ks.members[sid] = keys
			}
		}
		ks.at[loc] = sid
		return ks.encode(), nil
	})
}

// vouchers reads the teammates this machine accepts as vouchers for a data
// key, from the vouchers file:
//
//	# comments and blank lines
//	age1... LABEL
func (m *Manager) vouchers() (map[seal.PublicKey]bool, error) {
	b, err := m.readState(vouchersFile)
	if err != nil {
		return nil, err
	}
	v, err := parseVouchers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", m.stateFile(vouchersFile), err)
	}
	return v, nil
}

// parseVouchers parses the vouchers file. Errors name the line, never its
// content.
func parseVouchers(b []byte) (map[seal.PublicKey]bool, error) {
	out := map[seal.PublicKey]bool{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want an age recipient and a label", i+1)
		}
		k, err := seal.ParsePublicKey(f[0])
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", i+1, err)
		}
		if !seal.ValidLabel(f[1]) {
			return nil, fmt.Errorf("line %d: invalid label (1 to %d letters, digits and . _ @ + -)", i+1, seal.MaxLabel)
		}
		out[k] = true
	}
	return out, nil
}
