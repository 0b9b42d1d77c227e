package secrets

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
)

// Resolved is a secret as a task in some project and domain sees it: the
// most specific scope that holds its key, and its value.
type Resolved struct {
	Secret
	Value []byte
}

// MissingError says keys a task asked for exist in none of the scopes it
// may read.
type MissingError struct {
	Keys    []string
	Project string
	Domain  string
	Tried   []scope.Scope
}

func (e *MissingError) Error() string {
	where := scope.Scope{Project: e.Project, Domain: e.Domain}.String()
	if where == "organization" {
		where = "the organization"
	}
	tried := make([]string, len(e.Tried))
	for i, s := range e.Tried {
		tried[i] = s.String()
	}
	noun := "secret " + e.Keys[0]
	if len(e.Keys) > 1 {
		noun = "secrets " + strings.Join(e.Keys, ", ")
	}
	return fmt.Sprintf("%s not found for a task in %s (looked in: %s)", noun, where, strings.Join(tried, "; "))
}

// DamagedError says a record a task needs (or an update reads) failed its
// integrity check, has altered version or times, or was rolled back.
// Resolution stops there rather than fall back to a wider scope, which a
// tamperer could otherwise force.
type DamagedError struct {
	Key    string
	Scope  scope.Scope
	Reason string // what the store said, when it found the damage itself
	Err    error  // what flyte found: nil (integrity), version or times altered, or a *RollbackError
}

func (e *DamagedError) Error() string {
	var rb *RollbackError
	switch {
	case e.Reason != "":
		return fmt.Sprintf("secret %s in %s scope is damaged: %s", e.Key, e.Scope, e.Reason)
	case errors.As(e.Err, &rb):
		return fmt.Sprintf("secret %s in %s scope was %s", e.Key, e.Scope, rb)
	case e.Err != nil && e.Err != errIntegrity:
		return fmt.Sprintf("secret %s in %s scope is damaged: %s", e.Key, e.Scope, e.Err)
	}
	return fmt.Sprintf("secret %s in %s scope failed its integrity check (altered, moved or sealed under another key)", e.Key, e.Scope)
}

// Unwrap gives what flyte found, so errors.As finds a *RollbackError.
func (e *DamagedError) Unwrap() error { return e.Err }

// Resolve finds each key for a task in project and domain, most specific
// scope first: (project, domain), (project, -), (-, domain), organization.
// A secret in any other scope is never visible. Each record found must
// open, carry the version and times it sealed, and be no older than the
// newest version of it this machine has seen; the versions it finds are
// then remembered. The caller owns the values and should clear them after
// use.
func (m *Manager) Resolve(ctx context.Context, project, domain string, keys []string) (_ []Resolved, err error) {
	cands := scope.Candidates(m.org, project, domain)
	var out []Resolved
	defer func() {
		if err != nil {
			for _, r := range out {
				clear(r.Value)
			}
		}
	}()
	var missing []string
	var seen []sighting
	sealer, err := m.unlock(ctx, false)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var h *history
	if sealer != nil {
		// Read before the store, so that a version another flyte records
		// meanwhile is never held against this read.
		if h, err = m.history(sealer, true, keys...); err != nil {
			return nil, err
		}
	}
	for _, key := range keys {
		found := false
		for _, s := range cands {
			if sealer == nil {
				break // no data key: the store holds no secret
			}
			var r abi.Record
			err := m.call(ctx, abi.OpGet, &abi.KeyRequest{Scope: abi.Scope(s), Key: key}, &r)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			var se *abi.StatusError
			if errors.As(err, &se) && se.Code == abi.Internal {
				return nil, &DamagedError{Key: key, Scope: s, Reason: se.Message}
			}
			if err != nil {
				return nil, err
			}
			if scope.Scope(r.Scope) != s || r.Key != key {
				return nil, &DamagedError{Key: key, Scope: s}
			}
			v, meta, err := h.open(sealer, &r)
			if err != nil {
				return nil, err
			}
			seen = append(seen, sighting{r.Scope, key, meta})
			out = append(out, Resolved{Secret: toSecret(&r, meta), Value: v})
			found = true
			break
		}
		if !found {
			missing = append(missing, key)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingError{Keys: missing, Project: project, Domain: domain, Tried: cands}
	}
	if h != nil {
		if err := h.remember(seen); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Visible lists, for a task in project and domain, every key it can see
// and the scope each comes from, without values.
func (m *Manager) Visible(ctx context.Context, project, domain string) (ListResult, error) {
	all, err := m.List(ctx, Filter{})
	if err != nil {
		return ListResult{}, err
	}
	rank := map[scope.Scope]int{}
	for i, s := range scope.Candidates(m.org, project, domain) {
		rank[s] = i + 1
	}
	best := map[string]Secret{}
	var order []string
	for _, s := range all.Secrets {
		r := rank[s.Scope]
		if r == 0 {
			continue
		}
		cur, ok := best[s.Key]
		if !ok {
			order = append(order, s.Key)
		}
		if !ok || r < rank[cur.Scope] {
			best[s.Key] = s
		}
	}
	var res ListResult
	for _, d := range all.Damaged {
		if rank[d.Scope] != 0 {
			res.Damaged = append(res.Damaged, d)
		}
	}
	sort.Strings(order)
	for _, k := range order {
		res.Secrets = append(res.Secrets, best[k])
	}
	return res, nil
}
