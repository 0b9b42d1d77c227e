// Package secrets is flyte's core service: it creates, rotates, lists and
// deletes secrets in a store plugin, sealing every value before the plugin
// sees it and checking every record the plugin returns.
//
// The CLI talks to a *Manager only through its methods, which take and
// return plain values, so the same service can live in the CLI process or
// behind a socket in a resident agent later.
//
// # Trust
//
// The store is hostile. Values reach it sealed (package seal) under a data
// key that is itself wrapped with age to the user's identity and kept in
// the store. Records it returns are filtered again by scope, and each
// sealed value is opened (and the plaintext dropped) before a record is
// listed, so a record that was altered, or moved to another scope or key,
// is reported as damaged instead of shown.
package secrets

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/identity"
	"github.com/flytesecrets/flyte/host/sanitize"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/state"
)

// MaxValue is the largest secret value accepted, as in Vault and Kubernetes.
const MaxValue = 1 << 20

// dataKeyName is the meta entry that holds the wrapped data key.
const dataKeyName = "datakey"

// Store is the transport to a store plugin: a loaded *plugin.Plugin, or a
// natively linked store in benchmarks.
type Store interface {
	Call(ctx context.Context, op abi.Op, in []byte) ([]byte, error)
}

// Secret is what is known about a secret without its value.
type Secret struct {
	Scope   scope.Scope
	Key     string
	Kind    abi.SecretKind
	Version uint64
	Created time.Time
	Updated time.Time
	// SealedVersion is false for a record written before flyte sealed
	// versions and times into records: its version and times are only
	// what the store says. Its next update seals them.
	SealedVersion bool
}

// Damaged is a record that could not be read or failed its integrity check.
type Damaged struct {
	Scope  scope.Scope
	Key    string
	Reason string
	// Rollback says the record is genuine but older than one this
	// machine has seen.
	Rollback bool
}

// Filter selects secrets for List. Nil fields do not filter.
type Filter struct {
	Project *string
	Domain  *string
	Key     string
}

// Errors callers branch on.
var (
	ErrNotFound = errors.New("secret not found")
	ErrExists   = errors.New("secret already exists")
	ErrEmpty    = errors.New("secret value is empty")
	ErrTooLarge = fmt.Errorf("secret value is larger than %d bytes (1 MiB)", MaxValue)
	ErrConflict = errors.New("secret was changed meanwhile")
)

// KindChangeError says an update would change a secret's kind (regular,
// file or image_pull).
type KindChangeError struct {
	Key        string
	Scope      scope.Scope
	Have, Want abi.SecretKind
}

func (e *KindChangeError) Error() string {
	return fmt.Sprintf("secret %s in %s scope has type %s; this update would give it type %s", e.Key, e.Scope, e.Have, e.Want)
}

// ConflictError says a compare-and-set found another version.
type ConflictError struct {
	Key   string
	Scope scope.Scope
	Want  uint64
	Have  uint64 // 0 when unknown
}

func (e *ConflictError) Error() string {
	if e.Have == 0 {
		return fmt.Sprintf("secret %s in %s scope is no longer at version %d", e.Key, e.Scope, e.Want)
	}
	return fmt.Sprintf("secret %s in %s scope is at version %d, not %d", e.Key, e.Scope, e.Have, e.Want)
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// NotFoundError says a key is not in a scope, and where it is.
type NotFoundError struct {
	Key      string
	Scope    scope.Scope
	ExistsIn []scope.Scope
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("secret %s not found in %s scope", e.Key, e.Scope)
}

// Unwrap makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// ExistsError says a key already exists in a scope.
type ExistsError struct {
	Key   string
	Scope scope.Scope
}

func (e *ExistsError) Error() string {
	return fmt.Sprintf("secret %s already exists in %s scope", e.Key, e.Scope)
}

// Unwrap makes errors.Is(err, ErrExists) true.
func (e *ExistsError) Unwrap() error { return ErrExists }

// Manager is the service. Create one per organization and store.
type Manager struct {
	org      string
	store    Store
	identity string // names the source in messages
	source   *identity.Source
	now      func() time.Time

	mu     sync.Mutex
	sealer *seal.Sealer
	// location names where the store is (Options.Location); legacyKey
	// says its data key predates envelopes, legacyKnown that this machine
	// had recorded that store before; storeID is the store's id, in hex
	// (datakey.go). Guarded by mu.
	location    string
	legacyKey   bool
	legacyKnown bool
	storeID     string
	// env is the stored data key the sealer came from (an envelope, or a
	// bare key): the guard of every sealed write on a store of minor >= 3
	// (teamkeys.go). Guarded by mu.
	env []byte
	// checked is the sealer whose key was found to be the one the store's
	// secrets are sealed under, before a write (datakey.go). Guarded by mu.
	checked *seal.Sealer

	// storeMinor is Options.StoreMinor.
	storeMinor uint32

	// stateDir keeps the versions this machine has seen (marks.go).
	stateDir  string
	stateMu   sync.Mutex
	stateOpen *state.Dir
	// held, when not nil, is what writes saw and have not recorded yet,
	// per marks file (DeferMarks). Guarded by stateMu.
	held map[string][]sighting
	// parsed keeps the marks file last read whole (marks.go).
	parsed *MarksCache
}

// Options configure a Manager.
type Options struct {
	Org string
	// Identity is the path of the age identity file that unlocks the
	// store's data key; it is created on first use.
	Identity string
	// Source, when set, supplies the identity instead (identity.Resolve:
	// the FLYTE_IDENTITY variables or the configured file).
	Source *identity.Source
	// Now defaults to time.Now.
	Now func() time.Time
	// StateDir is flyte's state directory (state.Path), where the highest
	// version seen of each secret is kept to detect rollbacks; "" keeps no
	// history. It is created only when there is a version to record.
	StateDir string
	// Marks, when set, keeps the parsed marks file for the Managers that
	// come after this one (a resident agent makes one per request); by
	// default a Manager keeps its own.
	Marks *MarksCache
	// Location names where the store is (its plugin, path or endpoints),
	// so that this machine remembers which data key it saw there.
	Location string
	// StoreMinor is the ABI minor version the store plugin declares: a
	// store of minor 0 is never sent an image_pull record.
	StoreMinor uint32
}

// New returns a Manager over store.
func New(store Store, opts Options) *Manager {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	src := opts.Source
	if src == nil {
		src = identity.File(opts.Identity)
	}
	marks := opts.Marks
	if marks == nil {
		marks = new(MarksCache)
	}
	return &Manager{org: opts.Org, store: store, identity: src.String(), source: src, now: now, stateDir: opts.StateDir, location: opts.Location,
		storeMinor: opts.StoreMinor, parsed: marks}
}

// Close forgets the data key.
func (m *Manager) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sealer != nil {
		m.sealer.Destroy()
		m.sealer = nil
	}
}

// unlock returns the store's sealer. With create, a store without a data
// key (and without records) gets one (and the user an identity, if
// needed); otherwise ErrNotFound reports there is none yet. An existing
// data key is accepted only when vouched for, and only ever unwrapped with
// an existing identity: creating one then could never open it. Commands
// that write use unlockToWrite (datakey.go).
func (m *Manager) unlock(ctx context.Context, create bool) (*seal.Sealer, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sealer != nil {
		return m.sealer, nil
	}
	s, err := m.openDataKey(ctx, create) // datakey.go
	if err != nil {
		return nil, err
	}
	if err := m.loadRetired(ctx, s); err != nil { // teamkeys.go
		s.Destroy()
		return nil, err
	}
	m.sealer = s
	return s, nil
}

// LockedError says the store's data key cannot be unwrapped with the
// configured identity.
type LockedError struct {
	Identity      string
	Err           error
	Missing       bool // the identity file does not exist
	WrongIdentity bool // the data key is wrapped to another identity
}

func (e *LockedError) Error() string {
	return "cannot unlock the store with identity " + e.Identity + ": " + e.Err.Error()
}

func (e *LockedError) Unwrap() error { return e.Err }

func (m *Manager) call(ctx context.Context, op abi.Op, req abi.Message, resp abi.Message) error {
	out, err := m.store.Call(ctx, op, abi.Marshal(req))
	if err != nil {
		var se *abi.StatusError
		if errors.As(err, &se) {
			switch se.Code {
			case abi.NotFound:
				return ErrNotFound
			case abi.AlreadyExists:
				return ErrExists
			case abi.Conflict:
				return fmt.Errorf("%w: %s", ErrConflict, se.Message)
			}
			return fmt.Errorf("store: %w", se)
		}
		return err
	}
	if resp != nil {
		if err := abi.Unmarshal(out, resp); err != nil {
			return fmt.Errorf("store sent a malformed answer: %w", err)
		}
	}
	return nil
}

func (m *Manager) metaGet(ctx context.Context, name string) ([]byte, error) {
	var resp abi.MetaResponse
	if err := m.call(ctx, abi.OpMetaGet, &abi.MetaRequest{Name: name}, &resp); err != nil {
		return nil, err
	}
	return resp.Value, nil
}

func (m *Manager) metaPut(ctx context.Context, name string, v []byte) ([]byte, error) {
	var resp abi.MetaResponse
	if err := m.call(ctx, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: v, CreateOnly: true}, &resp); err != nil {
		return nil, err
	}
	return resp.Value, nil
}

func aad(s scope.Scope, key string, kind abi.SecretKind) seal.AAD {
	return seal.AAD{Org: s.Org, Project: s.Project, Domain: s.Domain, Key: key, Kind: AADKind(kind)}
}

// AADKind is the kind's name bound into sealed values. It never changes, so
// that records stay readable when the CLI renames a kind (kind 1 was shown
// as "string" before it was flyte-sdk's "regular").
func AADKind(kind abi.SecretKind) string {
	switch kind {
	case abi.SecretString:
		return "string"
	case abi.SecretFile:
		return "file"
	case abi.SecretImagePull:
		return "image_pull"
	}
	return "unknown"
}

// KindUnsupportedError says the store plugin speaks an ABI minor version
// that has no such kind of record: it is never sent one.
type KindUnsupportedError struct {
	Kind  abi.SecretKind
	Minor uint32
}

func (e *KindUnsupportedError) Error() string {
	return fmt.Sprintf("the store plugin speaks plugin ABI v%d.%d, which has no %s secrets (they need v%d.%d)",
		abi.Version, e.Minor, e.Kind, abi.Version, abi.MinorImagePull)
}

// ErrImagePullScope says an image_pull secret was narrowed to a project or
// a domain: like flyte-sdk's, it belongs to the whole organization.
var ErrImagePullScope = errors.New("an image_pull secret belongs to the organization: it cannot have a project or a domain")

// checkKind refuses a kind the store's ABI minor version does not know, and
// an image_pull secret narrower than the organization.
func (m *Manager) checkKind(s scope.Scope, kind abi.SecretKind) error {
	if kind != abi.SecretImagePull {
		return nil
	}
	if s.Project != "" || s.Domain != "" {
		return ErrImagePullScope
	}
	if m.storeMinor < abi.MinorImagePull {
		return &KindUnsupportedError{Kind: kind, Minor: m.storeMinor}
	}
	return nil
}

func checkValue(v []byte) error {
	switch {
	case len(v) == 0:
		return ErrEmpty
	case len(v) > MaxValue:
		return ErrTooLarge
	}
	return nil
}

// record seals a value into a record that carries meta's version and
// times, which the store keeps beside the sealed value unauthenticated.
func (m *Manager) record(sealer *seal.Sealer, s scope.Scope, key string, kind abi.SecretKind, value []byte, meta seal.Meta) (*abi.Record, error) {
	sealed, err := sealer.Seal(aad(s, key, kind), meta, value)
	if err != nil {
		return nil, err
	}
	return &abi.Record{Scope: abi.Scope(s), Key: key, Kind: kind, Version: meta.Version,
		Created: meta.Created, Updated: meta.Updated, Sealed: sealed}, nil
}

// toSecret describes a record that passed verify; meta is what it sealed,
// nil for a record written before versions were sealed.
func toSecret(r *abi.Record, meta *seal.Meta) Secret {
	return Secret{
		Scope: scope.Scope(r.Scope), Key: r.Key, Kind: r.Kind, Version: r.Version,
		Created: time.Unix(0, r.Created).UTC(), Updated: time.Unix(0, r.Updated).UTC(),
		SealedVersion: meta != nil,
	}
}

// Create stores a new secret. s.Org must be the manager's organization.
// It seals version 1 and a new incarnation.
func (m *Manager) Create(ctx context.Context, s scope.Scope, key string, kind abi.SecretKind, value []byte) (Secret, error) {
	s.Org = m.org
	if err := checkValue(value); err != nil {
		return Secret{}, err
	}
	if err := m.checkKind(s, kind); err != nil {
		return Secret{}, err
	}
	for moves := 0; ; moves++ {
		sec, err := m.createOnce(ctx, s, key, kind, value)
		if err != errKeyMoved {
			return sec, err
		}
		if moves == maxKeyMoves {
			return Secret{}, errKeyMoving
		}
	}
}

func (m *Manager) createOnce(ctx context.Context, s scope.Scope, key string, kind abi.SecretKind, value []byte) (Secret, error) {
	sealer, err := m.unlockToWrite(ctx, true)
	if err != nil {
		return Secret{}, err
	}
	inc, err := seal.NewIncarnation()
	if err != nil {
		return Secret{}, err
	}
	now := m.now().UnixNano()
	meta := seal.Meta{Version: 1, Created: now, Updated: now, Incarnation: inc}
	rec, err := m.record(sealer, s, key, kind, value, meta)
	if err != nil {
		return Secret{}, err
	}
	h, err := m.history(sealer, false)
	if err == nil {
		err = h.ready()
	}
	if err != nil {
		return Secret{}, err
	}
	var out abi.Record
	if err := m.call(ctx, abi.OpCreate, &abi.WriteRequest{Record: *rec, Guard: m.guard(sealer)}, &out); err != nil {
		if errors.Is(err, ErrExists) {
			return Secret{}, &ExistsError{Key: key, Scope: s}
		}
		if errors.Is(err, ErrConflict) {
			if moved, merr := m.keyMoved(ctx, sealer); merr != nil || moved {
				return Secret{}, cmp.Or(merr, errKeyMoved)
			}
		}
		return Secret{}, err
	}
	if err := answered(&out, rec); err != nil {
		return Secret{}, err
	}
	if err := h.remember([]sighting{{rec.Scope, key, &meta}}); err != nil {
		return Secret{}, err
	}
	return toSecret(rec, &meta), nil
}

// answered checks a store's answer to a write against the record flyte
// sealed: the store assigns the version and keeps the created time, and
// both must be what was sealed, or every later read would find the record
// altered.
func answered(out, rec *abi.Record) error {
	switch {
	case out.Scope != rec.Scope || out.Key != rec.Key:
		return errors.New("store answered for another secret")
	case out.Version != rec.Version:
		return fmt.Errorf("store reported version %d for secret %s, not the version %d flyte sealed", out.Version, rec.Key, rec.Version)
	case out.Created != rec.Created || out.Updated != rec.Updated:
		return fmt.Errorf("store reported other times for secret %s than flyte sealed", rec.Key)
	}
	return nil
}

// maxUpdateAttempts bounds how often a plain update starts again because
// another one came first: each conflict means one other writer succeeded.
const maxUpdateAttempts = 32

// errRetry says a plain update lost a race and may start again.
var errRetry = errors.New("retry")

// Update replaces the value of an existing secret. It reads and verifies
// the current record (version v), seals version v+1 with the same
// incarnation and created time, and writes it only if the store is still
// at v. A plain update (ifVersion 0) then starts again on a conflict, so
// concurrent rotations all succeed; a non-zero ifVersion makes it a
// compare-and-set that fails unless the secret is at that version.
func (m *Manager) Update(ctx context.Context, s scope.Scope, key string, kind abi.SecretKind, value []byte, ifVersion uint64) (Secret, error) {
	s.Org = m.org
	if err := checkValue(value); err != nil {
		return Secret{}, err
	}
	if err := m.checkKind(s, kind); err != nil {
		return Secret{}, err
	}
	sealer, err := m.unlockToWrite(ctx, false)
	if errors.Is(err, ErrNotFound) {
		return Secret{}, &NotFoundError{Key: key, Scope: s} // no data key: the store is empty
	}
	if err != nil {
		return Secret{}, err
	}
	for attempt, moves := 1, 0; ; attempt++ {
		sec, err := m.updateOnce(ctx, sealer, s, key, kind, value, ifVersion)
		if err == errKeyMoved {
			// The data key changed (a re-key): seal again under the new one.
			if moves++; moves > maxKeyMoves {
				return Secret{}, errKeyMoving
			}
			if sealer, err = m.unlockToWrite(ctx, false); err != nil {
				return Secret{}, err
			}
			attempt--
			continue
		}
		if err != errRetry {
			return sec, err
		}
		if attempt == maxUpdateAttempts {
			return Secret{}, fmt.Errorf("%w: secret %s in %s scope changed %d times while this update tried to write it", ErrConflict, key, s, attempt)
		}
	}
}

func (m *Manager) updateOnce(ctx context.Context, sealer *seal.Sealer, s scope.Scope, key string, kind abi.SecretKind, value []byte, ifVersion uint64) (Secret, error) {
	h, err := m.history(sealer, true, key)
	if err != nil {
		return Secret{}, err
	}
	var cur abi.Record
	switch err := m.call(ctx, abi.OpGet, &abi.KeyRequest{Scope: abi.Scope(s), Key: key}, &cur); {
	case errors.Is(err, ErrNotFound):
		return Secret{}, m.notFound(ctx, s, key)
	case err != nil:
		return Secret{}, err
	case scope.Scope(cur.Scope) != s || cur.Key != key:
		return Secret{}, errors.New("store answered for another secret")
	}
	v, meta, err := h.open(sealer, &cur)
	clear(v)
	if err != nil {
		return Secret{}, err
	}
	// A task asks for a file secret as a file and a string secret as a
	// variable: a rotation must not silently change which one it is.
	if cur.Kind != kind {
		return Secret{}, &KindChangeError{Key: key, Scope: s, Have: cur.Kind, Want: kind}
	}
	if ifVersion != 0 && cur.Version != ifVersion {
		return Secret{}, &ConflictError{Key: key, Scope: s, Want: ifVersion, Have: cur.Version}
	}
	next := seal.Meta{Version: cur.Version + 1, Created: cur.Created, Updated: m.now().UnixNano()}
	if meta != nil {
		next.Incarnation = meta.Incarnation
	} else if next.Incarnation, err = seal.NewIncarnation(); err != nil {
		return Secret{}, err // a record from before sealed versions starts its first incarnation
	}
	rec, err := m.record(sealer, s, key, kind, value, next)
	if err != nil {
		return Secret{}, err
	}
	if err := h.ready(); err != nil {
		return Secret{}, err
	}
	var out abi.Record
	if err := m.call(ctx, abi.OpUpdate, &abi.WriteRequest{Record: *rec, ExpectedVersion: cur.Version, Guard: m.guard(sealer)}, &out); err != nil {
		if errors.Is(err, ErrConflict) {
			if moved, merr := m.keyMoved(ctx, sealer); merr != nil || moved {
				return Secret{}, cmp.Or(merr, errKeyMoved)
			}
		}
		switch {
		case errors.Is(err, ErrNotFound):
			return Secret{}, m.notFound(ctx, s, key)
		case errors.Is(err, ErrConflict) && ifVersion == 0:
			return Secret{}, errRetry
		case errors.Is(err, ErrConflict):
			ce := &ConflictError{Key: key, Scope: s, Want: ifVersion}
			var now abi.Record
			if m.call(ctx, abi.OpGet, &abi.KeyRequest{Scope: abi.Scope(s), Key: key}, &now) == nil {
				ce.Have = now.Version
			}
			return Secret{}, ce
		}
		return Secret{}, err
	}
	if err := answered(&out, rec); err != nil {
		return Secret{}, err
	}
	if err := h.remember([]sighting{{rec.Scope, key, &next}}); err != nil {
		return Secret{}, err
	}
	return toSecret(rec, &next), nil
}

// Delete removes the secret key from exactly scope s. It needs the store
// unlocked, like every other change: it proves this is the user's store.
func (m *Manager) Delete(ctx context.Context, s scope.Scope, key string) error {
	s.Org = m.org
	sealer, err := m.unlockToWrite(ctx, false)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return &NotFoundError{Key: key, Scope: s}
		}
		return err
	}
	err = m.call(ctx, abi.OpDelete, &abi.KeyRequest{Scope: abi.Scope(s), Key: key}, nil)
	if errors.Is(err, ErrNotFound) {
		return m.notFound(ctx, s, key)
	}
	if err != nil {
		return err
	}
	// The versions seen of what was deleted mean nothing any more.
	return m.forget(sealer, abi.Scope(s), key)
}

// notFound builds the error for a key missing from s, listing the scopes
// that do hold it.
func (m *Manager) notFound(ctx context.Context, s scope.Scope, key string) error {
	e := &NotFoundError{Key: key, Scope: s}
	res, err := m.List(ctx, Filter{Key: key})
	if err == nil {
		for _, x := range res.Secrets {
			e.ExistsIn = append(e.ExistsIn, x.Scope)
		}
	}
	return e
}

// listRequest is the store's listing request for what f selects.
func (m *Manager) listRequest(f Filter) abi.ListRequest {
	req := abi.ListRequest{Org: m.org, Key: f.Key}
	if f.Project != nil {
		req.HasProject, req.Project = true, *f.Project
	}
	if f.Domain != nil {
		req.HasDomain, req.Domain = true, *f.Domain
	}
	return req
}

// ListResult is the answer to List.
type ListResult struct {
	Secrets []Secret
	Damaged []Damaged
}

// List returns the secrets matching f, ordered by project, domain and key.
// Records that fail to open are returned in Damaged.
func (m *Manager) List(ctx context.Context, f Filter) (ListResult, error) {
	req := m.listRequest(f)
	res, records, err := m.listAll(ctx, &req)
	if err != nil {
		return ListResult{}, err
	}
	if len(records) == 0 {
		return res, nil
	}
	sealer, err := m.unlock(ctx, false)
	if errors.Is(err, ErrNotFound) {
		// Records without a data key cannot be genuine.
		for _, r := range records {
			res.Damaged = append(res.Damaged, damaged(r.Scope, r.Key, "the store has no data key"))
		}
		return res, nil
	}
	if err != nil {
		return ListResult{}, err
	}
	var keys []string
	if f.Key != "" {
		keys = []string{f.Key}
	}
	h, err := m.history(sealer, true, keys...)
	if err != nil {
		return ListResult{}, err
	}
	var seen []sighting
	res.Secrets = slices.Grow(res.Secrets, len(records))
	for i := range records {
		r := &records[i]
		meta, err := verify(sealer, r)
		var mark uint64
		if err == nil {
			if mark, err = h.check(r.Scope, r.Key, meta); err != nil {
				r, meta, err = m.reread(ctx, sealer, h, r, err)
				mark = 0
			}
		}
		if err != nil {
			d := damaged(r.Scope, r.Key, err.Error())
			var rb *RollbackError
			d.Rollback = errors.As(err, &rb)
			res.Damaged = append(res.Damaged, d)
			continue
		}
		if r == nil {
			continue // deleted since it was listed
		}
		if meta != nil && meta.Version > mark {
			seen = append(seen, sighting{r.Scope, r.Key, meta}) // a mark to raise, for remember
		}
		res.Secrets = append(res.Secrets, toSecret(r, meta))
	}
	if err := h.remember(seen); err != nil {
		return ListResult{}, err
	}
	return res, nil
}

// reread asks the store again for a listed record that looks rolled back.
// The marks were read after the listing, so another flyte may have
// recorded a newer version after this listing saw the old one: only a
// record read after the marks were is held against them. It returns the
// record as it is now (nil if it was deleted meanwhile), or why it is
// damaged; when the store does not answer, the first finding stands.
func (m *Manager) reread(ctx context.Context, sealer *seal.Sealer, h *history, r *abi.Record, found error) (*abi.Record, *seal.Meta, error) {
	var now abi.Record
	switch err := m.call(ctx, abi.OpGet, &abi.KeyRequest{Scope: r.Scope, Key: r.Key}, &now); {
	case errors.Is(err, ErrNotFound):
		return nil, nil, nil
	case err != nil, now.Scope != r.Scope || now.Key != r.Key:
		return r, nil, found
	}
	meta, err := verify(sealer, &now)
	if err == nil {
		_, err = h.check(now.Scope, now.Key, meta)
	}
	if err != nil {
		return r, nil, err
	}
	return &now, meta, nil
}

// damaged reports a record the store returned. Its names come from the
// store and are printed: any that is not a valid name is shown sanitised
// and quoted, so that a hostile store cannot write to the terminal.
func damaged(s abi.Scope, key, reason string) Damaged {
	// Scope.String quotes parts that are not valid names itself.
	sc := scope.Scope{Org: sanitize.Text(s.Org), Project: sanitize.Text(s.Project), Domain: sanitize.Text(s.Domain)}
	if scope.ValidateKey(key) != nil {
		key = strconv.Quote(sanitize.Text(key))
	}
	return Damaged{Scope: sc, Key: key, Reason: reason}
}

// What verify finds wrong with a record.
var (
	errIntegrity = errors.New("integrity check failed (altered, moved or sealed under another key)")
	errAltered   = errors.New("version or times altered (they differ from what flyte sealed)")
)

// openRecord opens a record's sealed value and checks that the version and
// times the store claims are the ones sealed with it. It returns the value
// and what was sealed (nil meta for a record from before versions were
// sealed); errors are errIntegrity or errAltered.
func openRecord(s *seal.Sealer, r *abi.Record) ([]byte, *seal.Meta, error) {
	v, meta, err := s.OpenRecord(aad(scope.Scope(r.Scope), r.Key, r.Kind), r.Sealed)
	if err != nil {
		return nil, nil, errIntegrity
	}
	if meta != nil && (r.Version != meta.Version || r.Created != meta.Created || r.Updated != meta.Updated) {
		clear(v)
		return nil, nil, errAltered
	}
	return v, meta, nil
}

// verify opens a record's value and drops it: listing proves integrity
// without handing out values. It returns what the record sealed.
func verify(s *seal.Sealer, r *abi.Record) (*seal.Meta, error) {
	v, meta, err := openRecord(s, r)
	clear(v)
	return meta, err
}
