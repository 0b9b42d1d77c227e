package secrets

import (
	"context"
	"slices"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/scope"
)

// Bounds of a names-only listing (Names). Shell completion shows a screen
// of names, not a store's worth: these keep it small whatever the store
// sends.
const (
	// MaxNames is the most keys, and the most projects, Names returns.
	MaxNames = 1000
	// maxNamePages is the most pages Names asks for.
	maxNamePages = 100
)

// Names are the distinct keys and projects of a names-only listing,
// sorted.
type Names struct {
	Keys     []string
	Projects []string
}

// Names lists the keys and projects in the store's listing of the
// organization that f selects, for shell completion. It never opens or
// verifies a record and never reads the data key, so it needs no identity
// and creates nothing, in the store or on this machine.
//
// The names are the store's word, unverified: only those that pass the
// scope package's validators are returned (never a control character or a
// shell metacharacter), each once, from at most maxNamePages pages; the
// listing stops once MaxNames keys or MaxNames projects are found. Names
// stops at ctx's deadline
// or the store's first error and returns what it has with that error, so a
// caller can use a partial answer.
func (m *Manager) Names(ctx context.Context, f Filter) (Names, error) {
	req := m.listRequest(f)
	keys, projects := map[string]bool{}, map[string]bool{}
	add := func(s abi.Scope, key string) {
		if !req.Matches(s, key) {
			return
		}
		if len(keys) < MaxNames && scope.ValidateKey(key) == nil {
			keys[key] = true
		}
		if len(projects) < MaxNames && s.Project != "" && scope.ValidateProject(s.Project) == nil {
			projects[s.Project] = true
		}
	}
	var err error
	for page := 0; page < maxNamePages; page++ {
		var resp abi.ListResponse
		if err = m.call(ctx, abi.OpList, &req, &resp); err != nil {
			break
		}
		for _, r := range resp.Records {
			add(r.Scope, r.Key)
		}
		// A damaged record still has a name: deleting it is how it goes.
		for _, d := range resp.Damaged {
			add(d.Scope, d.Key)
		}
		full := len(keys) == MaxNames || len(projects) == MaxNames
		if resp.NextPageToken == "" || resp.NextPageToken == req.PageToken || full {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	return Names{Keys: sorted(keys), Projects: sorted(projects)}, err
}

func sorted(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for s := range set {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}
