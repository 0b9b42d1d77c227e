package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/migrate"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/seal"
	"github.com/flytesecrets/flyte/host/secrets"
)

// The requests the CLI sends: plain values (strings, numbers, byte slices,
// scopes, pointers for "not given"), with no open file, function or
// interface in them, so that a resident process can receive them over a
// socket as well as in-process. What they ask is done under the Core's
// configuration, which the client chose and checked (configuration trust,
// identity variables, grants) before it made the Core: the core trusts
// its configuration and checks every request against it.

// WriteRequest creates a secret, or updates one.
type WriteRequest struct {
	Scope scope.Scope
	Key   string
	Kind  abi.SecretKind
	// Value is the secret's value, which the caller wipes after the call.
	Value []byte
	// Update replaces the value of an existing secret instead of creating
	// one; IfVersion, when not 0, only if the secret is at that version.
	Update    bool
	IfVersion uint64
}

// Write creates or updates the secret req names.
func (c *Core) Write(ctx context.Context, req WriteRequest) (Secret, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return Secret{}, err
	}
	if req.Update {
		return m.Update(ctx, req.Scope, req.Key, req.Kind, req.Value, req.IfVersion)
	}
	return m.Create(ctx, req.Scope, req.Key, req.Kind, req.Value)
}

// DeleteRequest deletes the secret Key of exactly Scope.
type DeleteRequest struct {
	Scope scope.Scope
	Key   string
}

// Delete deletes the secret req names.
func (c *Core) Delete(ctx context.Context, req DeleteRequest) error {
	m, err := c.Secrets(ctx)
	if err != nil {
		return err
	}
	return m.Delete(ctx, req.Scope, req.Key)
}

// ListRequest lists secrets of the organization, never their values.
type ListRequest struct {
	// Key keeps the secrets of that key; "" keeps every key.
	Key string
	// Project and Domain keep the secrets whose project or domain is
	// exactly the one given ("" for none); nil keeps any.
	Project *string `json:",omitempty"`
	Domain  *string `json:",omitempty"`
	// Resolve lists what a task in Project and Domain (nil for "") sees
	// instead: each key once, from the scope it resolves to.
	Resolve bool
}

// List lists the secrets req asks for. Each record is checked as it is
// listed: those that fail are in the result's Damaged.
func (c *Core) List(ctx context.Context, req ListRequest) (ListResult, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return ListResult{}, err
	}
	if !req.Resolve {
		return m.List(ctx, secrets.Filter{Key: req.Key, Project: req.Project, Domain: req.Domain})
	}
	res, err := m.Visible(ctx, deref(req.Project), deref(req.Domain))
	if req.Key != "" {
		var kept []Secret
		for _, s := range res.Secrets {
			if s.Key == req.Key {
				kept = append(kept, s)
			}
		}
		res.Secrets = kept
	}
	return res, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// NamesRequest lists the keys and projects in the store, without opening
// a record (for shell completion); Project and Domain narrow it as in
// ListRequest.
type NamesRequest struct {
	Project *string `json:",omitempty"`
	Domain  *string `json:",omitempty"`
}

// Names lists the names req asks for. A partial listing (the deadline came
// first) is still an answer.
func (c *Core) Names(ctx context.Context, req NamesRequest) (Names, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return Names{}, err
	}
	return m.Names(ctx, secrets.Filter{Project: req.Project, Domain: req.Domain})
}

// Recipients describes who can open the store's data key.
func (c *Core) Recipients(ctx context.Context) (*Team, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	return m.Recipients(ctx)
}

// RecipientRequest names a recipient of the store's data key: an age
// recipient, with its label when one is added.
type RecipientRequest struct {
	Recipient seal.PublicKey
	Label     string `json:",omitempty"`
}

// AddRecipient wraps the store's data key to one more recipient.
func (c *Core) AddRecipient(ctx context.Context, req RecipientRequest) (*Team, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	return m.AddRecipient(ctx, req.Recipient, req.Label)
}

// RemoveRecipient takes a recipient off the store and seals every value
// again under a new data key.
func (c *Core) RemoveRecipient(ctx context.Context, req RecipientRequest) (*Rekeyed, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	return m.RemoveRecipient(ctx, req.Recipient)
}

// Rekey seals every value of the store again under a new data key, or
// finishes an unfinished re-seal.
func (c *Core) Rekey(ctx context.Context) (*Rekeyed, error) {
	m, err := c.Secrets(ctx)
	if err != nil {
		return nil, err
	}
	return m.Rekey(ctx)
}

// Accept records, on this machine (opts.StateDir), a teammate whose
// envelopes of a store's data key may be used; opts.Identity is the
// identity they were made for. No store is opened.
func Accept(opts Options, req RecipientRequest) error {
	m := secrets.New(nil, secrets.Options{Source: opts.Identity, StateDir: opts.StateDir})
	return m.Accept(req.Recipient, req.Label)
}

// SameStoreError says that the destination of a migration is the store
// of the source.
type SameStoreError struct {
	// Path is the destination's configuration file.
	Path string
	// ByID says the two locations differ, but both stores' data keys have
	// one store id (one store reached by two names).
	ByID bool
}

func (e *SameStoreError) Error() string {
	if e.ByID {
		return e.Path + " names the store this configuration uses (its data key has the same store id)"
	}
	return e.Path + " names the store this configuration uses"
}

// Hint says what to do.
func (e *SameStoreError) Hint() string {
	return "CONFIG must name another store: another store.path, or the etcd store"
}

// Migrate copies every secret of the organization from c's store to dst's
// (package migrate), calling step after each. It refuses, before writing
// anything, a destination that is c's store (*SameStoreError).
func (c *Core) Migrate(ctx context.Context, dst *Core, step func(migrate.Step)) (migrate.Summary, error) {
	if c.Location() == dst.Location() {
		return migrate.Summary{}, &SameStoreError{Path: dst.cfg.Path}
	}
	src, err := c.Secrets(ctx)
	if err != nil {
		return migrate.Summary{}, err
	}
	d, err := dst.Secrets(ctx)
	if err != nil {
		return migrate.Summary{}, err
	}
	if same, err := sameStore(ctx, src, d); err != nil {
		return migrate.Summary{}, err
	} else if same {
		return migrate.Summary{}, &SameStoreError{Path: dst.cfg.Path, ByID: true}
	}
	return migrate.Run(ctx, src, d, step)
}

// sameStore reports whether both stores hold a data key with the same
// store id: one store reached by two names (localhost and 127.0.0.1,
// another endpoint of the same etcd cluster), which the comparison of
// locations cannot tell. Nothing is written: a store without a data key,
// or one that cannot say its id (a legacy bare key, a store older than ABI
// 1.3), is left to that comparison.
func sameStore(ctx context.Context, src, dst *secrets.Manager) (bool, error) {
	id := func(m *secrets.Manager) (string, error) {
		t, err := m.Recipients(ctx)
		var fence *secrets.FenceError
		switch {
		case errors.Is(err, secrets.ErrNoDataKey), errors.Is(err, secrets.ErrLegacyKey), errors.As(err, &fence):
			return "", nil
		case err != nil:
			return "", err
		}
		return t.StoreID, nil
	}
	s, err := id(src)
	if err != nil {
		return false, fmt.Errorf("source store: %w", err)
	}
	if s == "" {
		return false, nil
	}
	d, err := id(dst)
	if err != nil {
		return false, fmt.Errorf("destination store: %w", err)
	}
	return d == s, nil
}
