// Package migrate copies every secret of an organization from one store to
// another: `flyte store migrate --to CONFIG`.
//
// It works only through the public API of two *secrets.Manager, one per
// store, so each value is opened under the source's data key, sealed again
// under the destination's, and checked by the same rules as every other
// command (integrity, sealed versions, rollbacks). A secret the destination
// already holds with the same kind and value is left alone ("unchanged");
// one it holds with another value is updated with a compare-and-set on the
// version it was read at, so its version only grows; any other is created.
// Each one written is then read back, opened and compared. Running it twice
// is safe: the second run finds every secret unchanged.
package migrate

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
	"github.com/flytesecrets/flyte/host/secrets"
)

// Outcome is what happened to one secret.
type Outcome int

// The outcomes.
const (
	// Unchanged: the destination already held the same kind and value.
	Unchanged Outcome = iota
	// Created: the destination did not hold the secret.
	Created
	// Updated: the destination held another value; it got the next version.
	Updated
)

// Step reports one secret, never its value.
type Step struct {
	Scope   scope.Scope
	Key     string
	Kind    abi.SecretKind
	Outcome Outcome
	// Version is the secret's version in the destination, now.
	Version uint64
}

// Summary counts the secrets by outcome.
type Summary struct {
	Created, Updated, Unchanged int
}

// Migrated is how many secrets were written to the destination.
func (s Summary) Migrated() int { return s.Created + s.Updated }

// Total is how many secrets the source holds.
func (s Summary) Total() int { return s.Created + s.Updated + s.Unchanged }

// DamagedError says the source holds records that fail their checks:
// nothing was copied, since a migration that leaves some behind would
// look complete.
type DamagedError struct {
	Damaged []secrets.Damaged
}

func (e *DamagedError) Error() string {
	noun := "records that fail"
	if len(e.Damaged) == 1 {
		noun = "a record that fails"
	}
	return fmt.Sprintf("the source store holds %s its integrity check (%d); nothing was migrated", noun, len(e.Damaged))
}

// Hint says what to do.
func (e *DamagedError) Hint() string {
	return "flyte get secret lists them; update or delete each, then run the migration again"
}

// DestinationDamagedError says the destination holds a damaged record
// where a secret of the source would go: it is neither trusted nor
// overwritten. The CLI's hint names the command that deletes it.
type DestinationDamagedError struct {
	Damaged secrets.Damaged
}

func (e *DestinationDamagedError) Error() string {
	return fmt.Sprintf("the destination's secret %s in %s scope fails its integrity check (%s); nothing was migrated",
		e.Damaged.Key, e.Damaged.Scope, e.Damaged.Reason)
}

// KindError says the destination holds a secret under the same key and
// scope with another kind: a task would receive it differently, so it is
// not replaced. The CLI's hint names the command that deletes it.
type KindError struct {
	Key        string
	Scope      scope.Scope
	Have, Want abi.SecretKind
}

func (e *KindError) Error() string {
	return fmt.Sprintf("the destination's secret %s in %s scope has type %s, not %s as in the source; nothing was migrated",
		e.Key, e.Scope, e.Have, e.Want)
}

// ChangedError says the source changed while it was being migrated.
type ChangedError struct {
	Key   string
	Scope scope.Scope
}

func (e *ChangedError) Error() string {
	return fmt.Sprintf("secret %s in %s scope changed in the source during the migration", e.Key, e.Scope)
}

// Hint says what to do.
func (e *ChangedError) Hint() string { return "run the migration again: what was migrated stays" }

// VerifyError says a secret written to the destination did not read back
// as it was written.
type VerifyError struct {
	Key    string
	Scope  scope.Scope
	Reason string
}

func (e *VerifyError) Error() string {
	return fmt.Sprintf("secret %s in %s scope did not read back from the destination as written: %s", e.Key, e.Scope, e.Reason)
}

// batch bounds how many values are held at once: a value is up to 1 MiB.
const batch = 32

// at names a secret: its scope and key.
type at struct {
	scope scope.Scope
	key   string
}

// Run copies every secret of the organization from src to dst, calling
// each for every secret once it is verified, in (project, domain, key)
// order. src and dst must be managers of the same organization over two
// different stores. It stops at the first error; what was migrated before
// stays, and running it again continues.
func Run(ctx context.Context, src, dst *secrets.Manager, each func(Step)) (Summary, error) {
	var sum Summary
	from, err := src.List(ctx, secrets.Filter{})
	if err != nil {
		return sum, fmt.Errorf("source store: %w", err)
	}
	if len(from.Damaged) > 0 {
		return sum, &DamagedError{Damaged: from.Damaged}
	}
	if len(from.Secrets) == 0 {
		return sum, nil
	}
	// The destination's listing opens its data key when it holds secrets:
	// a key this identity cannot open stops the migration here.
	to, err := dst.List(ctx, secrets.Filter{})
	if err != nil {
		return sum, fmt.Errorf("destination store: %w", err)
	}
	there := map[at]secrets.Secret{}
	for _, s := range to.Secrets {
		there[at{s.Scope, s.Key}] = s
	}
	damaged := map[at]secrets.Damaged{}
	for _, d := range to.Damaged {
		damaged[at{d.Scope, d.Key}] = d
	}
	// Every reason to refuse that is known before writing is checked
	// before writing.
	for _, s := range from.Secrets {
		if d, ok := damaged[at{s.Scope, s.Key}]; ok {
			return sum, &DestinationDamagedError{Damaged: d}
		}
		if t, ok := there[at{s.Scope, s.Key}]; ok && t.Kind != s.Kind {
			return sum, &KindError{Key: s.Key, Scope: s.Scope, Have: t.Kind, Want: s.Kind}
		}
	}
	// The destination records the versions it wrote once per group, not
	// once per secret: each record rewrites a marks file that grows with
	// every secret (secrets.Manager.DeferMarks).
	dst.DeferMarks()
	for _, group := range groups(from.Secrets) {
		err := migrate(ctx, src, dst, group, there, &sum, each)
		if ferr := dst.FlushMarks(); err == nil {
			err = ferr
		}
		if err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// groups splits a listing, which is in (project, domain, key) order, into
// runs of at most batch secrets of one scope.
func groups(list []secrets.Secret) [][]secrets.Secret {
	var out [][]secrets.Secret
	for len(list) > 0 {
		n := 1
		for n < len(list) && n < batch && list[n].Scope == list[0].Scope {
			n++
		}
		out = append(out, list[:n])
		list = list[n:]
	}
	return out
}

// migrate copies one group of secrets of one scope.
func migrate(ctx context.Context, src, dst *secrets.Manager, group []secrets.Secret, there map[at]secrets.Secret, sum *Summary, each func(Step)) error {
	s := group[0].Scope
	keys := make([]string, len(group))
	for i, g := range group {
		keys[i] = g.Key
	}
	values, err := read(ctx, src, s, keys)
	var me *secrets.MissingError
	if errors.As(err, &me) { // deleted since it was listed
		return &ChangedError{Key: me.Keys[0], Scope: s}
	}
	if err != nil {
		return fmt.Errorf("source store: %w", err)
	}
	defer drop(values)
	var present []string
	for i, v := range values {
		if v.Scope != s || v.Key != group[i].Key || v.Kind != group[i].Kind {
			return &ChangedError{Key: v.Key, Scope: s}
		}
		if _, ok := there[at{s, v.Key}]; ok {
			present = append(present, v.Key)
		}
	}
	old, err := read(ctx, dst, s, present)
	if err != nil {
		return fmt.Errorf("destination store: %w", err)
	}
	defer drop(old)
	current := map[string]secrets.Resolved{}
	for _, o := range old {
		if o.Scope == s { // else deleted meanwhile, and resolved from a wider scope
			current[o.Key] = o
		}
	}
	wrote := map[string]Step{}
	var order []Step
	for _, v := range values {
		step := Step{Scope: s, Key: v.Key, Kind: v.Kind}
		o, ok := current[v.Key]
		switch {
		case ok && o.Kind != v.Kind:
			return &KindError{Key: v.Key, Scope: s, Have: o.Kind, Want: v.Kind}
		case ok && subtle.ConstantTimeCompare(o.Value, v.Value) == 1:
			step.Outcome, step.Version = Unchanged, o.Version
		case ok:
			w, err := dst.Update(ctx, s, v.Key, v.Kind, v.Value, o.Version)
			if err != nil {
				return fmt.Errorf("destination store: %w", err)
			}
			step.Outcome, step.Version = Updated, w.Version
			wrote[v.Key] = step
		default:
			w, err := dst.Create(ctx, s, v.Key, v.Kind, v.Value)
			if err != nil {
				return fmt.Errorf("destination store: %w", err)
			}
			step.Outcome, step.Version = Created, w.Version
			wrote[v.Key] = step
		}
		order = append(order, step)
	}
	if err := verify(ctx, dst, s, values, wrote); err != nil {
		return err
	}
	for _, step := range order {
		switch step.Outcome {
		case Created:
			sum.Created++
		case Updated:
			sum.Updated++
		default:
			sum.Unchanged++
		}
		each(step)
	}
	return nil
}

// verify reads back, through the destination's manager (which opens each
// value and checks it), every secret written, and compares it with what
// was written.
func verify(ctx context.Context, dst *secrets.Manager, s scope.Scope, values []secrets.Resolved, wrote map[string]Step) error {
	var keys []string
	for _, v := range values {
		if _, ok := wrote[v.Key]; ok {
			keys = append(keys, v.Key)
		}
	}
	back, err := read(ctx, dst, s, keys)
	if err != nil {
		var me *secrets.MissingError
		if errors.As(err, &me) {
			return &VerifyError{Key: me.Keys[0], Scope: s, Reason: "it is not there"}
		}
		return &VerifyError{Key: keys[0], Scope: s, Reason: err.Error()}
	}
	defer drop(back)
	want := map[string]secrets.Resolved{}
	for _, v := range values {
		want[v.Key] = v
	}
	for _, b := range back {
		w, step := want[b.Key], wrote[b.Key]
		switch {
		case b.Scope != s:
			return &VerifyError{Key: b.Key, Scope: s, Reason: "it is not there"}
		case b.Kind != w.Kind:
			return &VerifyError{Key: b.Key, Scope: s, Reason: fmt.Sprintf("it has type %s", b.Kind)}
		case b.Version != step.Version:
			return &VerifyError{Key: b.Key, Scope: s, Reason: fmt.Sprintf("it is at version %d, not %d", b.Version, step.Version)}
		case subtle.ConstantTimeCompare(b.Value, w.Value) != 1:
			return &VerifyError{Key: b.Key, Scope: s, Reason: "its value differs"}
		}
	}
	return nil
}

// read returns the values of keys in scope s, in keys' order, opened and
// checked by m. A task in s's project and domain resolves a key from s
// first when s holds it: the caller checks the scope of each answer.
func read(ctx context.Context, m *secrets.Manager, s scope.Scope, keys []string) ([]secrets.Resolved, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return m.Resolve(ctx, s.Project, s.Domain, keys)
}

// drop clears the values.
func drop(values []secrets.Resolved) {
	for _, v := range values {
		clear(v.Value)
	}
}
