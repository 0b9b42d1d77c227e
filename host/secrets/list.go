package secrets

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// Bounds of one whole listing, whatever the store sends (abi/SPEC.md,
// section 6). A listing keeps every entry until it is verified, so these
// bound flyte's memory: a store that sends endless pages of big records
// stops at 512 MiB kept, about 0.9 GB of peak memory (measured), where it
// used to take flyte past 4 GB. They still let a store of 100,000 secrets
// list: ten times that many entries, and an average of 5 KiB sealed per
// secret (a password or token seals to under 200 bytes, a PEM certificate
// to about 2 KiB). 10,000 secrets list in about 1.2 s (docs/PERFORMANCE.md),
// so 100,000 take a tenth of the time budget.
var (
	// maxListEntries bounds the records and damaged entries a listing
	// receives, kept or not.
	maxListEntries = 1_000_000
	// maxListBytes bounds what a listing keeps: sealed values, names and
	// a fixed cost per entry.
	maxListBytes = 512 << 20
	// listBudget is how many times a store's call timeout a whole listing
	// may take: 2 minutes with the default 5 s. A network store that needs
	// longer for each page gets longer for the whole, by raising timeout.
	listBudget = 24
)

// entryCost is what an entry costs beyond its names and value: the
// structures that hold it.
const entryCost = 128

// callTimeout is implemented by stores that bound each call (*plugin.Plugin).
type callTimeout interface{ CallTimeout() time.Duration }

// position is a place in a listing's order: project, domain, key, with ""
// first (plain byte order).
type position struct{ project, domain, key string }

func positionOf(s abi.Scope, key string) position { return position{s.Project, s.Domain, key} }

func (a position) compare(b position) int {
	switch {
	case a.project != b.project:
		return cmpString(a.project, b.project)
	case a.domain != b.domain:
		return cmpString(a.domain, b.domain)
	}
	return cmpString(a.key, b.key)
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String names the entry as errors do, sanitised: names come from the store.
func (a position) String() string {
	d := damaged(abi.Scope{Project: a.project, Domain: a.domain}, a.key, "")
	return "secret " + d.Key + " in " + d.Scope.String() + " scope"
}

// listAll pages through the store's listing for req and returns the
// records that match it (their sealed values copied out of the pages) and
// the damaged entries that match it, in Damaged.
//
// The store must send its whole listing, records and damaged entries
// together, in strictly increasing (project, domain, key) order across
// pages: that refuses a record listed twice and a listing that loops, in
// constant memory. The listing is also bounded in entries, bytes kept and
// total time (see maxListEntries, maxListBytes, listBudget).
func (m *Manager) listAll(ctx context.Context, req *abi.ListRequest) (ListResult, []abi.Record, error) {
	timeout := plugin.DefaultTimeout
	if t, ok := m.store.(callTimeout); ok && t.CallTimeout() > 0 {
		timeout = t.CallTimeout()
	}
	budget := time.Duration(listBudget) * timeout
	lctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()

	var (
		res     ListResult
		records []abi.Record
		last    *position
		entries int
		kept    int
		chunk   []byte // where sealed values are copied to
	)
	// next admits the next entry of the merged page order.
	next := func(p position) error {
		if last != nil {
			switch c := p.compare(*last); {
			case c == 0:
				return errors.New("store listed " + p.String() + " twice")
			case c < 0:
				return errors.New("store sent its listing out of order: " + p.String() + " after " + last.String())
			}
		}
		last = &p
		return nil
	}
	for page := 0; ; page++ {
		if page == maxListEntries {
			return ListResult{}, nil, errors.New("store's listing did not finish after " + strconv.Itoa(page) + " pages")
		}
		var resp abi.ListResponse
		if err := m.call(lctx, abi.OpList, req, &resp); err != nil {
			if lctx.Err() != nil && ctx.Err() == nil {
				return ListResult{}, nil, fmt.Errorf("store's listing did not finish within %v (%d times its %v call timeout)", budget, listBudget, timeout)
			}
			return ListResult{}, nil, err
		}
		entries += len(resp.Records) + len(resp.Damaged)
		if entries > maxListEntries {
			return ListResult{}, nil, errors.New("store's listing exceeded " + strconv.Itoa(maxListEntries) + " entries")
		}
		// Records and damaged entries are two sorted lists of one order:
		// merge them, keeping those that match the request.
		rs, ds := resp.Records, resp.Damaged
		for len(rs) > 0 || len(ds) > 0 {
			takeRecord := len(ds) == 0
			if len(rs) > 0 && len(ds) > 0 {
				takeRecord = positionOf(rs[0].Scope, rs[0].Key).compare(positionOf(ds[0].Scope, ds[0].Key)) <= 0
			}
			if takeRecord {
				r := rs[0]
				rs = rs[1:]
				if !req.Matches(r.Scope, r.Key) {
					continue
				}
				if err := next(positionOf(r.Scope, r.Key)); err != nil {
					return ListResult{}, nil, err
				}
				// Sealed points into the page; a copy lets the page go.
				// Copies are cut from chunks: one allocation per MiB, not
				// per record (100,000 of them in a large store).
				if cap(chunk)-len(chunk) < len(r.Sealed) {
					chunk = make([]byte, 0, max(1<<20, len(r.Sealed)))
				}
				at := len(chunk)
				chunk = append(chunk, r.Sealed...)
				r.Sealed = chunk[at:len(chunk):len(chunk)]
				kept += entryCost + len(r.Sealed) + len(r.Key) + len(r.Scope.Org) + len(r.Scope.Project) + len(r.Scope.Domain)
				records = append(records, r)
			} else {
				d := ds[0]
				ds = ds[1:]
				if !req.Matches(d.Scope, d.Key) {
					continue
				}
				if err := next(positionOf(d.Scope, d.Key)); err != nil {
					return ListResult{}, nil, err
				}
				e := damaged(d.Scope, d.Key, sanitize.Text(d.Reason))
				kept += entryCost + len(e.Key) + len(e.Reason) + len(e.Scope.Org) + len(e.Scope.Project) + len(e.Scope.Domain)
				res.Damaged = append(res.Damaged, e)
			}
			if kept > maxListBytes {
				return ListResult{}, nil, fmt.Errorf("store's listing exceeded %d bytes (%s)", maxListBytes, sizeName(maxListBytes))
			}
		}
		if resp.NextPageToken == "" {
			return res, records, nil
		}
		if resp.NextPageToken == req.PageToken {
			return ListResult{}, nil, errors.New("store repeated a page of its listing")
		}
		req.PageToken = resp.NextPageToken
	}
}

func sizeName(n int) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return strconv.Itoa(n>>30) + " GiB"
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	}
	return strconv.Itoa(n) + " bytes"
}
