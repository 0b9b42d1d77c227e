package conformance

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// The checks of ABI 1.3 (abi/SPEC.md section 6): fenced writes,
// compare-and-set and deletion of meta values, COMPACT and listings of
// every organization. The host sends none of these to a store that
// declares an older minor, so such a store skips them.

// fenced says whether the store is sent the 1.3 things, and why not.
func (s *storeSuite) fenced() error {
	if s.info.Minor < abi.MinorFence {
		return skip(fmt.Sprintf("declares ABI minor %d; guards, META_DELETE, COMPACT and all_orgs are sent only to minor %d and later", s.info.Minor, abi.MinorFence))
	}
	return s.writable()
}

// metaSet puts meta value name (tracked for the clean-up).
func (s *storeSuite) metaSet(ctx context.Context, name string, v []byte) error {
	s.trackMeta(name)
	if err := call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: v}, &abi.MetaResponse{}); err != nil {
		return want("META_PUT of "+name, err, abi.OK)
	}
	return nil
}

// metaAbsent checks that meta value name is absent.
func (s *storeSuite) metaAbsent(ctx context.Context, name, after string) error {
	err := call(ctx, s.p, abi.OpMetaGet, &abi.MetaRequest{Name: name}, &abi.MetaResponse{})
	return want("META_GET of "+name+" after "+after, err, abi.NotFound)
}

func (s *storeSuite) guarded(ctx context.Context) error {
	if err := s.fenced(); err != nil {
		return err
	}
	name := s.metaName + "_guard"
	value := []byte("guard value\x00\xff")
	if err := s.metaSet(ctx, name, value); err != nil {
		return err
	}
	bad := []struct {
		what string
		g    abi.Guard
	}{
		{"a different value of " + name, abi.Guard{Name: name, Value: []byte("another value")}},
		{"a prefix of the value of " + name, abi.Guard{Name: name, Value: value[:4]}},
		{"the absent meta value " + name + "_absent", abi.Guard{Name: name + "_absent", Value: value}},
	}
	// CREATE: refused by every bad guard, nothing written; then applied.
	r := record(s.orgMain, "", "", "guarded", 60, 40)
	s.track(r.Scope, r.Key)
	for _, b := range bad {
		g := b.g
		err := call(ctx, s.p, abi.OpCreate, &abi.WriteRequest{Record: r, Guard: &g}, &abi.Record{})
		if err := want("CREATE of "+where(r.Scope, r.Key)+" guarded by "+b.what, err, abi.Conflict); err != nil {
			return err
		}
		if err := s.missing(ctx, "after a CREATE guarded by "+b.what, r); err != nil {
			return err
		}
	}
	var got abi.Record
	what := "CREATE of " + where(r.Scope, r.Key) + " guarded by the value of " + name
	if err := call(ctx, s.p, abi.OpCreate, &abi.WriteRequest{Record: r, Guard: &abi.Guard{Name: name, Value: value}}, &got); err != nil {
		return want(what, err, abi.OK)
	}
	if err := same(what, &got, &r, 1, r.Created); err != nil {
		return err
	}
	// UPDATE: refused by every bad guard, the record unchanged; then applied.
	u := updated(r, 61, t0+1)
	for _, b := range bad {
		g := b.g
		err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1, Guard: &g}, &abi.Record{})
		if err := want("UPDATE of "+where(u.Scope, u.Key)+" guarded by "+b.what, err, abi.Conflict); err != nil {
			return err
		}
		if err := s.fetch(ctx, r, 1, r.Created); err != nil {
			return fmt.Errorf("after an UPDATE guarded by %s: %w", b.what, err)
		}
	}
	what = "UPDATE of " + where(u.Scope, u.Key) + " guarded by the value of " + name
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1, Guard: &abi.Guard{Name: name, Value: value}}, &got); err != nil {
		return want(what, err, abi.OK)
	}
	if err := same(what, &got, &u, 2, r.Created); err != nil {
		return err
	}
	return s.fetch(ctx, u, 2, r.Created)
}

func (s *storeSuite) metaSwap(ctx context.Context) error {
	if err := s.fenced(); err != nil {
		return err
	}
	name := s.metaName + "_swap"
	one, two, three := []byte("one"), []byte("two"), []byte("three")
	s.trackMeta(name)
	swap := func(v, expected []byte) error {
		return call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: v, Expected: expected, HasExpected: true}, &abi.MetaResponse{})
	}
	if err := want("META_PUT of "+name+" (absent) with an expected value", swap(one, two), abi.NotFound); err != nil {
		return err
	}
	if err := s.metaAbsent(ctx, name, "a refused META_PUT"); err != nil {
		return err
	}
	err := call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: one, CreateOnly: true, HasExpected: true}, &abi.MetaResponse{})
	if err := want("META_PUT of "+name+" with both create_only and an expected value", err, abi.InvalidArgument); err != nil {
		return err
	}
	if err := s.metaSet(ctx, name, one); err != nil {
		return err
	}
	if err := want("META_PUT of "+name+" expecting a different value", swap(three, two), abi.Conflict); err != nil {
		return err
	}
	if err := s.metaIs(ctx, name, one); err != nil {
		return fmt.Errorf("after a refused META_PUT: %w", err)
	}
	var resp abi.MetaResponse
	what := "META_PUT of " + name + " expecting the stored value"
	if err := call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: three, Expected: one, HasExpected: true}, &resp); err != nil {
		return want(what, err, abi.OK)
	}
	if !bytes.Equal(resp.Value, three) {
		return fmt.Errorf("%s answered a value of %d bytes that is not the value put (%d bytes)", what, len(resp.Value), len(three))
	}
	return s.metaIs(ctx, name, three)
}

func (s *storeSuite) metaDelete(ctx context.Context) error {
	if err := s.fenced(); err != nil {
		return err
	}
	name := s.metaName + "_delete"
	del := func(expected []byte, has bool) error {
		return call(ctx, s.p, abi.OpMetaDelete, &abi.MetaRequest{Name: name, Expected: expected, HasExpected: has}, nil)
	}
	if err := want("META_DELETE of "+name+" (absent)", del(nil, false), abi.NotFound); err != nil {
		return err
	}
	if err := s.metaSet(ctx, name, []byte("x")); err != nil {
		return err
	}
	if err := want("META_DELETE of "+name+" expecting a different value", del([]byte("y"), true), abi.Conflict); err != nil {
		return err
	}
	if err := s.metaIs(ctx, name, []byte("x")); err != nil {
		return fmt.Errorf("after a refused META_DELETE: %w", err)
	}
	if err := want("META_DELETE of "+name+" expecting the stored value", del([]byte("x"), true), abi.OK); err != nil {
		return err
	}
	if err := s.metaAbsent(ctx, name, "META_DELETE"); err != nil {
		return err
	}
	if err := want("META_DELETE of "+name+" again", del(nil, false), abi.NotFound); err != nil {
		return err
	}
	if err := s.metaSet(ctx, name, []byte("z")); err != nil {
		return err
	}
	if err := want("META_DELETE of "+name+" with no expected value", del(nil, false), abi.OK); err != nil {
		return err
	}
	return s.metaAbsent(ctx, name, "META_DELETE")
}

// compact sends COMPACT (optional: UNIMPLEMENTED when the store keeps no
// history) and checks that current values are still read after it.
func (s *storeSuite) compact(ctx context.Context) error {
	if err := s.fenced(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "compact", 70, 50)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	u := updated(r, 71, t0+1)
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1}, &abi.Record{}); err != nil {
		return want("UPDATE of "+where(u.Scope, u.Key), err, abi.OK)
	}
	name := s.metaName + "_compact"
	if err := s.metaSet(ctx, name, []byte("before")); err != nil {
		return err
	}
	if err := s.metaSet(ctx, name, []byte("after")); err != nil {
		return err
	}
	err := callRaw(ctx, s.p, abi.OpCompact, nil, nil)
	if st, ok := status(err); !ok || st != abi.OK && st != abi.Unimplemented {
		return fmt.Errorf("COMPACT answered %s; want ok, or unimplemented for a store that keeps no history", answered(err))
	}
	if err := s.fetch(ctx, u, 2, r.Created); err != nil {
		return fmt.Errorf("after COMPACT: %w", err)
	}
	if err := s.metaIs(ctx, name, []byte("after")); err != nil {
		return fmt.Errorf("after COMPACT: %w", err)
	}
	return nil
}

// allOrgs lists the records of one key in the run's two organizations
// for it, with all_orgs (every organization of the store, the key filter
// keeping only the run's), whole and in pages of 1.
func (s *storeSuite) allOrgs(ctx context.Context) error {
	if err := s.fenced(); err != nil {
		return err
	}
	key := "all-orgs-" + s.metaName[len(metaPrefix):]
	var exp []abi.Record
	for i, sc := range []abi.Scope{{Org: s.orgAll}, {Org: s.orgAll, Project: "p"}, {Org: s.orgAll, Project: "p", Domain: "d"}, {Org: s.orgAll2}, {Org: s.orgAll2, Domain: "d"}} {
		r := record(sc.Org, sc.Project, sc.Domain, key, byte(80+i), 30)
		if err := s.put(ctx, r); err != nil {
			return err
		}
		exp = append(exp, r)
	}
	for _, limit := range []uint32{0, 1, 2} {
		req := abi.ListRequest{AllOrgs: true, Org: s.orgEmpty, Key: key, Limit: limit}
		list := "LIST (all_orgs, key=" + strconv.Quote(key) + ", limit=" + strconv.Itoa(int(limit)) + ")"
		var got []abi.Record
		for page := 1; ; page++ {
			if page > maxPages {
				return fmt.Errorf("%s did not end within %d pages; want an empty next_page_token on the last page", list, maxPages)
			}
			var resp abi.ListResponse
			if err := call(ctx, s.p, abi.OpList, &req, &resp); err != nil {
				return want(fmt.Sprintf("%s (page %d)", list, page), err, abi.OK)
			}
			if len(resp.Damaged) > 0 {
				d := resp.Damaged[0]
				return fmt.Errorf("%s reported %s/%s as damaged; want the record the suite wrote", list, sanitize.Text(d.Scope.Org), where(d.Scope, sanitize.Text(d.Key)))
			}
			if limit > 0 && len(resp.Records) > int(limit) {
				return fmt.Errorf("%s answered a page of %d entries; want at most %d", list, len(resp.Records), limit)
			}
			got = append(got, resp.Records...)
			if len(got) > len(exp) {
				break
			}
			if resp.NextPageToken == "" {
				break
			}
			req.PageToken = resp.NextPageToken
		}
		if len(got) != len(exp) {
			return fmt.Errorf("%s answered %d records; want the %d the suite wrote in organizations %s and %s", list, len(got), len(exp), s.orgAll, s.orgAll2)
		}
		for i := range exp {
			g := &got[i]
			if g.Scope != exp[i].Scope || g.Key != exp[i].Key {
				return fmt.Errorf("%s answered %s/%s as entry %d; want %s/%s (order: organization, project, domain, key)", list,
					sanitize.Text(g.Scope.Org), where(g.Scope, sanitize.Text(g.Key)), i+1, exp[i].Scope.Org, where(exp[i].Scope, key))
			}
			if err := same(list, g, &exp[i], 1, exp[i].Created); err != nil {
				return err
			}
		}
	}
	return nil
}
