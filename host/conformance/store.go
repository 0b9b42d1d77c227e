package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/host/plugin"
	"github.com/flytesecrets/flyte/host/sanitize"
)

// orgPrefix and metaPrefix begin the names one run writes to: an
// organization conformance-<8 hex> (and conformance-<8 hex>-list, -other,
// ... for groups of checks) and meta values conformance_meta_<8 hex>...
const (
	orgPrefix  = "conformance-"
	metaPrefix = "conformance_meta_"
)

// t0 is the creation time the suite stamps (Unix nanoseconds).
const t0 = int64(1_700_000_000_000_000_000)

// maxPages bounds a listing the suite follows.
const maxPages = 1000

type storeSuite struct {
	p        Caller
	info     abi.Describe
	dir      string
	readOnly bool

	// The names of this run: organizations and a meta name.
	orgMain, orgList, orgOther, orgEmpty, orgJunk, metaName string
	orgAll, orgAll2                                         string // all_orgs listings (1.3)
	listSet                                                 []abi.Record

	// What this run may have written, for cleanUp.
	wrote []abi.KeyRequest
	metas []string
	orgs  []string
}

func newStoreSuite(p Caller, info abi.Describe, o Options) *storeSuite {
	id := runID()
	org := orgPrefix + id
	s := &storeSuite{p: p, info: info, dir: o.Dir, orgMain: org, orgList: org + "-list", orgOther: org + "-other",
		orgEmpty: org + "-empty", orgJunk: org + "-junk", metaName: metaPrefix + id, orgAll: org + "-all-a", orgAll2: org + "-all-b"}
	s.orgs = []string{s.orgMain, s.orgList, s.orgOther, s.orgOther + "2", s.orgJunk, s.orgAll, s.orgAll2}
	s.listSet = makeListSet(s.orgList)
	return s
}

// track notes a record this run may have written.
func (s *storeSuite) track(sc abi.Scope, key string) {
	for _, w := range s.wrote {
		if w.Scope == sc && w.Key == key {
			return
		}
	}
	s.wrote = append(s.wrote, abi.KeyRequest{Scope: sc, Key: key})
}

// trackMeta notes a meta value this run may have written.
func (s *storeSuite) trackMeta(name string) {
	if !slices.Contains(s.metas, name) {
		s.metas = append(s.metas, name)
	}
}

// Store runs the store suite on p, granted o.Dir.
func Store(ctx context.Context, p *plugin.Plugin, o Options) []Result {
	return StoreOf(ctx, p, p.Info, o)
}

// StoreOf runs the store suite on any Caller that describes itself as info.
func StoreOf(ctx context.Context, p Caller, info abi.Describe, o Options) []Result {
	s := newStoreSuite(p, info, o)
	rs := runChecks(ctx, []check{
		{"describe", s.describe},
		{"create", s.create},
		{"create an existing key", s.createExisting},
		{"get", s.get},
		{"get a missing key", s.getMissing},
		{"update", s.update},
		{"update with a stale version (compare-and-set)", s.updateConflict},
		{"update with any version", s.updateAny},
		{"update a missing key", s.updateMissing},
		{"delete with a stale version (compare-and-set)", s.deleteConflict},
		{"delete", s.delete},
		{"delete a missing key", s.deleteMissing},
		{"create after delete", s.createAfterDelete},
		{"kind file", s.kindFile},
		{"kind image_pull", s.kindImagePull},
		{"sealed bytes are opaque", s.opaque},
		{"a 1 MiB value", s.large},
		{"a 128-character key", s.longKey},
		{"list order", s.listOrder},
		{"list pages of 1", func(ctx context.Context) error { return s.listPaged(ctx, 1) }},
		{"list pages of 2", func(ctx context.Context) error { return s.listPaged(ctx, 2) }},
		{"list pages of 3", func(ctx context.Context) error { return s.listPaged(ctx, 3) }},
		{"list filters", s.listFilters},
		{"list an empty organization", s.listEmpty},
		{"scope isolation", s.isolation},
		{"meta get a missing value", s.metaMissing},
		{"meta put and get", s.metaPut},
		{"meta put create_only keeps the value", s.metaCreateOnly},
		{"meta put replaces the value", s.metaReplace},
		{"guarded create and update (1.3)", s.guarded},
		{"meta put with an expected value (1.3)", s.metaSwap},
		{"meta delete (1.3)", s.metaDelete},
		{"compact (1.3)", s.compact},
		{"list every organization (1.3)", s.allOrgs},
		{"unknown op", s.unknownOp},
		{"malformed request", s.malformedRequest},
		{"records it cannot read", s.unreadable},
	})
	if s.readOnly {
		return rs // it wrote nothing
	}
	return append(rs, s.cleanUp(ctx))
}

func (s *storeSuite) describe(context.Context) error {
	if s.info.Kind != abi.KindStore {
		return fmt.Errorf("describes itself as %s, not a store plugin", plugin.KindPhrase(s.info.Kind))
	}
	var missing []string
	for op := abi.OpCreate; op <= abi.OpMetaPut; op++ {
		if !slices.Contains(s.info.Ops, op) {
			missing = append(missing, OpName(op))
		}
	}
	if s.info.Minor >= abi.MinorFence && !slices.Contains(s.info.Ops, abi.OpMetaDelete) {
		missing = append(missing, OpName(abi.OpMetaDelete)+" (required from minor 3)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("its description does not list op %s", strings.Join(missing, ", "))
	}
	if s.info.Minor > abi.Minor {
		return fmt.Errorf("declares ABI minor %d, newer than this host's %d", s.info.Minor, abi.Minor)
	}
	return nil
}

// record builds a record as the host would send it, with a sealed value
// of its own (n bytes, derived from the key and tag).
func record(org, project, domain, key string, tag byte, n int) abi.Record {
	sealed := make([]byte, n)
	for i := range sealed {
		sealed[i] = byte(i*31) ^ tag ^ byte(len(key)+len(project)*3+len(domain)*7)
	}
	return abi.Record{Scope: abi.Scope{Org: org, Project: project, Domain: domain}, Key: key, Kind: abi.SecretString,
		Created: t0, Updated: t0, Sealed: sealed}
}

func keyReq(r *abi.Record, expected uint64) *abi.KeyRequest {
	return &abi.KeyRequest{Scope: r.Scope, Key: r.Key, ExpectedVersion: expected}
}

// where names a record's place in messages.
func where(sc abi.Scope, key string) string {
	return strconv.Quote(sc.Project) + "/" + strconv.Quote(sc.Domain) + "/" + strconv.Quote(key)
}

// same says how got differs from want, which has the given version and
// created time.
func same(what string, got, want *abi.Record, version uint64, created int64) error {
	switch {
	case got.Scope != want.Scope || got.Key != want.Key:
		return fmt.Errorf("%s answered the record of %s, not of %s", what, where(got.Scope, sanitize.Text(got.Key)), where(want.Scope, want.Key))
	case got.Kind != want.Kind:
		return fmt.Errorf("%s answered kind %d; want %d (kept as written)", what, got.Kind, want.Kind)
	case got.Version != version:
		return fmt.Errorf("%s answered version %d; want %d", what, got.Version, version)
	case got.Created != created:
		return fmt.Errorf("%s answered created %d; want %d (kept from the first version)", what, got.Created, created)
	case got.Updated != want.Updated:
		return fmt.Errorf("%s answered updated %d; want %d (as written)", what, got.Updated, want.Updated)
	case !bytes.Equal(got.Sealed, want.Sealed):
		return fmt.Errorf("%s answered a sealed value of %d bytes that differs from the %d bytes written", what, len(got.Sealed), len(want.Sealed))
	}
	return nil
}

// create creates r and checks the answer.
func (s *storeSuite) put(ctx context.Context, r abi.Record) error {
	var got abi.Record
	s.track(r.Scope, r.Key)
	err := call(ctx, s.p, abi.OpCreate, &abi.WriteRequest{Record: r}, &got)
	what := "CREATE of " + where(r.Scope, r.Key)
	if err != nil {
		return want(what, err, abi.OK)
	}
	return same(what, &got, &r, 1, r.Created)
}

// fetch gets r's key and checks the answer against r.
func (s *storeSuite) fetch(ctx context.Context, r abi.Record, version uint64, created int64) error {
	var got abi.Record
	what := "GET of " + where(r.Scope, r.Key)
	if err := call(ctx, s.p, abi.OpGet, keyReq(&r, 0), &got); err != nil {
		return want(what, err, abi.OK)
	}
	return same(what, &got, &r, version, created)
}

func (s *storeSuite) missing(ctx context.Context, what string, r abi.Record) error {
	err := call(ctx, s.p, abi.OpGet, keyReq(&r, 0), &abi.Record{})
	if err := want("GET of "+where(r.Scope, r.Key)+" "+what, err, abi.NotFound); err != nil {
		return err
	}
	return nil
}

func (s *storeSuite) writable() error {
	if s.readOnly {
		return skip("a read-only store (CREATE answered permission denied)")
	}
	return nil
}

func (s *storeSuite) create(ctx context.Context) error {
	r := record(s.orgMain, "", "", "create", 1, 40)
	var got abi.Record
	s.track(r.Scope, r.Key)
	err := call(ctx, s.p, abi.OpCreate, &abi.WriteRequest{Record: r}, &got)
	if st, ok := status(err); ok && st == abi.PermissionDenied {
		s.readOnly = true
		return s.writable()
	}
	if err != nil {
		return want("CREATE of "+where(r.Scope, r.Key), err, abi.OK)
	}
	if err := same("CREATE of "+where(r.Scope, r.Key), &got, &r, 1, r.Created); err != nil {
		return err
	}
	return s.fetch(ctx, r, 1, r.Created)
}

func (s *storeSuite) createExisting(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "create-existing", 2, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	again := record(s.orgMain, "", "", "create-existing", 3, 40)
	again.Created, again.Updated = t0+5, t0+5
	err := call(ctx, s.p, abi.OpCreate, &abi.WriteRequest{Record: again}, &abi.Record{})
	if err := want("CREATE of an existing key "+where(r.Scope, r.Key), err, abi.AlreadyExists); err != nil {
		return err
	}
	if err := s.fetch(ctx, r, 1, r.Created); err != nil {
		return fmt.Errorf("after a refused CREATE: %w", err)
	}
	return nil
}

func (s *storeSuite) get(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "proj", "development", "get", 4, 100)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	return s.fetch(ctx, r, 1, r.Created)
}

func (s *storeSuite) getMissing(ctx context.Context) error {
	return s.missing(ctx, "of a key never written", record(s.orgMain, "proj", "", "never-written", 0, 0))
}

// updated returns r as the host would send its next version.
func updated(r abi.Record, tag byte, at int64) abi.Record {
	u := record(r.Scope.Org, r.Scope.Project, r.Scope.Domain, r.Key, tag, len(r.Sealed)+3)
	u.Kind, u.Created, u.Updated = r.Kind, at, at // the host sends its own time; the store keeps the first
	return u
}

func (s *storeSuite) update(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "update", 5, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	u := updated(r, 6, t0+100)
	var got abi.Record
	what := "UPDATE of " + where(u.Scope, u.Key) + " expecting version 1"
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1}, &got); err != nil {
		return want(what, err, abi.OK)
	}
	if err := same(what, &got, &u, 2, r.Created); err != nil {
		return err
	}
	return s.fetch(ctx, u, 2, r.Created)
}

func (s *storeSuite) updateConflict(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "update-conflict", 7, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	u := updated(r, 8, t0+100)
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1}, &abi.Record{}); err != nil {
		return want("UPDATE of "+where(u.Scope, u.Key)+" expecting version 1", err, abi.OK)
	}
	stale := updated(r, 9, t0+200)
	err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: stale, ExpectedVersion: 1}, &abi.Record{})
	if err := want("UPDATE of "+where(u.Scope, u.Key)+" expecting version 1, now version 2,", err, abi.Conflict); err != nil {
		return err
	}
	if err := s.fetch(ctx, u, 2, r.Created); err != nil {
		return fmt.Errorf("after a refused UPDATE: %w", err)
	}
	return nil
}

func (s *storeSuite) updateAny(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "update-any", 10, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	cur := r
	for v := uint64(2); v <= 3; v++ {
		u := updated(cur, byte(10+v), t0+int64(v)*100)
		var got abi.Record
		what := fmt.Sprintf("UPDATE of %s (version %d) with expected_version 0", where(u.Scope, u.Key), v-1)
		if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u}, &got); err != nil {
			return want(what, err, abi.OK)
		}
		if err := same(what, &got, &u, v, r.Created); err != nil {
			return err
		}
		cur = u
	}
	return s.fetch(ctx, cur, 3, r.Created)
}

func (s *storeSuite) updateMissing(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "update-missing", 13, 40)
	s.track(r.Scope, r.Key)
	err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: r}, &abi.Record{})
	if err := want("UPDATE of a missing key "+where(r.Scope, r.Key), err, abi.NotFound); err != nil {
		return err
	}
	if err := s.missing(ctx, "after UPDATE of a missing key", r); err != nil {
		return fmt.Errorf("%w (UPDATE must not create)", err)
	}
	return nil
}

func (s *storeSuite) deleteConflict(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "delete-conflict", 14, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	err := call(ctx, s.p, abi.OpDelete, keyReq(&r, 2), nil)
	if err := want("DELETE of "+where(r.Scope, r.Key)+" expecting version 2, at version 1,", err, abi.Conflict); err != nil {
		return err
	}
	if err := s.fetch(ctx, r, 1, r.Created); err != nil {
		return fmt.Errorf("after a refused DELETE: %w", err)
	}
	return nil
}

func (s *storeSuite) delete(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	for _, expected := range []uint64{0, 1} {
		r := record(s.orgMain, "", "", "delete-"+strconv.FormatUint(expected, 10), 15, 40)
		if err := s.put(ctx, r); err != nil {
			return err
		}
		what := fmt.Sprintf("DELETE of %s with expected_version %d", where(r.Scope, r.Key), expected)
		if err := want(what, call(ctx, s.p, abi.OpDelete, keyReq(&r, expected), nil), abi.OK); err != nil {
			return err
		}
		if err := s.missing(ctx, "after "+what, r); err != nil {
			return err
		}
	}
	return nil
}

func (s *storeSuite) deleteMissing(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "delete-missing", 16, 40)
	if err := want("DELETE of a missing key "+where(r.Scope, r.Key), call(ctx, s.p, abi.OpDelete, keyReq(&r, 0), nil), abi.NotFound); err != nil {
		return err
	}
	return want("DELETE of a missing key "+where(r.Scope, r.Key)+" expecting version 1", call(ctx, s.p, abi.OpDelete, keyReq(&r, 1), nil), abi.NotFound)
}

func (s *storeSuite) createAfterDelete(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	r := record(s.orgMain, "", "", "recreate", 17, 40)
	if err := s.put(ctx, r); err != nil {
		return err
	}
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: updated(r, 18, t0+100)}, &abi.Record{}); err != nil {
		return want("UPDATE of "+where(r.Scope, r.Key), err, abi.OK)
	}
	if err := want("DELETE of "+where(r.Scope, r.Key), call(ctx, s.p, abi.OpDelete, keyReq(&r, 0), nil), abi.OK); err != nil {
		return err
	}
	again := record(s.orgMain, "", "", "recreate", 19, 50)
	again.Created, again.Updated = t0+300, t0+300
	if err := s.put(ctx, again); err != nil {
		return fmt.Errorf("after DELETE: %w", err)
	}
	return s.fetch(ctx, again, 1, again.Created)
}

func (s *storeSuite) roundTrip(ctx context.Context, r abi.Record) error {
	if err := s.writable(); err != nil {
		return err
	}
	if err := s.put(ctx, r); err != nil {
		return err
	}
	if err := s.fetch(ctx, r, 1, r.Created); err != nil {
		return err
	}
	return s.listed(ctx, r)
}

// listed checks that a listing of r's key finds r as written.
func (s *storeSuite) listed(ctx context.Context, r abi.Record) error {
	req := abi.ListRequest{Org: r.Scope.Org, Project: r.Scope.Project, HasProject: true, Domain: r.Scope.Domain, HasDomain: true, Key: r.Key}
	l, err := s.listAll(ctx, req)
	if err != nil {
		return err
	}
	if len(l.records) != 1 {
		return fmt.Errorf("LIST of the one key %s answered %d records and %d damaged; want 1 record", where(r.Scope, r.Key), len(l.records), len(l.damaged))
	}
	return same("LIST of the one key "+where(r.Scope, r.Key), &l.records[0], &r, 1, r.Created)
}

func (s *storeSuite) kindFile(ctx context.Context) error {
	r := record(s.orgMain, "", "", "kind-file", 20, 64)
	r.Kind = abi.SecretFile
	return s.roundTrip(ctx, r)
}

func (s *storeSuite) kindImagePull(ctx context.Context) error {
	if s.info.Minor < abi.MinorImagePull {
		return skip(fmt.Sprintf("declares ABI minor %d; kind 3 is sent only to minor %d and later", s.info.Minor, abi.MinorImagePull))
	}
	r := record(s.orgMain, "", "", "kind-image-pull", 21, 64)
	r.Kind = abi.SecretImagePull
	return s.roundTrip(ctx, r)
}

func (s *storeSuite) opaque(ctx context.Context) error {
	r := record(s.orgMain, "", "", "opaque", 0, 0)
	for i := range 3 {
		for b := range 256 {
			r.Sealed = append(r.Sealed, byte(b+i))
		}
	}
	r.Sealed = append(r.Sealed, 0, 0, 0, '\n', '\r', 0)
	return s.roundTrip(ctx, r)
}

func (s *storeSuite) large(ctx context.Context) error {
	return s.roundTrip(ctx, record(s.orgMain, "", "", "large", 22, 1<<20))
}

func (s *storeSuite) longKey(ctx context.Context) error {
	return s.roundTrip(ctx, record(s.orgMain, "", "", strings.Repeat("k", 127)+"K", 23, 32))
}

// listing is what a followed listing found.
type listing struct {
	records []abi.Record
	damaged []abi.Damaged
	pages   int
}

type pos struct{ project, domain, key string }

func (a pos) less(b pos) bool {
	if a.project != b.project {
		return a.project < b.project
	}
	if a.domain != b.domain {
		return a.domain < b.domain
	}
	return a.key < b.key
}

func (a pos) String() string {
	return strconv.Quote(sanitize.Text(a.project)) + "/" + strconv.Quote(sanitize.Text(a.domain)) + "/" + strconv.Quote(sanitize.Text(a.key))
}

// listAll follows a listing to its end, checking the rules every listing
// keeps: page size, strictly increasing order within and across pages (so
// no duplicates), and a token that ends.
func (s *storeSuite) listAll(ctx context.Context, req abi.ListRequest) (*listing, error) {
	l := &listing{}
	var last *pos
	list := "LIST " + filterName(req)
	for {
		if l.pages == maxPages {
			return nil, fmt.Errorf("%s did not end within %d pages; want an empty next_page_token on the last page", list, maxPages)
		}
		var resp abi.ListResponse
		if err := call(ctx, s.p, abi.OpList, &req, &resp); err != nil {
			return nil, want(fmt.Sprintf("%s (page %d)", list, l.pages+1), err, abi.OK)
		}
		l.pages++
		n := len(resp.Records) + len(resp.Damaged)
		if req.Limit > 0 && n > int(req.Limit) {
			return nil, fmt.Errorf("%s answered a page of %d entries; want at most %d", list, n, req.Limit)
		}
		var page []pos
		for _, r := range resp.Records {
			page = append(page, pos{r.Scope.Project, r.Scope.Domain, r.Key})
		}
		split := len(page)
		for _, d := range resp.Damaged {
			page = append(page, pos{d.Scope.Project, d.Scope.Domain, d.Key})
		}
		for _, part := range [][]pos{page[:split], page[split:]} {
			for i := 1; i < len(part); i++ {
				if !part[i-1].less(part[i]) {
					return nil, orderError(list, part[i-1], part[i], l.pages)
				}
			}
		}
		slices.SortFunc(page, func(a, b pos) int {
			if a.less(b) {
				return -1
			}
			if b.less(a) {
				return 1
			}
			return 0
		})
		for i := range page {
			if last != nil && !last.less(page[i]) {
				return nil, orderError(list, *last, page[i], l.pages)
			}
			last = &page[i]
		}
		l.records = append(l.records, resp.Records...)
		l.damaged = append(l.damaged, resp.Damaged...)
		if resp.NextPageToken == "" {
			return l, nil
		}
		if resp.NextPageToken == req.PageToken && n == 0 {
			return nil, fmt.Errorf("%s answered an empty page with the page token it was given (a loop); want the next token, or \"\" on the last page", list)
		}
		req.PageToken = resp.NextPageToken
	}
}

func orderError(list string, a, b pos, page int) error {
	if a == b {
		return fmt.Errorf("%s answered %s twice (page %d); want each entry once", list, b, page)
	}
	return fmt.Errorf("%s answered %s after %s (page %d); want (project, domain, key) order, byte-wise with \"\" first", list, b, a, page)
}

// makeListSet is the records the listing checks write to org, in listing
// order.
func makeListSet(org string) []abi.Record {
	projects := []string{"", "alpha", "beta"}
	domains := []string{"", "development", "production"}
	keys := []string{"-dash", "0zero", "A", "Z", "_under", "a", "b-1", "zz"}
	var out []abi.Record
	for i := range 25 {
		sc := i % 9
		out = append(out, record(org, projects[sc/3], domains[sc%3], keys[i%8], byte(30+i), 20+i))
	}
	slices.SortFunc(out, func(a, b abi.Record) int {
		pa, pb := pos{a.Scope.Project, a.Scope.Domain, a.Key}, pos{b.Scope.Project, b.Scope.Domain, b.Key}
		if pa.less(pb) {
			return -1
		}
		return 1
	})
	return out
}

// fillList writes listSet once; later callers reuse it.
func (s *storeSuite) fillList(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	var got abi.Record
	first := s.listSet[0]
	if err := call(ctx, s.p, abi.OpGet, keyReq(&first, 0), &got); err == nil {
		return nil // written by an earlier check
	}
	for _, r := range s.listSet {
		if err := s.put(ctx, r); err != nil {
			return fmt.Errorf("writing the %d records to list: %w", len(s.listSet), err)
		}
	}
	return nil
}

// expect checks that a listing found exactly want, in order.
func expect(what string, l *listing, want []abi.Record) error {
	if len(l.damaged) > 0 {
		d := l.damaged[0]
		return fmt.Errorf("%s reported %s as damaged; want it as the record the suite wrote", what, pos{d.Scope.Project, d.Scope.Domain, d.Key})
	}
	if len(l.records) != len(want) {
		return fmt.Errorf("%s answered %d records; want %d", what, len(l.records), len(want))
	}
	for i := range want {
		if err := same(what, &l.records[i], &want[i], 1, want[i].Created); err != nil {
			return err
		}
	}
	return nil
}

func (s *storeSuite) listOrder(ctx context.Context) error {
	if err := s.fillList(ctx); err != nil {
		return err
	}
	l, err := s.listAll(ctx, abi.ListRequest{Org: s.orgList})
	if err != nil {
		return err
	}
	return expect("LIST "+filterName(abi.ListRequest{}), l, s.listSet)
}

func (s *storeSuite) listPaged(ctx context.Context, limit uint32) error {
	if err := s.fillList(ctx); err != nil {
		return err
	}
	l, err := s.listAll(ctx, abi.ListRequest{Org: s.orgList, Limit: limit})
	if err != nil {
		return err
	}
	if err := expect("LIST "+filterName(abi.ListRequest{Limit: limit}), l, s.listSet); err != nil {
		return err
	}
	if min := (len(s.listSet) + int(limit) - 1) / int(limit); l.pages < min {
		return fmt.Errorf("LIST %s took %d pages for %d records; want at least %d", filterName(abi.ListRequest{Limit: limit}), l.pages, len(s.listSet), min)
	}
	return nil
}

func (s *storeSuite) listFilters(ctx context.Context) error {
	if err := s.fillList(ctx); err != nil {
		return err
	}
	filters := []abi.ListRequest{
		{Org: s.orgList, HasProject: true},
		{Org: s.orgList, HasProject: true, Project: "alpha"},
		{Org: s.orgList, HasDomain: true, Domain: "production"},
		{Org: s.orgList, HasProject: true, Project: "beta", HasDomain: true},
		{Org: s.orgList, Key: "A"},
		{Org: s.orgList, HasProject: true, Project: "alpha", HasDomain: true, Domain: "development", Key: "zz"},
		{Org: s.orgList, HasProject: true, Project: "nonexistent"},
	}
	for _, f := range filters {
		var want []abi.Record
		for _, r := range s.listSet {
			if f.Matches(r.Scope, r.Key) {
				want = append(want, r)
			}
		}
		for _, limit := range []uint32{0, 2} {
			f.Limit = limit
			l, err := s.listAll(ctx, f)
			if err != nil {
				return err
			}
			if err := expect("LIST "+filterName(f), l, want); err != nil {
				return err
			}
		}
	}
	return nil
}

func filterName(f abi.ListRequest) string {
	var parts []string
	if f.HasProject {
		parts = append(parts, "project="+strconv.Quote(f.Project))
	}
	if f.HasDomain {
		parts = append(parts, "domain="+strconv.Quote(f.Domain))
	}
	if f.Key != "" {
		parts = append(parts, "key="+strconv.Quote(f.Key))
	}
	if f.Limit > 0 {
		parts = append(parts, "limit="+strconv.Itoa(int(f.Limit)))
	}
	if len(parts) == 0 {
		return "(no filter)"
	}
	return "(" + strings.Join(parts, " ") + ")"
}

func (s *storeSuite) listEmpty(ctx context.Context) error {
	var resp abi.ListResponse
	if err := call(ctx, s.p, abi.OpList, &abi.ListRequest{Org: s.orgEmpty}, &resp); err != nil {
		return want("LIST of an organization with no records", err, abi.OK)
	}
	if n := len(resp.Records) + len(resp.Damaged); n > 0 || resp.NextPageToken != "" {
		return fmt.Errorf("LIST of an organization with no records answered %d entries (page token %t); want none and no page token", n, resp.NextPageToken != "")
	}
	return nil
}

func (s *storeSuite) isolation(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	scopes := []abi.Scope{{Org: s.orgOther}, {Org: s.orgOther, Project: "p"}, {Org: s.orgOther, Project: "p", Domain: "development"},
		{Org: s.orgOther, Domain: "development"}, {Org: s.orgOther + "2", Project: "p"}}
	var recs []abi.Record
	for i, sc := range scopes {
		r := record(sc.Org, sc.Project, sc.Domain, "shared", byte(60+i), 16+i)
		if err := s.put(ctx, r); err != nil {
			return fmt.Errorf("the same key in scope %d of %d: %w", i+1, len(scopes), err)
		}
		recs = append(recs, r)
	}
	u := updated(recs[1], 70, t0+100)
	if err := call(ctx, s.p, abi.OpUpdate, &abi.WriteRequest{Record: u, ExpectedVersion: 1}, &abi.Record{}); err != nil {
		return want("UPDATE of "+where(u.Scope, u.Key)+" expecting version 1", err, abi.OK)
	}
	if err := want("DELETE of "+where(recs[2].Scope, recs[2].Key)+" expecting version 1", call(ctx, s.p, abi.OpDelete, keyReq(&recs[2], 1), nil), abi.OK); err != nil {
		return err
	}
	for i, r := range recs {
		var err error
		switch i {
		case 1:
			err = s.fetch(ctx, u, 2, r.Created)
		case 2:
			err = s.missing(ctx, "of a deleted key", r)
		default:
			err = s.fetch(ctx, r, 1, r.Created)
		}
		if err != nil {
			return fmt.Errorf("after writes to the same key in other scopes: %w", err)
		}
	}
	l, err := s.listAll(ctx, abi.ListRequest{Org: s.orgOther})
	if err != nil {
		return err
	}
	if len(l.records) != 3 {
		return fmt.Errorf("LIST of an organization holding \"shared\" in 3 scopes (and in 1 deleted, and in 1 other organization) answered %d records; want 3", len(l.records))
	}
	for _, r := range l.records {
		if r.Scope.Org != s.orgOther {
			return fmt.Errorf("LIST of one organization answered a record of another; want only its own")
		}
	}
	return nil
}

func (s *storeSuite) metaMissing(ctx context.Context) error {
	err := call(ctx, s.p, abi.OpMetaGet, &abi.MetaRequest{Name: s.metaName + "_missing"}, &abi.MetaResponse{})
	return want("META_GET of a value never put ("+s.metaName+"_missing)", err, abi.NotFound)
}

func (s *storeSuite) metaWrite(ctx context.Context, name string, v []byte, createOnly bool, expect []byte) error {
	what := "META_PUT of " + name
	if createOnly {
		what += " with create_only"
	}
	var resp abi.MetaResponse
	s.trackMeta(name)
	err := call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: name, Value: v, CreateOnly: createOnly}, &resp)
	if st, ok := status(err); ok && st == abi.PermissionDenied && s.readOnly {
		return skip("a read-only store (META_PUT answered permission denied)")
	}
	if err != nil {
		return want(what, err, abi.OK)
	}
	if !bytes.Equal(resp.Value, expect) {
		return fmt.Errorf("%s answered a value of %d bytes that is not the value kept (%d bytes)", what, len(resp.Value), len(expect))
	}
	return s.metaIs(ctx, name, expect)
}

func (s *storeSuite) metaIs(ctx context.Context, name string, expect []byte) error {
	var resp abi.MetaResponse
	if err := call(ctx, s.p, abi.OpMetaGet, &abi.MetaRequest{Name: name}, &resp); err != nil {
		return want("META_GET of "+name, err, abi.OK)
	}
	if !bytes.Equal(resp.Value, expect) {
		return fmt.Errorf("META_GET of "+name+" answered a value of %d bytes that is not the value put (%d bytes)", len(resp.Value), len(expect))
	}
	return nil
}

func (s *storeSuite) metaPut(ctx context.Context) error {
	v := []byte("envelope\x00\xff" + strings.Repeat("m", 300))
	return s.metaWrite(ctx, s.metaName, v, false, v)
}

func (s *storeSuite) metaCreateOnly(ctx context.Context) error {
	first, second := []byte("first value"), []byte("second value")
	if err := s.metaWrite(ctx, s.metaName+"_once", first, true, first); err != nil {
		return err
	}
	return s.metaWrite(ctx, s.metaName+"_once", second, true, first)
}

func (s *storeSuite) metaReplace(ctx context.Context) error {
	first, second := []byte("old value, longer than the new"), []byte("new")
	if err := s.metaWrite(ctx, s.metaName+"_replace", first, false, first); err != nil {
		return err
	}
	return s.metaWrite(ctx, s.metaName+"_replace", second, false, second)
}

func (s *storeSuite) unknownOp(ctx context.Context) error {
	ops := []abi.Op{0, 10, 99, abi.OpPlan, abi.OpRender, 1 << 20}
	if s.info.Minor < abi.MinorFence {
		ops = append(ops, abi.OpMetaDelete, abi.OpCompact) // ops of 1.3
	}
	for _, op := range ops {
		if err := want(OpName(op)+" (an op no store has) with no request", callRaw(ctx, s.p, op, nil, nil), abi.Unimplemented); err != nil {
			return err
		}
	}
	return nil
}

func (s *storeSuite) malformedRequest(ctx context.Context) error {
	return malformedCheck(ctx, s.p, abi.OpCreate, abi.OpUpdate, abi.OpGet, abi.OpList, abi.OpDelete, abi.OpMetaGet, abi.OpMetaPut)
}

// unreadable writes records and a meta value, then overwrites every file
// they added to or changed in the store's directory with junk, and asks
// for them: a store must answer with a status or report them damaged,
// never trap. The files are restored afterwards, so that the clean-up can
// delete the records and nothing else in the directory is touched.
func (s *storeSuite) unreadable(ctx context.Context) error {
	if err := s.writable(); err != nil {
		return err
	}
	if s.dir == "" {
		return skip("the store has no directory to damage")
	}
	before, err := snapshot(s.dir)
	if err != nil {
		return fmt.Errorf("reading the store's directory: %v", err)
	}
	var recs []abi.Record
	for i, k := range []string{"j1", "j2", "j3"} {
		r := record(s.orgJunk, "", "", k, byte(80+i), 30)
		if err := s.put(ctx, r); err != nil {
			return err
		}
		recs = append(recs, r)
	}
	junkMeta := s.metaName + "_junk"
	s.trackMeta(junkMeta)
	_ = call(ctx, s.p, abi.OpMetaPut, &abi.MetaRequest{Name: junkMeta, Value: []byte("a value to damage")}, &abi.MetaResponse{})
	after, err := snapshot(s.dir)
	if err != nil {
		return fmt.Errorf("reading the store's directory: %v", err)
	}
	junk := []byte("\x00junk\xff\xfe not a record \x0a\x80\x80\x80\x80\x80")
	saved := map[string][]byte{}
	defer func() {
		for p, b := range saved {
			_ = os.WriteFile(p, b, 0o600)
		}
	}()
	for p, sum := range after {
		if old, ok := before[p]; ok && old == sum {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("damaging the store's files: %v", err)
		}
		saved[p] = b
		if err := os.WriteFile(p, junk, 0o600); err != nil {
			return fmt.Errorf("damaging the store's files: %v", err)
		}
	}
	if len(saved) == 0 {
		return skip("the store keeps no files in its directory")
	}
	for _, limit := range []uint32{0, 1} {
		var resp abi.ListResponse
		err := call(ctx, s.p, abi.OpList, &abi.ListRequest{Org: s.orgJunk, Limit: limit}, &resp)
		if _, ok := status(err); !ok {
			return fmt.Errorf("LIST (limit %d) of an organization whose 3 records are junk: %v; want ok, with them as damaged, or a status", limit, short(err))
		}
	}
	req := abi.ListRequest{Org: s.orgJunk, Limit: 1}
	for page := 1; page <= 10; page++ {
		var resp abi.ListResponse
		err := call(ctx, s.p, abi.OpList, &req, &resp)
		if _, ok := status(err); !ok {
			return fmt.Errorf("LIST (limit 1, page %d) of an organization whose 3 records are junk: %v; want ok, with them as damaged, or a status", page, short(err))
		}
		if err != nil || resp.NextPageToken == "" {
			break
		}
		req.PageToken = resp.NextPageToken
	}
	for _, r := range recs {
		var got abi.Record
		err := call(ctx, s.p, abi.OpGet, keyReq(&r, 0), &got)
		if _, ok := status(err); !ok {
			return fmt.Errorf("GET of %s, whose file is junk: %v; want a status (or the record)", where(r.Scope, r.Key), short(err))
		}
	}
	if err := call(ctx, s.p, abi.OpMetaGet, &abi.MetaRequest{Name: junkMeta}, &abi.MetaResponse{}); err != nil {
		if _, ok := status(err); !ok {
			return fmt.Errorf("META_GET of %s, whose file is junk: %v; want a status (or the value)", junkMeta, short(err))
		}
	}
	return nil
}

// snapshot is a digest of every regular file under dir.
func snapshot(dir string) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[p] = sha256.Sum256(b)
		return nil
	})
	return out, err
}

// cleanUp deletes every record this run may have written (best effort:
// the records it tracked, then whatever a listing of this run's
// organizations still finds), and names what stays: records it could not
// delete, and the meta values it put (deleted with META_DELETE on a store
// of minor 3 or later; an older one has no op to delete them). What stays
// is a note, not a failure: the checks above judge the store.
func (s *storeSuite) cleanUp(ctx context.Context) Result {
	r := Result{Name: "clean up"}
	err := safe(ctx, func(ctx context.Context) error {
		var left []abi.KeyRequest
		var why string
		del := func(sc abi.Scope, key string) {
			if slices.Contains(left, abi.KeyRequest{Scope: sc, Key: key}) {
				return // tried once
			}
			err := call(ctx, s.p, abi.OpDelete, &abi.KeyRequest{Scope: sc, Key: key}, nil)
			if st, ok := status(err); ok && (st == abi.OK || st == abi.NotFound) {
				return
			}
			if len(left) == 0 {
				why = "DELETE of " + sc.Org + "/" + where(sc, sanitize.Text(key)) + " answered " + answered(err)
				if _, ok := status(err); !ok {
					why = "DELETE of " + sc.Org + "/" + where(sc, sanitize.Text(key)) + ": " + short(err)
				}
			}
			left = append(left, abi.KeyRequest{Scope: sc, Key: key})
		}
		for _, w := range s.wrote {
			del(w.Scope, w.Key)
		}
		for _, org := range s.orgs {
			req := abi.ListRequest{Org: org}
			for range maxPages {
				var resp abi.ListResponse
				if call(ctx, s.p, abi.OpList, &req, &resp) != nil {
					break
				}
				for _, rec := range resp.Records {
					if rec.Scope.Org == org {
						del(rec.Scope, rec.Key)
					}
				}
				for _, d := range resp.Damaged {
					if d.Scope.Org == org {
						del(d.Scope, d.Key)
					}
				}
				if resp.NextPageToken == "" || resp.NextPageToken == req.PageToken {
					break
				}
				req.PageToken = resp.NextPageToken
			}
		}
		var out []string
		if len(left) > 0 {
			out = append(out, fmt.Sprintf("could not delete %d of the records it wrote (%s)", len(left), why))
		}
		var metas []string
		fenced := s.info.Minor >= abi.MinorFence
		for _, m := range s.metas {
			if fenced {
				err := call(ctx, s.p, abi.OpMetaDelete, &abi.MetaRequest{Name: m}, nil)
				if st, ok := status(err); ok && (st == abi.OK || st == abi.NotFound) {
					continue
				}
			}
			if call(ctx, s.p, abi.OpMetaGet, &abi.MetaRequest{Name: m}, &abi.MetaResponse{}) == nil {
				metas = append(metas, m)
			}
		}
		switch {
		case len(metas) > 0 && fenced:
			out = append(out, fmt.Sprintf("could not delete %d of the meta values it put: %s", len(metas), strings.Join(metas, ", ")))
		case len(metas) > 0:
			out = append(out, fmt.Sprintf("left %d meta values in the store, which the ABI has no op to delete: %s", len(metas), strings.Join(metas, ", ")))
		}
		r.Note = notes(out)
		return nil
	})
	r.Err = err
	return r
}
