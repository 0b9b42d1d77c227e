package secrets

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
)

// Shared team keys.
//
// On a store of ABI minor >= 3 (abi.MinorFence) every sealed write carries
// a guard: the store applies it only while its meta "datakey" still holds
// the envelope the sealer came from. A write guarded by a key another
// process has just replaced fails with CONFLICT; flyte then reads the new
// envelope, checks it like any other, seals again and retries.
//
// Changing the recipients: adding one re-wraps the same data key (a new
// epoch); removing one, or a re-key, makes a new data key and retires the
// old one:
//
//  1. "datakey-retired" = the OLD key wrapped to the remaining recipients
//     (same store id, the new epoch), create-only: one that exists is an
//     unfinished re-seal, which is finished first;
//  2. "datakey" = the new envelope, swapped only while it still holds the
//     one read (else the retired key is withdrawn and nothing changed);
//  3. every record of every organization still sealed under the old key is
//     opened and sealed under the new one, guarded by the new envelope,
//     at the next version (expected_version: a concurrent writer wins);
//  4. the new key is wrapped again at the next epoch (swapped only while
//     the store holds the envelope of step 2), then "datakey-retired" is
//     deleted (only while it holds the one of step 1), and the store
//     compacts its history.
//
// Readers open blobs sealed under the retired key only while a re-seal is
// unfinished: while the retired key's epoch is the current envelope's. The
// last step raises the epoch, so a retired key written back afterwards (a
// removed member keeps the envelope she was sent) is ignored: the old key
// is trusted for reading only until its re-seal finishes. An interruption
// anywhere leaves every value readable by every remaining recipient;
// running `flyte store rekey` (or the removal again) finishes it.

const (
	// retiredName is the meta entry of a key being retired.
	retiredName = "datakey-retired"
	// maxKeyMoves bounds how often a write seals again because the data
	// key changed under it.
	maxKeyMoves = 3
	// maxResealAttempts bounds the retries of one record's re-seal.
	maxResealAttempts = 16
)

// TestHookReseal, when set (by tests only; flyte never sets it), is
// called before each record is re-sealed with the number re-sealed so far:
// an error stops the re-seal there, as an interruption would.
var TestHookReseal func(resealed int) error

var (
	errKeyMoved  = errors.New("the store's data key changed")
	errKeyMoving = fmt.Errorf("%w: the store's data key changed %d times while this write tried to seal it; try again", ErrConflict, maxKeyMoves)
	// ErrTeamChanged says the store's data key changed during a change of
	// its recipients.
	ErrTeamChanged = errors.New("the store's recipients or data key changed meanwhile (another flyte changed them); run the command again")
	// ErrNoDataKey says the store has no data key yet.
	ErrNoDataKey = errors.New("the store has no data key yet: create a secret first")
	// ErrLegacyKey says the data key is in the format from before envelopes.
	ErrLegacyKey = errors.New("the store's data key is in the old format, without recipients: write a secret once first (flyte create or update), which puts it in an envelope")
	// ErrUnfinished says a re-seal is unfinished.
	ErrUnfinished = errors.New("a re-seal of this store under a new data key is unfinished (or running): run 'flyte store rekey' to finish it")
)

// FenceError says the store plugin cannot fence writes.
type FenceError struct{ Minor uint32 }

func (e *FenceError) Error() string {
	return fmt.Sprintf("the store plugin speaks plugin ABI v%d.%d, and changing a store's recipients needs v%d.%d (fenced writes)",
		abi.Version, e.Minor, abi.Version, abi.MinorFence)
}

// NotRecipientError says the user's identity is not among the recipients of
// the store's data key.
type NotRecipientError struct {
	You    seal.PublicKey
	Labels []string // the recipients' labels (validated by the envelope parser)
}

func (e *NotRecipientError) Error() string {
	return "your identity " + e.You.String() + " is not one of this store's recipients (" + strings.Join(e.Labels, ", ") + ")"
}

// Hint says what a recipient must run.
func (e *NotRecipientError) Hint() string {
	return "ask one of them to run: flyte store recipients add " + e.You.String() + " --label NAME"
}

func labels(ms []seal.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Label
	}
	return out
}

func (m *Manager) fenced() bool { return m.storeMinor >= abi.MinorFence }

// guard is the guard of a write sealed by sealer: nil on a store that
// cannot fence. A sealer that is no longer the current one gets a guard
// that cannot match, so the write fails and is sealed again.
func (m *Manager) guard(sealer *seal.Sealer) *abi.Guard {
	if !m.fenced() {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	g := &abi.Guard{Name: dataKeyName}
	if m.sealer == sealer {
		g.Value = m.env
	}
	return g
}

// keyMoved tells, after a guarded write failed with CONFLICT, whether the
// store's data key is no longer the one sealer came from; then the cached
// sealer is dropped, so the next unlock checks and opens the new one.
func (m *Manager) keyMoved(ctx context.Context, sealer *seal.Sealer) (bool, error) {
	if !m.fenced() {
		return false, nil
	}
	now, err := m.metaGet(ctx, dataKeyName)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return false, fmt.Errorf("failed to read the store's data key: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sealer != sealer {
		return true, nil
	}
	if bytes.Equal(now, m.env) {
		return false, nil
	}
	// Not destroyed: another call of this Manager may still hold it.
	m.sealer, m.env = nil, nil
	return true, nil
}

// loadRetired attaches a key being retired to s, so that blobs sealed
// under it still open. It is accepted only when it opens for this identity
// vouched for like the data key, belongs to the same store and epoch, and
// is another key. A retired key that does not pass is ignored: blobs under
// it then fail their integrity check. m.mu is held.
func (m *Manager) loadRetired(ctx context.Context, s *seal.Sealer) error {
	if !m.fenced() || m.legacyKey {
		return nil
	}
	b, err := m.metaGet(ctx, retiredName)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to read the store's retired data key: %w", err)
	}
	old, err := m.openRetired(b)
	if err == nil && old != nil {
		s.WithRetired(old)
	}
	return nil
}

// openRetired opens a retired key's envelope, when it is the retired key
// of an unfinished re-seal: of this store, at the current envelope's epoch,
// another key than the current one (nil, nil otherwise: nothing to read
// with it). m.mu is held.
func (m *Manager) openRetired(b []byte) (*seal.Sealer, error) {
	cur, err := seal.ParseEnvelope(m.env)
	if err != nil {
		return nil, err
	}
	r, err := seal.ParseEnvelope(b)
	if err != nil {
		return nil, err
	}
	if r.StoreID != cur.StoreID {
		return nil, errors.New("the store's retired data key belongs to another store")
	}
	if r.Epoch != cur.Epoch || r.KeyID == cur.KeyID {
		return nil, nil
	}
	id, self, err := m.loadSelf()
	if err != nil {
		return nil, err
	}
	vouchers, err := m.vouchers()
	if err != nil {
		return nil, err
	}
	return r.Open(id, func(k seal.PublicKey) bool { return k == self || vouchers[k] })
}

// Team describes the store's recipients.
type Team struct {
	StoreID    string
	Epoch      uint64
	Creator    seal.PublicKey // who made (vouches for) the current envelope
	You        seal.PublicKey
	Members    []seal.Member
	Unfinished bool // a re-seal under a new key is unfinished
}

// teamUnlock opens the store for a change of recipients (or their list)
// and returns its current envelope. m.mu is not held.
func (m *Manager) teamUnlock(ctx context.Context, write bool) (*seal.Sealer, *seal.Envelope, []byte, error) {
	if !m.fenced() {
		return nil, nil, nil, &FenceError{Minor: m.storeMinor}
	}
	var s *seal.Sealer
	var err error
	if write {
		// A change starts from the store's current envelope, not one
		// this Manager read earlier.
		m.mu.Lock()
		m.sealer, m.env = nil, nil
		m.mu.Unlock()
		s, err = m.unlockToWrite(ctx, false)
	} else {
		s, err = m.unlock(ctx, false)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, nil, nil, ErrNoDataKey
	}
	if err != nil {
		return nil, nil, nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.legacyKey {
		return nil, nil, nil, ErrLegacyKey
	}
	env, err := seal.ParseEnvelope(m.env)
	if err != nil {
		return nil, nil, nil, err
	}
	return s, env, m.env, nil
}

// Recipients returns the store's recipients.
func (m *Manager) Recipients(ctx context.Context) (*Team, error) {
	_, env, _, err := m.teamUnlock(ctx, false)
	if err != nil {
		return nil, err
	}
	_, self, err := m.loadSelf()
	if err != nil {
		return nil, err
	}
	t := &Team{StoreID: m.storeID, Epoch: env.Epoch, Creator: env.Creator, You: self, Members: env.Recipients}
	switch _, err := m.metaGet(ctx, retiredName); {
	case err == nil:
		t.Unfinished = true
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("failed to read the store's retired data key: %w", err)
	}
	return t, nil
}

// metaSwap replaces meta name only while it holds expected.
func (m *Manager) metaSwap(ctx context.Context, name string, v, expected []byte) error {
	var resp abi.MetaResponse
	err := m.call(ctx, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: v, Expected: expected, HasExpected: true}, &resp)
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrConflict):
		return ErrTeamChanged
	case err != nil:
		return err
	case !bytes.Equal(resp.Value, v):
		return ErrTeamChanged
	}
	return nil
}

func (m *Manager) metaDelete(ctx context.Context, name string, expected []byte) error {
	err := m.call(ctx, abi.OpMetaDelete, &abi.MetaRequest{Name: name, Expected: expected, HasExpected: true}, nil)
	if errors.Is(err, ErrNotFound) {
		return nil // another flyte finished it
	}
	return err
}

// withdraw deletes the retired key retired, which no re-seal needs. When
// the store holds another retired key by then, another flyte's re-key put
// it there since it was read: that re-seal is running, and the command is
// to be run again once it is done (ErrUnfinished), not failed as a
// conflict (TestConcurrentRekeys saw it in 13 runs of 200 once listings
// got faster).
func (m *Manager) withdraw(ctx context.Context, retired []byte) error {
	err := m.metaDelete(ctx, retiredName, retired)
	if errors.Is(err, ErrConflict) {
		return ErrUnfinished
	}
	return err
}

// AddRecipient wraps the store's data key to one more recipient: a new
// epoch, vouched for by the user's identity. The new member accepts the
// user once on their machine (flyte store accept).
func (m *Manager) AddRecipient(ctx context.Context, pub seal.PublicKey, label string) (*Team, error) {
	if !seal.ValidLabel(label) {
		return nil, errBadLabel
	}
	s, env, stored, err := m.teamUnlock(ctx, true)
	if err != nil {
		return nil, err
	}
	for _, r := range env.Recipients {
		if r.Public == pub {
			return nil, fmt.Errorf("%s is already one of this store's recipients (%s)", pub, r.Label)
		}
		if r.Label == label {
			return nil, fmt.Errorf("the label %s already names a recipient of this store (%s)", label, r.Public)
		}
	}
	if len(env.Recipients) >= seal.MaxRecipients {
		return nil, fmt.Errorf("the store has %d recipients, the most an envelope holds", len(env.Recipients))
	}
	if _, err := m.metaGet(ctx, retiredName); err == nil {
		return nil, ErrUnfinished
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	members := append(append([]seal.Member(nil), env.Recipients...), seal.Member{Label: label, Public: pub})
	next, err := m.newEnvelope(env, members, s)
	if err != nil {
		return nil, err
	}
	if err := m.commit(ctx, next, stored); err != nil {
		return nil, err
	}
	return m.Recipients(ctx)
}

var errBadLabel = fmt.Errorf("invalid label (1 to %d letters, digits and . _ @ + -)", seal.MaxLabel)

// newEnvelope makes the next epoch's envelope of key s for members.
func (m *Manager) newEnvelope(env *seal.Envelope, members []seal.Member, s *seal.Sealer) (*seal.Envelope, error) {
	id, err := m.loadIdentity()
	if err != nil {
		return nil, err
	}
	return seal.NewEnvelope(id, env.StoreID, env.Epoch+1, members, s)
}

// commit swaps the store's envelope from stored to next (same key) and
// records the new epoch.
func (m *Manager) commit(ctx context.Context, next *seal.Envelope, stored []byte) error {
	if _, err := m.keyState(); err != nil {
		return err
	}
	b := next.Marshal()
	if err := m.metaSwap(ctx, dataKeyName, b, stored); err != nil {
		return err
	}
	m.mu.Lock()
	if bytes.Equal(m.env, stored) {
		m.env = b
	}
	m.mu.Unlock()
	return m.remember(m.storeID, next.Epoch, false, next.Recipients)
}

// Rekeyed is what RemoveRecipient and Rekey did.
type Rekeyed struct {
	Removed  *seal.Member // nil for a re-key
	Epoch    uint64       // of the new data key
	Resealed int          // records sealed again under the new key
	Finished bool         // an unfinished re-seal was finished first
	// Secrets are every record the store held under the retired key (all
	// organizations): what a removed member may have seen.
	Secrets []SecretRef
	// Damaged are records that could not be re-sealed (they did not open
	// under the retired key): left as they were.
	Damaged []Damaged
	// CompactErr says why the store could not drop its history ("" when
	// it did, or keeps none).
	CompactErr string
}

// SecretRef names a secret without its value.
type SecretRef struct {
	Scope scope.Scope
	Key   string
}

// RemoveRecipient removes pub from the store's recipients: a new data key
// wrapped to the others, every value re-sealed under it.
// The removed key is no longer accepted here as a voucher either.
func (m *Manager) RemoveRecipient(ctx context.Context, pub seal.PublicKey) (*Rekeyed, error) {
	res, err := m.rekey(ctx, &pub)
	if err != nil {
		return nil, err
	}
	if err := m.dropVoucher(pub); err != nil {
		return nil, fmt.Errorf("the removal is done, but %w", err)
	}
	return res, nil
}

// dropVoucher removes pub's lines from the vouchers file, keeping the rest
// as it is.
func (m *Manager) dropVoucher(pub seal.PublicKey) error {
	if m.stateDir == "" {
		return nil
	}
	b, err := m.readState(vouchersFile)
	if err != nil || len(b) == 0 {
		return err
	}
	d, err := m.state()
	if err != nil {
		return err
	}
	return d.Update(vouchersFile, func(old []byte) ([]byte, error) {
		if _, err := parseVouchers(old); err != nil {
			return nil, fmt.Errorf("%s: %v", m.stateFile(vouchersFile), err)
		}
		out := []byte{}
		dropped := false
		for line := range strings.SplitAfterSeq(string(old), "\n") {
			if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(f[0], "#") {
				if k, err := seal.ParsePublicKey(f[0]); err == nil && k == pub {
					dropped = true
					continue
				}
			}
			out = append(out, line...)
		}
		if !dropped {
			return nil, nil
		}
		return out, nil
	})
}

// Rekey gives the store a new data key for the same recipients, or, when
// a re-seal is unfinished, finishes it.
func (m *Manager) Rekey(ctx context.Context) (*Rekeyed, error) {
	return m.rekey(ctx, nil)
}

func (m *Manager) rekey(ctx context.Context, remove *seal.PublicKey) (*Rekeyed, error) {
	s, env, stored, err := m.teamUnlock(ctx, true)
	if err != nil {
		return nil, err
	}
	res := &Rekeyed{Epoch: env.Epoch}
	switch r, err := m.metaGet(ctx, retiredName); {
	case err == nil:
		withdrawn, err := m.finish(ctx, s, stored, r, res)
		if err != nil {
			return nil, err
		}
		// A withdrawn retired key re-sealed nothing: the command goes on.
		res.Finished = !withdrawn
		if remove == nil && !withdrawn {
			return res, nil
		}
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("failed to read the store's retired data key: %w", err)
	}
	id, self, err := m.loadSelf()
	if err != nil {
		return nil, err
	}
	var members []seal.Member
	for _, r := range env.Recipients {
		if remove != nil && r.Public == *remove {
			res.Removed = &seal.Member{Label: r.Label, Public: r.Public}
			continue
		}
		members = append(members, r)
	}
	if remove != nil {
		switch {
		case *remove == self:
			return nil, errors.New("you cannot remove your own identity from the store's recipients: ask another recipient to remove it")
		case res.Removed == nil && res.Finished:
			return res, nil // the unfinished removal was this one
		case res.Removed == nil:
			return nil, fmt.Errorf("%s is not one of this store's recipients (%s)", *remove, strings.Join(labels(env.Recipients), ", "))
		}
	}
	if _, err := m.keyState(); err != nil {
		return nil, err
	}
	ns, err := seal.NewSealer()
	if err != nil {
		return nil, err
	}
	next, err := seal.NewEnvelope(id, env.StoreID, env.Epoch+1, members, ns)
	var retired *seal.Envelope
	if err == nil {
		retired, err = seal.NewEnvelope(id, env.StoreID, env.Epoch+1, members, s)
	}
	if err != nil {
		ns.Destroy()
		return nil, err
	}
	rb, nb := retired.Marshal(), next.Marshal()
	switch got, err := m.metaPut(ctx, retiredName, rb); {
	case errors.Is(err, ErrExists):
		ns.Destroy()
		return nil, ErrUnfinished
	case errors.Is(err, ErrNotFound):
		// Another flyte's retired key was there, and gone by the time
		// the store read it back: it was finishing meanwhile.
		ns.Destroy()
		return nil, ErrTeamChanged
	case err != nil:
		ns.Destroy()
		return nil, fmt.Errorf("failed to store the retired data key: %w", err)
	case !bytes.Equal(got, rb):
		// Another flyte's re-seal put its retired key first: it is not
		// ours to swap past, nor to delete.
		ns.Destroy()
		return nil, ErrUnfinished
	}
	if err := m.metaSwap(ctx, dataKeyName, nb, stored); err != nil {
		ns.Destroy()
		if errors.Is(err, ErrTeamChanged) {
			if derr := m.metaDelete(ctx, retiredName, rb); derr != nil {
				return nil, fmt.Errorf("%w (and withdrawing the retired key failed: %v; run 'flyte store rekey')", err, derr)
			}
			return nil, err
		}
		return nil, fmt.Errorf("failed to store the new data key (it may or may not have been stored; run 'flyte store rekey' to finish): %w", err)
	}
	// Another rekey that read the store before the swap may have taken
	// our retired key for one whose swap never happened, and withdrawn
	// it: put it back (create-only, so never over another).
	_, _ = m.metaPut(ctx, retiredName, rb)
	// The old sealer stays with the new one, to open what is not re-sealed
	// yet; it is no longer the Manager's own.
	ns.WithRetired(s)
	m.mu.Lock()
	m.sealer, m.env = ns, nb
	m.mu.Unlock()
	res.Epoch = next.Epoch
	if err := m.remember(m.storeID, next.Epoch, false, next.Recipients); err != nil {
		return nil, err
	}
	if err := m.reseal(ctx, s, ns, nb, rb, res); err != nil {
		return nil, err
	}
	return res, nil
}

// finish completes an unfinished re-seal: retired is "datakey-retired",
// stored the current envelope of sealer cur. withdrawn says the retired
// key was one no re-seal needs, deleted.
func (m *Manager) finish(ctx context.Context, cur *seal.Sealer, stored, retired []byte, res *Rekeyed) (withdrawn bool, err error) {
	env, err := seal.ParseEnvelope(stored)
	if err != nil {
		return false, err
	}
	r, err := seal.ParseEnvelope(retired)
	if err != nil {
		return false, fmt.Errorf("cannot open the store's retired data key to finish its re-seal: %w", err)
	}
	switch {
	case r.StoreID != env.StoreID:
		return false, errors.New("cannot open the store's retired data key to finish its re-seal: it belongs to another store")
	case r.Epoch == env.Epoch+1 && r.KeyID == env.KeyID, r.Epoch == env.Epoch && r.KeyID == env.KeyID:
		// A re-key stopped before its swap: the current key was never
		// replaced, and nothing was sealed under another.
		return true, m.withdraw(ctx, retired)
	case r.Epoch < env.Epoch:
		// Its re-seal finished (the epoch was raised) but the delete did
		// not happen, or it was written back: stale, never read with.
		return true, m.withdraw(ctx, retired)
	case r.Epoch > env.Epoch:
		return false, ErrTeamChanged // read before the data key changed
	}
	m.mu.Lock()
	old, err := m.openRetired(retired)
	m.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("cannot open the store's retired data key to finish its re-seal: %w", err)
	}
	if old == nil {
		return false, errors.New("cannot open the store's retired data key to finish its re-seal")
	}
	defer old.Destroy()
	return false, m.reseal(ctx, old, cur, stored, retired, res)
}

// reseal seals every record of the store still under old again under cur
// (whose envelope is guard), then deletes the retired key and compacts.
func (m *Manager) reseal(ctx context.Context, old, cur *seal.Sealer, guard, retired []byte, res *Rekeyed) error {
	req := abi.ListRequest{AllOrgs: true}
	for page := 0; ; page++ {
		if page == maxListEntries {
			return errors.New("store's listing did not finish after " + strconv.Itoa(page) + " pages")
		}
		var resp abi.ListResponse
		if err := m.call(ctx, abi.OpList, &req, &resp); err != nil {
			return fmt.Errorf("failed to list the store to re-seal it: %w", err)
		}
		for i := range resp.Records {
			if err := m.resealOne(ctx, old, cur, guard, &resp.Records[i], res); err != nil {
				return err
			}
		}
		for _, d := range resp.Damaged {
			res.Damaged = append(res.Damaged, damaged(d.Scope, d.Key, d.Reason))
		}
		if resp.NextPageToken == "" {
			break
		}
		if resp.NextPageToken == req.PageToken {
			return errors.New("store's listing repeated a page")
		}
		req.PageToken = resp.NextPageToken
	}
	if err := m.closeEpoch(ctx, cur, guard, res); err != nil {
		return err
	}
	// CONFLICT: another flyte withdrew ours (stale once the epoch rose)
	// and has put its own since; ours is gone all the same.
	if err := m.metaDelete(ctx, retiredName, retired); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("every secret is re-sealed, but deleting the retired data key failed: %w", err)
	}
	m.mu.Lock()
	if m.sealer == cur {
		cur.WithRetired(nil)
	}
	m.mu.Unlock()
	_, err := m.store.Call(ctx, abi.OpCompact, nil)
	var se *abi.StatusError
	switch {
	case errors.As(err, &se) && se.Code == abi.Unimplemented:
	case errors.As(err, &se):
		res.CompactErr = "store: " + sanitize.Text(se.Error())
	case err != nil:
		res.CompactErr = err.Error()
	}
	return nil
}

// closeEpoch ends a finished re-seal: the current key cur (envelope
// stored) is wrapped again at the next epoch, so that the retired key,
// whose epoch is stored's, is no longer read with even when it is written
// back. When another flyte did it first (same key, a newer epoch), that is
// fine too.
func (m *Manager) closeEpoch(ctx context.Context, cur *seal.Sealer, stored []byte, res *Rekeyed) error {
	env, err := seal.ParseEnvelope(stored)
	if err != nil {
		return err
	}
	next, err := m.newEnvelope(env, env.Recipients, cur)
	if err != nil {
		return err
	}
	nb := next.Marshal()
	switch err := m.metaSwap(ctx, dataKeyName, nb, stored); {
	case errors.Is(err, ErrTeamChanged):
		now, err := m.metaGet(ctx, dataKeyName)
		if err != nil {
			return fmt.Errorf("every secret is re-sealed, but reading the store's data key back failed (run 'flyte store rekey' to finish): %w", err)
		}
		if e, err := seal.ParseEnvelope(now); err != nil || e.StoreID != env.StoreID || e.KeyID != env.KeyID || e.Epoch <= env.Epoch {
			return ErrTeamChanged
		}
		return nil
	case err != nil:
		return fmt.Errorf("every secret is re-sealed, but storing the data key at its next epoch failed (run 'flyte store rekey' to finish): %w", err)
	}
	m.mu.Lock()
	if bytes.Equal(m.env, stored) {
		m.env = nb
	}
	m.mu.Unlock()
	res.Epoch = next.Epoch
	return m.remember(m.storeID, next.Epoch, false, next.Recipients)
}

// resealOne seals record r again under cur, at its next version.
func (m *Manager) resealOne(ctx context.Context, old, cur *seal.Sealer, guard []byte, r *abi.Record, res *Rekeyed) error {
	if scope.ValidateOrg(r.Scope.Org) != nil || r.Scope.Project != "" && scope.ValidateProject(r.Scope.Project) != nil ||
		r.Scope.Domain != "" && scope.ValidateName("domain", r.Scope.Domain) != nil || scope.ValidateKey(r.Key) != nil {
		res.Damaged = append(res.Damaged, damaged(r.Scope, r.Key, "not a valid scope or key"))
		return nil
	}
	res.Secrets = append(res.Secrets, SecretRef{Scope: scope.Scope(r.Scope), Key: r.Key})
	for attempt := 0; attempt < maxResealAttempts; attempt++ {
		kid, _ := seal.BlobKeyID(r.Sealed)
		switch kid {
		case cur.KeyIDBytes():
			return nil // sealed under the new key already
		case old.KeyIDBytes():
		default:
			res.Damaged = append(res.Damaged, damaged(r.Scope, r.Key, "sealed under neither the retired nor the current data key"))
			return nil
		}
		if TestHookReseal != nil {
			if err := TestHookReseal(res.Resealed); err != nil {
				return fmt.Errorf("the re-seal stopped after %d secrets (run 'flyte store rekey' to finish it): %w", res.Resealed, err)
			}
		}
		v, meta, err := openRecord(old, r)
		if err != nil {
			res.Damaged = append(res.Damaged, damaged(r.Scope, r.Key, err.Error()))
			return nil
		}
		next := seal.Meta{Version: r.Version + 1, Created: r.Created, Updated: m.now().UnixNano()}
		if meta != nil {
			next.Incarnation = meta.Incarnation
		} else if next.Incarnation, err = seal.NewIncarnation(); err != nil {
			clear(v)
			return err
		}
		rec, err := m.record(cur, scope.Scope(r.Scope), r.Key, r.Kind, v, next)
		clear(v)
		if err != nil {
			return err
		}
		var out abi.Record
		err = m.call(ctx, abi.OpUpdate, &abi.WriteRequest{Record: *rec, ExpectedVersion: r.Version,
			Guard: &abi.Guard{Name: dataKeyName, Value: guard}}, &out)
		switch {
		case err == nil:
			if err := answered(&out, rec); err != nil {
				return err
			}
			res.Resealed++
			return nil
		case errors.Is(err, ErrNotFound):
			return nil // deleted meanwhile
		case !errors.Is(err, ErrConflict):
			return fmt.Errorf("failed to re-seal secret %s in %s scope (run the command again to finish): %w", r.Key, scope.Scope(r.Scope), err)
		}
		// Someone wrote it meanwhile, or the key changed again.
		if now, err := m.metaGet(ctx, dataKeyName); err != nil || !bytes.Equal(now, guard) {
			return ErrTeamChanged
		}
		var now abi.Record
		switch err := m.call(ctx, abi.OpGet, &abi.KeyRequest{Scope: r.Scope, Key: r.Key}, &now); {
		case errors.Is(err, ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("failed to re-seal secret %s in %s scope (run the command again to finish): %w", r.Key, scope.Scope(r.Scope), err)
		case now.Scope != r.Scope || now.Key != r.Key:
			return errors.New("store answered for another secret")
		}
		*r = now
	}
	return fmt.Errorf("%w: secret %s in %s scope changed %d times while it was re-sealed; run the command again to finish",
		ErrConflict, r.Key, scope.Scope(r.Scope), maxResealAttempts)
}

// Accept records a teammate as a voucher this machine trusts for the data
// keys of its stores, in the vouchers file (keys/vouchers).
func (m *Manager) Accept(pub seal.PublicKey, label string) error {
	if !seal.ValidLabel(label) {
		return errBadLabel
	}
	if m.stateDir == "" {
		return errors.New("no state directory to record it in (set HOME or XDG_STATE_HOME)")
	}
	if id, err := m.source.Load(); err == nil {
		if self, err := seal.IdentityPublicKey(id); err == nil && self == pub {
			return errors.New("that is your own identity's recipient: flyte always trusts it")
		}
	}
	d, err := m.state()
	if err != nil {
		return err
	}
	return d.Update(vouchersFile, func(old []byte) ([]byte, error) {
		v, err := parseVouchers(old)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.stateFile(vouchersFile), err)
		}
		if v[pub] {
			return nil, fmt.Errorf("%s is already accepted (%s)", pub, m.stateFile(vouchersFile))
		}
		out := append([]byte(nil), old...)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, pub.String()+" "+label+"\n"...), nil
	})
}
