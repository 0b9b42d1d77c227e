// Package filestore is the embedded secret store in a directory the host
// grants. It is the logic of the built-in "filestore" plugin (built from
// ./wasm) and has no wasm-specific code, so tests and the native benchmark
// baseline link it directly.
//
// A store directory has one of two layouts. Format 1, one file per record:
//
//	secrets/ORG/PROJECT/DOMAIN/KEY   one record (abi.Record, wire-encoded)
//	meta/NAME                        store-wide values (the wrapped data key)
//	lock                             the writers' lock
//
// An empty project or domain is stored as "@", which no valid name can be.
// Create is a single exclusive write, so it needs no lock. Update and
// delete read, compare the version and write under the store-wide lock,
// which the host releases when the call ends (also when the process dies,
// as it is an flock). Every write is atomic, so a killed writer leaves
// either the old or the new record, never a torn one.
//
// Format 2, one append-only log per organization (logfmt.go, logstore.go),
// read in a few large ranged reads and appended to with one ranged write
// (ABI 1.4, guest.RangeFS), so that listing 100,000 records is a few reads
// instead of 100,000:
//
//	secrets                          a regular file: the format marker
//	log/ORG                          the organization's log
//	legacy-ID/ORG/PROJECT/DOMAIN/KEY records of format 1 being converted
//	meta/NAME, lock                  as in format 1
//
// Every write of format 2 (create, update, delete) appends one frame under
// the writers' lock, after checking the record against the log's index;
// it is durable when write_at returns. A writer killed mid-append leaves a
// torn frame past the log's valid end, which readers skip (it does not
// check) and the next writer cuts. The index of each log (key -> latest
// frame) is kept between calls and brought up to date from its end. A log
// whose dead frames (earlier values, deletions) outweigh its live ones is
// compacted: rewritten with its live frames under a new generation, and
// renamed over the old one; COMPACT does it for every log.
//
// Conversion (layout.go): reads work on either format and change nothing.
// The first write to a store of format 1 (by a store made with
// ConvertOnWrite) renames secrets to a legacy tree and writes the marker in
// its place, before any record goes into a log; then each write copies a
// batch of the tree's records verbatim into the logs, and removes the tree
// when all are there. Meanwhile a key the logs do not know is read from the
// tree.
//
// The store speaks ABI 1.3 (guest.Fenced): a guarded create or update reads
// the guarding meta file under the same lock, and every change of a meta
// value except a create-only one (a plain put, a swap, a delete) is made
// under that lock too, so no meta value can change between a guard's check
// and its write. It implements guest.Compacter: a log keeps earlier values
// until it is compacted.
package filestore

import (
	"math/rand/v2"
	"sort"
	"strings"
	"sync"

	"github.com/flytesecrets/flyte/abi"
	"github.com/flytesecrets/flyte/abi/guest"
)

// Info describes the plugin.
var Info = guest.Info{
	Name:         "filestore",
	Version:      "1.0.0",
	Summary:      "embedded store: one file per secret in a granted directory",
	Capabilities: []string{"fs"},
}

// magic prefixes every record file, so that a stray file is recognised as
// not being a record.
const magic = "flyterec1\n"

const (
	secretsDir   = "secrets"
	metaDir      = "meta"
	lockName     = "lock"
	empty        = "@"
	defaultLimit = 500
	maxLimit     = 5000
	// pageBytes bounds a page's sealed values, well under abi.MaxMessage:
	// eight 1 MiB secrets would otherwise overflow one answer.
	pageBytes = abi.MaxMessage / 2
)

// Store implements guest.Store, guest.Fenced and guest.Compacter over an
// FS. Over an FS without the calls of ABI 1.4 (guest.RangeFS) it keeps to
// format 1.
type Store struct {
	fs    guest.FS
	lists *listState
}

// listState is what a store keeps between calls: for paged listings, and
// the indexes of format 2.
type listState struct {
	mu   sync.Mutex
	next *listCache // the directories of the listing whose next page is due

	op      sync.Mutex           // one operation of format 2 at a time on what follows
	logs    map[string]*logIndex // by organization
	scanBuf []byte               // what logs are scanned through (scanLog)
	readBuf []byte               // what a page's frames are read through (readPage)
	arena   []byte               // the frames of the page being served (readPage)
	answer  []byte               // the page's records in wire form (listLog)
	page    []slot               // the page being served (listLog)
	order   []int                // the page's frames in log order (readPage)
	convert bool                 // writes convert a store of format 1 (and start new stores in format 2)
}

// listCache holds the sorted names of the directories a paged listing has
// read, for its next page: each page used to read (and sort) its whole
// directory again, so a listing of N records in one directory cost N/500
// reads of N names, and 100,000 records made the guest allocate about
// 600 MB. A listing's first page draws a random listing id, which every
// page token of that listing carries (a token from before ids were added
// gets a new one); the cache serves only the page that continues the
// listing it came from (the same id, the same request, with the token its
// last page returned). Any other request reads the directories afresh: a
// new listing, a page of another listing that reached the same position
// (on a pooled instance that served an older one), a page whose previous
// one another instance served, or a token without an id. A listing thus
// sees each directory's names as they were when it first read them (on the
// store serving it; never names read before it began): a record created
// after that, in a directory the listing has reached, is not listed (as
// one created before the listing's position never was), and a record
// removed since is skipped when its file is read.
type listCache struct {
	id   string          // the listing id its tokens carry
	req  abi.ListRequest // PageToken: the token of the page that was served
	dirs map[string][]string
}

var (
	_ guest.Fenced    = (*Store)(nil)
	_ guest.Compacter = (*Store)(nil)
)

// New returns a store over fs. It reads and writes a store of either
// format, and starts or converts none to format 2 (see ConvertOnWrite).
func New(fs guest.FS) *Store { return &Store{fs: fs, lists: new(listState)} }

// ConvertOnWrite makes st (and the stores On makes from it) write in
// format 2: a new store starts in it, and the first write to a store of
// format 1 converts it. It returns st.
func (st *Store) ConvertOnWrite() *Store {
	st.lists.convert = true
	return st
}

// rangeFS returns st's FS when it has the calls of format 2.
func (st *Store) rangeFS() (guest.RangeFS, bool) {
	fs, ok := st.fs.(guest.RangeFS)
	return fs, ok
}

// readLayout returns the layout of a store whose FS can hold format 2,
// for a read (ok false: read format 1). It changes nothing, and links no
// write: a read-only plugin built on this store (plugins/examples/dirstore)
// imports no fs call that writes.
func (st *Store) readLayout() (guest.RangeFS, layout, bool, error) {
	fs, ok := st.rangeFS()
	if !ok {
		return nil, layout{}, false, nil
	}
	lay, err := st.detect(fs)
	if err != nil || lay.format != 2 {
		return nil, lay, false, err
	}
	return fs, lay, true, nil
}

// writeLayout is readLayout for a write: for a store of format 2, or one
// this store converts, it takes the writers' lock and prepares the store
// (prepare).
func (st *Store) writeLayout() (guest.RangeFS, layout, bool, error) {
	fs, ok := st.rangeFS()
	if !ok {
		return nil, layout{}, false, nil
	}
	lay, err := st.detect(fs)
	if err != nil {
		return nil, lay, false, err
	}
	if lay.format != 2 && !st.lists.convert {
		return nil, lay, false, nil
	}
	if err := fs.Lock(lockName); err != nil {
		return nil, lay, false, err
	}
	if lay, err = st.prepare(fs); err != nil {
		return nil, lay, false, err
	}
	return fs, lay, true, nil
}

// On returns a store over fs that shares st's state between calls (the
// listing cache, the logs' indexes, ConvertOnWrite). A wasm guest keeps
// one Store for its instance; a native link that gets a new fs for every
// call (flyte's native baseline) makes each call's store with On from one
// kept Store, so that its listings read each directory once too.
func (st *Store) On(fs guest.FS) *Store { return &Store{fs: fs, lists: st.lists} }

func part(s string) string {
	if s == "" {
		return empty
	}
	return s
}

func unpart(s string) string {
	if s == empty {
		return ""
	}
	return s
}

// validName guards path components: the host validates names, but a store
// does not trust its input to stay inside its directory.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func recordPath(s abi.Scope, key string) (string, error) {
	if !validName(s.Org) || !validName(key) ||
		(s.Project != "" && !validName(s.Project)) || (s.Domain != "" && !validName(s.Domain)) {
		return "", abi.Errorf(abi.InvalidArgument, "invalid scope or key")
	}
	return secretsDir + "/" + s.Org + "/" + part(s.Project) + "/" + part(s.Domain) + "/" + key, nil
}

func encode(r *abi.Record) []byte {
	var e abi.Encoder
	r.MarshalTo(&e)
	b := e.Bytes()
	out := make([]byte, 0, len(magic)+len(b))
	return append(append(out, magic...), b...)
}

func decode(b []byte, s abi.Scope, key string) (*abi.Record, error) {
	if !strings.HasPrefix(string(b[:min(len(b), len(magic))]), magic) {
		return nil, abi.Errorf(abi.Internal, "not a record file")
	}
	r := new(abi.Record)
	if err := abi.Unmarshal(b[len(magic):], r); err != nil {
		return nil, abi.Errorf(abi.Internal, "corrupt record")
	}
	if r.Scope != s || r.Key != key {
		return nil, abi.Errorf(abi.Internal, "record does not match its location")
	}
	return r, nil
}

// Create implements guest.Store.
func (st *Store) Create(r *abi.Record) (*abi.Record, error) { return st.create(r, nil) }

// CreateIf implements guest.Fenced: Create while meta value g.Name holds
// exactly g.Value, checked under the writers' lock.
func (st *Store) CreateIf(r *abi.Record, g abi.Guard) (*abi.Record, error) { return st.create(r, &g) }

func (st *Store) create(r *abi.Record, g *abi.Guard) (*abi.Record, error) {
	p, err := recordPath(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	if g != nil {
		if err := st.lockedGuard(*g); err != nil {
			return nil, err
		}
	}
	if fs, lay, ok, err := st.writeLayout(); err != nil {
		return nil, err
	} else if ok {
		return st.createLog(fs, lay, r)
	}
	rec := *r
	rec.Version = 1
	if err := st.fs.WriteFile(p, encode(&rec), true); err != nil {
		if abi.StatusOf(err) == abi.AlreadyExists {
			return nil, abi.Errorf(abi.AlreadyExists, "secret already exists")
		}
		return nil, err
	}
	return &rec, nil
}

// Update implements guest.Store.
func (st *Store) Update(r *abi.Record, expected uint64) (*abi.Record, error) {
	return st.update(r, expected, nil)
}

// UpdateIf implements guest.Fenced: Update while meta value g.Name holds
// exactly g.Value, checked under the writers' lock.
func (st *Store) UpdateIf(r *abi.Record, expected uint64, g abi.Guard) (*abi.Record, error) {
	return st.update(r, expected, &g)
}

func (st *Store) update(r *abi.Record, expected uint64, g *abi.Guard) (*abi.Record, error) {
	p, err := recordPath(r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	// Look before locking: a missing record needs no lock, and taking one
	// would create the store on a read-only failure.
	if _, err := st.get(p, r.Scope, r.Key); err != nil {
		return nil, err
	}
	if g != nil {
		err = st.lockedGuard(*g)
	} else {
		err = st.fs.Lock(lockName)
	}
	if err != nil {
		return nil, err
	}
	if fs, lay, ok, err := st.writeLayout(); err != nil {
		return nil, err
	} else if ok {
		return st.updateLog(fs, lay, r, expected)
	}
	old, err := st.read(p, r.Scope, r.Key)
	if err != nil {
		return nil, err
	}
	if expected != 0 && old.Version != expected {
		return nil, conflict(expected, old.Version)
	}
	rec := *r
	rec.Version = old.Version + 1
	rec.Created = old.Created
	if err := st.fs.WriteFile(p, encode(&rec), false); err != nil {
		return nil, err
	}
	return &rec, nil
}

func (st *Store) read(p string, s abi.Scope, key string) (*abi.Record, error) {
	b, err := st.fs.ReadFile(p)
	if err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return nil, abi.Errorf(abi.NotFound, "secret not found")
		}
		return nil, err
	}
	return decode(b, s, key)
}

// Get implements guest.Store.
func (st *Store) Get(s abi.Scope, key string) (*abi.Record, error) {
	p, err := recordPath(s, key)
	if err != nil {
		return nil, err
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	return st.get(p, s, key)
}

// get reads the record (s, key), whose path in format 1 is p.
func (st *Store) get(p string, s abi.Scope, key string) (*abi.Record, error) {
	if fs, lay, ok, err := st.readLayout(); err != nil {
		return nil, err
	} else if ok {
		return st.getLog(fs, lay, s, key)
	}
	return st.read(p, s, key)
}

// Delete implements guest.Store.
func (st *Store) Delete(s abi.Scope, key string, expected uint64) error {
	p, err := recordPath(s, key)
	if err != nil {
		return err
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	if _, err := st.get(p, s, key); abi.StatusOf(err) == abi.NotFound {
		return err
	}
	if err := st.fs.Lock(lockName); err != nil {
		return err
	}
	if fs, lay, ok, err := st.writeLayout(); err != nil {
		return err
	} else if ok {
		return st.deleteLog(fs, lay, s, key, expected)
	}
	if expected != 0 {
		old, err := st.read(p, s, key)
		if err != nil {
			return err
		}
		if old.Version != expected {
			return conflict(expected, old.Version)
		}
	}
	if err := st.fs.Remove(p); err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return abi.Errorf(abi.NotFound, "secret not found")
		}
		return err
	}
	return nil
}

// names lists the valid entries of dir (directories when dirs is true),
// sorted by their decoded value; a missing dir is empty. With a cache c,
// a directory is read once per listing.
func (st *Store) names(c *listCache, dir string, dirs bool) ([]string, error) {
	if c != nil {
		if out, ok := c.dirs[dir]; ok {
			return out, nil
		}
	}
	ents, err := st.fs.ReadDir(dir)
	if err != nil && abi.StatusOf(err) != abi.NotFound {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.Dir == dirs && (e.Name == empty || validName(e.Name)) {
			out = append(out, unpart(e.Name))
		}
	}
	sort.Strings(out)
	if c != nil {
		c.dirs[dir] = out
	}
	return out, nil
}

// cacheFor returns the cache of the listing req continues (the page at
// at), or an empty one: for the listing id the token carries (this store
// did not serve the page before, or no longer holds its names), or for a
// new id on a first page or a token without one.
func (st *Store) cacheFor(req *abi.ListRequest, at pos) *listCache {
	st.lists.mu.Lock()
	c := st.lists.next
	st.lists.next = nil
	st.lists.mu.Unlock()
	if c != nil && at.id != "" && c.id == at.id && c.req == *req {
		return c
	}
	id := at.id
	if id == "" {
		id = newListingID()
	}
	return &listCache{id: id, dirs: map[string][]string{}}
}

// newListingID returns 26 random characters of base32's alphabet (130
// bits, as crypto/rand.Text). math/rand/v2's generator is seeded by the
// host's random source; the id needs to be unique, not secret, and
// crypto/rand would link fmt and reflect into the guest (through
// math/big), which TestGuestsStaySmall refuses.
func newListingID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 26)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// keep keeps c for the page after resp, if there is one.
func (st *Store) keep(c *listCache, req *abi.ListRequest, resp *abi.ListResponse) {
	if resp.NextPageToken == "" {
		return
	}
	c.req = *req
	c.req.PageToken = resp.NextPageToken
	st.lists.mu.Lock()
	st.lists.next = c
	st.lists.mu.Unlock()
}

// from returns the names of sorted that come after at (all of them when
// resume is false).
func from(sorted []string, at string, resume bool) []string {
	if !resume {
		return sorted
	}
	return sorted[sort.Search(len(sorted), func(i int) bool { return sorted[i] > at }):]
}

// pos is a position in listing order (organization, project, domain,
// key), and the id of the listing that reached it ("" in a token from
// before listing ids).
type pos struct{ org, project, domain, key, id string }

// idMark starts the first field of a token that carries a listing id; no
// name starts with it.
const idMark = "~"

// pageToken encodes a position of listing id; names never contain '/'. A
// listing of one organization leaves the organization out.
func pageToken(p pos, id string, allOrgs bool) string {
	t := part(p.project) + "/" + part(p.domain) + "/" + p.key
	if allOrgs {
		t = p.org + "/" + t
	}
	return idMark + id + "/" + t
}

// parseToken decodes a page token of a listing of org, or of every
// organization. A token without a listing id (made before there were
// any) is still a position.
func parseToken(t, org string, allOrgs bool) (pos, error) {
	var id string
	if rest, ok := strings.CutPrefix(t, idMark); ok {
		var found bool
		if id, t, found = strings.Cut(rest, "/"); !found || !validName(id) {
			return pos{}, abi.Errorf(abi.InvalidArgument, "bad page token")
		}
	}
	f := strings.Split(t, "/")
	if allOrgs && len(f) == 4 {
		return pos{f[0], unpart(f[1]), unpart(f[2]), f[3], id}, nil
	}
	if !allOrgs && len(f) == 3 {
		return pos{org, unpart(f[0]), unpart(f[1]), f[2], id}, nil
	}
	return pos{}, abi.Errorf(abi.InvalidArgument, "bad page token")
}

// List implements guest.Store; with AllOrgs (ABI 1.3) it lists every
// organization, in (org, project, domain, key) order.
func (st *Store) List(req *abi.ListRequest) (*abi.ListResponse, error) {
	if !req.AllOrgs && !validName(req.Org) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid organization")
	}
	var at pos
	if req.PageToken != "" {
		var err error
		if at, err = parseToken(req.PageToken, req.Org, req.AllOrgs); err != nil {
			return nil, err
		}
	}
	st.lists.op.Lock()
	defer st.lists.op.Unlock()
	c := st.cacheFor(req, at)
	var resp *abi.ListResponse
	fs, lay, ok, err := st.readLayout()
	switch {
	case err != nil:
	case ok:
		resp, err = st.listLog(fs, lay, c, req, at)
	default:
		resp, err = st.list(c, req, at)
	}
	if err == nil {
		st.keep(c, req, resp)
	}
	return resp, err
}

// list serves the page of req after at, reading directories through c.
func (st *Store) list(c *listCache, req *abi.ListRequest, at pos) (*abi.ListResponse, error) {
	limit := int(req.Limit)
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	hasAfter := req.PageToken != ""
	orgs := []string{req.Org}
	if req.AllOrgs {
		var err error
		if orgs, err = st.names(c, secretsDir, true); err != nil {
			return nil, err
		}
	}
	resp := new(abi.ListResponse)
	size := 0
	for _, o := range orgs {
		if o == "" || hasAfter && o < at.org {
			continue
		}
		// inOrg: the listing resumes inside this organization.
		inOrg := hasAfter && o == at.org
		base := secretsDir + "/" + o
		projects, err := st.names(c, base, true)
		if err != nil {
			return nil, err
		}
		for _, p := range projects {
			if req.HasProject && p != req.Project || inOrg && p < at.project {
				continue
			}
			domains, err := st.names(c, base+"/"+part(p), true)
			if err != nil {
				return nil, err
			}
			for _, d := range domains {
				if req.HasDomain && d != req.Domain || inOrg && p == at.project && d < at.domain {
					continue
				}
				dir := base + "/" + part(p) + "/" + part(d)
				keys, err := st.names(c, dir, false)
				if err != nil {
					return nil, err
				}
				for _, k := range from(keys, at.key, inOrg && p == at.project && d == at.domain) {
					if req.Key != "" && k != req.Key {
						continue
					}
					if len(resp.Records)+len(resp.Damaged) == limit {
						resp.NextPageToken = pageToken(last(resp), c.id, req.AllOrgs)
						return resp, nil
					}
					s := abi.Scope{Org: o, Project: p, Domain: d}
					r, err := st.read(dir+"/"+k, s, k)
					switch {
					case err == nil:
						n := len(r.Sealed) + 256
						if size+n > pageBytes && len(resp.Records)+len(resp.Damaged) > 0 {
							resp.NextPageToken = pageToken(last(resp), c.id, req.AllOrgs)
							return resp, nil
						}
						size += n
						resp.Records = append(resp.Records, *r)
					case abi.StatusOf(err) == abi.NotFound:
						// Deleted while we listed.
					default:
						resp.Damaged = append(resp.Damaged, abi.Damaged{Scope: s, Key: k, Reason: err.Error()})
					}
				}
			}
		}
	}
	return resp, nil
}

// last returns the position of the last entry of a page.
func last(r *abi.ListResponse) pos {
	var s abi.Scope
	var k string
	nr, nd := len(r.Records), len(r.Damaged)
	if nr > 0 {
		s, k = r.Records[nr-1].Scope, r.Records[nr-1].Key
	}
	if nd > 0 {
		d := r.Damaged[nd-1]
		if nr == 0 || after(d.Scope, d.Key, s, k) {
			s, k = d.Scope, d.Key
		}
	}
	return pos{org: s.Org, project: s.Project, domain: s.Domain, key: k}
}

// after reports whether (a, ak) comes after (b, bk) in listing order:
// organization, project, domain, key, with "" first (which "@" in a token
// would not give).
func after(a abi.Scope, ak string, b abi.Scope, bk string) bool {
	if a.Org != b.Org {
		return a.Org > b.Org
	}
	if a.Project != b.Project {
		return a.Project > b.Project
	}
	if a.Domain != b.Domain {
		return a.Domain > b.Domain
	}
	return ak > bk
}

// MetaGet implements guest.Store.
func (st *Store) MetaGet(name string) ([]byte, error) {
	if !validName(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	return st.fs.ReadFile(metaDir + "/" + name)
}

// MetaPut implements guest.Store. A create-only put is one exclusive write;
// a replacing one is made under the writers' lock, so that it never falls
// between a guard's check and its write.
func (st *Store) MetaPut(name string, value []byte, createOnly bool) ([]byte, error) {
	if !validName(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	p := metaDir + "/" + name
	if !createOnly {
		if err := st.fs.Lock(lockName); err != nil {
			return nil, err
		}
	}
	err := st.fs.WriteFile(p, value, createOnly)
	if createOnly && abi.StatusOf(err) == abi.AlreadyExists {
		return st.fs.ReadFile(p)
	}
	if err != nil {
		return nil, err
	}
	return value, nil
}

// metaNotFound is the answer for an absent meta value.
func metaNotFound() error { return abi.Errorf(abi.NotFound, "meta value not found") }

// lockedMeta takes the writers' lock and reads meta value name: NOT_FOUND
// when absent. The lock is held until the call ends.
func (st *Store) lockedMeta(name string) ([]byte, error) {
	if !validName(name) {
		return nil, abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	if err := st.fs.Lock(lockName); err != nil {
		return nil, err
	}
	v, err := st.fs.ReadFile(metaDir + "/" + name)
	if abi.StatusOf(err) == abi.NotFound {
		return nil, metaNotFound()
	}
	return v, err
}

// lockedGuard takes the writers' lock and checks guard g under it: CONFLICT
// unless meta value g.Name holds exactly g.Value (also when it is absent).
func (st *Store) lockedGuard(g abi.Guard) error {
	if !validName(g.Name) {
		return abi.Errorf(abi.InvalidArgument, "invalid guard name")
	}
	v, err := st.lockedMeta(g.Name)
	switch {
	case abi.StatusOf(err) == abi.NotFound:
		return abi.Errorf(abi.Conflict, "guarded write not applied: meta value ", g.Name, " is absent")
	case err != nil:
		return err
	case string(v) != string(g.Value):
		return abi.Errorf(abi.Conflict, "guarded write not applied: meta value ", g.Name, " has changed")
	}
	return nil
}

// MetaSwap implements guest.Fenced.
func (st *Store) MetaSwap(name string, value, expected []byte) ([]byte, error) {
	v, err := st.lockedMeta(name)
	if err != nil {
		return nil, err
	}
	if string(v) != string(expected) {
		return nil, abi.Errorf(abi.Conflict, "meta value ", name, " is not the expected one")
	}
	if err := st.fs.WriteFile(metaDir+"/"+name, value, false); err != nil {
		return nil, err
	}
	return value, nil
}

// MetaDelete implements guest.Fenced.
func (st *Store) MetaDelete(name string, expected []byte, hasExpected bool) error {
	if !validName(name) {
		return abi.Errorf(abi.InvalidArgument, "invalid meta name")
	}
	// Look before locking, as Update does.
	if _, err := st.fs.ReadFile(metaDir + "/" + name); abi.StatusOf(err) == abi.NotFound {
		return metaNotFound()
	}
	v, err := st.lockedMeta(name)
	if err != nil {
		return err
	}
	if hasExpected && string(v) != string(expected) {
		return abi.Errorf(abi.Conflict, "meta value ", name, " is not the expected one")
	}
	if err := st.fs.Remove(metaDir + "/" + name); err != nil {
		if abi.StatusOf(err) == abi.NotFound {
			return metaNotFound()
		}
		return err
	}
	return nil
}
